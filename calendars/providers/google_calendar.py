"""Google Calendar (events) and Google Tasks (tasks), through google-api-python-client built
from the discovery documents it ships, with the Google sign-in of the user's mailbox.

Idempotent by the event id Postcard chooses (developers.google.com/calendar/api/v3/reference/
events/insert: base32hex characters, 5 to 1024 long, unique per calendar): a retried insert answers
409 and the event is brought up to date instead. Google Tasks gives no client-chosen id, so each
task carries the item's UID in its notes, and a create first looks for a task holding it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httplib2
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest

from calendars.providers.base import (
    CalendarGone,
    CalendarItem,
    ItemRefused,
    LoginRefused,
    RemoteCalendar,
    Stored,
    TemporaryPushFailure,
)
from mailsync.providers.gmail import RATE_REASONS, error_reasons

TIMEOUT = 30
TASKS_KEY = "tasks:@default"  # where tasks go: the user's default Google Tasks list
UID_MARK = "postcard-uid:"
_documents: dict[str, dict[str, Any]] = {}


def _document(name: str, version: str) -> dict[str, Any]:
    if name not in _documents:
        _documents[name] = json.loads(get_static_doc(name, version) or "{}")
    return _documents[name]


def event_id(uid: str) -> str:
    """The item's event id: hexadecimal digits are base32hex characters too."""
    return hashlib.sha256(uid.encode()).hexdigest()[:40]


