"""The Google Calendar and Google Tasks data behind the fake Google APIs.

`CalendarsAndTasks` is a base class of `gmail_state.GoogleAccounts`, so one object holds a user's
grants, mailbox, calendars and tasks, behind the same `accounts.lock`. Every user has, from the
first time anything asks:

- a primary calendar whose id is the user's address (developers.google.com/calendar/api/
  concepts/events-calendars#primary_calendars: "its ID matches the user's primary email
  address"), the alias "primary" reaching it;
- a default task list "My Tasks" (the alias "@default" reaches it: TaskList.id in tasks.v1.json).

The public methods are either the control API tests use (what the user does in Google Calendar
or Google Tasks, and what the test wants to see) or the operations the HTTP fake
(`google_calendar.GoogleApisServer`) performs for API calls. Refusals raise `Refused`, which
the server turns into Google's error body. Nothing here speaks HTTP; the documented behaviours
are cited where they are decided.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import cache
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from googleapiclient.discovery_cache import get_static_doc

if TYPE_CHECKING:
    from tests.servers.gmail_state import GoogleUser

EventStatus = Literal["confirmed", "tentative", "cancelled"]
TaskStatus = Literal["needsAction", "completed"]

# calendar.v3.json, Event.id: "characters allowed in the ID are those used in base32hex
# encoding, i.e. lowercase letters a-v and digits 0-9 ... the length of the ID must be between 5
# and 1024 characters ... the ID must be unique per calendar".
EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")
DEFAULT_CALENDAR_COLOR = "#9fe1e7"
DEFAULT_TIME_ZONE = "UTC"
DEFAULT_TASK_LIST_TITLE = "My Tasks"
# tasks.v1.json, Task.title and Task.notes: "Maximum length allowed: 1024 characters." and
# "Maximum length allowed: 8192 characters."
MAX_TASK_TITLE = 1024
MAX_TASK_NOTES = 8192
# Event properties the server sets; a client may send them back (a fetched event, changed and
# updated) and they are ignored, as Google ignores read-only fields.
EVENT_READ_ONLY = frozenset(
    {"kind", "etag", "htmlLink", "created", "updated", "creator", "organizer", "hangoutLink"}
)
# Event properties the state keeps apart from the client's own fields.
EVENT_MANAGED = frozenset({"id", "iCalUID", "status", "sequence"})
# Writable Task properties; the others (id, etag, selfLink, position, links, ...) are output
# only and ignored in requests.
TASK_WRITABLE = frozenset({"title", "notes", "due", "status", "completed", "deleted"})
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?", re.IGNORECASE
)


@cache
def api_document(name: str) -> dict[str, Any]:
    """A discovery document as google-api-python-client packages it ("calendar" -> v3,
    "tasks" -> v1): what `build()` reads offline."""
    version = {"calendar": "v3", "tasks": "v1", "gmail": "v1"}[name]
    text = get_static_doc(name, version)
    if text is None:
        raise LookupError(f"google-api-python-client ships no {name}.{version}.json")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def _event_properties() -> frozenset[str]:
    return frozenset(api_document("calendar")["schemas"]["Event"]["properties"])


@cache
def _task_properties() -> frozenset[str]:
    return frozenset(api_document("tasks")["schemas"]["Task"]["properties"])


class Refused(Exception):
    """An API call Google refuses: HTTP status, reason and message of Google's error body
    (developers.google.com/calendar/api/guides/errors)."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location: str | None = None,
        location_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location = location
        self.location_type = location_type


# developers.google.com/calendar/api/guides/errors: the bodies of "404: Not Found", "409: The
# requested identifier already exists", "410: Gone" (reason "deleted") and "412: Precondition
# Failed".
def calendar_not_found() -> Refused:
    return Refused(404, "notFound", "Not Found")


def duplicate_id() -> Refused:
    return Refused(409, "duplicate", "The requested identifier already exists.")


def already_deleted() -> Refused:
    return Refused(410, "deleted", "Resource has been deleted")


def condition_not_met() -> Refused:
    return Refused(
        412,
        "conditionNotMet",
        "Precondition Failed",
        location="If-Match",
        location_type="header",
    )


def invalid(message: str, *, reason: str = "invalid", domain: str = "global") -> Refused:
    return Refused(400, reason, message, domain=domain)


def task_not_found() -> Refused:
    # The Tasks API answers in the newer format of cloud.google.com/apis/design/errors (as
    # Gmail does): "Requested entity was not found."
    return Refused(404, "notFound", "Requested entity was not found.")


# --- stored data -------------------------------------------------------------------------------


@dataclass
class StoredEvent:
    id: str
    ical_uid: str
    status: EventStatus
    # The client's own properties (summary, description, location, start, end, reminders,
    # extendedProperties, ...), as last written.
    fields: dict[str, Any]
    etag: str
    created: datetime
    updated: datetime
    sequence: int = 0


