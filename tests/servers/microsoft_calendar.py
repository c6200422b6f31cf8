"""Outlook calendars and Microsoft To Do in the fake tenant: state, resource shapes, control API.

Every user of a `MicrosoftTenant` has a `CalendarStore`: calendars (a default "Calendar" to start
with) holding events, and To Do lists (the default "Tasks" list to start with) holding tasks.
`CalendarControl` is the tenant's control API over them (the tenant inherits it); graph.py serves
them under /me and /users/{id}, with the scopes, throttling, batching and error bodies it gives
mail.

This module also holds the resource representations (the JSON of learn.microsoft.com/graph/api/
resources/event, calendar, todotask, todotasklist) and the documented input rules (time zone
names, isAllDay, transactionId, To Do's date-only due dates), so the control API and the server
describe an item identically. Bad input raises `CalendarInputError`, which graph.py answers in
Graph's error shape. Anything the fake does not implement is refused (501), never ignored.

Citations: "api/x" and "resources/x" are pages under learn.microsoft.com/graph/api/ (the v1.0
sources are microsoft-graph-docs-contrib's api-reference/v1.0/api/x.md and resources/x.md).

Times: an event keeps start and end as the client sent them, a wall-clock time and a time zone
name (learn.microsoft.com/graph/api/resources/datetimetimezone); it is served in UTC, or in the
zone of a `Prefer: outlook.timezone` header (learn.microsoft.com/graph/api/event-get#support-
various-time-zones). An all-day event is a run of whole dates: it is served at midnight in
whichever zone is asked for, never converted. To Do keeps a due date as midnight of the date sent,
in the zone sent; a completion date as midnight UTC (see `task_changes`).
"""

from __future__ import annotations

import base64
import html
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

if TYPE_CHECKING:
    from tests.servers.microsoft_tenant import User

BodyType = Literal["text", "html"]

# learn.microsoft.com/graph/api/resources/datetimetimezone: "the timeZone property can be set to
# any of the time zones currently supported by Windows, as well as the other time zones
# supported by the calendar API" -- the Windows names (CLDR's windowsZones, as icalendar ships it,
# mapped to the IANA zone that keeps their rules) and this list. The page writes four of them with
# another name in brackets; both are accepted (the bracketed one is the IANA zone).
ADDITIONAL_TIME_ZONES = (
    "Etc/GMT+12", "Etc/GMT+11", "Pacific/Honolulu", "America/Anchorage", "America/Santa_Isabel",
    "America/Los_Angeles", "America/Phoenix", "America/Chihuahua", "America/Denver",
    "America/Guatemala", "America/Chicago", "America/Mexico_City", "America/Regina",
    "America/Bogota", "America/New_York", "America/Indiana/Indianapolis", "America/Caracas",
    "America/Asuncion", "America/Halifax", "America/Cuiaba", "America/La_Paz", "America/Santiago",
    "America/St_Johns", "America/Sao_Paulo", "America/Argentina/Buenos_Aires", "America/Cayenne",
    "America/Godthab", "America/Montevideo", "America/Bahia", "Etc/GMT+2", "Atlantic/Azores",
    "Atlantic/Cape_Verde", "Africa/Casablanca", "Etc/GMT", "Europe/London", "Atlantic/Reykjavik",
    "Europe/Berlin", "Europe/Budapest", "Europe/Paris", "Europe/Warsaw", "Africa/Lagos",
    "Africa/Windhoek", "Europe/Bucharest", "Asia/Beirut", "Africa/Cairo", "Asia/Damascus",
    "Africa/Johannesburg", "Europe/Kyiv", "Europe/Kiev", "Europe/Istanbul", "Asia/Jerusalem",
    "Asia/Amman", "Asia/Baghdad", "Europe/Kaliningrad", "Asia/Riyadh", "Africa/Nairobi",
    "Asia/Tehran", "Asia/Dubai", "Asia/Baku", "Europe/Moscow", "Indian/Mauritius", "Asia/Tbilisi",
    "Asia/Yerevan", "Asia/Kabul", "Asia/Karachi", "Asia/Tashkent", "Asia/Kolkata", "Asia/Colombo",
    "Asia/Kathmandu", "Asia/Almaty", "Asia/Dhaka", "Asia/Yekaterinburg", "Asia/Yangon",
    "Asia/Rangoon", "Asia/Bangkok", "Asia/Novosibirsk", "Asia/Shanghai", "Asia/Krasnoyarsk",
    "Asia/Singapore", "Australia/Perth", "Asia/Taipei", "Asia/Ulaanbaatar", "Asia/Irkutsk",
    "Asia/Tokyo", "Asia/Seoul", "Australia/Adelaide", "Australia/Darwin", "Australia/Brisbane",
    "Australia/Sydney", "Pacific/Port_Moresby", "Australia/Hobart", "Asia/Yakutsk",
    "Pacific/Guadalcanal", "Asia/Vladivostok", "Pacific/Auckland", "Etc/GMT-12", "Pacific/Fiji",
    "Asia/Magadan", "Pacific/Tongatapu", "Pacific/Apia", "Pacific/Kiritimati",
)  # fmt: skip
_ZONE_ALIASES = {"Asia/Toshkent": "Asia/Tashkent", "Asia/Astana": "Asia/Almaty"}
_ZONES: dict[str, str] = {
    **{name.lower(): iana for name, iana in WINDOWS_TO_OLSON.items()},
    **{name.lower(): name for name in ADDITIONAL_TIME_ZONES},
    **{name.lower(): iana for name, iana in _ZONE_ALIASES.items()},
}

