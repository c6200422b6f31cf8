"""Connecting (and reconnecting) a Microsoft 365 mailbox by signing in to Microsoft.

    /settings/mailbox/connect/microsoft/?address=...   the history choice, "Sign in with Microsoft"
      -> Microsoft's sign-in and consent page (authorization code flow with PKCE and state)
    /settings/mailbox/connect/microsoft/callback/      Microsoft posts its answer here
      -> /settings/mailbox/connect/microsoft/finish/   the code for tokens, the account checked,
                                                        the mailbox saved

The flow MSAL made lives in the user's session (its `state` binds the answer to this browser
and this sign-in); it is used once. Microsoft answers by a POST from its own site (response_mode
form_post, so the code never sits in a URL, RFC 9700 section 4.3.1), which arrives without the
SameSite=Lax session cookie: the callback only parks the answer under its `state` for a few
minutes and redirects to `finish`, which the browser requests with the session. Every refusal is
a plain sentence on the page it came from.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from hierarchy.models import User
from mailsync import microsoft
from mailsync.forms import AddressForm, HistoryForm
from mailsync.selectors import mailbox_of, shared_mailboxes_of
from mailsync.services import (
    mailbox_connect_microsoft,
    mailbox_connect_shared_microsoft,
    mailbox_reconnect_microsoft,
)
from mailsync.views_settings import step_url, with_own_mailbox, without_mailbox

SESSION_KEY = "microsoft_sign_in"


def _owner(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]  # login_required ran first


@require_http_methods(["GET", "POST"])
@without_mailbox
def connect_microsoft_page(request: HttpRequest) -> HttpResponse:
    """Step 3 for Microsoft 365: how far back, then off to Microsoft's sign-in."""
    address_form = AddressForm(request.GET if request.method == "GET" else request.POST)
    if not address_form.is_valid():
        return redirect("mailbox-connect")
    address = str(address_form.cleaned_data["address"])
    form = HistoryForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        return _sign_in(
            request,
            address=address,
            purpose="connect",
            sync_since_days=form.sync_since_days(),
            back=step_url("mailbox-connect-microsoft", address),
        )
    return allowing_sign_in(
        render(
            request,
            "mailsync/settings_microsoft.html",
            {
                "form": form,
                "address": address,
                "configured": microsoft.is_configured(),
                "change_url": step_url("mailbox-connect-provider", address),
                "step": 3,
            },
        )
    )


def allowing_sign_in(response: HttpResponse) -> HttpResponse:
    """A page with a "Sign in with Microsoft" form: its CSP lets the form go to Microsoft."""
    response._csp_update = {"form-action": ["'self'", microsoft.sign_in_origin()]}  # type: ignore[attr-defined]  # django-csp's per-response update
    return response


@require_POST
@with_own_mailbox
def reconnect_microsoft(request: HttpRequest, mailbox: Any) -> HttpResponse:
    return _sign_in(
        request,
        address=mailbox.address,
        purpose="reconnect",
        sync_since_days=None,
        back="/settings/mailbox/",
    )


@login_required
@require_http_methods(["GET", "POST"])
def connect_shared_page(request: HttpRequest) -> HttpResponse:
    """A shared (team) mailbox for the signed-in user: its address, then Microsoft's sign-in
    (as the mailbox itself, or as the user with read access to it)."""
    address_form = AddressForm(request.POST if request.method == "POST" else None)
    form = HistoryForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and address_form.is_valid() and form.is_valid():
        return _sign_in(
            request,
            address=str(address_form.cleaned_data["address"]),
            purpose="shared",
            sync_since_days=form.sync_since_days(),
            back=reverse("mailbox-connect-shared"),
            scopes=microsoft.SHARED_SCOPES,
        )
    return allowing_sign_in(
        render(
            request,
            "mailsync/settings_shared.html",
            {"address_form": address_form, "form": form, "configured": microsoft.is_configured()},
        )
    )


