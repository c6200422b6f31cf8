"""The push engine: make the owner's external calendar hold what the CRM says, for one item.

    wanted     the item exists, its "show in my external calendar" flag is on, and its owner
               has an active calendar connection with a calendar chosen
    where      that connection's calendar; a copy anywhere else (flag turned off, another
               calendar chosen, another owner, task pushed as an event before) is taken out
    how        create (the stable UID makes a retried create find its copy: no duplicate), or
               update over the stored ETag; a copy deleted in the calendar is reported, not
               made again, until the user asks ("Push again")

No network call runs inside a transaction; one push per item at a time (a cache lock). The
remote write comes first and the record after it: a worker killed between the two leaves a
record that the next push completes without a second copy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import replace
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from calendars.models import (
    CalendarConnection,
    CalendarProvider,
    ConnectionState,
    ItemKind,
    PushedItem,
    PushState,
    TasksAs,
)
from calendars.providers.base import (
    CalendarItem,
    CalendarPushProvider,
    ItemRefused,
    LoginRefused,
    PushError,
    Stored,
    TemporaryPushFailure,
    zone_named,
)
from crm.activities.models import Meeting, Task
from mailsync.models import Mailbox

logger = logging.getLogger(__name__)

LOCK_SECONDS = 300  # longer than a push can take (a take-out and a write, timeouts included)
RETRY_DELAYS = [30, 120, 600, 1800, 3600]  # seconds after each failed attempt


class Busy(Exception):
    """Another worker is pushing this item right now."""


def open_provider(connection: CalendarConnection) -> CalendarPushProvider:
    """The provider module of a connection (one per kind, behind calendars/providers/base)."""
    if connection.provider == CalendarProvider.GOOGLE:
        return _google_provider(connection)
    if connection.provider == CalendarProvider.MICROSOFT:
        return _graph_provider(connection)
    from calendars.providers.caldav import CalDavProvider

    password = str(json.loads(connection.credentials or "{}").get("password", ""))
    return CalDavProvider(connection.server_url, connection.username, password)


def _google_provider(connection: CalendarConnection) -> CalendarPushProvider:
    """Google Calendar with the Google sign-in of the owner's mailbox (its grant includes the
    calendar scopes once the user allowed them)."""
    from calendars.providers.google_calendar import GoogleCalendarProvider
    from mailsync.connections import google_grant
    from mailsync.models import Provider
    from mailsync.providers.base import ProviderError

    grant = google_grant(_mailbox_of(connection, Provider.GOOGLE))

    def token(refresh: bool) -> str:
        try:
            return str(grant.token(refresh))
        except ProviderError as failure:
            if failure.permanent:
                raise LoginRefused(failure.message) from None
            raise TemporaryPushFailure(failure.message) from None

    return GoogleCalendarProvider(
        settings.GOOGLE_CALENDAR_URL, settings.GOOGLE_TASKS_URL, token, on_close=grant.store
    )


def _graph_provider(connection: CalendarConnection) -> CalendarPushProvider:
    """Outlook and To Do with the Microsoft sign-in of the owner's mailbox."""
    from calendars.providers.graph_calendar import GraphCalendarProvider
    from mailsync.connections import microsoft_grant
    from mailsync.microsoft import MICROSOFT
    from mailsync.models import Provider
    from mailsync.providers.graph import GraphClient

    mailbox = _mailbox_of(connection, Provider.MICROSOFT)
    grant = microsoft_grant(mailbox, MICROSOFT.calendar_scopes)
    client = GraphClient(settings.MICROSOFT_GRAPH_URL, grant.token)
    return GraphCalendarProvider(client, on_close=grant.store)


def _mailbox_of(connection: CalendarConnection, provider: str) -> Mailbox:
    """The owner's mailbox whose sign-in the calendar goes through."""
    from mailsync.models import Mailbox

    mailbox = Mailbox.objects.filter(owner=connection.owner, provider=provider).first()
    if mailbox is None or not mailbox.credentials:
        raise LoginRefused(
            f"The {connection.get_provider_display()} mailbox this calendar goes through is "
            "not connected."
        )
    return mailbox


