"""The Calendar settings page and the "push again" button: thin, calling services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from calendars.forms import (
    KNOWN_SERVERS,
    SERVER_FOR_MAIL_DOMAIN,
    CalDavLoginForm,
    CalendarChoiceForm,
)
from calendars.models import CalendarConnection, ItemKind
from calendars.providers.base import RemoteCalendar
from calendars.push import item_of
from calendars.selectors import calendar_connection_of
from calendars.services import (
    caldav_calendars,
    calendar_connect_caldav,
    calendar_connect_oauth,
    calendar_disconnect,
    is_another_account,
    item_push_again,
    oauth_calendars,
)
from crm.core.fields import fernet
from hierarchy.models import User
from mailsync.models import Mailbox
from mailsync.oauth import sign_in_for
from mailsync.selectors import mailbox_of
from mailsync.views_oauth import allowing_sign_in

# Calendars reached through the mailbox's own sign-in.
OAUTH_CALENDARS = ("google", "microsoft")
PENDING = "calendar_pending"  # the login being connected, password encrypted, between steps


def _owner(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]  # login_required ran first


@sensitive_post_parameters("password")
@login_required
@require_http_methods(["GET", "POST"])
def calendar_settings_page(request: HttpRequest) -> HttpResponse:
    connection = calendar_connection_of(_owner(request).pk)
    action = request.POST.get("action", "")
    if request.method == "POST" and action == "disconnect" and connection is not None:
        calendar_disconnect(connection=connection)
        messages.success(request, "Calendar disconnected. Events already pushed stay there.")
        return redirect("calendar-settings")
    if request.method == "POST" and action == "choose":
        return _choose(request, connection)
    if request.method == "POST" and action == "choose-oauth":
        return _choose_oauth(request)
    provider = request.GET.get("choose", "")
    if request.method == "GET" and provider in OAUTH_CALENDARS:
        return _list_oauth(request, connection, provider)
    login = CalDavLoginForm(request.POST if action == "find" else None)
    if action == "find" and login.is_valid():
        return _find(request, login, connection)
    return _page(request, connection, login=login)


def _find(
    request: HttpRequest, login: CalDavLoginForm, connection: CalendarConnection | None
) -> HttpResponse:
    data = login.cleaned_data
    try:
        url, calendars = caldav_calendars(
            server_url=data["server_url"], username=data["username"], password=data["password"]
        )
    except ValidationError as error:
        login.add_error(None, " ".join(error.messages))
        return _page(request, connection, login=login)
    if not calendars:
        login.add_error(None, "This account has no calendar on that server: create one first.")
        return _page(request, connection, login=login)
    request.session[PENDING] = {
        "server_url": url,
        "username": data["username"],
        "password": fernet().encrypt(str(data["password"]).encode()).decode(),
        "calendars": [c.__dict__ for c in calendars],
    }
    return _page(request, connection, calendars=calendars)


def _choose(request: HttpRequest, connection: CalendarConnection | None) -> HttpResponse:
    pending = request.session.get(PENDING)
    if not _is_caldav_pending(pending):
        messages.error(request, "That choice had expired. Log in to the calendar server again.")
        return redirect("calendar-settings")
    assert isinstance(pending, dict)
    calendars = [RemoteCalendar(**c) for c in pending["calendars"]]
    form = CalendarChoiceForm(request.POST, calendars=calendars)
    if not form.is_valid():
        return _page(request, connection, calendars=calendars, choice=form)
    chosen = next(c for c in calendars if c.key == form.cleaned_data["calendar"])
    password = fernet().decrypt(str(pending["password"]).encode()).decode()
    request.session.pop(PENDING, None)
    server_url, username = str(pending["server_url"]), str(pending["username"])
    elsewhere = connection is not None and is_another_account(
        connection, "caldav", server_url, username
    )
    calendar_connect_caldav(
        owner=_owner(request),
        server_url=server_url,
        username=username,
        password=password,
        calendar=chosen,
    )
    _say_connected(request, chosen, elsewhere=elsewhere)
    return redirect("calendar-settings")


def _is_caldav_pending(pending: object) -> bool:
    """The CalDAV login of this session's last "Find my calendars", intact."""
    return (
        isinstance(pending, dict)
        and all(isinstance(pending.get(k), str) for k in ("server_url", "username", "password"))
        and isinstance(pending.get("calendars"), list)
    )