class GoogleCalendarProvider:
    def __init__(
        self,
        calendar_url: str,
        tasks_url: str,
        token: Callable[[bool], str],
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._token = token
        self._on_close = on_close
        self._bearer = ""
        self._http = httplib2.Http(timeout=TIMEOUT)
        calendar = build_from_document(
            _document("calendar", "v3"), http=self._http,
            client_options={"api_endpoint": calendar_url},
        )  # fmt: skip
        tasks = build_from_document(
            _document("tasks", "v1"), http=self._http, client_options={"api_endpoint": tasks_url}
        )
        self.events = calendar.events()
        self.calendar_list = calendar.calendarList()
        self.tasks = tasks.tasks()

    def calendars(self) -> list[RemoteCalendar]:
        body = self._run(self.calendar_list.list(minAccessRole="writer"), "listing calendars")
        return [
            RemoteCalendar(
                key=str(entry["id"]),
                name=str(entry.get("summaryOverride") or entry.get("summary") or entry["id"]),
                color=str(entry.get("backgroundColor") or ""),
                supports_tasks=True,  # tasks go to Google Tasks beside the calendar
                is_default=bool(entry.get("primary")),
            )
            for entry in body.get("items") or []
        ]

    def create(self, calendar_key: str, item: CalendarItem) -> Stored:
        if item.is_task and item.all_day is None:
            return self._create_task(item)
        body = {**_event(item), "id": event_id(item.uid)}
        try:
            made = self._run(
                self.events.insert(calendarId=calendar_key, body=body), "adding the event"
            )
        except _Conflict:  # made by an earlier attempt that died before its commit
            made = self._run(
                self.events.update(calendarId=calendar_key, eventId=body["id"], body=body),
                "updating the event",
            )
        return Stored(href=str(made["id"]), etag=str(made.get("etag", "")))

    def update(self, calendar_key: str, stored: Stored, item: CalendarItem) -> Stored | None:
        if item.is_task and item.all_day is None:
            return self._update_task(stored, item)
        try:
            current = self._run(
                self.events.get(calendarId=calendar_key, eventId=stored.href), "reading the event"
            )
        except _Gone:
            return None
        if current.get("status") == "cancelled":  # deleted in Google Calendar
            return None
        made = self._run(
            self.events.update(calendarId=calendar_key, eventId=stored.href, body=_event(item)),
            "updating the event",
        )
        return Stored(href=stored.href, etag=str(made.get("etag", "")))

    def delete(self, calendar_key: str, stored: Stored) -> None:
        try:
            if calendar_key == TASKS_KEY or stored.href.startswith("task:"):
                self._run(
                    self.tasks.delete(tasklist="@default", task=stored.href.removeprefix("task:")),
                    "deleting the task",
                )
            else:
                self._run(
                    self.events.delete(calendarId=calendar_key, eventId=stored.href),
                    "deleting the event",
                )
        except _Gone:
            pass  # gone already

    def close(self) -> None:
        for connection in list(self._http.connections.values()):
            connection.close()
        if self._on_close is not None:
            self._on_close()

    # --- tasks ---

    def _create_task(self, item: CalendarItem) -> Stored:
        found = self._task_holding(item.uid)
        if found is not None:  # made by an earlier attempt that died before its commit
            updated = self._update_task(Stored(f"task:{found}", ""), item)
            if updated is not None:
                return updated
        made = self._run(
            self.tasks.insert(tasklist="@default", body=_task(item)), "adding the task"
        )
        return Stored(href=f"task:{made['id']}", etag=str(made.get("etag", "")))

    def _update_task(self, stored: Stored, item: CalendarItem) -> Stored | None:
        task_id = stored.href.removeprefix("task:")
        try:
            current = self._run(
                self.tasks.get(tasklist="@default", task=task_id), "reading the task"
            )
        except _Gone:
            return None
        if current.get("deleted"):
            return None
        made = self._run(
            self.tasks.update(
                tasklist="@default", task=task_id, body={"id": task_id, **_task(item)}
            ),
            "updating the task",
        )
        return Stored(href=stored.href, etag=str(made.get("etag", "")))

    def _task_holding(self, uid: str) -> str | None:
        page_token = None
        while True:
            body = self._run(
                self.tasks.list(
                    tasklist="@default", showCompleted=True, showHidden=True,
                    maxResults=100, pageToken=page_token,
                ),
                "looking for the task",
            )  # fmt: skip
            for task in body.get("items") or []:
                if f"{UID_MARK}{uid}" in str(task.get("notes", "")):
                    return str(task["id"])
            page_token = body.get("nextPageToken")
            if not page_token:
                return None

    # --- plumbing ---

    def _run(self, request: HttpRequest, doing: str) -> dict[str, Any]:
        for refreshed in (False, True):
            if refreshed or not self._bearer:
                self._bearer = self._token(refreshed)
            request.headers["authorization"] = f"Bearer {self._bearer}"
            try:
                body = request.execute()
            except HttpError as error:
                status = error.resp.status
                if status == 401 and not refreshed:
                    continue
                raise _error(status, doing, _reason(error)) from None
            except (httplib2.HttpLib2Error, OSError):
                raise TemporaryPushFailure("Could not reach Google Calendar.") from None
            return body if isinstance(body, dict) else {}
        raise LoginRefused("Google no longer accepts Postcard's sign-in: reconnect.")


class _Conflict(TemporaryPushFailure):
    pass


class _Gone(TemporaryPushFailure):
    pass


def _reason(error: HttpError) -> set[str]:
    return error_reasons(error)


def _error(status: int, doing: str, reasons: set[str] | None = None) -> Exception:
    # developers.google.com/calendar/api/guides/errors: 403 and 429 rate limits are retried
    # with backoff, not a lost permission.
    if status == 429 or (reasons or set()) & (RATE_REASONS | {"dailylimitexceeded"}):
        return TemporaryPushFailure("Google Calendar asked Postcard to slow down.")
    if status == 409:
        return _Conflict("The event exists already.")
    if status in (404, 410) and doing not in ("adding the event", "listing calendars"):
        return _Gone("Deleted in Google Calendar.")
    if status == 404:
        return CalendarGone("The Google calendar was deleted. Choose another in Calendar settings.")
    if status in (401, 403):
        return LoginRefused(
            "Google no longer lets Postcard write to your calendar: reconnect it in Calendar "
            "settings and allow calendar access."
        )
    if status == 400:
        return ItemRefused(f"Google Calendar refused this item (400) while {doing}.")
    return TemporaryPushFailure(f"Google Calendar answered {status} while {doing}.")


def _event(item: CalendarItem) -> dict[str, Any]:
    """An Event resource (developers.google.com/calendar/api/v3/reference/events)."""
    body: dict[str, Any] = {
        "summary": item.title,
        "description": item.description,
        "location": item.location,
        # An update of an event deleted in Google Calendar (kept as cancelled) brings it back:
        # only when the user asked to push it again (the engine decides).
        "status": "confirmed",
    }
    if item.all_day is not None:
        body["start"] = {"date": item.all_day.isoformat()}
        body["end"] = {"date": item.all_day.fromordinal(item.all_day.toordinal() + 1).isoformat()}
        body["transparency"] = "transparent"
        return body
    assert item.starts_at is not None  # a meeting has both
    assert item.ends_at is not None
    body["start"] = {"dateTime": item.starts_at.isoformat(), "timeZone": item.time_zone}
    body["end"] = {"dateTime": item.ends_at.isoformat(), "timeZone": item.time_zone}
    return body


def _task(item: CalendarItem) -> dict[str, Any]:
    """A Task resource (developers.google.com/tasks/reference/rest/v1/tasks): Google keeps only
    the date of `due`."""
    body: dict[str, Any] = {
        "title": item.title,
        "notes": f"{item.description}\n\n{UID_MARK}{item.uid}",
        "status": "completed" if item.done else "needsAction",
    }
    if item.due_day is not None:  # the due day where the owner is
        body["due"] = f"{item.due_day}T00:00:00.000Z"
    if not item.done:
        body["completed"] = None
    return body