# learn.microsoft.com/graph/api/resources/event#properties: showAs (freeBusyStatus).
SHOW_AS = ("free", "tentative", "busy", "oof", "workingElsewhere", "unknown")
IMPORTANCE = ("low", "normal", "high")
SENSITIVITY = ("normal", "personal", "private", "confidential")
# learn.microsoft.com/graph/api/resources/todotask#properties: status (taskStatus).
TASK_STATUS = ("notStarted", "inProgress", "completed", "waitingOnOthers", "deferred")
# learn.microsoft.com/graph/api/resources/calendar#properties: color (calendarColor).
CALENDAR_COLORS = (
    "auto", "lightBlue", "lightGreen", "lightOrange", "lightGray", "lightYellow", "lightTeal",
    "lightPink", "lightBrown", "lightRed", "maxColor",
)  # fmt: skip

# The event properties (learn.microsoft.com/graph/api/resources/event#properties) in the order a
# GET returns them (api/event-get, api/user-post-events samples); transactionId only when set.
EVENT_PROPERTIES = (
    "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "transactionId",
    "originalStartTimeZone", "originalEndTimeZone", "iCalUId", "reminderMinutesBeforeStart",
    "isReminderOn", "hasAttachments", "subject", "bodyPreview", "importance", "sensitivity",
    "isAllDay", "isCancelled", "isOrganizer", "responseRequested", "seriesMasterId", "showAs",
    "type", "webLink", "onlineMeetingUrl", "isOnlineMeeting", "onlineMeetingProvider",
    "allowNewTimeProposals", "isDraft", "hideAttendees", "responseStatus", "body", "start", "end",
    "location", "locations", "recurrence", "attendees", "organizer", "onlineMeeting",
)  # fmt: skip
# What a create or update may set here (api/event-update#request-body, plus transactionId on
# create); read-only properties a client echoes back are ignored; the rest are refused (501).
_EVENT_WRITABLE = frozenset({
    "subject", "body", "start", "end", "isAllDay", "location", "showAs", "transactionId",
    "attendees", "categories", "importance", "sensitivity", "isReminderOn",
    "reminderMinutesBeforeStart", "responseRequested", "allowNewTimeProposals", "hideAttendees",
    "recurrence", "isOnlineMeeting",
})  # fmt: skip
_EVENT_READ_ONLY = frozenset({
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "iCalUId", "bodyPreview",
    "hasAttachments", "isCancelled", "isOrganizer", "isDraft", "originalStartTimeZone",
    "originalEndTimeZone", "originalStart", "responseStatus", "seriesMasterId", "type", "webLink",
    "onlineMeetingUrl", "organizer", "onlineMeeting", "cancelledOccurrences",
})  # fmt: skip
_EVENT_UNSUPPORTED = frozenset({
    "locations", "onlineMeetingProvider", "attachments", "calendar", "exceptionOccurrences",
    "extensions", "instances", "multiValueExtendedProperties", "singleValueExtendedProperties",
})  # fmt: skip
TASK_PROPERTIES = (
    "importance", "isReminderOn", "status", "title", "createdDateTime", "lastModifiedDateTime",
    "hasAttachments", "categories", "id", "body", "bodyLastModifiedDateTime", "dueDateTime",
    "completedDateTime",
)  # fmt: skip
_TASK_WRITABLE = frozenset({
    "title", "body", "dueDateTime", "status", "completedDateTime", "importance", "isReminderOn",
    "categories", "recurrence", "reminderDateTime", "startDateTime",
})  # fmt: skip
_TASK_READ_ONLY = frozenset(
    {"id", "createdDateTime", "lastModifiedDateTime", "bodyLastModifiedDateTime", "hasAttachments"}
)
_TASK_UNSUPPORTED = frozenset(
    {"linkedResources", "checklistItems", "attachments", "attachmentSessions", "extensions"}
)

_DATE_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?")


class CalendarInputError(Exception):
    """A request graph.py must refuse: `status` and Graph's error `code`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _exchange_id(prefix: str, length: int = 48) -> str:
    # The shape of microsoft_tenant's ids (which imports this module, so cannot be imported).
    body = base64.urlsafe_b64encode(secrets.token_bytes(length)).decode().rstrip("=")
    return f"{prefix}{body}AAA="


def _change_key() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode()


def _ical_uid() -> str:
    # The shape of Exchange's iCalUId (api/user-post-events sample): a fixed 40-hex-digit head
    # (the Outlook global object id prefix) and a unique tail.
    return "040000008200E00074C5B7101A82E00800000000" + secrets.token_hex(28).upper()


def graph_timestamp(value: datetime) -> str:
    """DateTimeOffset, as createdDateTime and lastModifiedDateTime: UTC with a Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- time zones and dateTimeTimeZone ----------------------------------------------------------


