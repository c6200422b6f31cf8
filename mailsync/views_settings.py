"""Settings > Mailbox sync: connect a mailbox, watch its sync, reconnect or disconnect it.

Every view works on the signed-in user's own mailbox (`mailbox_of(request.user)`) and nothing
else: there is no mailbox id in any URL. Views parse, call one service, and answer.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.core.forms import add_service_errors
from hierarchy.models import User
from mailsync.forms import AddressForm, DisconnectForm, ImapForm, ReconnectForm
from mailsync.known_hosts import known_host
from mailsync.models import Mailbox
from mailsync.oauth import sign_in_for
from mailsync.push.services import push_sentence
from mailsync.selectors import (
    MailboxStatus,
    SyncState,
    mailbox_of,
    mailbox_status_view,
    shared_mailboxes_of,
)
from mailsync.sending.routes import sending_status
from mailsync.services import (
    mailbox_connect_imap,
    mailbox_disconnect,
    mailbox_reconnect,
    mailbox_request_sync,
)

MailboxView = Callable[[HttpRequest, Mailbox], HttpResponse]


def _owner(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]  # login_required ran first


def with_own_mailbox(view: MailboxView) -> Callable[[HttpRequest], HttpResponse]:
    """Hand the view the user's own mailbox; without one, back to the settings page."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        mailbox = mailbox_of(_owner(request))
        if mailbox is None:
            messages.error(request, "No mailbox is connected.")
            return redirect("mailbox-settings")
        return view(request, mailbox)

    return login_required(wrapper)