@dataclass
class StoredCalendar:
    id: str
    summary: str
    background_color: str
    primary: bool
    time_zone: str
    etag: str
    owner: str
    deleted: bool = False
    # Cancelled events stay here: their ids are never free again.
    events: dict[str, StoredEvent] = field(default_factory=dict)


@dataclass
class StoredTask:
    id: str
    title: str
    notes: str | None
    due: date | None
    status: TaskStatus
    completed: datetime | None
    etag: str
    updated: datetime
    position: str
    parent: str | None = None
    deleted: bool = False


@dataclass
class StoredTaskList:
    id: str
    title: str
    etag: str
    updated: datetime
    tasks: dict[str, StoredTask] = field(default_factory=dict)
    next_position: int = 0


@dataclass
class Workspace:
    """One user's calendars and task lists, and the switches and observations of their
    Calendar and Tasks calls."""

    address: str
    calendars: dict[str, StoredCalendar]
    task_lists: dict[str, StoredTaskList]
    calls: list[str] = field(default_factory=list)
    throttled: list[tuple[int, str]] = field(default_factory=list)
    refused: int = 0
    next_task_list: int = 1


class CalendarsAndTasks:
    """The calendar and task half of `GoogleAccounts` (see the module docstring)."""

    lock: threading.RLock
    clock: Callable[[], float]

    if TYPE_CHECKING:

        def user(self, address: str) -> GoogleUser: ...

    def __init__(self) -> None:
        self.workspaces: dict[str, Workspace] = {}
        # Calendar etags are quoted digit strings that grow ("\"3514568011282000\"").
        self._etag_number = 3_514_000_000_000_000 + secrets.randbelow(10**12)
        self._user_number = 10**19 + secrets.randbelow(9 * 10**19)

    # --- control API: calendars ----------------------------------------------------------------

    def calendars(self, address: str) -> list[dict[str, Any]]:
        """The user's calendar list (calendarList.list entries), deleted calendars left out."""
        with self.lock:
            workspace = self._workspace(address)
            return [_calendar_entry(c) for c in workspace.calendars.values() if not c.deleted]

    def add_calendar(
        self,
        address: str,
        summary: str,
        *,
        color: str = DEFAULT_CALENDAR_COLOR,
        time_zone: str = DEFAULT_TIME_ZONE,
    ) -> str:
        """The user creates a secondary calendar in Google Calendar; returns its id (like
        Google's, "c_<hex>@group.calendar.google.com")."""
        with self.lock:
            workspace = self._workspace(address)
            calendar_id = f"c_{secrets.token_hex(32)}@group.calendar.google.com"
            workspace.calendars[calendar_id] = StoredCalendar(
                id=calendar_id,
                summary=summary,
                background_color=color,
                primary=False,
                time_zone=time_zone,
                etag=self._new_etag(),
                owner=workspace.address,
            )
            return calendar_id

    def delete_calendar(self, address: str, calendar_id: str) -> None:
        """The user deletes a secondary calendar: from now on everything in it answers 404
        (calendars.get, events.*). The primary calendar cannot be deleted
        (developers.google.com/calendar/api/v3/reference/calendars/delete: "Use calendars.clear
        for clearing all events on primary calendars")."""
        with self.lock:
            calendar = self._calendar_or_key_error(address, calendar_id)
            if calendar.primary:
                raise ValueError("the primary calendar cannot be deleted")
            calendar.deleted = True

    def calendar_events(self, address: str, calendar_id: str) -> list[dict[str, Any]]:
        """The calendar's live events (not cancelled) as the API shows them, oldest first."""
        with self.lock:
            calendar = self._calendar_or_key_error(address, calendar_id)
            return [
                _event_json(calendar, event)
                for event in calendar.events.values()
                if event.status != "cancelled"
            ]

    def calendar_event(self, address: str, calendar_id: str, event_id: str) -> dict[str, Any]:
        """One event as the API shows it, cancelled ones included."""
        with self.lock:
            calendar = self._calendar_or_key_error(address, calendar_id)
            return _event_json(calendar, self._event_or_key_error(calendar, event_id))

    def edit_event_as_user(
        self, address: str, calendar_id: str, event_id: str, changes: dict[str, Any]
    ) -> None:
        """The user edits the event in Google Calendar (top-level properties replaced, as
        events.patch does): its etag changes, so a client's If-Match with the old one answers
        412 from now on."""
        with self.lock:
            calendar = self._calendar_or_key_error(address, calendar_id)
            event = self._event_or_key_error(calendar, event_id)
            self._patch_event(event, changes)

    def delete_event_as_user(self, address: str, calendar_id: str, event_id: str) -> None:
        """The user deletes the event in Google Calendar: it stays, with status "cancelled"
        (Event.status in calendar.v3.json: "cancelled - The event is cancelled (deleted)... The
        get method always returns them")."""
        with self.lock:
            calendar = self._calendar_or_key_error(address, calendar_id)
            event = self._event_or_key_error(calendar, event_id)
            if event.status != "cancelled":
                self._cancel(event)

    def throttle_calendar(
        self, address: str, count: int, *, status: int = 403, reason: str = "rateLimitExceeded"
    ) -> None:
        """The user's next `count` Calendar or Tasks calls are refused with this status and
        reason (developers.google.com/calendar/api/guides/errors: "403: Rate Limit Exceeded"
        and "429: Too many requests", reasons rateLimitExceeded / userRateLimitExceeded)."""
        with self.lock:
            self._workspace(address).throttled.extend([(status, reason)] * count)

    def calendar_calls(self, address: str) -> list[str]:
        """Method ids of the user's Calendar and Tasks calls, in order (refused ones too)."""
        with self.lock:
            return list(self._workspace(address).calls)

    # --- control API: tasks --------------------------------------------------------------------

    def task_lists(self, address: str) -> list[dict[str, Any]]:
        """The user's task lists as tasklists.list shows them, "My Tasks" first."""
        with self.lock:
            return [_task_list_json(t) for t in self._workspace(address).task_lists.values()]

    def add_task_list(self, address: str, title: str) -> str:
        """The user creates a task list in Google Tasks; returns its id."""
        with self.lock:
            workspace = self._workspace(address)
            task_list = self._new_task_list(workspace, title)
            return task_list.id

    def tasks(self, address: str, tasklist_id: str) -> list[dict[str, Any]]:
        """The list's tasks that are not deleted, in list order, as the API shows them."""
        with self.lock:
            task_list = self._task_list_or_key_error(address, tasklist_id)
            live = [t for t in task_list.tasks.values() if not t.deleted]
            return [_task_json(task_list, t) for t in sorted(live, key=lambda t: t.position)]

    def delete_task_as_user(self, address: str, tasklist_id: str, task_id: str) -> None:
        """The user deletes the task in Google Tasks: it gets the "deleted" flag (Task.deleted
        in tasks.v1.json; Google-Tasks-Backup/tasks-backup#28: "When a user deletes a task,
        the task's 'deleted' flag is set", the purge comes months later)."""
        with self.lock:
            task_list = self._task_list_or_key_error(address, tasklist_id)
            task = self._task_or_key_error(task_list, task_id)
            if not task.deleted:
                task.deleted = True
                self._touch_task(task)

    def complete_task_as_user(self, address: str, tasklist_id: str, task_id: str) -> None:
        """The user ticks the task off in Google Tasks."""
        with self.lock:
            task_list = self._task_list_or_key_error(address, tasklist_id)
            task = self._task_or_key_error(task_list, task_id)
            task.status = "completed"
            task.completed = self._now()
            self._touch_task(task)

    # --- API operations (used by google_calendar.GoogleApisServer) -----------------------------

    def spend_calendar_call(self, address: str, method_id: str) -> None:
        """Count one Calendar or Tasks call; raise Refused if the throttle switch says so."""
        with self.lock:
            workspace = self._workspace(address)
            workspace.calls.append(method_id)
            if workspace.throttled:
                status, reason = workspace.throttled.pop(0)
                workspace.refused += 1
                # developers.google.com/calendar/api/guides/errors: the sample messages.
                message = {
                    "rateLimitExceeded": "Rate Limit Exceeded",
                    "userRateLimitExceeded": "User Rate Limit Exceeded",
                    "quotaExceeded": "Calendar usage limits exceeded.",
                }.get(reason, reason)
                raise Refused(status, reason, message, domain="usageLimits")

    def calendar_list(self, address: str, *, show_deleted: bool) -> dict[str, Any]:
        """calendarList.list (developers.google.com/calendar/api/v3/reference/calendarList/
        list): showDeleted "Whether to include deleted calendar list entries in the result"."""
        with self.lock:
            workspace = self._workspace(address)
            items = [
                _calendar_entry(c)
                for c in workspace.calendars.values()
                if show_deleted or not c.deleted
            ]
            # No nextSyncToken: the fake has no incremental sync of the calendar list.
            return {"kind": "calendar#calendarList", "etag": self._new_etag(), "items": items}

    def calendar_resource(self, address: str, calendar_id: str) -> dict[str, Any]:
        """calendars.get (developers.google.com/calendar/api/v3/reference/calendars)."""
        with self.lock:
            calendar = self._calendar(address, calendar_id)
            body: dict[str, Any] = {
                "kind": "calendar#calendar",
                "etag": calendar.etag,
                "id": calendar.id,
                "summary": calendar.summary,
                "timeZone": calendar.time_zone,
            }
            if not calendar.primary:
                # Calendar.dataOwner: "Set only for secondary calendars."
                body["dataOwner"] = calendar.owner
            return body

    def insert_event(self, address: str, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """events.insert (developers.google.com/calendar/api/v3/reference/events/insert)."""
        with self.lock:
            calendar = self._calendar(address, calendar_id)
            fields = _event_fields(body)
            _check_times(fields)
            fields = _with_offsets(fields)
            status = _event_status(body.get("status", "confirmed"))
            event_id = body.get("id")
            ical_uid = body.get("iCalUID")
            if event_id is not None:
                if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
                    # The answer Google gives an id outside base32hex or 5-1024 characters.
                    raise invalid("Invalid resource id value.")
                # Event.id: "the ID must be unique per calendar". A deleted (cancelled) event
                # keeps its id, so inserting it again answers 409 too (stackoverflow.com/q/
                # 27542721: "Create ... Delete ... create event with the same ID - get the
                # error"; the answer: update the cancelled event instead).
                if event_id in calendar.events:
                    raise duplicate_id()
            else:
                event_id = _new_event_id()
            if ical_uid is None:
                ical_uid = f"{event_id}@google.com"
            elif not isinstance(ical_uid, str) or not ical_uid:
                raise invalid("Invalid iCalUID value.")
            if any(e.ical_uid == ical_uid for e in calendar.events.values()):
                raise duplicate_id()
            now = self._now()
            event = StoredEvent(
                id=event_id,
                ical_uid=ical_uid,
                status=status,
                fields=fields,
                etag=self._new_etag(),
                created=now,
                updated=now,
                sequence=_sequence(body.get("sequence", 0), 0),
            )
            calendar.events[event_id] = event
            return _event_json(calendar, event)

    def get_event(self, address: str, calendar_id: str, event_id: str) -> dict[str, Any]:
        """events.get: cancelled events too (Event.status: "The get method always returns
        them"; "On the organizer's calendar, cancelled events continue to expose event
        details")."""
        with self.lock:
            calendar = self._calendar(address, calendar_id)
            return _event_json(calendar, self._event(calendar, event_id))

    def update_event(
        self,
        address: str,
        calendar_id: str,
        event_id: str,
        body: dict[str, Any],
        *,
        patch: bool,
        if_match: str | None,
    ) -> dict[str, Any]:
        """events.update (every writable property replaced: start and end are required, what is
        left out is cleared, status defaults to "confirmed", which is how a cancelled event is
        restored) or events.patch (only the properties sent change; null clears one)
        (developers.google.com/calendar/api/v3/reference/events/update and /patch). With
        If-Match, a different current etag answers 412 (guides/errors "412: Precondition
        Failed": "The etag supplied in the If-match header no longer corresponds to the
        current etag of the resource")."""
        with self.lock:
            calendar = self._calendar(address, calendar_id)
            event = self._event(calendar, event_id)
            _check_if_match(event.etag, if_match)
            if patch:
                self._patch_event(event, body)
            else:
                fields = _event_fields(body)
                _check_times(fields)
                fields = _with_offsets(fields)
                status = _event_status(body.get("status", "confirmed"))
                sequence = _sequence(body.get("sequence"), event.sequence)
                if sequence == event.sequence and _times_changed(event.fields, fields):
                    sequence += 1
                event.fields = fields
                event.status = status
                event.sequence = sequence
                self._touch_event(event)
            return _event_json(calendar, event)

    def delete_event(
        self, address: str, calendar_id: str, event_id: str, *, if_match: str | None
    ) -> None:
        """events.delete: the event becomes "cancelled"; deleting it again answers 410
        (guides/errors "410: Gone": "This error can also occur if a request attempts to delete
        an event that has already been deleted", reason "deleted")."""
        with self.lock:
            calendar = self._calendar(address, calendar_id)
            event = self._event(calendar, event_id)
            _check_if_match(event.etag, if_match)
            if event.status == "cancelled":
                raise already_deleted()
            self._cancel(event)

    def task_list_resources(self, address: str) -> dict[str, Any]:
        """tasklists.list (developers.google.com/tasks/reference/rest/v1/tasklists/list)."""
        with self.lock:
            workspace = self._workspace(address)
            return {
                "kind": "tasks#taskLists",
                "etag": _task_etag(),
                "items": [_task_list_json(t) for t in workspace.task_lists.values()],
            }

    def task_list_resource(self, address: str, tasklist_id: str) -> dict[str, Any]:
        """tasklists.get (developers.google.com/tasks/reference/rest/v1/tasklists/get)."""
        with self.lock:
            return _task_list_json(self._task_list(address, tasklist_id))

    def insert_task(
        self, address: str, tasklist_id: str, body: dict[str, Any], *, parent: str | None
    ) -> dict[str, Any]:
        """tasks.insert (developers.google.com/tasks/reference/rest/v1/tasks/insert): the new
        task goes first among its siblings ("previous ... If the task is created at the first
        position among its siblings, this parameter is omitted")."""
        with self.lock:
            task_list = self._task_list(address, tasklist_id)
            if parent is not None and parent not in task_list.tasks:
                raise task_not_found()
            values = _task_values(body)
            task_list.next_position += 1
            task = StoredTask(
                id=base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("="),
                title="",
                notes=None,
                due=None,
                status="needsAction",
                completed=None,
                etag=_task_etag(),
                updated=self._now(),
                position=f"{10**19 - task_list.next_position:020d}",
                parent=parent,
            )
            self._apply_task_values(task, values, replace=True)
            task_list.tasks[task.id] = task
            return _task_json(task_list, task)

    def list_tasks(
        self, address: str, tasklist_id: str, query: Mapping[str, str]
    ) -> dict[str, Any]:
        """tasks.list (developers.google.com/tasks/reference/rest/v1/tasks/list): completed
        tasks only with showCompleted (default true) and, once hidden, showHidden; deleted ones
        only with showDeleted; maxResults (default 20, at most 100) per page, nextPageToken."""
        show_completed = query.get("showCompleted", "true") == "true"
        show_hidden = query.get("showHidden", "false") == "true"
        show_deleted = query.get("showDeleted", "false") == "true"
        size = min(max(int(query.get("maxResults") or 20), 1), 100)
        start = int(query.get("pageToken") or 0)
        with self.lock:
            task_list = self._task_list(address, tasklist_id)
            shown = [
                t
                for t in sorted(task_list.tasks.values(), key=lambda t: t.position)
                if (show_deleted or not t.deleted)
                and (t.status != "completed" or (show_completed and show_hidden))
            ]
            page = shown[start : start + size]
            body: dict[str, Any] = {"kind": "tasks#tasks", "etag": _task_etag()}
            if page:
                body["items"] = [_task_json(task_list, t) for t in page]
            if start + size < len(shown):
                body["nextPageToken"] = str(start + size)
            return body

    def get_task(self, address: str, tasklist_id: str, task_id: str) -> dict[str, Any]:
        """tasks.get: a deleted task answers with "deleted": true (see delete_task)."""
        with self.lock:
            task_list = self._task_list(address, tasklist_id)
            return _task_json(task_list, self._task(task_list, task_id))

    def update_task(
        self, address: str, tasklist_id: str, task_id: str, body: dict[str, Any], *, patch: bool
    ) -> dict[str, Any]:
        """tasks.update (every writable property replaced) or tasks.patch ("This method
        supports patch semantics") (developers.google.com/tasks/reference/rest/v1/tasks)."""
        with self.lock:
            task_list = self._task_list(address, tasklist_id)
            task = self._task(task_list, task_id)
            self._apply_task_values(task, _task_values(body), replace=not patch)
            return _task_json(task_list, task)

    def delete_task(self, address: str, tasklist_id: str, task_id: str) -> None:
        """tasks.delete: the task gets the "deleted" flag (Task.deleted; tasks.list's
        showDeleted returns such tasks). Deleting it again answers 204 as well: Google
        documents nothing else, so the fake keeps delete idempotent."""
        with self.lock:
            task_list = self._task_list(address, tasklist_id)
            task = self._task(task_list, task_id)
            if not task.deleted:
                task.deleted = True
                self._touch_task(task)

    # --- internals -----------------------------------------------------------------------------

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _new_etag(self) -> str:
        self._etag_number += 1000 + secrets.randbelow(10**6)
        return f'"{self._etag_number}"'

    def _workspace(self, address: str) -> Workspace:
        user = self.user(address)
        workspace = self.workspaces.get(user.address)
        if workspace is None:
            primary = StoredCalendar(
                id=user.address,
                # A primary calendar is named after its owner's address.
                summary=user.address,
                background_color=DEFAULT_CALENDAR_COLOR,
                primary=True,
                time_zone=DEFAULT_TIME_ZONE,
                etag=self._new_etag(),
                owner=user.address,
            )
            workspace = Workspace(user.address, {primary.id: primary}, {})
            self._user_number += 1
            self._new_task_list(workspace, DEFAULT_TASK_LIST_TITLE)
            self.workspaces[user.address] = workspace
        return workspace

    def _new_task_list(self, workspace: Workspace, title: str) -> StoredTaskList:
        # Google's task list ids are base64 of "<user number>:<list number>:0", unpadded.
        number = 0 if not workspace.task_lists else workspace.next_task_list
        if workspace.task_lists:
            workspace.next_task_list += 1
        raw = f"{self._user_number}:{number}:0".encode()
        task_list = StoredTaskList(
            id=base64.b64encode(raw).decode().rstrip("="),
            title=title,
            etag=_task_etag(),
            updated=self._now(),
        )
        workspace.task_lists[task_list.id] = task_list
        return task_list

    def _find_calendar(self, address: str, calendar_id: str) -> StoredCalendar | None:
        workspace = self._workspace(address)
        if calendar_id == "primary":
            calendar_id = workspace.address
        # Calendar ids are email addresses; Google compares them without case.
        return workspace.calendars.get(calendar_id) or workspace.calendars.get(calendar_id.lower())

    def _calendar(self, address: str, calendar_id: str) -> StoredCalendar:
        """The calendar an API call names: unknown, someone else's or deleted answers 404."""
        calendar = self._find_calendar(address, calendar_id)
        if calendar is None or calendar.deleted:
            raise calendar_not_found()
        return calendar

    def _calendar_or_key_error(self, address: str, calendar_id: str) -> StoredCalendar:
        calendar = self._find_calendar(address, calendar_id)
        if calendar is None:
            raise KeyError(f"no calendar {calendar_id!r} for {address}")
        return calendar

    def _event(self, calendar: StoredCalendar, event_id: str) -> StoredEvent:
        event = calendar.events.get(event_id)
        if event is None:
            raise calendar_not_found()
        return event

    def _event_or_key_error(self, calendar: StoredCalendar, event_id: str) -> StoredEvent:
        event = calendar.events.get(event_id)
        if event is None:
            raise KeyError(f"no event {event_id!r} in {calendar.id}")
        return event

    def _touch_event(self, event: StoredEvent) -> None:
        event.updated = self._now()
        event.etag = self._new_etag()

    def _cancel(self, event: StoredEvent) -> None:
        event.status = "cancelled"
        self._touch_event(event)

    def _patch_event(self, event: StoredEvent, body: dict[str, Any]) -> None:
        changes = _event_fields(body, keep_nulls=True)
        fields = copy.deepcopy(event.fields)
        for key, value in changes.items():
            if value is None:
                fields.pop(key, None)
            else:
                fields[key] = value
        _check_times(fields)
        fields = _with_offsets(fields)
        status = _event_status(body["status"]) if body.get("status") else event.status
        sequence = _sequence(body.get("sequence"), event.sequence)
        if sequence == event.sequence and _times_changed(event.fields, fields):
            sequence += 1
        event.fields = fields
        event.status = status
        event.sequence = sequence
        self._touch_event(event)

    def _task_list(self, address: str, tasklist_id: str) -> StoredTaskList:
        workspace = self._workspace(address)
        if tasklist_id == "@default":
            return next(iter(workspace.task_lists.values()))
        task_list = workspace.task_lists.get(tasklist_id)
        if task_list is None:
            raise task_not_found()
        return task_list

    def _task_list_or_key_error(self, address: str, tasklist_id: str) -> StoredTaskList:
        try:
            return self._task_list(address, tasklist_id)
        except Refused:
            raise KeyError(f"no task list {tasklist_id!r} for {address}") from None

    def _task(self, task_list: StoredTaskList, task_id: str) -> StoredTask:
        task = task_list.tasks.get(task_id)
        if task is None:
            raise task_not_found()
        return task

    def _task_or_key_error(self, task_list: StoredTaskList, task_id: str) -> StoredTask:
        task = task_list.tasks.get(task_id)
        if task is None:
            raise KeyError(f"no task {task_id!r} in {task_list.id}")
        return task

    def _touch_task(self, task: StoredTask) -> None:
        task.updated = self._now()
        task.etag = _task_etag()

    def _apply_task_values(
        self, task: StoredTask, values: dict[str, Any], *, replace: bool
    ) -> None:
        """Set the task's writable properties from `values` (already checked). With `replace`
        (insert, update) the ones left out are cleared."""

        def given(key: str) -> bool:
            return key in values or replace

        if given("title"):
            task.title = values.get("title") or ""
        if given("notes"):
            task.notes = values.get("notes")
        if given("due"):
            task.due = values.get("due")
        if given("deleted"):
            task.deleted = bool(values.get("deleted", False))
        if given("status"):
            task.status = values.get("status") or "needsAction"
        if "completed" in values and values["completed"] is not None:
            task.completed = values["completed"]
        # Task.completed: "This field is omitted if the task has not been completed"; a task
        # marked completed without a time gets the time of the change.
        if task.status == "needsAction":
            task.completed = None
        elif task.completed is None:
            task.completed = self._now()
        self._touch_task(task)


# --- events ----------------------------------------------------------------------------------


def _new_event_id() -> str:
    # Event.id: "If you do not specify an ID, it will be automatically generated by the server"
    # (Google's are 26 base32hex characters).
    return base64.b32hexencode(secrets.token_bytes(16)).decode().lower().rstrip("=")


def _event_fields(body: dict[str, Any], *, keep_nulls: bool = False) -> dict[str, Any]:
    """The client's writable Event properties of a request body. Properties the Event schema
    does not have answer 400 (the wording is the fake's); read-only and server-managed ones are
    ignored."""
    unknown = sorted(set(body) - _event_properties())
    if unknown:
        raise invalid(f"Unknown Event properties: {', '.join(unknown)}")
    return {
        key: copy.deepcopy(value)
        for key, value in body.items()
        if key not in EVENT_READ_ONLY
        and key not in EVENT_MANAGED
        and (keep_nulls or value is not None)
    }


def _event_status(value: Any) -> EventStatus:
    # Event.status: "confirmed", "tentative" or "cancelled".
    if value == "confirmed":
        return "confirmed"
    if value == "tentative":
        return "tentative"
    if value == "cancelled":
        return "cancelled"
    raise invalid(f"Invalid value for status: {value!r}")


def _sequence(value: Any, current: int) -> int:
    """The client may set Event.sequence ("Sequence number as per iCalendar"), never below the
    current one (Google: 400 "Invalid sequence value...")."""
    if value is None:
        return current
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise invalid(f"Invalid sequence value: {value!r}")
    if value < current:
        raise invalid(
            "Invalid sequence value. The specified sequence number is below the current "
            "sequence number of the resource."
        )
    return value


def _times_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return old.get("start") != new.get("start") or old.get("end") != new.get("end")


def _when(value: Any, which: str) -> tuple[str, datetime]:
    """One EventDateTime (calendar.v3.json): "date" ("yyyy-mm-dd", if this is an all-day
    event) or "dateTime" (RFC 3339; "A time zone offset is required unless a time zone is
    explicitly specified in timeZone"), and an optional IANA "timeZone"."""
    if value is None:
        raise invalid(f"Missing {which} time.", reason="required")
    if not isinstance(value, dict) or set(value) - {"date", "dateTime", "timeZone"}:
        raise invalid(f"Invalid {which} time.")
    zone: ZoneInfo | None = None
    if value.get("timeZone") is not None:
        try:
            zone = ZoneInfo(str(value["timeZone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise invalid(f"Invalid time zone definition for {which} time.") from None
    day, moment = value.get("date"), value.get("dateTime")
    if day is not None and moment is not None:
        raise invalid(f"Invalid {which} time.")
    if day is not None:
        if not isinstance(day, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
            raise invalid(f"Invalid {which} time.")
        try:
            return "date", datetime.combine(date.fromisoformat(day), time(), UTC)
        except ValueError:
            raise invalid(f"Invalid {which} time.") from None
    if moment is None:
        raise invalid(f"Missing {which} time.", reason="required")
    if not isinstance(moment, str) or not _RFC3339.fullmatch(moment):
        raise invalid(f"Invalid {which} time.")
    try:
        parsed = datetime.fromisoformat(moment.upper().replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"Invalid {which} time.") from None
    if parsed.tzinfo is None:
        if zone is None:
            raise invalid(f"Missing time zone definition for {which} time.")
        parsed = parsed.replace(tzinfo=zone)
    return "dateTime", parsed


def _check_times(fields: dict[str, Any]) -> None:
    """start and end are required (calendar.v3.json annotations: required for events.insert
    and events.update), of the same kind, and end is after start: Event.end is "The
    (exclusive) end time", so a one-day all-day event ends on the next date; an empty range
    answers guides/errors' timeRangeEmpty."""
    start_kind, start = _when(fields.get("start"), "start")
    end_kind, end = _when(fields.get("end"), "end")
    if start_kind != end_kind:
        # The wording is the fake's.
        raise invalid("The start and end times must both be dates or both be dateTimes.")
    if end <= start:
        raise Refused(
            400, "timeRangeEmpty", "The specified time range is empty.", domain="calendar"
        )


def _with_offsets(fields: dict[str, Any]) -> dict[str, Any]:
    """A dateTime written without an offset (in its timeZone) is answered with the offset,
    "2026-03-02T10:00:00+01:00": EventDateTime.dateTime is "formatted according to RFC3339"."""
    for which in ("start", "end"):
        value = fields[which]
        moment = value.get("dateTime")
        if moment is not None and not re.search(r"(Z|[+-]\d{2}:\d{2})$", moment, re.IGNORECASE):
            _, parsed = _when(value, which)
            fields[which] = {**value, "dateTime": parsed.isoformat(timespec="seconds")}
    return fields


def _check_if_match(etag: str, if_match: str | None) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    wanted = {_bare_etag(tag) for tag in if_match.split(",")}
    if _bare_etag(etag) not in wanted:
        raise condition_not_met()


def _bare_etag(tag: str) -> str:
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    return tag.strip('"')


def rfc3339(moment: datetime) -> str:
    """Google's timestamps: UTC with milliseconds, "2026-01-05T10:00:00.000Z"."""
    moment = moment.astimezone(UTC)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{moment.microsecond // 1000:03d}Z"


def _calendar_entry(calendar: StoredCalendar) -> dict[str, Any]:
    """A CalendarListEntry (developers.google.com/calendar/api/v3/reference/calendarList)."""
    entry: dict[str, Any] = {
        "kind": "calendar#calendarListEntry",
        "etag": calendar.etag,
        "id": calendar.id,
        "summary": calendar.summary,
        "timeZone": calendar.time_zone,
        "backgroundColor": calendar.background_color,
        "foregroundColor": "#000000",
        "selected": True,
        "accessRole": "owner",
        "defaultReminders": [],
    }
    if calendar.primary:
        entry["primary"] = True
    if calendar.deleted:
        entry["deleted"] = True
    return entry


def _event_json(calendar: StoredCalendar, event: StoredEvent) -> dict[str, Any]:
    """An Event as Google answers it (developers.google.com/calendar/api/v3/reference/events
    #resource), in Google's key order."""
    eid = base64.b64encode(f"{event.id} {calendar.id}".encode()).decode().rstrip("=")
    organizer: dict[str, Any] = {"email": calendar.id, "self": True}
    if not calendar.primary:
        organizer["displayName"] = calendar.summary
    body: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": event.etag,
        "id": event.id,
        "status": event.status,
        "htmlLink": f"https://www.google.com/calendar/event?eid={eid}",
        "created": rfc3339(event.created),
        "updated": rfc3339(event.updated),
    }
    fields = copy.deepcopy(event.fields)
    for key in ("summary", "description", "location"):
        if key in fields:
            body[key] = fields.pop(key)
    body["creator"] = {"email": calendar.owner, "self": True}
    body["organizer"] = organizer
    for key in ("start", "end"):
        if key in fields:
            body[key] = fields.pop(key)
    body["iCalUID"] = event.ical_uid
    body["sequence"] = event.sequence
    body["reminders"] = fields.pop("reminders", {"useDefault": True})
    body["eventType"] = fields.pop("eventType", "default")
    body.update(fields)
    return body


# --- tasks -----------------------------------------------------------------------------------


def _task_etag() -> str:
    return '"' + base64.b64encode(str(secrets.randbelow(10**10)).encode()).decode() + '"'


def _task_values(body: dict[str, Any]) -> dict[str, Any]:
    """The writable Task properties of a request body, checked and converted."""
    unknown = sorted(set(body) - _task_properties())
    if unknown:
        raise invalid(f"Unknown Task properties: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key in TASK_WRITABLE & set(body):
        value = body[key]
        if key == "title":
            if value is not None and (not isinstance(value, str) or len(value) > MAX_TASK_TITLE):
                raise invalid("Invalid value for title")
        elif key == "notes":
            if value is not None and (not isinstance(value, str) or len(value) > MAX_TASK_NOTES):
                raise invalid("Invalid value for notes")
        elif key == "status":
            # Task.status: "This is either "needsAction" or "completed"."
            if value is not None and value not in ("needsAction", "completed"):
                raise invalid(f"Invalid value for status: {value!r}")
        elif key == "due":
            value = None if value is None else _due_date(value)
        elif key == "completed":
            value = None if value is None else _timestamp(value, "completed")
        elif key == "deleted" and value is not None and not isinstance(value, bool):
            raise invalid("Invalid value for deleted")
        values[key] = value
    return values


def _due_date(value: Any) -> date:
    """Task.due (tasks.v1.json): "Scheduled date for the task (as an RFC 3339 timestamp)...
    Only date information is recorded; the time portion of the timestamp is discarded when
    setting this field. It isn't possible to read or write the time that a task is scheduled
    for using the API." The fake keeps the date as written, before the "T"; it answers
    "<date>T00:00:00.000Z"."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise invalid(f"Invalid value for due: {value!r}")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise invalid(f"Invalid value for due: {value!r}") from None


def _timestamp(value: Any, name: str) -> datetime:
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise invalid(f"Invalid value for {name}: {value!r}")
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"Invalid value for {name}: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _task_list_json(task_list: StoredTaskList) -> dict[str, Any]:
    """A TaskList (developers.google.com/tasks/reference/rest/v1/tasklists#TaskList)."""
    return {
        "kind": "tasks#taskList",
        "id": task_list.id,
        "etag": task_list.etag,
        "title": task_list.title,
        "updated": rfc3339(task_list.updated),
        "selfLink": f"https://www.googleapis.com/tasks/v1/users/@me/lists/{task_list.id}",
    }


def _task_json(task_list: StoredTaskList, task: StoredTask) -> dict[str, Any]:
    """A Task (developers.google.com/tasks/reference/rest/v1/tasks#Task): optional properties
    left out when unset, as Google does; "deleted" only when true."""
    body: dict[str, Any] = {
        "kind": "tasks#task",
        "id": task.id,
        "etag": task.etag,
        "title": task.title,
        "updated": rfc3339(task.updated),
        "selfLink": f"https://www.googleapis.com/tasks/v1/lists/{task_list.id}/tasks/{task.id}",
    }
    if task.parent:
        body["parent"] = task.parent
    body["position"] = task.position
    if task.notes is not None:
        body["notes"] = task.notes
    body["status"] = task.status
    if task.due is not None:
        body["due"] = f"{task.due.isoformat()}T00:00:00.000Z"
    if task.completed is not None:
        body["completed"] = rfc3339(task.completed)
    if task.deleted:
        body["deleted"] = True
    body["links"] = []
    body["webViewLink"] = f"https://tasks.google.com/task/{task.id}?sa=6"
    return body
