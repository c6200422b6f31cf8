"""Keeps `CardLink` (mailsync/models.py), the index the cards read, in step with mail and contacts.

Mail joins contacts by canonical address (Participant.address = ContactEmail.address). The cards
used to make that join at read time and group a contact's whole history to show one page; the
link rows hold its result, so a page reads a short index range. Every write that changes the
join calls in here, in its own transaction:

- new mail (`mailsync/storage.py`, the demo data): `card_links_add_messages`
- a contact's addresses or account changed (`crm/contacts/services.py`, contact admin):
  `card_links_refresh_contacts`; a contact created later sees its past mail at once, an
  address removed takes its mail off
- deletes of messages, contacts, mailboxes or users cascade; an account deleted sets null.

`card_links_rebuild` builds it all again (`manage.py card_links_rebuild`, after a bulk load).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from crm.contacts.models import Contact, ContactEmail
from mailsync.models import CardLink, Mailbox, Message, Participant


def _tables() -> dict[str, str]:
    return {
        "link": CardLink._meta.db_table,
        "email": ContactEmail._meta.db_table,
        "contact": Contact._meta.db_table,
        "participant": Participant._meta.db_table,
        "message": Message._meta.db_table,
        "mailbox": Mailbox._meta.db_table,
    }


# Every (contact, message) pair where one of the contact's addresses took part, internal-only
# mail left out; grouped, as a contact may appear in a message under two of its addresses, or
# twice under one. A pair already linked gets its account and sender flag brought up to date.
_INSERT = """
INSERT INTO {link} (contact_id, account_id, message_id, owner_id, sent_at, thread_key, dedupe_key,
                    contact_sent)
SELECT ce.contact_id, c.account_id, m.id, mb.owner_id, m.sent_at, m.thread_key, m.dedupe_key,
       MAX(CASE WHEN p.role = 'from' THEN 1 ELSE 0 END) = 1
FROM {email} ce
JOIN {contact} c ON c.id = ce.contact_id
JOIN {participant} p ON p.address = ce.address
JOIN {message} m ON m.id = p.message_id
JOIN {mailbox} mb ON mb.id = m.mailbox_id
WHERE NOT m.is_internal AND {where}
GROUP BY ce.contact_id, c.account_id, m.id, mb.owner_id, m.sent_at, m.thread_key, m.dedupe_key
ON CONFLICT (contact_id, message_id) DO UPDATE SET
    account_id = excluded.account_id, contact_sent = excluded.contact_sent
WHERE {link}.account_id {differs} excluded.account_id
   OR {link}.contact_sent <> excluded.contact_sent
"""


def _insert(where: str, params: Sequence[int]) -> int:
    with connection.cursor() as cursor:
        # Null-safe "not equal" (an account may be unset): SQLite says IS NOT.
        differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
        cursor.execute(_INSERT.format(where=where, differs=differs, **_tables()), params)
        return int(cursor.rowcount)


def _placeholders(values: Collection[object]) -> str:
    return ", ".join(["%s"] * len(values))


def card_links_add_messages(message_ids: Collection[int]) -> int:
    """Link newly stored messages to the contacts among their participants."""
    if not message_ids:
        return 0
    ids = list(message_ids)
    return _insert(f"m.id IN ({_placeholders(ids)})", ids)


@transaction.atomic
def card_links_refresh_contacts(contact_ids: Collection[int]) -> None:
    """Bring these contacts' links in line with their addresses and account now."""
    if not contact_ids:
        return
    ids = list(contact_ids)
    # Links whose message no longer has any of the contact's addresses.
    addresses = ContactEmail.objects.filter(contact_id=OuterRef(OuterRef("contact_id")))
    still_matching = Participant.objects.filter(
        message_id=OuterRef("message_id"), address__in=addresses.values("address")
    )
    CardLink.objects.filter(contact_id__in=ids).exclude(Exists(still_matching)).delete()
    # New pairs added; the others' account and sender flag follow the contact as it is now.
    _insert(f"ce.contact_id IN ({_placeholders(ids)})", ids)


@transaction.atomic
def card_links_rebuild() -> int:
    """Every link again, from the messages and contacts as they are."""
    CardLink.objects.all().delete()
    return _insert("1 = 1", [])
