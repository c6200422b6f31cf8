"""Signing in to Google (Workspace or personal Gmail): the operator's OAuth client, the sign-in
flow, tokens and their revocation.

The web server flow of developers.google.com/identity/protocols/oauth2/web-server, through
google-auth-oauthlib's `Flow` (authorization code with PKCE S256 and a `state`; the verifier is
kept server-side in the user's session, never in the browser), `access_type=offline` for a
refresh token and `include_granted_scopes` so that scopes asked later (sending, calendar) add to
the ones granted now (incremental authorization). `prompt=consent` makes Google hand out a
refresh token on every sign-in, a reconnect included.

Tokens are stored encrypted in `Mailbox.credentials` and refreshed through google-auth over
`requests` (one HTTP stack for every token call: proxies and CA bundles set for it apply). They
never leave this module and the provider: not in logs, pages, API or admin.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import google.auth.exceptions
import google.auth.transport.requests
import google.oauth2.credentials
import requests
from django.conf import settings
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import OAuth2Error

from mailsync.models import Provider
from mailsync.oauth import SignedIn, SignedInAccount, SignInRefused, stale_sign_in
from mailsync.providers.base import AuthenticationFailed, TemporaryFailure

logger = logging.getLogger(__name__)

READ_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
# Asked now. gmail.send and calendar.events are asked for by the features that need them, when
# the user first uses one (include_granted_scopes keeps what was granted before).
MAIL_SCOPES = [READ_SCOPE]
# Calendar push (calendars/): events in a calendar the user picks from their list, tasks in Google
# Tasks (developers.google.com/calendar/api/auth, developers.google.com/tasks/auth).
CALENDAR_SCOPES = [
    "https://www.googleapis.com/auth/calendar.events",
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly",
    "https://www.googleapis.com/auth/tasks",
]
# What Google's consent page calls them, for "you did not allow ...".
SCOPE_WORDS = {
    "https://www.googleapis.com/auth/gmail.send": "permission to send email",
    "https://www.googleapis.com/auth/calendar.events": "access to your calendar events",
    "https://www.googleapis.com/auth/calendar.calendarlist.readonly": "the list of your calendars",
    "https://www.googleapis.com/auth/tasks": "access to Google Tasks",
}
# Gmail lets a user's OAuth token read only that user's own mailbox (delegation needs a
# Workspace service account): a shared Google mailbox is connected by signing in as itself.
SHARED_SCOPES = MAIL_SCOPES
SEND_SCOPE = "https://www.googleapis.com/auth/gmail.send"
# Scopes that include reading mail (developers.google.com/gmail/api/auth/scopes).
READING_SCOPES = frozenset(
    {READ_SCOPE, "https://www.googleapis.com/auth/gmail.modify", "https://mail.google.com/"}
)
TIMEOUT = 15  # seconds, for every call to the sign-in service
EARLY_REFRESH = timedelta(minutes=5)  # refresh before expiry: a sync never meets a 401 midway


def is_configured() -> bool:
    return bool(settings.GOOGLE_CLIENT_ID and settings.GOOGLE_CLIENT_SECRET)


def sign_in_origin() -> str:
    parts = urlsplit(settings.GOOGLE_AUTH_URI)
    return f"{parts.scheme}://{parts.netloc}"


def _client_config() -> dict[str, Any]:
    # The "web" client JSON the Google Cloud console downloads, built from the settings.
    return {
        "web": {
            "client_id": settings.GOOGLE_CLIENT_ID,
            "client_secret": settings.GOOGLE_CLIENT_SECRET,
            "auth_uri": settings.GOOGLE_AUTH_URI,
            "token_uri": settings.GOOGLE_TOKEN_URI,
            "redirect_uris": [settings.GOOGLE_REDIRECT_URI],
        }
    }


def _flow(scopes: list[str], **kwargs: Any) -> Flow:
    return Flow.from_client_config(
        _client_config(), scopes=scopes, redirect_uri=settings.GOOGLE_REDIRECT_URI, **kwargs
    )


# --- signing in (the browser goes to Google and comes back) ---------------------------------


def sign_in_start(*, login_hint: str, scopes: list[str]) -> dict[str, Any]:
    """The flow to keep in the session; its `auth_uri` is where the browser goes."""
    flow = _flow(scopes, autogenerate_code_verifier=True)
    url, state = flow.authorization_url(
        access_type="offline",
        include_granted_scopes="true",
        login_hint=login_hint,
        prompt="consent",
    )
    return {"auth_uri": url, "state": state, "code_verifier": flow.code_verifier, "scopes": scopes}


def sign_in_finish(flow: dict[str, Any], answer: Mapping[str, str]) -> SignedIn:
    """Exchange the code Google sent back for tokens; SignInRefused says why not."""
    if answer.get("error"):
        raise SignInRefused(sign_in_error(answer.get("error", "")))
    if not answer.get("code") or answer.get("state") != flow.get("state"):
        raise SignInRefused(stale_sign_in(Provider.GOOGLE))
    session_flow = _flow(list(flow.get("scopes") or MAIL_SCOPES), state=flow["state"])
    session_flow.code_verifier = flow.get("code_verifier")
    try:
        token = dict(session_flow.fetch_token(code=answer["code"]))
    except Warning as changed:  # oauthlib: Google granted other scopes than asked (see below)
        token = dict(getattr(changed, "token", None) or {})
    except OAuth2Error as error:
        raise SignInRefused(sign_in_error(error.error)) from None
    except requests.RequestException:
        raise SignInRefused(UNREACHABLE) from None
    return _signed_in(token)


def _signed_in(token: Mapping[str, Any]) -> SignedIn:
    # Google's granular consent lets the user untick "Read your email": the token then lacks it.
    granted = _scopes(token.get("scope"))
    if not granted & READING_SCOPES:
        raise SignInRefused(NOT_GRANTED)
    if not token.get("access_token") or not token.get("refresh_token"):
        raise SignInRefused(UNEXPECTED)
    stored = StoredTokens(
        refresh_token=str(token["refresh_token"]),
        access_token=str(token["access_token"]),
        expiry=_expiry(token),
        scopes=sorted(granted),
    )
    return SignedIn(
        account_id="",  # one grant per mailbox: the stored tokens are the account's
        username="",
        access_token=stored.access_token,
        token_cache=stored.serialized(),
    )


def _scopes(value: object) -> set[str]:
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, list | tuple):
        return {str(s) for s in value}
    return set()


def _expiry(token: Mapping[str, Any]) -> str:
    try:
        seconds = float(token.get("expires_in") or 0)
    except (TypeError, ValueError):
        seconds = 0
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


# --- tokens for a connected mailbox -----------------------------------------------------------


@dataclass
class StoredTokens:
    """A mailbox's grant as stored (encrypted): `changed` once refreshed, then store it back."""

    refresh_token: str
    access_token: str = ""
    expiry: str = ""  # ISO 8601, UTC
    scopes: list[str] = field(default_factory=lambda: list(MAIL_SCOPES))
    changed: bool = False

    @classmethod
    def load(cls, serialized: str) -> StoredTokens:
        try:
            data = json.loads(serialized or "{}")
        except ValueError:
            data = {}
        if not isinstance(data, dict) or not data.get("refresh_token"):
            raise AuthenticationFailed(NO_TOKENS)
        return cls(
            refresh_token=str(data["refresh_token"]),
            access_token=str(data.get("access_token", "")),
            expiry=str(data.get("expiry", "")),
            scopes=[str(s) for s in data.get("scopes") or MAIL_SCOPES],
        )

    def serialized(self) -> str:
        self.changed = False
        return json.dumps(
            {
                "refresh_token": self.refresh_token,
                "access_token": self.access_token,
                "expiry": self.expiry,
                "scopes": self.scopes,
            }
        )

    def _fresh(self) -> bool:
        try:
            expiry = datetime.fromisoformat(self.expiry)
        except ValueError:
            return False
        return bool(self.access_token) and expiry - EARLY_REFRESH > datetime.now(UTC)

    def access_token_now(self, *, force_refresh: bool = False) -> str:
        """A valid access token, refreshed silently when due.

        AuthenticationFailed when Google refuses the refresh (`invalid_grant`: revoked at
        myaccount.google.com, password changed, unused for six months; the app blocked by
        the organisation): final, the user must sign in again.
        """
        if self._fresh() and not force_refresh:
            return self.access_token
        credentials = google.oauth2.credentials.Credentials(  # type: ignore[no-untyped-call]
            token=None,
            refresh_token=self.refresh_token,
            token_uri=settings.GOOGLE_TOKEN_URI,
            client_id=settings.GOOGLE_CLIENT_ID,
            client_secret=settings.GOOGLE_CLIENT_SECRET,
        )
        session = requests.Session()
        try:
            credentials.refresh(  # type: ignore[no-untyped-call]
                google.auth.transport.requests.Request(session)
            )
        except google.auth.exceptions.RefreshError as error:
            if getattr(error, "retryable", False):
                raise TemporaryFailure(UNREACHABLE) from None
            raise AuthenticationFailed(refresh_error(str(error))) from None
        except google.auth.exceptions.TransportError:
            raise TemporaryFailure(UNREACHABLE) from None
        finally:
            session.close()
        self.access_token = str(credentials.token)
        expiry = credentials.expiry  # naive UTC, as google-auth keeps it
        self.expiry = (expiry.replace(tzinfo=UTC) if expiry else datetime.now(UTC)).isoformat()
        self.changed = True
        return self.access_token


