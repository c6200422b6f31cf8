"""Opening a provider for a mailbox and checking a new connection before it is saved."""

from __future__ import annotations

import atexit
import json
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from mailsync import google, microsoft
from mailsync.models import Mailbox, Provider
from mailsync.oauth import refreshed_tokens_store, token_cache_of
from mailsync.providers.base import (
    AuthenticationFailed,
    MailProvider,
    ProviderError,
    TemporaryFailure,
)
from mailsync.providers.gmail import GmailClient, GmailProvider, budget_for
from mailsync.providers.graph import GraphClient, GraphProvider
from mailsync.providers.imap import ImapProvider, ImapSettings, connect, is_loopback, tls_context
from mailsync.providers.imap_sessions import SessionPool

SECURITY_CHOICES = (
    ("ssl", "SSL/TLS"),
    ("starttls", "STARTTLS"),
    ("plain", "None (this machine only)"),
)


@dataclass(frozen=True)
class ImapAccount:
    """What the "Custom IMAP settings" form collects."""

    address: str
    username: str
    password: str
    imap_host: str
    imap_port: int
    imap_security: str
    smtp_host: str
    smtp_port: int
    smtp_security: str

    def imap(self) -> ImapSettings:
        return ImapSettings(
            host=self.imap_host,
            port=self.imap_port,
            security=self.imap_security,
            username=self.username,
            password=self.password,
        )

    def public_settings(self) -> dict[str, object]:
        """Stored in clear: everything but the password."""
        return {
            "username": self.username,
            "imap_host": self.imap_host,
            "imap_port": self.imap_port,
            "imap_security": self.imap_security,
            "smtp_host": self.smtp_host,
            "smtp_port": self.smtp_port,
            "smtp_security": self.smtp_security,
        }


def account_of(mailbox: Mailbox) -> ImapAccount:
    settings = mailbox.connection_settings
    secrets = json.loads(mailbox.credentials or "{}")
    return ImapAccount(
        address=mailbox.address,
        username=str(settings.get("username", mailbox.address)),
        password=str(secrets.get("password", "")),
        imap_host=str(settings["imap_host"]),
        imap_port=int(settings["imap_port"]),
        imap_security=str(settings["imap_security"]),
        smtp_host=str(settings.get("smtp_host", "")),
        smtp_port=int(settings.get("smtp_port", 587)),
        smtp_security=str(settings.get("smtp_security", "starttls")),
    )


def open_provider(mailbox: Mailbox) -> MailProvider:
    if mailbox.provider not in (Provider.IMAP, Provider.MICROSOFT, Provider.GOOGLE):
        raise AuthenticationFailed(f"{mailbox.get_provider_display()} is not supported yet.")
    if not mailbox.credentials:
        raise AuthenticationFailed("No stored credentials: reconnect the mailbox.")
    if mailbox.provider == Provider.MICROSOFT:
        return _graph_provider(mailbox)
    if mailbox.provider == Provider.GOOGLE:
        return _gmail_provider(mailbox)
    return ImapProvider(
        account_of(mailbox).imap(),
        max_message_bytes=settings.MAILBOX_MAX_MESSAGE_BYTES,
        sessions=imap_sessions(),
    )


@dataclass(frozen=True)
class Grant:
    """A mailbox's stored sign-in at work: `token(force_refresh)` gives a valid access token
    (refreshing it when due, one refresh at a time across threads); `store()` writes a
    refreshed grant back, only over the grant it was loaded from (refreshed_tokens_store)."""

    token: Callable[[bool], str]
    store: Callable[[], None]


def microsoft_grant(mailbox: Mailbox, scopes: list[str] | None = None) -> Grant:
    """MSAL's token cache of the mailbox, for `scopes` (default: those it was connected with)."""
    if scopes is None:
        stored = mailbox.connection_settings.get("scopes")
        scopes = [str(s) for s in stored] if isinstance(stored, list) else None
    loaded = mailbox.credentials
    tokens = microsoft.Tokens.load(
        str(mailbox.connection_settings.get("account_id", "")), token_cache_of(loaded), scopes
    )
    lock = threading.Lock()

    def token(force_refresh: bool) -> str:
        with lock:
            return tokens.access_token(force_refresh=force_refresh)

    def store() -> None:
        with lock:
            if tokens.changed:
                refreshed_tokens_store(mailbox.pk, loaded, tokens.serialized())

    return Grant(token, store)


