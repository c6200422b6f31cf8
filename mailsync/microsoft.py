"""Signing in to Microsoft 365: the operator's app registration, the sign-in flow and tokens.

Through MSAL (learn.microsoft.com/entra/msal/python): the authorization code flow with PKCE and a
`state` (MSAL's `initiate_auth_code_flow` / `acquire_token_by_auth_code_flow`; the flow dict is
kept in the user's session), and one token cache per mailbox, stored encrypted in
`Mailbox.credentials` and written back whenever MSAL changed it (a refresh rotates the refresh
token). Tokens never leave this module and the provider: not in logs, pages, API or admin.

Errors come back from Microsoft as AADSTS codes (learn.microsoft.com/entra/identity-platform/
reference-error-codes); each one a user can meet is said here in a plain sentence with what to do.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msal
import requests
from django.conf import settings
from msal.exceptions import MsalServiceError

from mailsync.models import Provider
from mailsync.oauth import SignedIn, SignedInAccount, SignInRefused, stale_sign_in
from mailsync.providers.base import AuthenticationFailed, TemporaryFailure
from mailsync.providers.graph import can_read_mailbox, signed_in_account

logger = logging.getLogger(__name__)

# Delegated permissions asked now; MSAL adds openid, profile and offline_access itself (passing
# them raises ValueError). Mail.Send and Calendars.ReadWrite are asked for only by the features
# that need them, when the user first uses one (incremental consent).
MAIL_SCOPES = ["User.Read", "Mail.Read"]
# A shared (team) mailbox read with the signed-in user's own access to it.
SHARED_SCOPES = [*MAIL_SCOPES, "Mail.Read.Shared"]
TIMEOUT = 15  # seconds, for every call to the sign-in service
# MSAL's cache of the sign-in service's discovery answers (a day), shared by every app object:
# a sync builds one per mailbox, and would otherwise ask Microsoft's discovery endpoint each time.
_MSAL_HTTP_CACHE: dict[str, Any] = {}


def sign_in_origin() -> str:
    """Where "Sign in with Microsoft" forms lead (their page's CSP form-action must allow it:
    browsers apply it to the redirect that follows the form too)."""
    parts = urlsplit(settings.MICROSOFT_LOGIN_URL)
    return f"{parts.scheme}://{parts.netloc}"


def is_configured() -> bool:
    return bool(settings.MICROSOFT_CLIENT_ID and settings.MICROSOFT_CLIENT_SECRET)


def _authority() -> str:
    return f"{settings.MICROSOFT_LOGIN_URL.rstrip('/')}/{settings.MICROSOFT_TENANT}"


def _app(cache: msal.SerializableTokenCache | None = None) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        settings.MICROSOFT_CLIENT_ID,
        client_credential=settings.MICROSOFT_CLIENT_SECRET,
        authority=_authority(),
        # Instance discovery asks login.microsoftonline.com which hosts are Microsoft's: only
        # meaningful for Microsoft's own hosts, and a call the tests' sign-in service cannot take.
        instance_discovery=settings.MICROSOFT_LOGIN_URL == "https://login.microsoftonline.com",
        token_cache=cache,
        http_cache=_MSAL_HTTP_CACHE,
        timeout=TIMEOUT,
    )


# --- signing in (the browser goes to Microsoft and comes back) ------------------------------


def sign_in_start(*, login_hint: str, scopes: list[str] = MAIL_SCOPES) -> dict[str, Any]:
    """The flow to keep in the session; its `auth_uri` is where the browser goes."""
    try:
        flow: dict[str, Any] = _app().initiate_auth_code_flow(
            scopes,
            redirect_uri=settings.MICROSOFT_REDIRECT_URI,
            login_hint=login_hint,
            response_mode="form_post",  # the code travels in a POST body, never in a URL
        )
    except (requests.RequestException, ValueError, MsalServiceError) as error:
        logger.warning("Microsoft sign-in could not start: %s", type(error).__name__)
        raise SignInRefused(UNREACHABLE) from None
    return flow


def sign_in_finish(flow: dict[str, Any], answer: Mapping[str, str]) -> SignedIn:
    """Exchange the code Microsoft sent back for tokens; SignInRefused says why not."""
    if answer.get("error"):
        raise SignInRefused(sign_in_error(answer.get("error", ""), answer.get("error_description")))
    cache = msal.SerializableTokenCache()
    try:
        result = _app(cache).acquire_token_by_auth_code_flow(flow, dict(answer))
    except ValueError:  # state mismatch, a replayed or foreign answer (MSAL checks it)
        raise SignInRefused(stale_sign_in(Provider.MICROSOFT)) from None
    except (requests.RequestException, MsalServiceError):
        raise SignInRefused(UNREACHABLE) from None
    if "error" in result:
        raise SignInRefused(sign_in_error(result["error"], result.get("error_description")))
    claims = result.get("id_token_claims") or {}
    accounts = _app(cache).get_accounts()
    if not accounts:
        raise SignInRefused(UNEXPECTED)
    return SignedIn(
        account_id=str(accounts[0]["home_account_id"]),
        username=str(claims.get("preferred_username") or accounts[0].get("username") or ""),
        access_token=str(result["access_token"]),
        token_cache=cache.serialize(),
    )


# --- tokens for a connected mailbox -----------------------------------------------------------


@dataclass
class Tokens:
    """A mailbox's token cache; `changed` once MSAL refreshed (then store `serialized()`)."""

    account_id: str
    cache: msal.SerializableTokenCache
    scopes: list[str]

    @classmethod
    def load(cls, account_id: str, serialized: str, scopes: list[str] | None = None) -> Tokens:
        cache = msal.SerializableTokenCache()
        if serialized:
            cache.deserialize(serialized)
        return cls(account_id, cache, scopes or MAIL_SCOPES)

    @property
    def changed(self) -> bool:
        return bool(self.cache.has_state_changed)

    def serialized(self) -> str:
        self.cache.has_state_changed = False
        return str(self.cache.serialize())

    def access_token(self, *, force_refresh: bool = False) -> str:
        """A valid access token, refreshed silently when due.

        AuthenticationFailed when Microsoft refuses the refresh (expired, revoked, consent
        withdrawn, password changed): final, the user must sign in again. MSAL remembers a
        refused refresh for a minute anyway, so retrying would not even reach Microsoft.
        """
        app = _app(self.cache)
        account = next(
            (a for a in app.get_accounts() if a.get("home_account_id") == self.account_id), None
        )
        if account is None:
            raise AuthenticationFailed(NO_TOKENS)
        try:
            result = app.acquire_token_silent_with_error(
                self.scopes, account=account, force_refresh=force_refresh
            )
        except (requests.RequestException, MsalServiceError):
            raise TemporaryFailure(UNREACHABLE) from None
        if result is None:
            raise AuthenticationFailed(NO_TOKENS)
        if "access_token" in result:
            return str(result["access_token"])
        error = str(result.get("error", ""))
        if error in ("invalid_grant", "interaction_required", "invalid_client"):
            raise AuthenticationFailed(refresh_error(result.get("error_description")))
        raise TemporaryFailure(f"Microsoft's sign-in service answered {error or 'an error'}.")