def zone_info(name: str) -> ZoneInfo:
    """The zone behind a dateTimeTimeZone timeZone, Windows or IANA name (case ignored)."""
    iana = _ZONES.get(name.strip().lower())
    if iana is None:
        # Reported from Graph (no documented body): 400 TimeZoneNotSupportedException.
        raise CalendarInputError(
            400,
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. The following TimeZone value is not "
            f"supported: '{name}'.",
        )
    return ZoneInfo(iana)


def parse_date_time_time_zone(value: Any, what: str) -> tuple[datetime, str]:
    """A dateTimeTimeZone as sent: (naive wall-clock time, zone name as given).

    datetimetimezone: dateTime is "{date}T{time}" (2017-08-29T04:00:00.0000000): no offset, at
    most 7 fractional digits. A Z or an offset is refused here: what Graph makes of one beside
    timeZone is undocumented, so the product must not send it."""
    if not isinstance(value, dict):
        raise _bad_body(f"'{what}' must be a dateTimeTimeZone object.")
    raw, name = value.get("dateTime"), str(value.get("timeZone"))
    zone_info(name)
    match = _DATE_TIME.fullmatch(raw) if isinstance(raw, str) else None
    try:
        if match is None:
            raise ValueError(raw)
        day, hour, minute, second, fraction = match.groups()
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        clock = time(int(hour or 0), int(minute or 0), int(second or 0), micro)
        parsed = datetime.combine(date.fromisoformat(day), clock)
    except ValueError:
        # The message Graph gave an unparsable DateTime in microsoft-graph-toolkit#152 (the
        # code is the fake's).
        raise CalendarInputError(
            400, "ErrorInvalidRequest", f"The value '{raw}' of parameter 'DateTime' is invalid."
        ) from None
    return parsed, name


def format_date_time(value: datetime) -> str:
    """dateTime as Graph writes it: 7 fractional digits, no offset."""
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond:06d}0"


def date_time_time_zone(instant: datetime, zone: str | None) -> dict[str, str]:
    """An instant as dateTimeTimeZone: in UTC, or in `zone` (a Prefer: outlook.timezone)."""
    if zone is None:
        return {"dateTime": format_date_time(instant.astimezone(UTC)), "timeZone": "UTC"}
    local = instant.astimezone(zone_info(zone)).replace(tzinfo=None)
    return {"dateTime": format_date_time(local), "timeZone": zone}


def _instant(local: datetime, zone: str) -> datetime:
    return local.replace(tzinfo=zone_info(zone)).astimezone(UTC)


# --- state ------------------------------------------------------------------------------------


@dataclass
class Calendar:
    id: str
    name: str
    color: str = "auto"
    # resources/calendar#properties: hexColor is empty until the user sets a color explicitly.
    hex_color: str = ""
    is_default: bool = False
    can_edit: bool = True
    change_key: str = field(default_factory=_change_key)


@dataclass
class CalendarEvent:
    id: str
    ical_uid: str
    calendar_id: str
    start: datetime  # naive wall-clock time in start_zone, as sent
    start_zone: str
    end: datetime
    end_zone: str
    created_at: datetime
    last_modified_at: datetime
    subject: str = ""
    body_type: BodyType = "text"
    body_content: str = ""
    is_all_day: bool = False
    location: str = ""
    show_as: str = "busy"
    transaction_id: str | None = None
    attendees: list[dict[str, Any]] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    importance: str = "normal"
    sensitivity: str = "normal"
    is_reminder_on: bool = True
    reminder_minutes: int = 15
    response_requested: bool = True
    allow_new_time_proposals: bool = True
    hide_attendees: bool = False
    change_key: str = field(default_factory=_change_key)

    @property
    def start_utc(self) -> datetime:
        return _instant(self.start, self.start_zone)

    @property
    def end_utc(self) -> datetime:
        return _instant(self.end, self.end_zone)


@dataclass
class TodoList:
    id: str
    display_name: str
    wellknown_name: str = "none"
    is_owner: bool = True
    is_shared: bool = False
    change_key: str = field(default_factory=_change_key)


@dataclass
class TodoTask:
    id: str
    list_id: str
    created_at: datetime
    last_modified_at: datetime
    body_last_modified_at: datetime
    title: str = ""
    body_type: BodyType = "text"
    body_content: str = ""
    due: datetime | None = None  # an instant: midnight of the due date in the zone sent
    status: str = "notStarted"
    completed: datetime | None = None  # midnight UTC of the completion date
    importance: str = "normal"
    is_reminder_on: bool = False
    categories: list[str] = field(default_factory=list)
    change_key: str = field(default_factory=_change_key)


