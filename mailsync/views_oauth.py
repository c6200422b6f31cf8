"""Connecting (and reconnecting) a mailbox by signing in to its provider (mailsync/oauth.py).

    /settings/mailbox/connect/<provider>/?address=...   how far back, "Sign in with Microsoft"
      -> the provider's sign-in and consent page (authorization code flow with PKCE and state)
    /settings/mailbox/connect/<provider>/callback/      the provider posts its answer here
      -> /settings/mailbox/connect/<provider>/finish/   the code for tokens, the account checked,
                                                         the mailbox saved

The flow lives in the user's session (its `state` binds the answer to this browser and this
sign-in); it is used once. The provider answers by a POST from its own site (response_mode
form_post, so the code never sits in a URL, RFC 9700 section 4.3.1), which arrives without the
SameSite=Lax session cookie: the callback only parks the answer under its `state` for a few
minutes and redirects to `finish`, which the browser requests with the session. Every refusal is
a plain sentence on the page it came from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hierarchy.models import User
from mailsync.forms import AddressForm, HistoryForm
from mailsync.models import MailboxState, Provider
from mailsync.oauth import OAuthSignIn, SignInRefused, sign_in_for, stale_sign_in
from mailsync.selectors import mailbox_of, shared_mailboxes_of
from mailsync.services import (
    mailbox_connect_oauth,
    mailbox_connect_shared,
    mailbox_grant_update,
    mailbox_reconnect_oauth,
    mailbox_send_allowed,
)
from mailsync.views_settings import step_url, without_mailbox

SESSION_KEY = "oauth_sign_in"
ANSWER_SECONDS = 600  # authorization codes live 10 minutes (Microsoft)

OAuthView = Callable[..., HttpResponse]


def _owner(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]  # login_required ran first


def with_sign_in(view: OAuthView) -> OAuthView:
    """The provider named in the URL, as its OAuthSignIn; an unknown one is a 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, provider: str, *args: Any, **kwargs: Any) -> HttpResponse:
        via = sign_in_for(provider)
        if via is None:
            raise Http404("No such provider.")
        return view(request, via, *args, **kwargs)

    return wrapper


def allowing_sign_in(response: HttpResponse, via: OAuthSignIn) -> HttpResponse:
    """A page with a "Sign in with ..." form: its CSP lets the form go to the provider."""
    response._csp_update = {"form-action": ["'self'", via.sign_in_origin()]}  # type: ignore[attr-defined]  # django-csp's per-response update
    return response


@require_http_methods(["GET", "POST"])
@without_mailbox
@with_sign_in
def connect_page(request: HttpRequest, via: OAuthSignIn) -> HttpResponse:
    """Step 3 for a provider one signs in to: how far back, then off to its sign-in."""
    address_form = AddressForm(request.GET if request.method == "GET" else request.POST)
    if not address_form.is_valid():
        return redirect("mailbox-connect")
    address = str(address_form.cleaned_data["address"])
    form = HistoryForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        return _sign_in(
            request,
            via,
            address=address,
            purpose="connect",
            sync_since_days=form.sync_since_days(),
            back=step_url("mailbox-connect-oauth", address, via.provider.value),
        )
    context = {
        "via": via,
        "form": form,
        "address": address,
        "configured": via.is_configured(),
        "change_url": step_url("mailbox-connect-provider", address),
        "step": 3,
        # Google Workspace admins trust an app by its client id (shown in the hint).
        "client_id": settings.GOOGLE_CLIENT_ID if via.provider == Provider.GOOGLE else "",
    }
    return allowing_sign_in(render(request, "mailsync/settings_oauth.html", context), via)


@login_required
@require_POST
@with_sign_in
def reconnect(request: HttpRequest, via: OAuthSignIn) -> HttpResponse:
    mailbox = mailbox_of(_owner(request))
    if mailbox is None:
        messages.error(request, "No mailbox is connected.")
        return redirect("mailbox-settings")
    return _sign_in(
        request, via, address=mailbox.address, purpose="reconnect", sync_since_days=None
    )


@login_required
@require_POST
@with_sign_in
def calendar_sign_in(request: HttpRequest, via: OAuthSignIn) -> HttpResponse:
    """Ask the mailbox's provider for calendar access too (incremental consent): the grant
    that reads the mail then also writes the calendar (calendars/)."""
    return _more_access(request, via, "calendar", "calendar-settings", via.calendar_scopes)


