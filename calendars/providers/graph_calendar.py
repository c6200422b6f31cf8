"""Outlook calendars and Microsoft To Do over Microsoft Graph, with the Microsoft sign-in of the
user's mailbox (its grant gains Calendars.ReadWrite and Tasks.ReadWrite when the user allows).

Events are created with a `transactionId` (the item's UID): Graph answers a retried POST with the
event it made the first time instead of a second one (learn.microsoft.com/graph/api/resources/
event, transactionId). To Do tasks have no such id, so each carries the UID in its body and a
create first looks for a task holding it. Times go out as the owner's local wall-clock time with
their IANA time zone (dateTimeTimeZone), so Outlook keeps 10:00 at 10:00 across a DST change.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from calendars.providers.base import (
    CalendarGone,
    CalendarItem,
    ItemRefused,
    LoginRefused,
    RemoteCalendar,
    Stored,
    TemporaryPushFailure,
    zone_named,
)
from mailsync.providers.base import ProviderError
from mailsync.providers.graph import Answer, GraphClient

UID_MARK = "postcard-uid:"
TODO_PREFIX = "todo:"


class GraphCalendarProvider:
    def __init__(self, client: GraphClient, on_close: Any = None) -> None:
        self.client = client
        self._on_close = on_close
        self._todo_list = ""

    def calendars(self) -> list[RemoteCalendar]:
        answer = self._send(
            "GET", "calendars?$select=id,name,hexColor,canEdit,isDefaultCalendar", "listing"
        )
        body = self._ok(answer, "listing your calendars")
        return [
            RemoteCalendar(
                key=str(entry["id"]),
                name=str(entry.get("name") or entry["id"]),
                color=str(entry.get("hexColor") or ""),
                supports_tasks=True,  # tasks go to Microsoft To Do beside the calendar
                is_default=bool(entry.get("isDefaultCalendar")),
            )
            for entry in body.get("value", [])
            if entry.get("canEdit", True)
        ]

    def create(self, calendar_key: str, item: CalendarItem) -> Stored:
        if item.is_task and item.all_day is None:
            return self._create_task(item)
        answer = self._send(
            "POST",
            f"calendars/{quote(calendar_key, safe='=')}/events",
            "adding the event",
            {**_event(item), "transactionId": item.uid},
        )
        if answer.status == 404:
            raise CalendarGone(
                "The Outlook calendar was deleted. Choose another in Calendar settings."
            )
        body = self._ok(answer, "adding the event")
        return Stored(href=str(body["id"]), etag=str(body.get("changeKey", "")))

    def update(self, calendar_key: str, stored: Stored, item: CalendarItem) -> Stored | None:
        if stored.href.startswith(TODO_PREFIX):
            return self._update_task(stored, item)
        answer = self._send(
            "PATCH", f"events/{quote(stored.href, safe='=')}", "updating the event", _event(item)
        )
        if answer.status == 404:
            return None  # deleted in Outlook
        body = self._ok(answer, "updating the event")
        return Stored(href=stored.href, etag=str(body.get("changeKey", "")))

    def delete(self, calendar_key: str, stored: Stored) -> None:
        if stored.href.startswith(TODO_PREFIX):
            list_id, task_id = stored.href.removeprefix(TODO_PREFIX).split(":", 1)
            path = f"todo/lists/{quote(list_id, safe='=')}/tasks/{quote(task_id, safe='=')}"
        else:
            path = f"events/{quote(stored.href, safe='=')}"
        answer = self._send("DELETE", path, "deleting")
        if answer.status not in (204, 404):
            self._ok(answer, "deleting")

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()

    # --- To Do ---

    def _default_list(self) -> str:
        if not self._todo_list:
            body = self._ok(self._send("GET", "todo/lists", "listing task lists"), "listing")
            lists = body.get("value", [])
            default = next(
                (entry for entry in lists if entry.get("wellknownListName") == "defaultList"),
                lists[0] if lists else None,
            )
            if default is None:
                raise TemporaryPushFailure("Microsoft To Do has no task list to add tasks to.")
            self._todo_list = str(default["id"])
        return self._todo_list

    def _tasks_path(self) -> str:
        return f"todo/lists/{quote(self._default_list(), safe='=')}/tasks"

    def _create_task(self, item: CalendarItem) -> Stored:
        found = self._task_holding(item.uid)
        if found is not None:  # made by an earlier attempt that died before its commit
            stored = Stored(f"{TODO_PREFIX}{self._default_list()}:{found}", "")
            updated = self._update_task(stored, item)
            if updated is not None:
                return updated
        body = self._ok(
            self._send("POST", self._tasks_path(), "adding the task", _task(item)),
            "adding the task",
        )
        return Stored(href=f"{TODO_PREFIX}{self._default_list()}:{body['id']}", etag="")

    def _update_task(self, stored: Stored, item: CalendarItem) -> Stored | None:
        list_id, task_id = stored.href.removeprefix(TODO_PREFIX).split(":", 1)
        path = f"todo/lists/{quote(list_id, safe='=')}/tasks/{quote(task_id, safe='=')}"
        answer = self._send("PATCH", path, "updating the task", _task(item))
        if answer.status == 404:
            return None  # deleted in To Do
        self._ok(answer, "updating the task")
        return Stored(href=stored.href, etag="")

    def _task_holding(self, uid: str) -> str | None:
        url = self.client.url(f"{self._tasks_path()}?$select=id,body&$top=100")
        while url:
            body = self._ok(self._call("GET", url, None), "looking for the task")
            for task in body.get("value", []):
                if f"{UID_MARK}{uid}" in str((task.get("body") or {}).get("content", "")):
                    return str(task["id"])
            url = str(body.get("@odata.nextLink") or "")
        return None

    # --- plumbing ---

    def _send(self, method: str, path: str, doing: str, body: Any = None) -> Answer:
        return self._call(method, self.client.url(path), body)

    def _call(self, method: str, url: str, body: Any) -> Answer:
        try:
            return self.client.send(method, url, body=body)
        except ProviderError as failure:
            if failure.permanent:
                raise LoginRefused(failure.message) from None
            raise TemporaryPushFailure(failure.message) from None

    def _ok(self, answer: Answer, doing: str) -> dict[str, Any]:
        if 200 <= answer.status < 300:
            return answer.body if isinstance(answer.body, dict) else {}
        if answer.status in (401, 403):
            raise LoginRefused(
                "Microsoft 365 no longer lets Postcard write to your calendar: use your "
                "Microsoft 365 calendar again in Calendar settings and accept."
            )
        if answer.status == 400:
            raise ItemRefused(f"Microsoft 365 refused this item (400) while {doing}.")
        raise TemporaryPushFailure(f"Microsoft 365 answered {answer.status} while {doing}.")


def _local(moment: Any, zone: str) -> dict[str, str]:
    """dateTimeTimeZone: the wall-clock time in `zone`, no offset (resources/datetimetimezone)."""
    local = moment.astimezone(zone_named(zone)).replace(tzinfo=None)
    return {"dateTime": local.isoformat(timespec="seconds"), "timeZone": zone}


def _event(item: CalendarItem) -> dict[str, Any]:
    """An event resource; contacts are named in the body, never attendees."""
    body: dict[str, Any] = {
        "subject": item.title,
        "body": {"contentType": "text", "content": item.description},
        "location": {"displayName": item.location},
    }
    if item.all_day is not None:  # midnight to midnight, as Graph requires for all-day events
        day = item.all_day.isoformat()
        after = (item.all_day + timedelta(days=1)).isoformat()
        body["start"] = {"dateTime": f"{day}T00:00:00", "timeZone": item.time_zone}
        body["end"] = {"dateTime": f"{after}T00:00:00", "timeZone": item.time_zone}
        body["isAllDay"], body["showAs"] = True, "free"
        return body
    body["start"] = _local(item.starts_at, item.time_zone)
    body["end"] = _local(item.ends_at, item.time_zone)
    body["isAllDay"] = False
    return body


def _task(item: CalendarItem) -> dict[str, Any]:
    """A todoTask: To Do keeps only the due date (sent as midnight UTC of the owner's day)."""
    body: dict[str, Any] = {
        "title": item.title,
        "body": {"contentType": "text", "content": f"{item.description}\n\n{UID_MARK}{item.uid}"},
        "status": "completed" if item.done else "notStarted",
    }
    if item.due_day is not None:
        body["dueDateTime"] = {"dateTime": f"{item.due_day}T00:00:00", "timeZone": "UTC"}
    return body