def revoke(serialized: str) -> bool:
    """End the grant at Google (developers.google.com/identity/protocols/oauth2/web-server#
    tokenrevoke): revoking the refresh token ends its access tokens too. False when Google
    could not be told (the user can still remove Postcard at myaccount.google.com)."""
    try:
        token = StoredTokens.load(serialized).refresh_token
    except AuthenticationFailed:
        return True  # nothing to revoke
    try:
        response = requests.post(
            settings.GOOGLE_REVOKE_URI,
            data={"token": token},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=TIMEOUT,
        )
    except requests.RequestException:
        logger.warning("Google token revocation failed: Google could not be reached")
        return False
    # 400 invalid_token: already revoked or expired, which is what was wanted.
    return response.status_code in (200, 400)


# --- what Google's errors mean to a user ------------------------------------------------------

UNREACHABLE = (
    "Could not reach Google's sign-in service. Check the server's internet connection and try "
    "again in a few minutes."
)
UNEXPECTED = "Google's answer could not be used. Start the sign-in again."
NO_TOKENS = "No Google sign-in is stored for this mailbox: reconnect it."
NOT_GRANTED = (
    'You did not allow Postcard to read your email. Sign in with Google again and tick "Read '
    "your email messages and settings\" on Google's page."
)


def admin_blocked() -> str:
    """The Workspace hint (README, "Connecting Google"): the admin trusts our client id."""
    return (
        "Your organisation's Google Workspace administrator restricts access to apps like "
        "Postcard. Ask them to mark Postcard as trusted in the Google Admin console (Security > "
        "Access and data control > API controls > Manage third-party app access > Configure "
        f"new app, OAuth client ID {settings.GOOGLE_CLIENT_ID}), then connect again."
    )


