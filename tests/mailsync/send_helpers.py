"""Helpers for the sending tests: an IMAP+SMTP mailbox on the real test servers, the bytes
that reached the SMTP server and Dovecot's Sent folder, parsed as a recipient would."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

from crm.core.addresses import normalize_address
from mailsync.connections import ImapAccount
from mailsync.models import Mailbox
from mailsync.sending.drafting import recipients
from mailsync.sending.outbox import Draft
from mailsync.services import mailbox_connect_imap
from tests.factories import UserFactory


def connect_with_smtp(dovecot, smtp, *, owner=None, address="alice@example.test") -> Mailbox:
    owner = owner or UserFactory(
        username="alice", email=address, first_name="Alice", last_name="Adams"
    )
    account = ImapAccount(
        address=address,
        username="alice",
        password="secret",
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_security="plain",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_security="plain",
    )
    return mailbox_connect_imap(owner=owner, account=account, sync_since_days=None)


def draft(
    to: str, subject: str = "Proposal", body: str = "Hello,\n\nthe proposal.\n", **kw
) -> Draft:
    return Draft(
        from_choice=kw.pop("from_choice", "own"),
        to=recipients(to, "To"),
        subject=subject,
        body_text=body,
        **kw,
    )


def parsed(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def sent_folder(dovecot, user: str = "alice") -> list[EmailMessage]:
    with dovecot.client(user) as imap:
        imap.select_folder("Sent", readonly=True)
        uids = imap.search("ALL")
        fetched = imap.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        return [parsed(fetched[uid][b"BODY[]"]) for uid in uids]


def canonical(header) -> list[str]:
    """The addresses of a parsed address header, canonical and sorted."""
    return sorted(normalize_address(a.addr_spec) for a in header.addresses)