def google_grant(mailbox: Mailbox) -> Grant:
    """The mailbox's Google grant (refresh and access token, google.StoredTokens)."""
    loaded = mailbox.credentials
    tokens = google.StoredTokens.load(token_cache_of(loaded))
    lock = threading.Lock()

    def token(force_refresh: bool) -> str:
        with lock:
            return tokens.access_token_now(force_refresh=force_refresh)

    def store() -> None:
        with lock:
            if tokens.changed:
                refreshed_tokens_store(mailbox.pk, loaded, tokens.serialized())

    return Grant(token, store)


def _graph_provider(mailbox: Mailbox) -> GraphProvider:
    """Graph with the mailbox's stored sign-in; a token MSAL refreshed is stored back at the
    end of the sync (a refresh rotates the refresh token)."""
    if not microsoft.is_configured():
        raise AuthenticationFailed(
            "Microsoft 365 is not set up on this Postcard server (MICROSOFT_CLIENT_ID)."
        )
    grant = microsoft_grant(mailbox)
    client = GraphClient(
        settings.MICROSOFT_GRAPH_URL,
        grant.token,
        user=str(mailbox.connection_settings.get("graph_user", "me")),
    )
    return GraphProvider(
        client,
        max_message_bytes=settings.MAILBOX_MAX_MESSAGE_BYTES,
        account_key=f"{mailbox.pk}:{mailbox.connection_settings.get('account_id', '')}",
        known_cursors=dict(mailbox.folders.exclude(cursor="").values_list("name", "cursor")),
        on_close=grant.store,
    )


def _gmail_provider(mailbox: Mailbox) -> GmailProvider:
    """Gmail with the mailbox's stored grant; a refreshed access token is stored back at the
    end of the sync, so the next one does not refresh again."""
    if not google.is_configured():
        raise AuthenticationFailed(
            "Google is not set up on this Postcard server (GOOGLE_CLIENT_ID)."
        )
    grant = google_grant(mailbox)
    client = GmailClient(
        settings.GOOGLE_GMAIL_URL,
        grant.token,
        budget_for(f"google:{mailbox.address}", settings.GOOGLE_QUOTA_UNITS_PER_MINUTE),
    )
    return GmailProvider(
        client, max_message_bytes=settings.MAILBOX_MAX_MESSAGE_BYTES, on_close=grant.store
    )


_pool_lock = threading.Lock()
_pools: list[SessionPool] = []


def imap_sessions() -> SessionPool:
    """This process's IMAP sessions kept between syncs (providers/imap_sessions.py); made once,
    under a lock: a threads-pool worker's first syncs may ask for it at the same moment."""
    with _pool_lock:
        if not _pools:
            pool = SessionPool(
                capacity=settings.MAILBOX_KEPT_CONNECTIONS,
                max_idle=settings.MAILBOX_CONNECTION_IDLE_SECONDS,
                max_age=settings.MAILBOX_CONNECTION_MAX_AGE_SECONDS,
            )
            atexit.register(pool.close_all)
            _pools.append(pool)
        return _pools[0]


def check_imap(account: ImapAccount) -> None:
    """Log in and out once; raises ProviderError saying exactly what failed."""
    client = connect(account.imap(), timeout=15)
    client.logout()


def check_smtp(account: ImapAccount, *, timeout: float = 15) -> None:
    """Log in to the SMTP server (no message sent); raises ProviderError."""
    host, port, security = account.smtp_host, account.smtp_port, account.smtp_security
    where = f"{host}:{port}"
    if security == "plain" and not is_loopback(host):
        raise AuthenticationFailed(
            "Unencrypted SMTP is only allowed to this machine; choose SSL/TLS or STARTTLS."
        )
    try:
        with smtp_open(host, port, security, timeout) as smtp:
            smtp.login(account.username, account.password)
    except (smtplib.SMTPException, OSError) as error:
        raise smtp_failure(error, host=host, where=where, username=account.username) from None