def without_mailbox(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The connect steps, only for users who have no mailbox yet."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if mailbox_of(_owner(request)) is not None:
            return redirect("mailbox-settings")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


# --- status ----------------------------------------------------------------------------


def _status_page(
    request: HttpRequest, mailbox: Mailbox, reconnect_form: ReconnectForm | None = None
) -> HttpResponse:
    response = render(
        request,
        "mailsync/settings_status.html",
        {
            "status": mailbox_status_view(mailbox),
            "reconnect_form": reconnect_form or ReconnectForm(),
            "shared_mailboxes": list(shared_mailboxes_of(_owner(request))),
            "sending": sending_status(_owner(request), mailbox),
            "push_sentence": push_sentence(mailbox),
        },
    )
    # "Reconnect with Microsoft" (own or shared mailbox) leads to the provider's sign-in.
    providers = {mailbox.provider, *(m.provider for m in shared_mailboxes_of(_owner(request)))}
    origins = [via.sign_in_origin() for via in map(sign_in_for, providers) if via is not None]
    if origins:
        response._csp_update = {"form-action": ["'self'", *origins]}  # type: ignore[attr-defined]
    return response


@login_required
@require_GET
def mailbox_settings_page(request: HttpRequest) -> HttpResponse:
    mailbox = mailbox_of(_owner(request))
    if mailbox is None:
        status = mailbox_status_view(None)
        return render(request, "mailsync/settings_start.html", {"status": status})
    return _status_page(request, mailbox)


@never_cache
@login_required
@require_GET
def mailbox_status_json(request: HttpRequest) -> HttpResponse:
    """What the progress script needs, of the user's own mailbox only: never any setting."""
    mailbox = mailbox_of(_owner(request))
    if mailbox is None:
        return JsonResponse({"error": "No mailbox is connected."}, status=404)
    status = mailbox_status_view(mailbox, runs=0)
    progress = status.progress
    last = mailbox.last_synced_at
    return JsonResponse(
        {
            "state": status.state,
            "headline": status.headline,
            "error": status.error,
            "progress_done": progress.done if progress else 0,
            "progress_total": progress.total if progress else 0,
            "percent": progress.percent if progress else 0,
            "last_synced_at": last.isoformat() if last else None,
            "message_count": status.message_count,
        }
    )


# --- connecting: address, provider, IMAP settings ---------------------------------------


def step_url(name: str, address: str, *args: str) -> str:
    return f"{reverse(name, args=args)}?{urlencode({'address': address})}"


def _address_from_query(request: HttpRequest) -> str | None:
    form = AddressForm(request.GET)
    return str(form.cleaned_data["address"]) if form.is_valid() else None


@require_GET
@without_mailbox
def mailbox_connect_page(request: HttpRequest) -> HttpResponse:
    """Step 1: the email address. A GET form sent to step 2: nothing is saved before step 3."""
    form = AddressForm(initial={"address": request.GET.get("address", "")})
    return render(request, "mailsync/settings_address.html", {"form": form, "step": 1})


@require_GET
@without_mailbox
def mailbox_connect_provider_page(request: HttpRequest) -> HttpResponse:
    """Step 2: the provider. Only custom IMAP settings work for now."""
    form = AddressForm(request.GET)
    if not form.is_valid():
        if "address" not in request.GET:
            return redirect("mailbox-connect")
        return render(request, "mailsync/settings_address.html", {"form": form, "step": 1})
    address = form.cleaned_data["address"]
    return render(
        request,
        "mailsync/settings_provider.html",
        {
            "address": address,
            "known": known_host(address),
            "imap_url": step_url("mailbox-connect-imap", address),
            "microsoft_url": step_url("mailbox-connect-oauth", address, "microsoft"),
            "google_url": step_url("mailbox-connect-oauth", address, "google"),
            "step": 2,
        },
    )


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
@without_mailbox
def mailbox_connect_imap_page(request: HttpRequest) -> HttpResponse:
    """Step 3: the IMAP and SMTP settings. "Log in" checks both logins, then saves."""
    address = request.POST.get("address") or _address_from_query(request)
    if not address:
        return redirect("mailbox-connect")
    form = ImapForm(request.POST if request.method == "POST" else None, address=address)
    if request.method == "POST" and form.is_valid():
        try:
            mailbox_connect_imap(
                owner=_owner(request),
                account=form.account(),
                sync_since_days=form.sync_since_days(),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Mailbox connected. The first import starts in a moment.")
            return redirect("mailbox-settings")
    return render(
        request,
        "mailsync/settings_imap.html",
        {
            "form": form,
            "address": address,
            "known": known_host(address),
            "change_url": step_url("mailbox-connect-provider", address),
            "step": 3,
        },
    )


# --- actions on the connected mailbox ---------------------------------------------------


@require_POST
@with_own_mailbox
def mailbox_sync_now(request: HttpRequest, mailbox: Mailbox) -> HttpResponse:
    """No message on success: the page itself shows the sync starting, then running."""
    try:
        mailbox_request_sync(mailbox=mailbox)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("mailbox-settings")


@sensitive_post_parameters("password")
@require_POST
@with_own_mailbox
def mailbox_reconnect_page(request: HttpRequest, mailbox: Mailbox) -> HttpResponse:
    form = ReconnectForm(request.POST)
    if form.is_valid():
        try:
            mailbox_reconnect(mailbox=mailbox, password=form.cleaned_data["password"])
        except ValidationError as error:
            if not hasattr(error, "error_dict"):  # not about the password: a demo mailbox
                messages.error(request, " ".join(error.messages))
                return redirect("mailbox-settings")
            add_service_errors(form, error)
        else:
            messages.success(request, "Reconnected. Synchronization resumes where it stopped.")
            return redirect("mailbox-settings")
    return _status_page(request, mailbox, reconnect_form=form)


@require_http_methods(["GET", "POST"])
@with_own_mailbox
def mailbox_disconnect_page(request: HttpRequest, mailbox: Mailbox) -> HttpResponse:
    """Disconnect (keeping the emails or not); a disconnected or demo mailbox can only go."""
    status = mailbox_status_view(mailbox, runs=0)
    can_keep = status.can_sync
    form = DisconnectForm(request.POST if request.method == "POST" else None, can_keep=can_keep)
    if request.method == "POST" and form.is_valid():
        warning = mailbox_disconnect(mailbox=mailbox, keep_emails=form.keep_emails)
        messages.success(request, _disconnected_message(status, keep=form.keep_emails))
        if warning:
            messages.warning(request, warning)
        return redirect("mailbox-connect" if status.state == SyncState.DEMO else "mailbox-settings")
    return render(
        request,
        "mailsync/settings_disconnect.html",
        {"form": form, "status": status, "can_keep": can_keep},
    )


def _disconnected_message(status: MailboxStatus, *, keep: bool) -> str:
    if status.state == SyncState.DEMO:
        return "The demo mailbox and its emails were removed. Connect your own mailbox below."
    if not status.can_sync:
        return "The mailbox and its synchronized emails were removed."
    if keep:
        return "Mailbox disconnected. The synchronized emails were kept."
    return "Mailbox disconnected and its emails deleted."