def uid_for(kind: str, item_id: int) -> str:
    """Stable per item and installation: the same item always has the same remote copy."""
    host = urlsplit(settings.SITE_URL).hostname or "postcard"
    site = hashlib.sha256(host.encode()).hexdigest()[:8]
    return f"postcard-{kind}-{item_id}-{site}"


def item_of(kind: str, item_id: int) -> Meeting | Task | None:
    model = Meeting if kind == ItemKind.MEETING else Task
    return (
        model.objects.select_related("owner", "account")
        .prefetch_related("contacts")
        .filter(pk=item_id)
        .first()
    )


def push(kind: str, item_id: int, *, again: bool = False) -> PushedItem | None:
    """Bring one item's external copy in line with the CRM; the record after it (None when
    there is nothing to push and never was). `again`: the user asked to push a copy they had
    deleted in their calendar."""
    lock, token = f"calendar-push-lock:{kind}:{item_id}", uuid.uuid4().hex
    if not cache.add(lock, token, LOCK_SECONDS):
        raise Busy  # another worker is on it: push again once it is done
    try:
        return _push(kind, item_id, again=again)
    finally:
        if cache.get(lock) == token:  # not a successor's lock, had this one expired
            cache.delete(lock)


def _push(kind: str, item_id: int, *, again: bool) -> PushedItem | None:
    item = item_of(kind, item_id)
    record = PushedItem.objects.filter(kind=kind, item_id=item_id).first()
    connection = _target(item)
    if record is None:
        if item is None or not item.show_in_external_calendar:
            return None
        record = PushedItem.objects.create(
            kind=kind, item_id=item_id, owner=item.owner, remote_uid=uid_for(kind, item_id)
        )
    old_place = record.connection_id
    try:
        if not _take_out_if_misplaced(record, item, connection):
            return _saved(record, PushState.WAITING, STRANDED)
    except PushError as failure:
        return _failed(record, failure, old_place)
    if item is None:
        record.delete()
        return None
    if not item.show_in_external_calendar:
        return _saved(record, PushState.OFF)
    if connection is None:
        return _saved(record, PushState.WAITING, _why_waiting(item))
    if record.state == PushState.REMOVED and not again:
        return record
    try:
        _write(record, item, connection)
    except PushError as failure:
        return _failed(record, failure, connection.pk)
    return _saved(record, PushState.PUSHED)


# A copy sits in a calendar that is disconnected now: it is taken out once that calendar is
# reconnected (its record keeps where it is), never forgotten while it is still there.
STRANDED = (
    "Its copy sits in a calendar that is disconnected: it is updated or taken out once that "
    "calendar is reconnected."
)


def _target(item: Meeting | Task | None) -> CalendarConnection | None:
    if item is None or not item.show_in_external_calendar:
        return None
    connection = CalendarConnection.objects.filter(owner=item.owner).first()
    if connection is None or connection.state != ConnectionState.ACTIVE:
        return None
    return connection if connection.calendar_key else None


def _why_waiting(item: Meeting | Task) -> str:
    connection = CalendarConnection.objects.filter(owner=item.owner).first()
    if connection is None:
        return "No calendar is connected: connect one in Calendar settings."
    if connection.state != ConnectionState.ACTIVE:
        return f"The calendar is disconnected: {connection.state_reason}"
    return "No calendar is chosen: choose one in Calendar settings."


def _pushed_as(connection: CalendarConnection, item: Meeting | Task) -> str:
    if isinstance(item, Task) and connection.tasks_as == TasksAs.TASKS:
        return "VTODO"
    return "VEVENT"


def _take_out_if_misplaced(
    record: PushedItem, item: Meeting | Task | None, target: CalendarConnection | None
) -> bool:
    """A copy that sits where it should not (any more) is deleted there first. False when it
    cannot be: its calendar is disconnected (the copy stays known, to be handled later)."""
    if not record.remote_href or record.connection is None:
        return True
    in_place = (
        target is not None
        and item is not None
        and record.connection_id == target.pk
        and record.calendar_key == target.calendar_key
        and record.pushed_as == _pushed_as(target, item)
    )
    if in_place:
        return True
    if record.connection.state != ConnectionState.ACTIVE:
        return False
    provider = open_provider(record.connection)
    try:
        provider.delete(record.calendar_key, Stored(record.remote_href, record.etag))
    finally:
        provider.close()
    _forget_copy(record)
    return True