@login_required
@require_POST
@with_sign_in
def sending_sign_in(request: HttpRequest, via: OAuthSignIn) -> HttpResponse:
    """Ask the mailbox's provider for permission to send too (incremental consent, as for the
    calendar): Mail.Send, gmail.send."""
    return _more_access(request, via, "send", "mailbox-settings", via.send_scopes)


def _more_access(
    request: HttpRequest, via: OAuthSignIn, purpose: str, back: str, scopes: list[str]
) -> HttpResponse:
    """The user's own mailbox signs in again, asking for `scopes` on top of reading mail."""
    mailbox = mailbox_of(_owner(request))
    if mailbox is None or mailbox.provider != via.provider or not mailbox.credentials:
        messages.error(request, f"Connect your {via.provider.label} mailbox first.")
        return redirect(back)
    return _sign_in(
        request,
        via,
        address=mailbox.address,
        purpose=purpose,
        sync_since_days=None,
        back=reverse(back),
        scopes=[*via.mail_scopes, *scopes],
    )


@login_required
@require_http_methods(["GET", "POST"])
@with_sign_in
def connect_shared_page(request: HttpRequest, via: OAuthSignIn) -> HttpResponse:
    """A shared (team) mailbox for the signed-in user: its address, then the provider's
    sign-in (as the mailbox itself, or as the user with read access to it)."""
    address_form = AddressForm(request.POST if request.method == "POST" else None)
    form = HistoryForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and address_form.is_valid() and form.is_valid():
        return _sign_in(
            request,
            via,
            address=str(address_form.cleaned_data["address"]),
            purpose="shared",
            sync_since_days=form.sync_since_days(),
            back=reverse("mailbox-connect-shared", args=[via.provider.value]),
            scopes=via.shared_scopes,
        )
    context = {
        "via": via,
        "address_form": address_form,
        "form": form,
        "configured": via.is_configured(),
    }
    return allowing_sign_in(render(request, "mailsync/settings_shared.html", context), via)


@login_required
@require_POST
@with_sign_in
def reconnect_shared(request: HttpRequest, via: OAuthSignIn, mailbox_id: int) -> HttpResponse:
    mailbox = shared_mailboxes_of(_owner(request)).filter(pk=mailbox_id).first()
    if mailbox is None:
        messages.error(request, "No such shared mailbox of yours.")
        return redirect("mailbox-settings")
    return _sign_in(
        request,
        via,
        address=mailbox.address,
        purpose=f"reconnect-shared:{mailbox.pk}",
        sync_since_days=None,
        scopes=via.shared_scopes,
    )


def _sign_in(
    request: HttpRequest,
    via: OAuthSignIn,
    *,
    address: str,
    purpose: str,
    sync_since_days: int | None,
    back: str = "/settings/mailbox/",
    scopes: list[str] | None = None,
) -> HttpResponse:
    if not via.is_configured():
        messages.error(request, not_configured(via))
        return redirect(back)
    try:
        flow = via.sign_in_start(login_hint=address, scopes=scopes or via.mail_scopes)
    except SignInRefused as refused:
        messages.error(request, refused.message)
        return redirect(back)
    request.session[SESSION_KEY] = {
        "provider": via.provider.value,
        "flow": flow,
        "address": address,
        "purpose": purpose,
        "sync_since_days": sync_since_days,
        "back": back,
    }
    return redirect(flow["auth_uri"])


def _answer_key(state: str) -> str:
    return "oauth-answer:" + hashlib.sha256(state.encode()).hexdigest()


@csrf_exempt  # posted by the provider's page; `state` (checked by the flow) is what binds it
@never_cache
@require_http_methods(["GET", "POST"])
@with_sign_in
def callback(request: HttpRequest, via: OAuthSignIn) -> HttpResponse:
    """Park the provider's answer, then continue in this browser's session."""
    answer = (request.POST if request.method == "POST" else request.GET).dict()
    state = answer.get("state", "")[:200]
    if state:
        cache.set(_answer_key(state), answer, ANSWER_SECONDS)
    finish_url = reverse("mailbox-oauth-finish", args=[via.provider.value])
    return redirect(f"{finish_url}?{urlencode({'state': state})}")


