from django.db.models import Prefetch, Q, QuerySet

from crm.contacts.models import Contact, ContactEmail

CONTACT_SORTS = {
    "name": ("last_name", "first_name", "id"),
    "-name": ("-last_name", "-first_name", "-id"),
    "account": ("account__name", "last_name", "id"),
    "-account": ("-account__name", "last_name", "id"),
    "updated": ("updated_at", "id"),
    "-updated": ("-updated_at", "-id"),
}


def contact_list(*, search: str = "", sort: str = "name") -> QuerySet[Contact]:
    contacts = Contact.objects.select_related("account", "owner").prefetch_related(
        Prefetch("emails", queryset=ContactEmail.objects.order_by("-is_primary", "address"))
    )
    for term in search.split():
        contacts = contacts.filter(
            Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(title__icontains=term)
            | Q(account__name__icontains=term)
            | Q(emails__address__icontains=term.lower())
        )
    if search.strip():
        contacts = contacts.distinct()
    return contacts.order_by(*CONTACT_SORTS.get(sort, CONTACT_SORTS["name"]))


def contact_addresses(contact: Contact) -> QuerySet[ContactEmail, str]:
    """The contact's canonical addresses as a subquery (no query of its own)."""
    return ContactEmail.objects.filter(contact=contact).values_list("address", flat=True)


def account_addresses(account_id: int) -> QuerySet[ContactEmail, str]:
    return ContactEmail.objects.filter(contact__account_id=account_id).values_list(
        "address", flat=True
    )
