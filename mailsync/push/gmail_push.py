"""Google: Gmail's `users.watch` publishing to a Pub/Sub topic whose push subscription posts to
Postcard (developers.google.com/gmail/api/guides/push).

The operator makes the topic, grants `gmail-api-push@system.gserviceaccount.com` the Publisher
role on it, and makes a push subscription to `<PUSH_BASE_URL>/hooks/gmail/` with authentication
(a service account, and an audience): README, "New mail within seconds". Each push carries an
OIDC token that Postcard verifies with google-auth against Google's certificates: signature,
expiry, audience, issuer, and the service account's address
(cloud.google.com/pubsub/docs/authenticate-push-subscriptions). The message data is only
{emailAddress, historyId}: it wakes that mailbox, and the history sync reads what changed.
A watch lasts 7 days; Google recommends calling watch again daily (the beat does).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import google.auth.transport.requests
import jwt
import requests
from django.conf import settings
from django.utils import timezone
from google.auth import exceptions as google_exceptions
from google.oauth2 import id_token

from crm.core.addresses import normalize_address
from mailsync.connections import google_grant
from mailsync.models import Mailbox, MailboxState, Provider, PushKind, PushSubscription
from mailsync.providers.base import ProviderError
from mailsync.providers.gmail import GmailClient, budget_for
from mailsync.push.graph_webhooks import push_base_url
from mailsync.push.wakeups import mailbox_wake

logger = logging.getLogger(__name__)

RENEW_EVERY = timedelta(days=1)
WATCH_COST = 100  # developers.google.com/gmail/api/reference/quota
ISSUERS = ("accounts.google.com", "https://accounts.google.com")


def gmail_push_configured() -> bool:
    """A topic, and the push subscription's service account: without it anyone's own Pub/Sub
    subscription with our (public) audience could post to the endpoint."""
    return bool(
        push_base_url() and settings.GOOGLE_PUBSUB_TOPIC and settings.GOOGLE_PUSH_SERVICE_ACCOUNT
    )


def audience() -> str:
    return settings.GOOGLE_PUSH_AUDIENCE or f"{push_base_url()}/hooks/gmail/"


def gmail_watch_renew(*, mailbox: Mailbox, force: bool = False) -> bool:
    """Watch (again) when the last watch is a day old; whether a watch is live."""
    if not gmail_push_configured() or mailbox.provider != Provider.GOOGLE:
        return False
    if mailbox.state == MailboxState.DISCONNECTED or not mailbox.credentials:
        return False
    held = PushSubscription.objects.filter(mailbox=mailbox, kind=PushKind.GMAIL).first()
    if held is not None and not force and timezone.now() - held.renewed_at < RENEW_EVERY:
        return held.expires_at > timezone.now()
    grant = google_grant(mailbox)
    client = GmailClient(
        settings.GOOGLE_GMAIL_URL,
        grant.token,
        budget_for(f"google:{mailbox.address}", settings.GOOGLE_QUOTA_UNITS_PER_MINUTE),
    )
    try:
        # developers.google.com/gmail/api/reference/rest/v1/users/watch: every label (the
        # sync decides what it mirrors).
        answer = client.execute(
            client.users.watch(userId="me", body={"topicName": settings.GOOGLE_PUBSUB_TOPIC}),
            cost=WATCH_COST,
            doing="asking Gmail to announce changes",
        )
    except ProviderError as error:
        PushSubscription.objects.filter(mailbox=mailbox, kind=PushKind.GMAIL).update(
            last_error=error.message[:500]
        )
        logger.warning("mailbox %s: no Gmail watch: %s", mailbox.pk, error.message)
        return False
    finally:
        grant.store()
    expires = _from_millis(answer.get("expiration")) or timezone.now() + timedelta(days=7)
    PushSubscription.objects.update_or_create(
        mailbox=mailbox,
        kind=PushKind.GMAIL,
        folder="",
        defaults={"expires_at": expires, "last_error": ""},
    )
    return True


def _from_millis(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, tz=UTC)
    except (TypeError, ValueError):
        return None


class PushRefused(Exception):
    """Not a genuine push from our subscription: answered 403, nothing done."""


def gmail_push_received(*, authorization: str, body: bytes) -> bool:
    """A Pub/Sub push envelope: its token verified, its mailbox woken. False when it names no
    mailbox of ours (acknowledged all the same: Pub/Sub would only send it again)."""
    _verify(authorization)
    data = _data_of(body)
    address = normalize_address(str(data.get("emailAddress", "")))
    mailbox = Mailbox.objects.filter(address=address, provider=Provider.GOOGLE).first()
    if mailbox is None:
        return False
    mailbox_wake(mailbox_id=mailbox.pk)
    return True


def _verify(authorization: str) -> None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise PushRefused("no bearer token")
    try:
        claims: Mapping[str, Any] = id_token.verify_token(
            token,
            _certs_request(),
            audience=audience(),
            certs_url=settings.GOOGLE_CERTS_URL,
        )
    except (ValueError, google_exceptions.GoogleAuthError, jwt.PyJWTError) as error:
        # google-auth raises ValueError for PEM certificates, PyJWT's errors for a JWK set.
        raise PushRefused(f"token refused: {error}") from None
    if claims.get("iss") not in ISSUERS:
        raise PushRefused("wrong issuer")
    expected = settings.GOOGLE_PUSH_SERVICE_ACCOUNT
    if not expected or claims.get("email") != expected or not claims.get("email_verified"):
        raise PushRefused("not our push subscription's service account")


CERTS_KEPT = 600.0  # seconds: Google rotates its keys over days, and says so in Cache-Control
_certs_lock = threading.Lock()
_certs_cache: dict[str, tuple[float, Any]] = {}


class _CachedCerts(google.auth.transport.requests.Request):
    """google-auth's transport, answering the certificates URL from memory for a while: every
    push would otherwise fetch Google's certificates before anything is checked."""

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:  # type: ignore[override]
        if method != "GET":
            return super().__call__(url, method=method, **kwargs)  # type: ignore[no-untyped-call]
        now = time.monotonic()
        with _certs_lock:
            kept = _certs_cache.get(url)
            if kept is not None and now - kept[0] < CERTS_KEPT:
                return kept[1]
        answer = super().__call__(url, method=method, **kwargs)  # type: ignore[no-untyped-call]
        if answer.status == 200:
            with _certs_lock:
                _certs_cache[url] = (now, answer)
        return answer


_requests: list[_CachedCerts] = []


def _certs_request() -> _CachedCerts:
    """One transport (and connection pool) for every push this process receives."""
    with _certs_lock:
        if not _requests:
            _requests.append(_CachedCerts(requests.Session()))
        return _requests[0]


def _data_of(body: bytes) -> dict[str, Any]:
    """message.data: base64 of {"emailAddress", "historyId"} (Pub/Sub sends standard base64;
    the Gmail guide says base64url: both are read)."""
    try:
        envelope = json.loads(body)
        encoded = str(envelope["message"]["data"])
        decoded = base64.b64decode(encoded.replace("-", "+").replace("_", "/") + "==")
        data = json.loads(decoded)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise PushRefused("not a Pub/Sub push envelope") from None
    if not isinstance(data, dict):
        raise PushRefused("not a Gmail notification")
    return data