@dataclass
class CalendarStore:
    """One user's calendars, events, To Do lists and tasks."""

    calendars: dict[str, Calendar] = field(default_factory=dict)
    events: dict[str, CalendarEvent] = field(default_factory=dict)
    todo_lists: dict[str, TodoList] = field(default_factory=dict)
    tasks: dict[str, TodoTask] = field(default_factory=dict)
    # Every attendee any create or update sent, in order (Postcard must never invite anyone).
    attendees_sent: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def new(cls) -> CalendarStore:
        store = cls()
        # api/user-list-calendars sample: the default calendar is "Calendar", color auto.
        default = Calendar(_exchange_id("AAMkAG", 24), "Calendar", is_default=True)
        store.calendars[default.id] = default
        # api/todo-list-lists sample: the default list is "Tasks", wellknownListName defaultList.
        tasks = TodoList(_exchange_id("AAMkAD", 24), "Tasks", "defaultList")
        store.todo_lists[tasks.id] = tasks
        return store

    def default_calendar(self) -> Calendar:
        return next(c for c in self.calendars.values() if c.is_default)

    def calendar_events(self, calendar_id: str) -> list[CalendarEvent]:
        return [e for e in self.events.values() if e.calendar_id == calendar_id]

    def add_calendar(self, name: str, color: str = "auto") -> Calendar:
        if any(c.name.lower() == name.lower() for c in self.calendars.values()):
            # Exchange's answer to a second folder of the same name.
            raise CalendarInputError(
                409, "ErrorFolderExists", "A folder with the specified name already exists."
            )
        if color not in CALENDAR_COLORS:
            raise _bad_value("color", color, "calendarColor")
        calendar = Calendar(_exchange_id("AAMkAG", 24), name, color)
        self.calendars[calendar.id] = calendar
        return calendar

    def remove_calendar(self, calendar_id: str) -> None:
        calendar = self.calendars[calendar_id]
        if calendar.is_default:
            raise ValueError("the default calendar cannot be deleted")
        for event in self.calendar_events(calendar_id):
            del self.events[event.id]
        del self.calendars[calendar_id]

    def by_transaction_id(self, transaction_id: str) -> CalendarEvent | None:
        return next((e for e in self.events.values() if e.transaction_id == transaction_id), None)

    def create_event(self, calendar: Calendar, body: Any) -> tuple[CalendarEvent, bool]:
        """user-post-events: (the event, whether it is new). A transactionId this mailbox has
        seen returns the event it created instead of a second one (resources/event#properties:
        transactionId "to avoid redundant POST operations in case of client retries")."""
        changes = event_changes(body, creating=True)
        self._record_attendees(changes)
        transaction_id = changes.get("transaction_id")
        if transaction_id is not None:
            existing = self.by_transaction_id(transaction_id)
            if existing is not None:
                return existing, False
        now = utcnow()
        start, start_zone = changes.pop("start")
        end, end_zone = changes.pop("end")
        event = CalendarEvent(
            id=_exchange_id("AAMkAG"),
            ical_uid=_ical_uid(),
            calendar_id=calendar.id,
            start=start,
            start_zone=start_zone,
            end=end,
            end_zone=end_zone,
            created_at=now,
            last_modified_at=now,
        )
        for name, value in changes.items():
            setattr(event, name, value)
        check_event_times(event)
        self.events[event.id] = event
        return event, True

    def update_event(self, event: CalendarEvent, body: Any) -> CalendarEvent:
        """event-update: the properties sent change, the others stay; a new changeKey."""
        changes = event_changes(body, creating=False)
        if "transaction_id" in changes and changes["transaction_id"] != event.transaction_id:
            # resources/event#properties: "After you set transactionId when creating an event,
            # you can't change transactionId in a subsequent update." (The code is the fake's.)
            raise CalendarInputError(
                400, "ErrorInvalidRequest", "The transactionId of an event cannot be changed."
            )
        self._record_attendees(changes)
        updated = CalendarEvent(**vars(event))
        for name, value in changes.items():
            if name in ("start", "end"):
                setattr(updated, name, value[0])
                setattr(updated, f"{name}_zone", value[1])
            else:
                setattr(updated, name, value)
        check_event_times(updated)
        updated.change_key = _change_key()
        updated.last_modified_at = utcnow()
        self.events[event.id] = updated
        return updated

    def _record_attendees(self, changes: dict[str, Any]) -> None:
        self.attendees_sent.extend(changes.get("attendees", []))

    def create_task(self, todo_list: TodoList, body: Any) -> TodoTask:
        changes = task_changes(body)
        now = utcnow()
        task = TodoTask(_exchange_id("AAMkAD", 36), todo_list.id, now, now, now)
        _apply_task_changes(task, changes, now)
        self.tasks[task.id] = task
        return task

    def update_task(self, task: TodoTask, body: Any) -> TodoTask:
        changes = task_changes(body)
        now = utcnow()
        _apply_task_changes(task, changes, now)
        task.last_modified_at = now
        task.change_key = _change_key()
        return task


