from django.db.models import Count, Q, QuerySet

from crm.accounts.models import Account

ACCOUNT_SORTS = {
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "contacts": ("contact_count", "name"),
    "-contacts": ("-contact_count", "name"),
    "updated": ("updated_at", "id"),
    "-updated": ("-updated_at", "-id"),
}


def account_list(*, search: str = "", sort: str = "name") -> QuerySet[Account]:
    accounts = Account.objects.select_related("owner").annotate(contact_count=Count("contacts"))
    if search := search.strip():
        accounts = accounts.filter(
            Q(name__icontains=search)
            | Q(website__icontains=search)
            | Q(domains__domain__icontains=search)
        ).distinct()
    return accounts.order_by(*ACCOUNT_SORTS.get(sort, ACCOUNT_SORTS["name"]))