# --- what Microsoft's errors mean to a user ---------------------------------------------------

UNREACHABLE = (
    "Could not reach Microsoft's sign-in service. Check the server's internet connection and try "
    "again in a few minutes."
)
UNEXPECTED = "Microsoft's answer could not be used. Start the sign-in again."
NO_TOKENS = "No Microsoft sign-in is stored for this mailbox: reconnect it."
ADMIN_APPROVAL = (
    "Your organisation lets only its administrator approve apps like Postcard. Ask your "
    "Microsoft 365 administrator to grant admin consent to Postcard (they will find how in "
    "Postcard's README, Connecting Microsoft 365), then connect again."
)

# AADSTS code -> what it means for the user at sign-in (learn.microsoft.com/entra/identity-
# platform/reference-error-codes).
SIGN_IN_ERRORS: dict[str, str] = {
    "65004": "You declined to give Postcard access. To connect, sign in again and choose Accept.",
    "90094": ADMIN_APPROVAL,
    "90095": ADMIN_APPROVAL,
    "65001": ADMIN_APPROVAL,
    "7000112": (
        "Postcard's app registration is disabled in Microsoft Entra. Ask whoever runs Postcard "
        "to enable it."
    ),
    "700016": (
        "Postcard's app is not known to your organisation's Microsoft account. Ask whoever runs "
        "Postcard to check MICROSOFT_CLIENT_ID and the supported account types."
    ),
    "50011": (
        "Postcard's reply address is not registered in Microsoft Entra. Ask whoever runs "
        "Postcard to add MICROSOFT_REDIRECT_URI to the app registration."
    ),
    "50057": (
        "This Microsoft account is disabled. Ask your Microsoft 365 administrator to enable it."
    ),
    "50020": (
        "This Microsoft account does not belong to an organisation Postcard accepts. Sign in "
        "with your work account."
    ),
    "53003": (
        "Your organisation's access policies blocked this sign-in. Ask your Microsoft 365 "
        "administrator to allow Postcard."
    ),
    "700082": "The Microsoft sign-in expired. Sign in again.",
    "50173": "The Microsoft sign-in is no longer valid. Sign in again.",
}