# --- input rules ------------------------------------------------------------------------------


def _bad_body(message: str) -> CalendarInputError:
    return CalendarInputError(400, "BadRequest", message)


def _bad_value(name: str, value: Any, type_name: str) -> CalendarInputError:
    # The OData reader's message for a value outside an enum or of the wrong type.
    return CalendarInputError(
        400,
        "RequestBodyRead",
        f"Cannot convert the literal '{value}' to the expected type 'microsoft.graph.{type_name}'"
        f" (property '{name}').",
    )


def _check_keys(
    body: dict[str, Any],
    type_name: str,
    writable: frozenset[str],
    read_only: frozenset[str],
    unsupported: frozenset[str],
) -> None:
    for key in body:
        if key.startswith("@") or key in writable or key in read_only:
            continue
        if key in unsupported:
            raise CalendarInputError(
                501, "NotImplemented", f"The fake Graph does not implement '{key}'."
            )
        # The OData reader's answer to a property the type lacks.
        raise CalendarInputError(
            400,
            "RequestBodyRead",
            f"The property '{key}' does not exist on type 'microsoft.graph.{type_name}'. Make "
            "sure to only use property names that are defined by the type or mark the type as "
            "open type.",
        )


def _string(body: dict[str, Any], name: str) -> str:
    value = body[name]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad_value(name, value, "String")
    return value


def _boolean(body: dict[str, Any], name: str) -> bool:
    value = body[name]
    if not isinstance(value, bool):
        raise _bad_value(name, value, "Boolean")
    return value


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...], type_name: str) -> str:
    value = body[name]
    by_lower = {a.lower(): a for a in allowed}
    if not isinstance(value, str) or value.lower() not in by_lower:
        raise _bad_value(name, value, type_name)
    return by_lower[value.lower()]


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body[name]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad_value(name, value, "Collection(Edm.String)")
    return list(value)


def _item_body(body: dict[str, Any], name: str) -> tuple[BodyType, str]:
    # learn.microsoft.com/graph/api/resources/itembody: contentType text or html (any case).
    value = body[name]
    if value is None:
        return "text", ""
    if not isinstance(value, dict):
        raise _bad_value(name, value, "itemBody")
    content_type = str(value.get("contentType") or "text").lower()
    if content_type not in ("text", "html"):
        raise _bad_value("contentType", value.get("contentType"), "bodyType")
    content = value.get("content") or ""
    if not isinstance(content, str):
        raise _bad_value("content", content, "String")
    return ("html" if content_type == "html" else "text"), content


def _attendees(body: dict[str, Any]) -> list[dict[str, Any]]:
    # learn.microsoft.com/graph/api/resources/attendee: type required/optional/resource, an
    # emailAddress, and a status the server sets (none until the attendee answers).
    value = body["attendees"]
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad_value("attendees", value, "Collection(microsoft.graph.attendee)")
    attendees = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("emailAddress"), dict):
            raise _bad_value("attendees", item, "attendee")
        address = item["emailAddress"]
        attendees.append(
            {
                "type": str(item.get("type") or "required").lower(),
                "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {
                    "name": str(address.get("name") or address.get("address") or ""),
                    "address": str(address.get("address") or ""),
                },
            }
        )
    return attendees


def event_changes(body: Any, *, creating: bool) -> dict[str, Any]:
    """The CalendarEvent attributes a create or update body sets, validated."""
    if not isinstance(body, dict):
        raise _bad_body("Empty Payload. JSON content expected.")
    _check_keys(body, "event", _EVENT_WRITABLE, _EVENT_READ_ONLY, _EVENT_UNSUPPORTED)
    if creating and not ("start" in body and "end" in body):
        raise CalendarInputError(
            400, "ErrorInvalidRequest", "An event needs both a start and an end."
        )
    changes: dict[str, Any] = {}
    for name in ("start", "end"):
        if name in body:
            changes[name] = parse_date_time_time_zone(body[name], name)
    simple = {
        "subject": ("subject", _string),
        "isAllDay": ("is_all_day", _boolean),
        "isReminderOn": ("is_reminder_on", _boolean),
        "responseRequested": ("response_requested", _boolean),
        "allowNewTimeProposals": ("allow_new_time_proposals", _boolean),
        "hideAttendees": ("hide_attendees", _boolean),
        "categories": ("categories", _strings),
    }
    for key, (attribute, read) in simple.items():
        if key in body:
            changes[attribute] = read(body, key)
    if "body" in body:
        changes["body_type"], changes["body_content"] = _item_body(body, "body")
    if "location" in body:
        location = body["location"] or {}
        if not isinstance(location, dict):
            raise _bad_value("location", location, "location")
        changes["location"] = str(location.get("displayName") or "")
    if "showAs" in body:
        changes["show_as"] = _choice(body, "showAs", SHOW_AS, "freeBusyStatus")
    if "importance" in body:
        changes["importance"] = _choice(body, "importance", IMPORTANCE, "importance")
    if "sensitivity" in body:
        changes["sensitivity"] = _choice(body, "sensitivity", SENSITIVITY, "sensitivity")
    if "reminderMinutesBeforeStart" in body:
        minutes = body["reminderMinutesBeforeStart"]
        if not isinstance(minutes, int) or isinstance(minutes, bool):
            raise _bad_value("reminderMinutesBeforeStart", minutes, "Int32")
        changes["reminder_minutes"] = minutes
    if "transactionId" in body:
        changes["transaction_id"] = _string(body, "transactionId") or None
    if "attendees" in body:
        changes["attendees"] = _attendees(body)
    if body.get("recurrence") is not None or body.get("isOnlineMeeting"):
        name = "recurrence" if body.get("recurrence") is not None else "isOnlineMeeting"
        raise CalendarInputError(
            501, "NotImplemented", f"The fake Graph does not implement '{name}'."
        )
    return changes


