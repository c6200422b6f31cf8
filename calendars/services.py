"""Calendar push, the writes: connecting a calendar, choosing one, queuing pushes.

Pushes are queued after the transaction that changed the item commits, and coalesced: the first
change goes out within a second or two; later changes within a minute of the last push go out
together, one update at the end of that minute (`calendar_push_soon`).
"""

from __future__ import annotations

import json
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from calendars.models import (
    CalendarConnection,
    CalendarProvider,
    ConnectionState,
    ItemKind,
    PushedItem,
    PushState,
)
from calendars.providers.base import PushError, RemoteCalendar
from calendars.push import uid_for
from crm.activities.models import Meeting, Task
from hierarchy.models import User

COALESCE_SECONDS = 60
FIRST_PUSH_SECONDS = 1


def calendar_push_soon(kind: str, item_id: int, owner: User | None = None) -> None:
    """Queue the push of one item once the current transaction commits."""
    transaction.on_commit(lambda: _queue(kind, item_id, owner))


def _queue(kind: str, item_id: int, owner: User | None) -> None:
    from calendars.tasks import calendar_push_task

    now = timezone.now()
    record = PushedItem.objects.filter(kind=kind, item_id=item_id).first()
    if record is None and owner is None:
        return  # never pushed, and gone or never meant to be
    if record is None and owner is not None:
        record, _ = PushedItem.objects.get_or_create(
            kind=kind,
            item_id=item_id,
            defaults={"owner": owner, "remote_uid": uid_for(kind, item_id)},
        )
    assert record is not None
    recent = record.pushed_at is not None and record.pushed_at > now - timedelta(
        seconds=COALESCE_SECONDS
    )
    due = (
        record.pushed_at + timedelta(seconds=COALESCE_SECONDS)
        if recent and record.pushed_at
        else now + timedelta(seconds=FIRST_PUSH_SECONDS)
    )
    PushedItem.objects.filter(pk=record.pk).exclude(state=PushState.REMOVED).update(
        state=PushState.WAITING, error="", next_attempt_at=due
    )
    wait = max((due - now).total_seconds(), 0)
    if cache.add(_queued_key(kind, item_id), 1, int(wait) + 30):
        calendar_push_task.apply_async((kind, item_id), countdown=wait)


def _queued_key(kind: str, item_id: int) -> str:
    return f"calendar-push-queued:{kind}:{item_id}"


def calendar_push_started(kind: str, item_id: int) -> None:
    """A queued push begins: changes from now on queue another."""
    cache.delete(_queued_key(kind, item_id))


CLAIM_SECONDS = 300


def calendar_pushes_claim_due(limit: int = 500) -> list[tuple[str, int]]:
    """Records whose push is due, each moved CLAIM_SECONDS ahead in the same UPDATE that
    claims it: overlapping beats queue each once."""
    now = timezone.now()
    due = PushedItem.objects.filter(
        state__in=[PushState.WAITING, PushState.FAILED], next_attempt_at__lte=now
    )
    later = now + timedelta(seconds=CLAIM_SECONDS)
    claimed = []
    for pk, kind, item_id in due.values_list("pk", "kind", "item_id")[:limit]:
        if PushedItem.objects.filter(pk=pk, next_attempt_at__lte=now).update(next_attempt_at=later):
            claimed.append((kind, item_id))
    return claimed


def item_push_again(*, kind: str, item_id: int) -> None:
    """The user asks to put back a copy they deleted in their calendar, or to retry now."""
    from calendars.tasks import calendar_push_task

    PushedItem.objects.filter(kind=kind, item_id=item_id).update(
        state=PushState.WAITING, error="", attempts=0, next_attempt_at=timezone.now()
    )
    transaction.on_commit(lambda: calendar_push_task.delay(kind, item_id, again=True))


def owner_items_push_all(owner: User) -> int:
    """Every flagged meeting and task of the owner, queued (a calendar connected or changed),
    and every copy still known somewhere (of an item deleted or unflagged meanwhile: taken
    out now that its calendar can be reached)."""
    count = 0
    known = PushedItem.objects.filter(owner=owner).exclude(remote_href="")
    for kind, item_id in known.values_list("kind", "item_id"):
        calendar_push_soon(kind, item_id)
        count += 1
    for kind, model in ((ItemKind.MEETING, Meeting), (ItemKind.TASK, Task)):
        flagged = model.objects.filter(owner=owner, show_in_external_calendar=True)
        for item_id in flagged.values_list("pk", flat=True):
            calendar_push_soon(kind, item_id, owner)
            count += 1
    return count