def _say_connected(request: HttpRequest, chosen: RemoteCalendar, *, elsewhere: bool) -> None:
    moved = " Events already pushed to the previous calendar stay there." if elsewhere else ""
    messages.success(
        request,
        f"Meetings and tasks you flag now go to “{chosen.name}”. Pushing them begins.{moved}",
    )


def _list_oauth(
    request: HttpRequest, connection: CalendarConnection | None, provider: str
) -> HttpResponse:
    try:
        calendars = oauth_calendars(owner=_owner(request), provider=provider)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("calendar-settings")
    request.session[PENDING] = {
        "provider": provider,
        "calendars": [c.__dict__ for c in calendars],
    }
    return _page(request, connection, calendars=calendars, action="choose-oauth")


def _choose_oauth(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(PENDING)
    if (
        not isinstance(pending, dict)
        or pending.get("provider") not in OAUTH_CALENDARS
        or not isinstance(pending.get("calendars"), list)
    ):
        messages.error(request, "That choice had expired. Choose the calendar again.")
        return redirect("calendar-settings")
    calendars = [RemoteCalendar(**c) for c in pending["calendars"]]
    form = CalendarChoiceForm(request.POST, calendars=calendars)
    if not form.is_valid():
        connection = calendar_connection_of(_owner(request).pk)
        return _page(request, connection, calendars=calendars, choice=form, action="choose-oauth")
    chosen = next(c for c in calendars if c.key == form.cleaned_data["calendar"])
    request.session.pop(PENDING, None)
    previous = calendar_connection_of(_owner(request).pk)
    provider = str(pending["provider"])
    elsewhere = previous is not None and is_another_account(previous, provider, "", "")
    calendar_connect_oauth(owner=_owner(request), provider=provider, calendar=chosen)
    _say_connected(request, chosen, elsewhere=elsewhere)
    return redirect("calendar-settings")


def _page(
    request: HttpRequest,
    connection: CalendarConnection | None,
    *,
    login: CalDavLoginForm | None = None,
    calendars: list[RemoteCalendar] | None = None,
    choice: CalendarChoiceForm | None = None,
    action: str = "choose",
) -> HttpResponse:
    if calendars and choice is None:
        choice = CalendarChoiceForm(calendars=calendars)
    mailbox = mailbox_of(_owner(request))
    via = sign_in_for(mailbox.provider) if mailbox is not None else None
    if via is not None and via.provider.value not in OAUTH_CALENDARS:
        via = None
    context: dict[str, Any] = {
        "connection": connection,
        "login": login or CalDavLoginForm(initial={"server_url": _server_for(mailbox)}),
        "calendars": calendars or [],
        "choice": choice,
        "choose_action": action,
        "known_servers": KNOWN_SERVERS,
        "oauth_via": via,
    }
    response = render(request, "calendars/settings.html", context)
    return allowing_sign_in(response, via) if via is not None else response


def _server_for(mailbox: Mailbox | None) -> str:
    """The CalDAV server of the user's mail provider, where it has one (Fastmail, iCloud)."""
    if mailbox is None:
        return ""
    return SERVER_FOR_MAIL_DOMAIN.get(mailbox.address.rsplit("@", 1)[-1].lower(), "")


@login_required
@require_POST
def item_push_again_page(request: HttpRequest, kind: str, item_id: int) -> HttpResponse:
    if kind not in ItemKind.values:
        raise Http404("No such item.")
    item = item_of(kind, item_id)
    if item is None or item.owner_id != _owner(request).pk:
        raise Http404("No such item of yours.")
    item_push_again(kind=kind, item_id=item_id)
    messages.success(request, "Pushing it to your calendar again.")
    return redirect(item.get_absolute_url())