def smtp_failure(error: Exception, *, host: str, where: str, username: str) -> ProviderError:
    """What a failed SMTP conversation means, in one sentence (login check and sending)."""
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return AuthenticationFailed(
            f"The SMTP server refused the login for {username}: wrong password, or an "
            "app password is required."
        )
    if isinstance(error, socket.gaierror):
        return TemporaryFailure(f"The SMTP server {host} was not found (DNS).")
    if isinstance(error, ConnectionRefusedError):
        return TemporaryFailure(f"The SMTP server {where} refused the connection.")
    if isinstance(error, ssl.SSLError):
        return TemporaryFailure(f"TLS with {where} failed: {error.reason or error}.")
    if isinstance(error, TimeoutError):
        return TemporaryFailure(f"The SMTP server {where} did not answer in time.")
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return TemporaryFailure(f"The SMTP server {where} does not offer login (AUTH).")
    return TemporaryFailure(f"Talking to the SMTP server {where} failed: {error}.")


def smtp_open(host: str, port: int, security: str, timeout: float) -> smtplib.SMTP:
    context = tls_context()
    if security == "ssl":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    smtp = smtplib.SMTP(host, port, timeout=timeout)
    if security == "starttls":
        smtp.starttls(context=context)
    return smtp


# --- the last error, in plain words ------------------------------------------------------

# The providers' sentences (providers/imap.py, check_smtp above, services) say what failed in
# terms a mail administrator reads; the settings page says it in terms anyone reads. Matched on
# stable fragments of those sentences, first match wins; {host} is the mailbox's server.
PLAIN_ERRORS: tuple[tuple[str, str | None], ...] = (
    ("disconnected by you", ""),  # the user's own choice: not an error
    # Microsoft 365's sentences (mailsync/microsoft.py, providers/graph.py) are plain already.
    ("microsoft", None),
    (
        "refused the login",
        "The server refused the password. If your account uses 2-step verification, it needs "
        "an app password.",
    ),
    ("was not found (dns)", "Could not reach {host}: no server has that name."),
    ("refused the connection", "Could not reach {host}: it refused the connection."),
    ("did not answer in time", "Could not reach {host}: it did not answer in time."),
    ("tls with", "Could not open a secure connection to {host}."),
    (
        "unencrypted",
        "Unencrypted connections are only allowed to this machine: use SSL/TLS or STARTTLS.",
    ),
    ("no stored credentials", "No password is stored for this mailbox."),
    ("not supported yet", "This kind of mailbox cannot be synchronized yet."),
    ("unexpected error", "Something went wrong inside Postcard during the sync."),
    ("could not talk to", "The connection to {host} broke off."),
    ("connection failed while", "The connection to {host} broke off during the sync."),
    ("failed after login", "The connection to {host} broke off after signing in."),
    ("login to", "The connection to {host} broke off while signing in."),
    ("refused a fetch", "The server {host} refused to hand over some messages."),
    # Google's sentences (mailsync/google.py, providers/gmail.py) are plain already; matched
    # last, so that an IMAP sentence naming imap.gmail.com is put plainly above.
    ("google", None),
    ("gmail", None),
)
UNKNOWN_ERROR = "The last sync did not finish."


def plain_error(reason: str, *, host: str) -> str:
    """The stored failure reason as one plain sentence ("" when there was no failure)."""
    if not reason:
        return ""
    lowered = reason.lower()
    for fragment, sentence in PLAIN_ERRORS:
        if fragment in lowered:
            return reason if sentence is None else sentence.format(host=host or "the mail server")
    return UNKNOWN_ERROR


__all__ = [
    "SECURITY_CHOICES",
    "ImapAccount",
    "ProviderError",
    "account_of",
    "check_imap",
    "check_smtp",
    "open_provider",
    "plain_error",
]