# developers.google.com/identity/protocols/oauth2/web-server#authorization-errors and the
# error codes of the authorization response (RFC 6749 section 4.1.2.1).
def sign_in_error(error: str) -> str:
    if error == "access_denied":
        return 'You declined to give Postcard access. To connect, sign in again and choose "Allow".'
    if error in ("admin_policy_enforced", "org_internal", "access_not_configured"):
        return admin_blocked()
    if error == "invalid_grant":
        return "This Google sign-in expired before it was completed. Sign in again."
    if error in ("invalid_client", "unauthorized_client", "redirect_uri_mismatch"):
        return (
            "Postcard's Google OAuth client is not set up correctly. Ask whoever runs Postcard to "
            "check GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET and the authorised redirect URI."
        )
    return f"Google did not let Postcard in ({error or 'no reason given'})."


def refresh_error(description: str) -> str:
    """google-auth's RefreshError text ("invalid_grant: Token has been expired or revoked.")
    as what happened and what to do."""
    lowered = description.lower()
    if "admin_policy_enforced" in lowered or "admin policy" in lowered:
        return admin_blocked()
    if "invalid_client" in lowered or "unauthorized_client" in lowered:
        return "Google refused Postcard's OAuth client: ask whoever runs Postcard to check it."
    return (
        "Google ended Postcard's access (removed at myaccount.google.com, the password was "
        "changed, or unused for six months): reconnect to resume."
    )


class GoogleSignIn:
    """Google's part of connecting by signing in (mailsync/oauth.py)."""

    provider = Provider.GOOGLE
    label = "Google"
    mail_scopes = MAIL_SCOPES
    shared_scopes = SHARED_SCOPES
    calendar_scopes = CALENDAR_SCOPES
    send_scopes = [SEND_SCOPE]  # sending from the CRM (mailsync/senders/gmail.py)

    def is_configured(self) -> bool:
        return is_configured()

    def sign_in_origin(self) -> str:
        return sign_in_origin()

    def sign_in_start(self, *, login_hint: str, scopes: list[str]) -> dict[str, Any]:
        return sign_in_start(login_hint=login_hint, scopes=scopes)

    def sign_in_finish(self, flow: dict[str, Any], answer: Mapping[str, str]) -> SignedIn:
        return sign_in_finish(flow, answer)

    def account(self, access_token: str) -> SignedInAccount:
        from mailsync.providers.gmail import signed_in_account

        primary, aliases = signed_in_account(settings.GOOGLE_GMAIL_URL, access_token)
        return SignedInAccount(primary=primary, login=primary, aliases=aliases)

    def can_read(self, access_token: str, address: str) -> bool:
        return False  # see SHARED_SCOPES

    def scopes_missing(self, sign_in: SignedIn, wanted: list[str]) -> list[str]:
        granted = set(StoredTokens.load(sign_in.token_cache).scopes)
        return [SCOPE_WORDS.get(scope, scope) for scope in wanted if scope not in granted]


GOOGLE = GoogleSignIn()