@login_required
@require_POST
def reconnect_shared(request: HttpRequest, mailbox_id: int) -> HttpResponse:
    mailbox = shared_mailboxes_of(_owner(request)).filter(pk=mailbox_id).first()
    if mailbox is None:
        messages.error(request, "No such shared mailbox of yours.")
        return redirect("mailbox-settings")
    return _sign_in(
        request,
        address=mailbox.address,
        purpose=f"reconnect-shared:{mailbox.pk}",
        sync_since_days=None,
        back="/settings/mailbox/",
        scopes=microsoft.SHARED_SCOPES,
    )


def _sign_in(
    request: HttpRequest,
    *,
    address: str,
    purpose: str,
    sync_since_days: int | None,
    back: str,
    scopes: list[str] = microsoft.MAIL_SCOPES,
) -> HttpResponse:
    if not microsoft.is_configured():
        messages.error(request, NOT_CONFIGURED)
        return redirect(back)
    try:
        flow = microsoft.sign_in_start(login_hint=address, scopes=scopes)
    except microsoft.SignInRefused as refused:
        messages.error(request, refused.message)
        return redirect(back)
    request.session[SESSION_KEY] = {
        "flow": flow,
        "address": address,
        "purpose": purpose,
        "sync_since_days": sync_since_days,
        "back": back,
    }
    return redirect(flow["auth_uri"])


ANSWER_SECONDS = 600  # Microsoft's codes live 10 minutes


def _answer_key(state: str) -> str:
    return "microsoft-answer:" + hashlib.sha256(state.encode()).hexdigest()


@csrf_exempt  # posted by Microsoft's page; `state` (checked by MSAL) is what binds it
@never_cache
@require_http_methods(["GET", "POST"])
def microsoft_callback(request: HttpRequest) -> HttpResponse:
    """Park Microsoft's answer, then continue in this browser's session."""
    answer = (request.POST if request.method == "POST" else request.GET).dict()
    state = answer.get("state", "")[:200]
    if state:
        cache.set(_answer_key(state), answer, ANSWER_SECONDS)
    return redirect(f"{reverse('mailbox-microsoft-finish')}?{urlencode({'state': state})}")


@never_cache
@login_required
@require_GET
def microsoft_finish(request: HttpRequest) -> HttpResponse:
    """Microsoft's answer: tokens for the code, then the mailbox saved (or reconnected)."""
    state = request.GET.get("state", "")[:200]
    answer = cache.get(_answer_key(state)) if state else None
    cache.delete(_answer_key(state))
    pending = request.session.pop(SESSION_KEY, None)
    if not isinstance(pending, dict) or "flow" not in pending or not isinstance(answer, dict):
        messages.error(request, microsoft.STALE_SIGN_IN)
        return redirect("mailbox-settings")
    back = str(pending.get("back") or "/settings/mailbox/")
    try:
        signed_in = microsoft.sign_in_finish(pending["flow"], answer)
        purpose = str(pending.get("purpose", ""))
        if purpose == "reconnect" or purpose.startswith("reconnect-shared:"):
            mailbox = (
                shared_mailboxes_of(_owner(request)).filter(pk=int(purpose.split(":")[1])).first()
                if ":" in purpose
                else mailbox_of(_owner(request))
            )
            if mailbox is None:
                raise ValidationError("No mailbox is connected.")
            mailbox_reconnect_microsoft(mailbox=mailbox, sign_in=signed_in)
            messages.success(request, "Reconnected. Synchronization resumes where it stopped.")
        elif purpose == "shared":
            shared = mailbox_connect_shared_microsoft(
                serves=_owner(request),
                address=str(pending["address"]),
                sign_in=signed_in,
                sync_since_days=pending.get("sync_since_days"),
            )
            messages.success(
                request, f"{shared.address} connected. Its first import starts in a moment."
            )
        else:
            mailbox_connect_microsoft(
                owner=_owner(request),
                address=str(pending["address"]),
                sign_in=signed_in,
                sync_since_days=pending.get("sync_since_days"),
            )
            messages.success(request, "Mailbox connected. The first import starts in a moment.")
    except microsoft.SignInRefused as refused:
        messages.error(request, refused.message)
        return redirect(back)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(back)
    return redirect("mailbox-settings")


NOT_CONFIGURED = (
    "Microsoft 365 sign-in is not set up on this Postcard server yet. Ask whoever runs Postcard "
    "to register it with Microsoft (README, Connecting Microsoft 365)."
)