# --- connecting a CalDAV calendar -----------------------------------------------------------


def caldav_calendars(
    *, server_url: str, username: str, password: str
) -> tuple[str, list[RemoteCalendar]]:
    """Find the server (RFC 6764 discovery), log in and list the calendars; nothing is saved.
    Returns the address to keep and the calendars; ValidationError says what failed."""
    from calendars.providers.caldav import CalDavProvider, discovered_url

    try:
        url = discovered_url(server_url)
        provider = CalDavProvider(url, username, password)
        try:
            return url, provider.calendars()
        finally:
            provider.close()
    except PushError as failure:
        raise ValidationError(failure.message) from None


def calendar_connect_caldav(
    *, owner: User, server_url: str, username: str, password: str, calendar: RemoteCalendar
) -> CalendarConnection:
    """Save the CalDAV connection (`server_url` as caldav_calendars found it) with its chosen
    calendar, then push what is flagged."""
    login = {
        "server_url": server_url,
        "username": username,
        "credentials": json.dumps({"password": password}),
    }
    return _connect(owner, CalendarProvider.CALDAV, calendar, login)


def oauth_calendars(*, owner: User, provider: str) -> list[RemoteCalendar]:
    """The calendars of the owner's mailbox account (Google, Microsoft 365), through its
    sign-in."""
    from calendars.push import open_provider

    probe = CalendarConnection(owner=owner, provider=provider)
    try:
        remote = open_provider(probe)
        try:
            return remote.calendars()
        finally:
            remote.close()
    except PushError as failure:
        raise ValidationError(failure.message) from None


def calendar_connect_oauth(
    *, owner: User, provider: str, calendar: RemoteCalendar
) -> CalendarConnection:
    """The calendar of the owner's mailbox account, written with the mailbox's own sign-in."""
    return _connect(
        owner, provider, calendar, {"server_url": "", "username": "", "credentials": ""}
    )


@transaction.atomic
def _connect(
    owner: User, provider: str, calendar: RemoteCalendar, login: dict[str, str]
) -> CalendarConnection:
    previous = CalendarConnection.objects.filter(owner=owner).first()
    if previous is not None and is_another_account(
        previous, provider, login["server_url"], login["username"]
    ):
        # Its copies cannot be reached with the new login: they stay in that calendar (the
        # page says so), and every item goes to the new one.
        _forget_copies(previous)
    connection, _ = CalendarConnection.objects.update_or_create(
        owner=owner,
        defaults={
            **login,
            "provider": provider,
            "calendar_key": calendar.key,
            "calendar_name": calendar.name,
            "calendar_color": calendar.color,
            "tasks_as": "tasks" if calendar.supports_tasks else "events",
            "state": ConnectionState.ACTIVE,
            "state_reason": "",
            "break_notified": False,
        },
    )
    owner_items_push_all(owner)
    return connection


def is_another_account(
    connection: CalendarConnection, provider: str, server_url: str, username: str
) -> bool:
    return (connection.provider, connection.server_url, connection.username) != (
        provider,
        server_url,
        username,
    )


def _forget_copies(connection: CalendarConnection) -> None:
    PushedItem.objects.filter(connection=connection).update(
        connection=None, calendar_key="", remote_href="", etag="", pushed_as=""
    )
    PushedItem.objects.filter(state=PushState.REMOVED, owner=connection.owner).update(
        state=PushState.WAITING, error=""
    )


def calendar_disconnect(*, connection: CalendarConnection) -> None:
    """Forget the connection and its password; copies already pushed stay in that calendar."""
    _forget_copies(connection)
    PushedItem.objects.filter(owner=connection.owner).exclude(state=PushState.OFF).update(
        state=PushState.WAITING, error="No calendar is connected.", next_attempt_at=None
    )
    connection.delete()


def connection_break(*, connection_id: int, reason: str) -> None:
    """The calendar refused Postcard (login, access revoked, calendar deleted): disconnected
    with the reason and one email to its owner per break."""
    connection = CalendarConnection.objects.filter(pk=connection_id).select_related("owner").first()
    if connection is None:
        return
    first = (
        CalendarConnection.objects.filter(pk=connection.pk, break_notified=False).update(
            state=ConnectionState.DISCONNECTED, state_reason=reason[:500], break_notified=True
        )
        == 1
    )
    if first and connection.owner.email:
        send_mail(
            "Postcard stopped putting your meetings in your calendar",
            f"{reason}\n\nReconnect it in Postcard: {settings.SITE_URL.rstrip('/')}"
            "/settings/calendar/",
            None,
            [connection.owner.email],
            fail_silently=True,
        )