def _forget_copy(record: PushedItem) -> None:
    record.connection, record.calendar_key = None, ""
    record.remote_href, record.etag, record.pushed_as = "", "", ""
    record.save(update_fields=["connection", "calendar_key", "remote_href", "etag", "pushed_as"])


def _write(record: PushedItem, item: Meeting | Task, connection: CalendarConnection) -> None:
    outgoing = calendar_item(record, item, connection)
    provider = open_provider(connection)
    try:
        if record.remote_href:
            stored = provider.update(
                record.calendar_key, Stored(record.remote_href, record.etag), outgoing
            )
            if stored is None:  # deleted in the calendar: said, not re-created
                _forget_copy(record)
                raise _Removed
        else:
            stored = provider.create(connection.calendar_key, outgoing)
    finally:
        provider.close()
    record.connection, record.calendar_key = connection, connection.calendar_key
    record.owner = item.owner  # a new owner: the copy now sits in their calendar
    record.remote_href, record.etag = stored.href, stored.etag
    record.pushed_as = _pushed_as(connection, item)


class _Removed(PushError):
    def __init__(self) -> None:
        super().__init__("Removed from your calendar there. Push it again to put it back.")


def calendar_item(
    record: PushedItem, item: Meeting | Task, connection: CalendarConnection
) -> CalendarItem:
    owner_zone = getattr(item.owner, "time_zone", "") or settings.TIME_ZONE
    base = CalendarItem(
        uid=record.remote_uid,
        title=item.title,
        description=_description(item),
        time_zone=owner_zone,
    )
    if isinstance(item, Meeting):
        return replace(base, location=item.location, starts_at=item.starts_at, ends_at=item.ends_at)
    if _pushed_as(connection, item) == "VTODO":
        return replace(base, is_task=True, due_at=item.due_at, done=item.is_done)
    due_day: date = timezone.localtime(item.due_at, zone_named(owner_zone)).date()
    title = f"Done: {item.title}" if item.is_done else item.title
    return replace(base, title=title, is_task=True, all_day=due_day)


def _description(item: Meeting | Task) -> str:
    """The notes, who it concerns (named, never invited) and the link back to the CRM."""
    lines = [item.notes.strip()] if item.notes.strip() else []
    names = sorted(str(contact) for contact in item.contacts.all())
    if names:
        lines.append("With: " + ", ".join(names))
    if item.account is not None:
        lines.append(f"Account: {item.account}")
    lines.append(f"In Postcard: {settings.SITE_URL.rstrip('/')}{item.get_absolute_url()}")
    return "\n".join(lines)


def _saved(
    record: PushedItem, state: str, error: str = "", *, retry_at: datetime | None = None
) -> PushedItem:
    record.state, record.error, record.next_attempt_at = state, error[:500], retry_at
    if state == PushState.PUSHED:
        record.pushed_at, record.attempts = timezone.now(), 0
    record.save()
    return record


def _failed(record: PushedItem, failure: PushError, connection_id: int | None) -> PushedItem:
    """`connection_id`: the connection whose call failed (the copy's old place, or its new)."""
    if isinstance(failure, _Removed):
        return _saved(record, PushState.REMOVED, failure.message)
    if isinstance(failure, ItemRefused):
        return _saved(record, PushState.FAILED, failure.message)
    if failure.permanent:  # login refused, access revoked, calendar deleted: the user acts
        from calendars.services import connection_break

        if connection_id is not None:
            connection_break(connection_id=connection_id, reason=failure.message)
        return _saved(record, PushState.FAILED, failure.message)
    record.attempts += 1
    delay = RETRY_DELAYS[min(record.attempts, len(RETRY_DELAYS)) - 1]
    logger.info("calendar push of %s %s failed: %s", record.kind, record.item_id, failure.message)
    return _saved(
        record,
        PushState.FAILED,
        f"{failure.message} Retried automatically.",
        retry_at=timezone.now() + timedelta(seconds=delay),
    )
