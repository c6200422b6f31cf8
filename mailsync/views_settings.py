"""Settings > Mailbox sync: connect a mailbox, watch its sync, reconnect or disconnect it.

Every view works on the signed-in user's own mailbox (`mailbox_of(request.user)`) and nothing
else: there is no mailbox id in any URL. Views parse, call one service, and answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.core.forms import add_service_errors
from hierarchy.models import User
from mailsync.forms import AddressForm, DisconnectForm, ImapForm, ReconnectForm
from mailsync.known_hosts import known_host
from mailsync.models import Mailbox, MailboxState, SyncRun
from mailsync.selectors import mailbox_of, mailbox_status
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


def without_mailbox(
    view: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """The connect steps, only for users who have no mailbox yet."""

    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        if mailbox_of(_owner(request)) is not None:
            return redirect("mailbox-settings")
        return view(request)

    return login_required(wrapper)


# --- status ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LogRow:
    run: SyncRun
    duration: str


def _duration(run: SyncRun) -> str:
    if run.finished_at is None:
        return "running"
    seconds = max(0, int((run.finished_at - run.started_at).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    return f"{minutes // 60} h {minutes % 60} min"


SECURITY_LABELS = {"ssl": "SSL/TLS", "starttls": "STARTTLS", "plain": "no encryption"}


def _servers(mailbox: Mailbox) -> list[tuple[str, str, str]]:
    """(label, host:port, security) of each server, from the settings stored in clear."""
    found = mailbox.connection_settings
    lines = []
    for kind in ("imap", "smtp"):
        host = found.get(f"{kind}_host")
        if host:
            security = SECURITY_LABELS.get(str(found.get(f"{kind}_security")), "")
            lines.append(
                (f"{kind.upper()} server", f"{host}:{found.get(f'{kind}_port')}", security)
            )
    return lines


def _status_page(
    request: HttpRequest, mailbox: Mailbox, reconnect_form: ReconnectForm | None = None
) -> HttpResponse:
    status = mailbox_status(mailbox)
    now, next_at, last_at = timezone.now(), mailbox.next_sync_at, mailbox.last_synced_at
    return render(
        request,
        "mailsync/settings_status.html",
        {
            "status": status,
            "mailbox": mailbox,
            "log": [LogRow(run, _duration(run)) for run in status.recent_runs],
            "next_sync_due": next_at is not None and next_at <= now,
            "synced_just_now": last_at is not None and (now - last_at).total_seconds() < 60,
            "waiting": mailbox.state == MailboxState.ACTIVE
            and mailbox.last_synced_at is None
            and mailbox.failures == 0,
            "reconnect_form": reconnect_form or ReconnectForm(),
            "servers": _servers(mailbox),
            "login_name": mailbox.connection_settings.get("username", mailbox.address),
            # Only whether a password is stored: the template never sees the credentials.
            "has_credentials": bool(mailbox.credentials),
        },
    )


@login_required
@require_GET
def mailbox_settings_page(request: HttpRequest) -> HttpResponse:
    mailbox = mailbox_of(_owner(request))
    if mailbox is None:
        return render(request, "mailsync/settings_start.html")
    return _status_page(request, mailbox)


@never_cache
@login_required
@require_GET
def mailbox_status_json(request: HttpRequest) -> HttpResponse:
    """What the progress script needs, of the user's own mailbox only: never any setting."""
    mailbox = mailbox_of(_owner(request))
    if mailbox is None:
        return JsonResponse({"error": "No mailbox is connected."}, status=404)
    status = mailbox_status(mailbox, runs=0)
    last = mailbox.last_synced_at
    return JsonResponse(
        {
            "state": mailbox.state,
            "progress_done": mailbox.progress_done,
            "progress_total": mailbox.progress_total,
            "percent": status.progress_percent,
            "last_synced_at": last.isoformat() if last else None,
            "state_reason": mailbox.state_reason,
            "message_count": status.message_count,
        }
    )


# --- connecting: address, provider, IMAP settings ---------------------------------------


def _step_url(name: str, address: str) -> str:
    return f"{reverse(name)}?{urlencode({'address': address})}"


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
            "imap_url": _step_url("mailbox-connect-imap", address),
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
            "change_url": _step_url("mailbox-connect-provider", address),
            "step": 3,
        },
    )


# --- actions on the connected mailbox ---------------------------------------------------


@require_POST
@with_own_mailbox
def mailbox_sync_now(request: HttpRequest, mailbox: Mailbox) -> HttpResponse:
    if mailbox.state == MailboxState.DISCONNECTED:
        messages.error(request, "Reconnect the mailbox first.")
    else:
        mailbox_request_sync(mailbox=mailbox)
        messages.success(request, "A sync was queued.")
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
            add_service_errors(form, error)
        else:
            messages.success(request, "Reconnected. Synchronization resumes where it stopped.")
            return redirect("mailbox-settings")
    return _status_page(request, mailbox, reconnect_form=form)


@require_http_methods(["GET", "POST"])
@with_own_mailbox
def mailbox_disconnect_page(request: HttpRequest, mailbox: Mailbox) -> HttpResponse:
    form = DisconnectForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        mailbox_disconnect(mailbox=mailbox, keep_emails=form.keep_emails)
        if form.keep_emails:
            messages.success(request, "Mailbox disconnected. The synchronized emails were kept.")
        else:
            messages.success(request, "Mailbox disconnected and its emails deleted.")
        return redirect("mailbox-settings")
    return render(
        request,
        "mailsync/settings_disconnect.html",
        {"form": form, "mailbox": mailbox, "status": mailbox_status(mailbox, runs=0)},
    )