# The same codes when a stored sign-in stops working during a sync.
REFRESH_ERRORS: dict[str, str] = {
    "700082": (
        "Microsoft ended Postcard's access because it was not renewed for a long time: reconnect "
        "to resume."
    ),
    "50173": (
        "Microsoft ended Postcard's access (the password was changed or sign-ins were revoked): "
        "reconnect to resume."
    ),
    "65001": (
        "Postcard's access to the mailbox was withdrawn in Microsoft 365: reconnect and accept to "
        "resume."
    ),
    "50057": "The Microsoft account was disabled: Postcard stopped synchronizing it.",
    "7000112": "Postcard's app registration was disabled in Microsoft Entra.",
}

_AADSTS = re.compile(r"AADSTS(\d+)")


def _code(description: str | None) -> str:
    match = _AADSTS.search(description or "")
    return match.group(1) if match else ""


def sign_in_error(error: str, description: str | None) -> str:
    code = _code(description)
    if code in SIGN_IN_ERRORS:
        return SIGN_IN_ERRORS[code]
    if error == "access_denied":
        return SIGN_IN_ERRORS["65004"]
    return f"Microsoft did not let Postcard in ({error}{', AADSTS' + code if code else ''})."


def refresh_error(description: str | None) -> str:
    code = _code(description)
    return REFRESH_ERRORS.get(
        code,
        f"Microsoft refused to renew Postcard's access{' (AADSTS' + code + ')' if code else ''}: "
        "reconnect to resume.",
    )


class MicrosoftSignIn:
    """Microsoft's part of connecting by signing in (mailsync/oauth.py)."""

    provider = Provider.MICROSOFT
    label = "Microsoft"
    mail_scopes = MAIL_SCOPES
    shared_scopes = SHARED_SCOPES
    calendar_scopes = ["Calendars.ReadWrite", "Tasks.ReadWrite"]  # calendar push (calendars/)
    # Sending from the CRM (mailsync/senders/graph.py): replies are drafts made by Graph first.
    send_scopes = ["Mail.Send", "Mail.ReadWrite"]

    def is_configured(self) -> bool:
        return is_configured()

    def sign_in_origin(self) -> str:
        return sign_in_origin()

    def sign_in_start(self, *, login_hint: str, scopes: list[str]) -> dict[str, Any]:
        return sign_in_start(login_hint=login_hint, scopes=scopes)

    def sign_in_finish(self, flow: dict[str, Any], answer: Mapping[str, str]) -> SignedIn:
        return sign_in_finish(flow, answer)

    def account(self, access_token: str) -> SignedInAccount:
        found = signed_in_account(settings.MICROSOFT_GRAPH_URL, access_token)
        return SignedInAccount(
            primary=found.mail or found.user_principal_name,
            login=found.user_principal_name or found.mail,
            aliases=found.aliases,
        )

    def can_read(self, access_token: str, address: str) -> bool:
        return can_read_mailbox(settings.MICROSOFT_GRAPH_URL, access_token, address)

    def scopes_missing(self, sign_in: SignedIn, wanted: list[str]) -> list[str]:
        return []  # Microsoft's consent is all or nothing: a refusal is an error answer


MICROSOFT = MicrosoftSignIn()