def check_event_times(event: CalendarEvent) -> None:
    """resources/event#properties isAllDay: "If true, regardless of whether it's a single-day or
    multi-day event, start and end time must be set to midnight and be in the same time zone"
    -- and an all-day event lasts whole days, at least one. A timed event may not end before it
    starts. (The error code is the fake's: Graph's answer is undocumented.)"""
    if event.is_all_day:
        midnight = event.start.time() == time() and event.end.time() == time()
        same_zone = zone_info(event.start_zone).key == zone_info(event.end_zone).key
        if not (midnight and same_zone) or event.end.date() <= event.start.date():
            raise CalendarInputError(
                400,
                "ErrorInvalidRequest",
                "An all-day event must start and end at midnight, in the same time zone, at "
                "least one day apart.",
            )
    elif event.end_utc < event.start_utc:
        raise CalendarInputError(
            400, "ErrorInvalidRequest", "The end time of an event cannot be before its start."
        )


def task_changes(body: Any) -> dict[str, Any]:
    """The TodoTask attributes a create or update body sets, validated.

    dueDateTime: To Do keeps a date, not a time (resources/todotask#properties: "the date in the
    specified time zone that the task is to be finished"): the time sent is dropped and the task
    is due at midnight of that date in the zone sent, served back as that instant in UTC. The
    api/todotask-update sample sends 2020-07-25T16:00 "Eastern Standard Time" and gets 04:00:00
    UTC back (its month reads 08, a slip); microsoftgraph/microsoft-graph-docs#16991 and
    RogerSelwyn/MS365-ToDo#29 report the same. completedDateTime is served as midnight UTC of
    the completion date (a known behaviour: microsoft-graph-docs-contrib#5306 and #8664)."""
    if not isinstance(body, dict):
        raise _bad_body("Empty Payload. JSON content expected.")
    _check_keys(body, "todoTask", _TASK_WRITABLE, _TASK_READ_ONLY, _TASK_UNSUPPORTED)
    for name in ("recurrence", "reminderDateTime", "startDateTime"):
        if body.get(name) is not None:
            raise CalendarInputError(
                501, "NotImplemented", f"The fake Graph does not implement '{name}'."
            )
    changes: dict[str, Any] = {}
    if "title" in body:
        changes["title"] = _string(body, "title")
    if "body" in body:
        changes["body"] = _item_body(body, "body")
    if "status" in body:
        changes["status"] = _choice(body, "status", TASK_STATUS, "taskStatus")
    if "importance" in body:
        changes["importance"] = _choice(body, "importance", IMPORTANCE, "importance")
    if "isReminderOn" in body:
        changes["is_reminder_on"] = _boolean(body, "isReminderOn")
    if "categories" in body:
        changes["categories"] = _strings(body, "categories")
    if "dueDateTime" in body:
        due = body["dueDateTime"]
        if due is None:
            changes["due"] = None
        else:
            local, zone = parse_date_time_time_zone(due, "dueDateTime")
            changes["due"] = _instant(datetime.combine(local.date(), time()), zone)
    if "completedDateTime" in body:
        completed = body["completedDateTime"]
        if completed is None:
            changes["completed"] = None
        else:
            local, _ = parse_date_time_time_zone(completed, "completedDateTime")
            changes["completed"] = datetime.combine(local.date(), time(), UTC)
    return changes


def _apply_task_changes(task: TodoTask, changes: dict[str, Any], now: datetime) -> None:
    for name, value in changes.items():
        if name == "body":
            task.body_type, task.body_content = value
            task.body_last_modified_at = now
        elif name != "completed":
            setattr(task, name, value)
    if task.status == "completed":
        task.completed = changes.get("completed") or task.completed
        if task.completed is None:
            task.completed = datetime.combine(now.date(), time(), UTC)
    else:
        task.completed = None


# --- resource representations ----------------------------------------------------------------


def _html_body(text: str) -> str:
    # The HTML Exchange wraps a text body in (the api/user-post-events samples).
    escaped = html.escape(text).replace("\n", "<br>\r\n")
    return (
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; '
        f'charset=utf-8">\r\n</head>\r\n<body>\r\n<div>{escaped}</div>\r\n</body>\r\n</html>\r\n'
    )


