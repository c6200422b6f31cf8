"""Mailboxes connected by signing in to their provider (OAuth), whatever the provider.

What every such provider shares lives here and in `views_oauth.py` and the services: the sign-in
flow kept in the session and used once, the answer parked under its `state`, the signed-in
account checked against the address being connected (aliases and other accounts refused), the
token cache stored encrypted in `Mailbox.credentials`, reconnecting without importing again, and
shared mailboxes held by sync-only users. A provider adds one `OAuthSignIn` (Microsoft:
`mailsync/microsoft.py`, Google: `mailsync/google.py`) and its mail provider module
(`providers/graph.py`, `providers/gmail.py`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from mailsync.models import Provider


@dataclass(frozen=True)
class SignedIn:
    """A finished sign-in: whose account, and the token cache to store (encrypted)."""

    account_id: str  # finds the account's tokens in the cache later
    username: str  # the sign-in name
    access_token: str
    token_cache: str


@dataclass(frozen=True)
class SignedInAccount:
    """The mailbox of the account that signed in."""

    primary: str  # its main address
    login: str  # what the user signed in as
    aliases: tuple[str, ...]


class SignInRefused(Exception):
    """The sign-in did not give Postcard access; `message` says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OAuthSignIn(Protocol):
    provider: Provider
    label: str  # "Microsoft": "Sign in with {label}"
    mail_scopes: list[str]
    shared_scopes: list[str]  # mail scopes plus reading mailboxes shared with the user
    calendar_scopes: list[str]  # added when the user sends meetings and tasks to the calendar
    send_scopes: list[str]  # added when the user allows sending from the CRM

    def is_configured(self) -> bool: ...

    def sign_in_origin(self) -> str:
        """Where the sign-in form leads (its page's CSP form-action must allow it)."""
        ...

    def sign_in_start(self, *, login_hint: str, scopes: list[str]) -> dict[str, Any]:
        """The flow to keep in the session; its `auth_uri` is where the browser goes."""
        ...

    def sign_in_finish(self, flow: dict[str, Any], answer: Mapping[str, str]) -> SignedIn:
        """Tokens for the provider's answer; SignInRefused says why not."""
        ...

    def account(self, access_token: str) -> SignedInAccount: ...

    def can_read(self, access_token: str, address: str) -> bool:
        """Whether this sign-in may read another mailbox (a shared one)."""
        ...

    def scopes_missing(self, sign_in: SignedIn, wanted: list[str]) -> list[str]:
        """What the user declined of `wanted`, in words (where consent is per permission)."""
        ...


def stored_credentials(token_cache: str) -> str:
    """What `Mailbox.credentials` holds for a mailbox connected by signing in."""
    return json.dumps({"token_cache": token_cache})


def refreshed_tokens_store(mailbox_id: int, loaded: str, token_cache: str) -> bool:
    """Store a token cache a sync or a push refreshed, unless the mailbox's stored grant changed
    since it was loaded (the user signed in again meanwhile, for the calendar say): the newer
    grant wins over the older one refreshed. False when it was not stored."""
    from django.db import transaction

    from mailsync.models import Mailbox

    with transaction.atomic():
        current = Mailbox.objects.select_for_update().filter(pk=mailbox_id).first()
        if current is None or current.credentials != loaded:
            return False
        current.credentials = stored_credentials(token_cache)
        current.save(update_fields=["credentials"])
    return True


def token_cache_of(credentials: str) -> str:
    try:
        return str(json.loads(credentials or "{}").get("token_cache", ""))
    except (ValueError, AttributeError):
        return ""


def sign_in_for(key: str) -> OAuthSignIn | None:
    """The sign-in of the provider named in a URL ("microsoft"), or None."""
    from mailsync.google import GOOGLE
    from mailsync.microsoft import MICROSOFT

    providers: dict[str, OAuthSignIn] = {
        MICROSOFT.provider.value: MICROSOFT,
        GOOGLE.provider.value: GOOGLE,
    }
    return providers.get(key)


def stale_sign_in(provider: Provider) -> str:
    return (
        "This sign-in had expired or was started in another browser tab. Start again from "
        f"Connect {provider.label}."
    )
