from collections.abc import Sequence

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


# Words of a search beyond this are ignored: each adds a condition, and a pasted paragraph would
# otherwise build a query past SQLite's expression-depth limit.
MAX_SEARCH_TERMS = 20


def contact_list(*, search: str = "", sort: str = "name") -> QuerySet[Contact]:
    contacts = Contact.objects.select_related("account", "owner").prefetch_related(
        Prefetch("emails", queryset=ContactEmail.objects.order_by("-is_primary", "address"))
    )
    # PostgreSQL refuses NUL characters in a query parameter; no stored text holds one.
    for term in search.replace("\x00", "").split()[:MAX_SEARCH_TERMS]:
        # A subquery rather than a join: one join per word would multiply the rows.
        addresses = ContactEmail.objects.filter(address__icontains=term.lower())
        contacts = contacts.filter(
            Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(title__icontains=term)
            | Q(account__name__icontains=term)
            | Q(pk__in=addresses.values("contact_id"))
        )
    return contacts.order_by(*CONTACT_SORTS.get(sort, CONTACT_SORTS["name"]))


def contact_addresses(contact: Contact) -> QuerySet[ContactEmail, str]:
    """The contact's canonical addresses as a subquery (no query of its own)."""
    return ContactEmail.objects.filter(contact=contact).values_list("address", flat=True)


def account_addresses(account_id: int) -> QuerySet[ContactEmail, str]:
    return ContactEmail.objects.filter(contact__account_id=account_id).values_list(
        "address", flat=True
    )


def address_holders(
    addresses: Sequence[str], *, contact: Contact | None = None
) -> list[ContactEmail]:
    """Other contacts' rows for these canonical addresses, leaving out those `contact` holds.

    Mail joins contacts by address, so an address two contacts share shows its mail on both
    cards: adding one that another contact holds needs the user's confirmation. Addresses the
    edited contact already has were confirmed when added, so they are not asked about again.
    """
    holders = ContactEmail.objects.filter(address__in=addresses).select_related("contact")
    if contact is not None and contact.pk is not None:
        own = ContactEmail.objects.filter(contact=contact).values("address")
        holders = holders.exclude(contact=contact).exclude(address__in=own)
    return list(holders.order_by("address", "contact__last_name", "contact__first_name", "id"))