@never_cache
@login_required
@require_GET
@with_sign_in
def finish(request: HttpRequest, via: OAuthSignIn) -> HttpResponse:
    """The provider's answer: tokens for the code, then the mailbox saved (or reconnected)."""
    state = request.GET.get("state", "")[:200]
    answer = cache.get(_answer_key(state)) if state else None
    cache.delete(_answer_key(state))
    pending = request.session.pop(SESSION_KEY, None)
    if (
        not isinstance(pending, dict)
        or pending.get("provider") != via.provider.value
        or not isinstance(answer, dict)
    ):
        messages.error(request, stale_sign_in(via.provider))
        return redirect("mailbox-settings")
    try:
        signed_in = via.sign_in_finish(pending["flow"], answer)
        messages.success(request, _complete(request, via, pending, signed_in))
        if pending.get("purpose") == "calendar":
            return redirect(
                f"{reverse('calendar-settings')}?{urlencode({'choose': via.provider.value})}"
            )
    except SignInRefused as refused:
        messages.error(request, refused.message)
        return redirect(str(pending.get("back") or "/settings/mailbox/"))
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(str(pending.get("back") or "/settings/mailbox/"))
    return redirect("mailbox-settings")


def _complete(
    request: HttpRequest, via: OAuthSignIn, pending: dict[str, Any], signed_in: Any
) -> str:
    """Connect, connect a shared mailbox, or reconnect, as the sign-in was started for."""
    purpose = str(pending.get("purpose", ""))
    if purpose == "calendar":
        mailbox = mailbox_of(_owner(request))
        if mailbox is None or not mailbox.credentials:  # none, or disconnected by its owner
            raise ValidationError("Connect your mailbox first, on the Mailbox sync page.")
        missing = via.scopes_missing(signed_in, via.calendar_scopes)
        if missing:  # Google lets the user untick each permission on its page
            raise ValidationError(
                f"{via.label} did not give Postcard {', '.join(missing)}. Use your calendar "
                f"again and tick every box on {via.label}'s page."
            )
        if mailbox.state == MailboxState.DISCONNECTED:  # its sign-in had broken: mended too
            mailbox_reconnect_oauth(mailbox=mailbox, via=via, sign_in=signed_in)
        else:
            mailbox_grant_update(mailbox=mailbox, via=via, sign_in=signed_in)
        return f"Postcard may now put your meetings and tasks in your {via.label} calendar."
    if purpose == "send":
        mailbox = mailbox_of(_owner(request))
        if mailbox is None or not mailbox.credentials:
            raise ValidationError("Connect your mailbox first, on the Mailbox sync page.")
        missing = via.scopes_missing(signed_in, via.send_scopes)
        if missing:
            raise ValidationError(
                f"{via.label} did not give Postcard {', '.join(missing)}. Choose Allow sending "
                f"again and tick every box on {via.label}'s page."
            )
        mailbox_send_allowed(mailbox=mailbox, via=via, sign_in=signed_in)
        return f"Postcard may now send email from {mailbox.address}."
    if purpose == "reconnect" or purpose.startswith("reconnect-shared:"):
        mailbox = (
            shared_mailboxes_of(_owner(request)).filter(pk=int(purpose.split(":")[1])).first()
            if ":" in purpose
            else mailbox_of(_owner(request))
        )
        if mailbox is None:
            raise ValidationError("No mailbox is connected.")
        mailbox_reconnect_oauth(mailbox=mailbox, via=via, sign_in=signed_in)
        return "Reconnected. Synchronization resumes where it stopped."
    if purpose == "shared":
        shared = mailbox_connect_shared(
            serves=_owner(request),
            via=via,
            address=str(pending["address"]),
            sign_in=signed_in,
            sync_since_days=pending.get("sync_since_days"),
        )
        return f"{shared.address} connected. Its first import starts in a moment."
    mailbox_connect_oauth(
        owner=_owner(request),
        via=via,
        address=str(pending["address"]),
        sign_in=signed_in,
        sync_since_days=pending.get("sync_since_days"),
    )
    return "Mailbox connected. The first import starts in a moment."


def not_configured(via: OAuthSignIn) -> str:
    return (
        f"{via.provider.label} sign-in is not set up on this Postcard server yet. Ask whoever "
        f"runs Postcard to register it with {via.label} (README, Connecting {via.provider.label})."
    )
