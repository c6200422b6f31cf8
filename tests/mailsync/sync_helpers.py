"""Helpers for sync tests against a real Dovecot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from mailsync.connections import ImapAccount, open_provider
from mailsync.models import Mailbox
from mailsync.services import mailbox_connect_imap
from mailsync.sync import SyncCounts, sync_mailbox
from tests.factories import UserFactory


def email(n: int, *, sender: str, to: str, subject: str | None = None, days_ago: int = 1) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject or f"Message {n}"
    message["Message-ID"] = f"<msg-{n}@customer.test>"
    message["Date"] = format_datetime(datetime.now(UTC) - timedelta(days=days_ago))
    message.set_content(f"Hello, this is message {n}.\n")
    return message.as_bytes()


def connect_alice(dovecot, *, since_days: int | None = None, owner=None) -> Mailbox:
    owner = owner or UserFactory(username="alice", email="alice@example.test")
    account = ImapAccount(
        address="alice@example.test",
        username="alice",
        password="secret",
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_security="plain",
        smtp_host="",
        smtp_port=25,
        smtp_security="plain",
    )
    return mailbox_connect_imap(owner=owner, account=account, sync_since_days=since_days)


class CountingProvider:
    """The real provider, counting what it downloads (a spy, not a mock)."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.real = open_provider(mailbox)
        self.downloaded: list[str] = []

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def fetch_raw(self, folder, keys):
        for raw in self.real.fetch_raw(folder, keys):
            self.downloaded.append(raw.remote_id)
            yield raw


def run_sync(
    mailbox: Mailbox,
    *,
    reconcile: bool = False,
    provider_class: type[CountingProvider] | None = None,
) -> tuple[SyncCounts, CountingProvider]:
    mailbox.refresh_from_db()
    provider = (provider_class or CountingProvider)(mailbox)
    return sync_mailbox(mailbox, provider, reconcile=reconcile), provider


def subjects(mailbox: Mailbox) -> list[str]:
    return sorted(mailbox.messages.values_list("subject", flat=True))