def _text_body(markup: str) -> str:
    text = re.sub(r"<br\s*/?>", "\n", markup, flags=re.IGNORECASE)
    text = re.sub(r"<head>.*?</head>", "", text, flags=re.IGNORECASE | re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def item_body(body_type: BodyType, content: str, wanted: BodyType | None) -> dict[str, str]:
    """An itemBody in the format asked for (None: as stored)."""
    if wanted is None or wanted == body_type:
        return {"contentType": body_type, "content": content}
    if wanted == "html":
        return {"contentType": "html", "content": _html_body(content)}
    return {"contentType": "text", "content": _text_body(content)}


def calendar_json(calendar: Calendar, owner: User) -> dict[str, Any]:
    # resources/calendar#properties, in the order of the api/user-list-calendars sample.
    return {
        "id": calendar.id,
        "name": calendar.name,
        "color": calendar.color,
        "hexColor": calendar.hex_color,
        "isDefaultCalendar": calendar.is_default,
        "changeKey": calendar.change_key,
        "canShare": True,
        "canViewPrivateItems": True,
        "canEdit": calendar.can_edit,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "isTallyingResponses": calendar.is_default,
        "isRemovable": not calendar.is_default,
        "owner": {"name": owner.display_name, "address": owner.mail},
    }


def event_json(
    event: CalendarEvent,
    owner: User,
    *,
    zone: str | None = None,
    body_type: BodyType | None = None,
    select: list[str] | None = None,
) -> dict[str, Any]:
    """resources/event#properties. start and end in UTC or `zone`; an all-day event at midnight
    of its dates in that zone, unconverted (its dates are the event). body as stored unless
    asked."""
    if event.is_all_day:
        label = zone or "UTC"
        start = {"dateTime": format_date_time(event.start), "timeZone": label}
        end = {"dateTime": format_date_time(event.end), "timeZone": label}
    else:
        start = date_time_time_zone(event.start_utc, zone)
        end = date_time_time_zone(event.end_utc, zone)
    text = item_body(event.body_type, event.body_content, "text")["content"]
    location = (
        {
            "displayName": event.location,
            "locationType": "default",
            "uniqueId": event.location,
            "uniqueIdType": "private",
        }
        if event.location
        else {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"}
    )
    values: dict[str, Any] = {
        "createdDateTime": graph_timestamp(event.created_at),
        "lastModifiedDateTime": graph_timestamp(event.last_modified_at),
        "changeKey": event.change_key,
        "categories": list(event.categories),
        "transactionId": event.transaction_id,
        "originalStartTimeZone": event.start_zone,
        "originalEndTimeZone": event.end_zone,
        "iCalUId": event.ical_uid,
        "reminderMinutesBeforeStart": event.reminder_minutes,
        "isReminderOn": event.is_reminder_on,
        "hasAttachments": False,
        "subject": event.subject,
        "bodyPreview": " ".join(text.split())[:255],
        "importance": event.importance,
        "sensitivity": event.sensitivity,
        "isAllDay": event.is_all_day,
        "isCancelled": False,
        "isOrganizer": True,
        "responseRequested": event.response_requested,
        "seriesMasterId": None,
        "showAs": event.show_as,
        "type": "singleInstance",
        # resources/event#properties webLink, for work or school accounts.
        "webLink": "https://outlook.office365.com/owa/?itemid="
        f"{quote(event.id, safe='')}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": event.allow_new_time_proposals,
        "isDraft": False,
        "hideAttendees": event.hide_attendees,
        "responseStatus": {"response": "organizer", "time": "0001-01-01T00:00:00Z"},
        "body": item_body(event.body_type, event.body_content, body_type),
        "start": start,
        "end": end,
        "location": location,
        "locations": [location] if event.location else [],
        "recurrence": None,
        "attendees": [dict(a) for a in event.attendees],
        "organizer": {"emailAddress": {"name": owner.display_name, "address": owner.mail}},
        "onlineMeeting": None,
    }
    # resources/event#properties transactionId: "only returned in a response payload if an app
    # has set it".
    names = [
        n
        for n in (select or EVENT_PROPERTIES)
        if n != "transactionId" or event.transaction_id is not None
    ]
    result: dict[str, Any] = {"@odata.etag": f'W/"{event.change_key}"', "id": event.id}
    result.update({name: values[name] for name in names})
    return result


def todo_list_json(todo_list: TodoList) -> dict[str, Any]:
    # resources/todotasklist#properties, as the api/todo-list-lists sample.
    return {
        "@odata.etag": f'W/"{todo_list.change_key}"',
        "displayName": todo_list.display_name,
        "isOwner": todo_list.is_owner,
        "isShared": todo_list.is_shared,
        "wellknownListName": todo_list.wellknown_name,
        "id": todo_list.id,
    }


def task_json(
    task: TodoTask, *, zone: str | None = None, select: list[str] | None = None
) -> dict[str, Any]:
    """resources/todotask#properties, as the api/todotasklist-post-tasks sample; dueDateTime and
    completedDateTime only when set."""
    values: dict[str, Any] = {
        "importance": task.importance,
        "isReminderOn": task.is_reminder_on,
        "status": task.status,
        "title": task.title,
        "createdDateTime": graph_timestamp(task.created_at),
        "lastModifiedDateTime": graph_timestamp(task.last_modified_at),
        "hasAttachments": False,
        "categories": list(task.categories),
        "id": task.id,
        "body": {"content": task.body_content, "contentType": task.body_type},
        "bodyLastModifiedDateTime": graph_timestamp(task.body_last_modified_at),
        "dueDateTime": date_time_time_zone(task.due, zone) if task.due else None,
        "completedDateTime": date_time_time_zone(task.completed, zone) if task.completed else None,
    }
    result: dict[str, Any] = {"@odata.etag": f'W/"{task.change_key}"'}
    for name in select or TASK_PROPERTIES:
        if values[name] is not None or name not in ("dueDateTime", "completedDateTime"):
            result[name] = values[name]
    result["id"] = task.id
    return result


# --- control API --------------------------------------------------------------------------------


class CalendarControl:
    """The tenant's control API for calendars and To Do (MicrosoftTenant inherits it). `who` is
    what the rest of the control API takes: a User, object id, UPN or address."""

    lock: threading.RLock
    calendar_stores: dict[str, CalendarStore]

    def user(self, who: User | str) -> User:
        raise NotImplementedError  # MicrosoftTenant.user

    def calendar_store(self, who: User | str) -> CalendarStore:
        with self.lock:
            return self.calendar_stores[self.user(who).oid]

    def calendars(self, who: User | str) -> list[dict[str, Any]]:
        """The user's calendars as Graph describes them (the default one first)."""
        with self.lock:
            owner = self.user(who)
            store = self.calendar_store(owner)
            ordered = sorted(store.calendars.values(), key=lambda c: not c.is_default)
            return [calendar_json(c, owner) for c in ordered]

    def add_calendar(self, who: User | str, name: str, *, color: str = "auto") -> str:
        """A calendar the user made in Outlook; returns its id."""
        with self.lock:
            return self.calendar_store(who).add_calendar(name, color).id

    def delete_calendar(self, who: User | str, calendar_id: str) -> None:
        """The user deleted a calendar in Outlook, with every event in it: Graph answers 404
        for the calendar and its events from now on."""
        with self.lock:
            self.calendar_store(who).remove_calendar(calendar_id)

    def events(self, who: User | str, calendar_id: str | None = None) -> list[dict[str, Any]]:
        """The events in a calendar (the default one if None), oldest first, as Graph describes
        them with no Prefer header except that the body is as sent (not made HTML)."""
        with self.lock:
            owner = self.user(who)
            store = self.calendar_store(owner)
            calendar = store.calendars[calendar_id] if calendar_id else store.default_calendar()
            events = sorted(store.calendar_events(calendar.id), key=lambda e: e.created_at)
            return [event_json(e, owner) for e in events]

    def delete_event_as_user(self, who: User | str, event_id: str) -> None:
        """The user deleted the event in Outlook: Graph answers 404 for it from now on."""
        with self.lock:
            del self.calendar_store(who).events[event_id]

    def attendees_sent(self, who: User | str) -> list[dict[str, Any]]:
        """Every attendee any create or update of the user's events sent (should stay [])."""
        with self.lock:
            return [dict(a) for a in self.calendar_store(who).attendees_sent]

    def todo_lists(self, who: User | str) -> list[dict[str, Any]]:
        """The user's To Do lists (the default "Tasks" first)."""
        with self.lock:
            lists = self.calendar_store(who).todo_lists.values()
            ordered = sorted(lists, key=lambda t: t.wellknown_name != "defaultList")
            return [todo_list_json(t) for t in ordered]

    def add_todo_list(self, who: User | str, name: str) -> str:
        """A list the user made in To Do; returns its id."""
        with self.lock:
            todo_list = TodoList(_exchange_id("AAMkAD", 24), name)
            self.calendar_store(who).todo_lists[todo_list.id] = todo_list
            return todo_list.id

    def todo_tasks(self, who: User | str, list_id: str | None = None) -> list[dict[str, Any]]:
        """The tasks in a list (the default one if None), oldest first, as Graph serves them."""
        with self.lock:
            store = self.calendar_store(who)
            if list_id is None:
                list_id = next(
                    t.id for t in store.todo_lists.values() if t.wellknown_name == "defaultList"
                )
            if list_id not in store.todo_lists:
                raise KeyError(f"no To Do list {list_id!r}")
            tasks = sorted(
                (t for t in store.tasks.values() if t.list_id == list_id),
                key=lambda t: t.created_at,
            )
            return [task_json(t) for t in tasks]

    def delete_todo_task_as_user(self, who: User | str, task_id: str) -> None:
        """The user deleted the task in To Do: Graph answers 404 for it from now on."""
        with self.lock:
            del self.calendar_store(who).tasks[task_id]
