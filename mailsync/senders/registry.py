"""The send provider for a mailbox (None: the CRM's own mailer)."""

from __future__ import annotations

from django.conf import settings

from mailsync import google, microsoft
from mailsync.connections import account_of, google_grant, imap_sessions, microsoft_grant
from mailsync.microsoft import MicrosoftSignIn
from mailsync.models import Mailbox, Provider
from mailsync.providers.base import AuthenticationFailed
from mailsync.providers.gmail import GmailClient, budget_for
from mailsync.providers.graph import GraphClient
from mailsync.senders.base import SendingNotAllowed, SendProvider
from mailsync.senders.crm_mailer import CrmMailer
from mailsync.senders.gmail import GmailSender
from mailsync.senders.graph import GraphSender
from mailsync.senders.smtp import SmtpSender

# An operator's omission, not the user's sign-in: the message is held, the mailbox left alone.
NOT_SET_UP = (
    "{provider} is not set up on this Postcard server: send from the CRM's mailer, or ask "
    "whoever runs Postcard."
)


def sender_for(mailbox: Mailbox | None) -> SendProvider:
    if mailbox is None:
        return CrmMailer()
    if not mailbox.credentials:
        raise AuthenticationFailed("No stored credentials: reconnect the mailbox.")
    if mailbox.provider == Provider.MICROSOFT:
        if not microsoft.is_configured():
            raise SendingNotAllowed(NOT_SET_UP.format(provider="Microsoft 365"))
        grant = microsoft_grant(mailbox, scopes=MicrosoftSignIn.send_scopes)
        client = GraphClient(
            settings.MICROSOFT_GRAPH_URL,
            grant.token,
            user=str(mailbox.connection_settings.get("graph_user", "me")),
        )
        return GraphSender(client, on_close=grant.store)
    if mailbox.provider == Provider.GOOGLE:
        if not google.is_configured():
            raise SendingNotAllowed(NOT_SET_UP.format(provider="Google"))
        grant = google_grant(mailbox)
        gmail = GmailClient(
            settings.GOOGLE_GMAIL_URL,
            grant.token,
            budget_for(f"google:{mailbox.address}", settings.GOOGLE_QUOTA_UNITS_PER_MINUTE),
        )
        return GmailSender(gmail, on_close=grant.store)
    if mailbox.provider == Provider.IMAP:
        return SmtpSender(
            account_of(mailbox),
            server_files_sent=bool(mailbox.connection_settings.get("smtp_files_sent")),
            sessions=imap_sessions(),
        )
    raise SendingNotAllowed(
        f"Sending through {mailbox.get_provider_display()} is not available yet."
    )
