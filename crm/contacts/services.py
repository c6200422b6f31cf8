from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.accounts.models import Account
from crm.contacts.models import Contact, ContactEmail
from crm.core.addresses import clean_address
from hierarchy.models import User
from mailsync.card_links import card_links_refresh_contacts


def clean_addresses(raw_addresses: Sequence[str]) -> list[str]:
    """Canonical addresses in order (the first becomes primary); blank lines are ignored.

    Raises ValidationError({"emails": [...]}) naming every bad or repeated address.
    """
    addresses: list[str] = []
    errors: list[str] = []
    for raw in raw_addresses:
        if not raw.strip():
            continue
        try:
            address = clean_address(raw)
        except ValidationError as error:
            errors.extend(error.messages)
            continue
        if address in addresses:
            errors.append(f"{address} is listed twice.")
        else:
            addresses.append(address)
    if errors:
        raise ValidationError({"emails": errors})
    return addresses


@transaction.atomic
def contact_create(
    *,
    last_name: str,
    first_name: str = "",
    title: str = "",
    phone: str = "",
    account: Account | None = None,
    owner: User | None = None,
    emails: Sequence[str] = (),
) -> Contact:
    contact = Contact(
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        title=title.strip(),
        phone=phone.strip(),
        account=account,
        owner=owner,
    )
    contact.full_clean()
    addresses = clean_addresses(emails)
    contact.save()
    _replace_emails(contact, addresses)
    # Its past mail is on the card at once.
    card_links_refresh_contacts([contact.pk])
    return contact


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    last_name: str,
    first_name: str = "",
    title: str = "",
    phone: str = "",
    account: Account | None = None,
    owner: User | None = None,
    emails: Sequence[str] = (),
) -> Contact:
    before = (contact.account_id, set(contact.emails.values_list("address", flat=True)))
    contact.first_name, contact.last_name = first_name.strip(), last_name.strip()
    contact.title, contact.phone = title.strip(), phone.strip()
    contact.account, contact.owner = account, owner
    contact.full_clean()
    addresses = clean_addresses(emails)
    contact.save(
        update_fields=[
            "first_name",
            "last_name",
            "title",
            "phone",
            "account",
            "owner",
            "updated_at",
        ]
    )
    _replace_emails(contact, addresses)
    # A rename keeps the card's links; another address or account changes them.
    if before != (contact.account_id, set(addresses)):
        card_links_refresh_contacts([contact.pk])
    return contact


def _replace_emails(contact: Contact, addresses: list[str]) -> None:
    contact.emails.all().delete()
    ContactEmail.objects.bulk_create(
        ContactEmail(contact=contact, address=address, is_primary=index == 0)
        for index, address in enumerate(addresses)
    )


def contact_delete(*, contact: Contact) -> None:
    contact.delete()
