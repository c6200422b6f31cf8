"""Tests of the fake Graph's calendars, events and Microsoft To Do (tests/servers/graph.py with
tests/servers/microsoft_calendar.py).

Graph is driven with plain requests and tokens the fake identity platform issued through MSAL,
as in test_microsoft_fake.py; every JSON body it served in a test is then parsed with the
msgraph-sdk models by that module's checker, so the fake cannot invent a property.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from kiota_abstractions.serialization import ParsableFactory
from msgraph.generated.models.calendar import Calendar
from msgraph.generated.models.calendar_collection_response import CalendarCollectionResponse
from msgraph.generated.models.event import Event
from msgraph.generated.models.event_collection_response import EventCollectionResponse
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.todo_task import TodoTask
from msgraph.generated.models.todo_task_collection_response import TodoTaskCollectionResponse
from msgraph.generated.models.todo_task_list import TodoTaskList
from msgraph.generated.models.todo_task_list_collection_response import (
    TodoTaskListCollectionResponse,
)

from tests.servers import conftest_fixtures
from tests.servers.microsoft import MicrosoftCloud
from tests.servers.test_microsoft_fake import Graph, _token, schema_problems

# The fixture, bound by name for pytest (an import would be shadowed by each test's argument).
microsoft = conftest_fixtures.microsoft

SCOPES = ["User.Read", "Calendars.ReadWrite", "Tasks.ReadWrite"]
NOT_FOUND = "ErrorItemNotFound"

# The msgraph-sdk model for each kind of body the calendar routes serve ("route" in the log).
MODELS: dict[str, ParsableFactory[Any]] = {
    "calendar": Calendar,
    "calendars": CalendarCollectionResponse,
    "event": Event,
    "events": EventCollectionResponse,
    "todoTask": TodoTask,
    "todoTasks": TodoTaskCollectionResponse,
    "todoTaskList": TodoTaskList,
    "todoTaskLists": TodoTaskListCollectionResponse,
    "error": ODataError,
}


class CalendarGraph(Graph):
    """Graph with PATCH and DELETE too."""

    def patch(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> requests.Response:
        return requests.patch(
            self.base + path, json=body, headers=self._headers(headers), timeout=10
        )

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.base + path, headers=self._headers(None), timeout=10)


@pytest.fixture
def checked(microsoft: MicrosoftCloud) -> Iterator[MicrosoftCloud]:
    """`microsoft`, and afterwards every JSON body its Graph served checked against the SDK."""
    yield microsoft
    problems, checked = [], 0
    for record in microsoft.tenant.graph_requests:
        if record.body is None or record.route == "batch":
            continue
        assert record.route in MODELS, f"{record.method} {record.path}: no model for {record.route}"
        checked += 1
        for problem in schema_problems(MODELS[record.route], record.body):
            problems.append(f"{record.method} {record.path} ({record.route}): {problem}")
    assert checked, "no JSON body was checked"
    assert not problems, "\n".join(problems)


def _graph(microsoft: MicrosoftCloud, scopes: list[str] = SCOPES) -> CalendarGraph:
    return CalendarGraph(microsoft, _token(microsoft, microsoft.alice, scopes))


def _event(subject: str = "Call Ada", **extra: Any) -> dict[str, Any]:
    return {
        "subject": subject,
        "body": {"contentType": "text", "content": "Agenda:\nPricing & terms"},
        "start": {"dateTime": "2026-03-10T09:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-03-10T09:30:00", "timeZone": "Europe/Berlin"},
        "location": {"displayName": "Phone"},
        "showAs": "busy",
        **extra,
    }


def _error(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    code: str = response.json()["error"]["code"]
    return code


# --- calendars --------------------------------------------------------------------------------


def test_calendars_default_first_and_added_ones(checked: MicrosoftCloud) -> None:
    microsoft = checked
    graph = _graph(microsoft)
    team = microsoft.tenant.add_calendar(microsoft.alice, "Team", color="lightBlue")

    listed = graph.get("/me/calendars").json()
    assert [(c["name"], c["isDefaultCalendar"]) for c in listed["value"]] == [
        ("Calendar", True),
        ("Team", False),
    ]
    default = listed["value"][0]
    assert (default["color"], default["hexColor"], default["canEdit"]) == ("auto", "", True)
    assert default["owner"] == {"name": "Alice Archer", "address": "alice@contoso.com"}
    assert graph.get("/me/calendar").json()["id"] == default["id"]
    assert graph.get(f"/me/calendars/{team}").json()["color"] == "lightBlue"
    assert graph.get(f"/users/{microsoft.alice.upn}/calendars('{team}')").json()["name"] == "Team"
    assert microsoft.tenant.calendars(microsoft.alice) == listed["value"]

    made = graph.post("/me/calendars", {"name": "Postcard"})
    assert made.status_code == 201
    assert made.json()["isDefaultCalendar"] is False
    assert _error(graph.post("/me/calendars", {"name": "postcard"}), 409) == "ErrorFolderExists"


# --- events -----------------------------------------------------------------------------------


def test_create_event_and_repeated_transaction_id(checked: MicrosoftCloud) -> None:
    microsoft = checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = _graph(microsoft)
    team = tenant.add_calendar(alice, "Team")

    created = graph.post(f"/me/calendars/{team}/events", _event(transactionId="pc-activity-1"))
    assert created.status_code == 201, created.text
    event = created.json()
    assert event["@odata.context"].endswith("/events/$entity")
    assert event["id"].startswith("AAMkAG")
    assert event["iCalUId"].startswith("040000008200E00074C5B7101A82E008")
    assert event["transactionId"] == "pc-activity-1"
    # Served in UTC (no Prefer header); the zone it was made in stays on the event.
    assert event["start"] == {"dateTime": "2026-03-10T08:00:00.0000000", "timeZone": "UTC"}
    assert event["end"] == {"dateTime": "2026-03-10T08:30:00.0000000", "timeZone": "UTC"}
    assert event["originalStartTimeZone"] == "Europe/Berlin"
    assert (event["isAllDay"], event["showAs"], event["location"]["displayName"]) == (
        False,
        "busy",
        "Phone",
    )
    # The body comes back as HTML unless asked otherwise; the preview is text.
    assert event["body"]["contentType"] == "html"
    assert "Pricing &amp; terms" in event["body"]["content"]
    assert event["bodyPreview"] == "Agenda: Pricing & terms"
    assert event["attendees"] == []

    # A retry with the same transactionId: the same event, 201, nothing changed or added.
    again = graph.post(
        f"/me/calendars/{team}/events", _event("Changed", transactionId="pc-activity-1")
    )
    assert again.status_code == 201
    assert (again.json()["id"], again.json()["subject"]) == (event["id"], "Call Ada")
    # ... wherever it is posted: transactionIds are the mailbox's.
    assert (
        graph.post("/me/events", _event(transactionId="pc-activity-1")).json()["id"] == event["id"]
    )
    assert [e["id"] for e in tenant.events(alice, team)] == [event["id"]]
    assert tenant.events(alice) == []

    other = graph.post("/me/events", _event("Other", transactionId="pc-activity-2")).json()
    assert other["id"] != event["id"]
    [in_default] = tenant.events(alice)
    assert (in_default["id"], in_default["subject"]) == (other["id"], "Other")
    assert in_default["body"] == {"contentType": "text", "content": "Agenda:\nPricing & terms"}
    # Without a transactionId nothing is de-duplicated, and none is served back.
    plain = graph.post("/me/calendar/events", _event()).json()
    assert "transactionId" not in plain
    assert len(tenant.events(alice)) == 2
    assert tenant.attendees_sent(alice) == []

    listed = graph.get(f"/me/calendars/{team}/events").json()
    assert [e["id"] for e in listed["value"]] == [event["id"]]
    assert graph.get(f"/me/calendars/{team}/events/{other['id']}").status_code == 404


def test_update_then_delete_then_404(checked: MicrosoftCloud) -> None:
    microsoft = checked
    graph = _graph(microsoft)
    event = graph.post("/me/events", _event(transactionId="pc-1")).json()

    changed = graph.patch(
        f"/me/events/{event['id']}",
        {
            "subject": "Call Ada (moved)",
            "start": {"dateTime": "2026-03-11T14:00:00", "timeZone": "W. Europe Standard Time"},
            "end": {"dateTime": "2026-03-11T15:00:00", "timeZone": "W. Europe Standard Time"},
            "showAs": "tentative",
        },
    )
    assert changed.status_code == 200, changed.text
    updated = changed.json()
    assert (updated["id"], updated["subject"], updated["showAs"]) == (
        event["id"],
        "Call Ada (moved)",
        "tentative",
    )
    assert updated["changeKey"] != event["changeKey"]
    assert updated["start"]["dateTime"] == "2026-03-11T13:00:00.0000000"
    assert updated["location"]["displayName"] == "Phone"  # not sent, so kept

    # Prefer: outlook.timezone and outlook.body-content-type (api/event-get).
    prefer = {
        "Prefer": 'outlook.timezone="Pacific Standard Time", outlook.body-content-type="text"'
    }
    fetched = graph.get(f"/me/events/{event['id']}", prefer)
    assert fetched.headers["Preference-Applied"] == (
        'outlook.timezone="Pacific Standard Time", outlook.body-content-type="text"'
    )
    assert fetched.json()["start"] == {
        "dateTime": "2026-03-11T06:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }
    assert fetched.json()["body"] == {"contentType": "text", "content": "Agenda:\nPricing & terms"}
    selected = graph.get(f"/me/events/{event['id']}?$select=subject,start").json()
    assert set(selected) == {"@odata.context", "@odata.etag", "id", "subject", "start"}

    moved = graph.patch(f"/me/events/{event['id']}", {"transactionId": "pc-2"})
    assert _error(moved, 400) == "ErrorInvalidRequest"
    assert graph.patch(f"/me/events/{event['id']}", {"transactionId": "pc-1"}).status_code == 200

    deleted = graph.delete(f"/me/events/{event['id']}")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert _error(graph.get(f"/me/events/{event['id']}"), 404) == NOT_FOUND
    assert _error(graph.patch(f"/me/events/{event['id']}", {"subject": "x"}), 404) == NOT_FOUND
    assert _error(graph.delete(f"/me/events/{event['id']}"), 404) == NOT_FOUND


def test_event_deleted_in_outlook(checked: MicrosoftCloud) -> None:
    microsoft = checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = _graph(microsoft)
    event = graph.post("/me/events", _event(transactionId="pc-7")).json()

    tenant.delete_event_as_user(alice, event["id"])

    assert tenant.events(alice) == []
    assert _error(graph.get(f"/me/events/{event['id']}"), 404) == NOT_FOUND
    assert _error(graph.patch(f"/me/events/{event['id']}", {"subject": "x"}), 404) == NOT_FOUND
    # The deleted event no longer holds its transactionId: posting again makes a new one.
    again = graph.post("/me/events", _event(transactionId="pc-7")).json()
    assert again["id"] != event["id"]


def test_deleted_calendar_answers_404_for_everything_in_it(checked: MicrosoftCloud) -> None:
    microsoft = checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = _graph(microsoft)
    team = tenant.add_calendar(alice, "Team")
    event = graph.post(f"/me/calendars/{team}/events", _event()).json()

    tenant.delete_calendar(alice, team)

    assert _error(graph.get(f"/me/calendars/{team}"), 404) == NOT_FOUND
    assert _error(graph.post(f"/me/calendars/{team}/events", _event()), 404) == NOT_FOUND
    assert _error(graph.get(f"/me/calendars/{team}/events"), 404) == NOT_FOUND
    assert _error(graph.get(f"/me/events/{event['id']}"), 404) == NOT_FOUND
    assert [c["name"] for c in graph.get("/me/calendars").json()["value"]] == ["Calendar"]
    with pytest.raises(ValueError, match="default calendar"):
        tenant.delete_calendar(alice, tenant.calendars(alice)[0]["id"])


def test_all_day_events_run_midnight_to_midnight(checked: MicrosoftCloud) -> None:
    microsoft = checked
    graph = _graph(microsoft)

    def all_day(start: str, end: str, start_zone: str = "Europe/Berlin", **extra: Any) -> Any:
        return _event(
            isAllDay=True,
            start={"dateTime": start, "timeZone": start_zone},
            end={"dateTime": end, "timeZone": "Europe/Berlin"},
            **extra,
        )

    made = graph.post("/me/events", all_day("2026-03-10T00:00:00", "2026-03-12T00:00:00"))
    assert made.status_code == 201, made.text
    # Served at midnight of its dates whatever the zone asked for: the dates are the event.
    assert made.json()["start"] == {"dateTime": "2026-03-10T00:00:00.0000000", "timeZone": "UTC"}
    assert made.json()["end"]["dateTime"] == "2026-03-12T00:00:00.0000000"
    pacific = graph.get(
        f"/me/events/{made.json()['id']}", {"Prefer": 'outlook.timezone="America/Los_Angeles"'}
    ).json()
    assert pacific["start"] == {
        "dateTime": "2026-03-10T00:00:00.0000000",
        "timeZone": "America/Los_Angeles",
    }
    date_only = graph.post("/me/events", all_day("2026-04-01", "2026-04-02"))
    assert date_only.status_code == 201, date_only.text

    for bad in (
        all_day("2026-03-10T09:00:00", "2026-03-11T00:00:00"),  # not midnight
        all_day("2026-03-10T00:00:00", "2026-03-10T00:00:00"),  # no whole day
        all_day("2026-03-10T00:00:00", "2026-03-11T00:00:00", start_zone="UTC"),  # two zones
    ):
        assert _error(graph.post("/me/events", bad), 400) == "ErrorInvalidRequest"
    # A timed event turned all-day by PATCH must meet the same rule.
    timed = graph.post("/me/events", _event()).json()
    assert _error(graph.patch(f"/me/events/{timed['id']}", {"isAllDay": True}), 400) == (
        "ErrorInvalidRequest"
    )


def test_time_zone_names_and_date_time_format(checked: MicrosoftCloud) -> None:
    microsoft = checked
    graph = _graph(microsoft)

    def at(date_time: str, zone: str) -> dict[str, Any]:
        return _event(
            start={"dateTime": date_time, "timeZone": zone},
            end={"dateTime": "2026-07-01T23:00:00", "timeZone": "UTC"},
        )

    accepted = {
        ("2026-07-01T09:00:00", "Eastern Standard Time"): "2026-07-01T13:00:00.0000000",
        ("2026-07-01T09:00:00.1234567", "Asia/Kolkata"): "2026-07-01T03:30:00.1234560",
        ("2026-07-01T09:00", "india standard time"): "2026-07-01T03:30:00.0000000",
        ("2026-07-01T09:00:00", "Asia/Toshkent"): "2026-07-01T04:00:00.0000000",
    }
    for (date_time, zone), utc in accepted.items():
        made = graph.post("/me/events", at(date_time, zone))
        assert made.status_code == 201, made.text
        assert made.json()["start"]["dateTime"] == utc
        assert made.json()["originalStartTimeZone"] == zone

    for zone in ("Mars/Olympus_Mons", "CET+1", ""):
        assert _error(graph.post("/me/events", at("2026-07-01T09:00:00", zone)), 400) == (
            "TimeZoneNotSupportedException"
        )
    for date_time in ("2026-07-01T09:00:00Z", "2026-07-01T09:00:00+02:00", "1 July 2026"):
        assert _error(graph.post("/me/events", at(date_time, "UTC")), 400) == "ErrorInvalidRequest"
    bad_prefer = graph.get("/me/calendar/events", {"Prefer": 'outlook.timezone="Nowhere"'})
    assert _error(bad_prefer, 400) == "TimeZoneNotSupportedException"


def test_attendees_are_recorded_and_unknown_input_refused(checked: MicrosoftCloud) -> None:
    microsoft = checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = _graph(microsoft)
    guest = {"emailAddress": {"address": "ada@example.com", "name": "Ada"}, "type": "required"}

    made = graph.post("/me/events", _event(attendees=[guest])).json()

    assert made["attendees"][0]["emailAddress"]["address"] == "ada@example.com"
    assert [a["emailAddress"]["address"] for a in tenant.attendees_sent(alice)] == [
        "ada@example.com"
    ]
    assert tenant.events(alice)[0]["attendees"] != []

    assert _error(graph.post("/me/events", _event(subjet="typo")), 400) == "RequestBodyRead"
    assert _error(graph.post("/me/events", _event(showAs="away")), 400) == "RequestBodyRead"
    weekly = {"pattern": {"type": "weekly"}, "range": {"type": "noEnd"}}
    assert _error(graph.post("/me/events", _event(recurrence=weekly)), 501) == "NotImplemented"
    no_end = {k: v for k, v in _event().items() if k != "end"}
    assert _error(graph.post("/me/events", no_end), 400) == "ErrorInvalidRequest"
    empty = requests.post(
        f"{graph.base}/me/events", headers=graph._headers(None), data=b"", timeout=10
    )
    assert _error(empty, 400) == "BadRequest"


# --- To Do ------------------------------------------------------------------------------------


def test_todo_create_complete_delete(checked: MicrosoftCloud) -> None:
    microsoft = checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = _graph(microsoft)

    lists = graph.get("/me/todo/lists").json()["value"]
    assert [(t["displayName"], t["wellknownListName"]) for t in lists] == [("Tasks", "defaultList")]
    list_id = lists[0]["id"]
    assert tenant.todo_lists(alice) == lists
    tasks_path = f"/me/todo/lists/{list_id}/tasks"

    created = graph.post(
        tasks_path,
        {
            "title": "Send the contract to Ada",
            "body": {"contentType": "text", "content": "Version 3"},
            # To Do keeps the date: due at midnight 10 March in Berlin, served as that instant.
            "dueDateTime": {"dateTime": "2026-03-10T17:45:00", "timeZone": "Europe/Berlin"},
        },
    )
    assert created.status_code == 201, created.text
    task = created.json()
    assert (task["status"], task["title"]) == ("notStarted", "Send the contract to Ada")
    assert task["dueDateTime"] == {"dateTime": "2026-03-09T23:00:00.0000000", "timeZone": "UTC"}
    assert "completedDateTime" not in task
    in_berlin = graph.get(
        f"{tasks_path}/{task['id']}", {"Prefer": 'outlook.timezone="Europe/Berlin"'}
    ).json()
    assert in_berlin["dueDateTime"] == {
        "dateTime": "2026-03-10T00:00:00.0000000",
        "timeZone": "Europe/Berlin",
    }
    utc_due = graph.patch(
        f"{tasks_path}/{task['id']}",
        {"dueDateTime": {"dateTime": "2026-03-12T00:00:00", "timeZone": "UTC"}},
    ).json()
    assert utc_due["dueDateTime"]["dateTime"] == "2026-03-12T00:00:00.0000000"

    done = graph.patch(f"{tasks_path}/{task['id']}", {"status": "completed"}).json()
    assert done["status"] == "completed"
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert done["completedDateTime"] == {
        "dateTime": f"{today}T00:00:00.0000000",
        "timeZone": "UTC",
    }
    [listed] = tenant.todo_tasks(alice, list_id)
    assert listed["status"] == "completed"
    assert tenant.todo_tasks(alice) == [listed]
    reopened = graph.patch(f"{tasks_path}/{task['id']}", {"status": "notStarted"}).json()
    assert "completedDateTime" not in reopened
    assert [t["id"] for t in graph.get(tasks_path).json()["value"]] == [task["id"]]

    assert graph.delete(f"{tasks_path}/{task['id']}").status_code == 204
    assert _error(graph.get(f"{tasks_path}/{task['id']}"), 404) == NOT_FOUND
    assert tenant.todo_tasks(alice, list_id) == []

    # Deleted in To Do by the user.
    other = graph.post(tasks_path, {"title": "Call back"}).json()
    tenant.delete_todo_task_as_user(alice, other["id"])
    assert _error(graph.patch(f"{tasks_path}/{other['id']}", {"title": "x"}), 404) == NOT_FOUND

    made = graph.post("/me/todo/lists", {"displayName": "Postcard"})
    assert made.status_code == 201
    assert made.json()["wellknownListName"] == "none"
    assert len(tenant.todo_lists(alice)) == 2
    assert _error(graph.post(tasks_path, {"titel": "typo"}), 400) == "RequestBodyRead"
    assert _error(graph.post(tasks_path, {"status": "done"}), 400) == "RequestBodyRead"


# --- scopes, throttling, batching --------------------------------------------------------------


def test_missing_scope_is_403(checked: MicrosoftCloud) -> None:
    microsoft = checked
    mail_only = _graph(microsoft, ["User.Read", "Mail.Read"])
    denied = mail_only.get("/me/calendars")
    assert _error(denied, 403) == "ErrorAccessDenied"
    assert denied.json()["error"]["message"] == "Access is denied. Check credentials and try again."
    assert "innerError" in denied.json()["error"]
    assert _error(mail_only.get("/me/todo/lists"), 403) == "ErrorAccessDenied"

    read_only = _graph(microsoft, ["User.Read", "Calendars.Read", "Tasks.Read"])
    assert read_only.get("/me/calendars").status_code == 200
    assert _error(read_only.post("/me/events", _event()), 403) == "ErrorAccessDenied"
    tasks_path = f"/me/todo/lists/{microsoft.tenant.todo_lists(microsoft.alice)[0]['id']}/tasks"
    assert read_only.get(tasks_path).status_code == 200
    assert _error(read_only.post(tasks_path, {"title": "x"}), 403) == "ErrorAccessDenied"

    calendars_only = _graph(microsoft, ["User.Read", "Calendars.ReadWrite"])
    assert _error(calendars_only.get("/me/todo/lists"), 403) == "ErrorAccessDenied"
    # Bob's calendar: not without a .Shared scope and his delegation.
    assert _error(calendars_only.get("/users/bob@contoso.com/calendars"), 403) == (
        "ErrorAccessDenied"
    )


def test_throttling_and_batching_reach_calendar_routes(checked: MicrosoftCloud) -> None:
    microsoft = checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = _graph(microsoft)
    tenant.throttle(alice, 1, retry_after="3")

    throttled = graph.post("/me/events", _event(transactionId="pc-9"))
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "3"
    assert tenant.events(alice) == []

    parts = [
        {
            "id": "1",
            "method": "POST",
            "url": "/me/events",
            "headers": {"Content-Type": "application/json"},
            "body": _event(transactionId="pc-9"),
        },
        {
            "id": "2",
            "method": "POST",
            "url": "/me/events",
            "headers": {"Content-Type": "application/json"},
            "body": _event(transactionId="pc-9"),
            "dependsOn": ["1"],
        },
        {"id": "3", "method": "GET", "url": "/me/todo/lists"},
    ]
    answers = {r["id"]: r for r in graph.post("/$batch", {"requests": parts}).json()["responses"]}
    assert {k: a["status"] for k, a in answers.items()} == {"1": 201, "2": 201, "3": 200}
    assert answers["1"]["body"]["id"] == answers["2"]["body"]["id"]
    assert len(tenant.events(alice)) == 1


# --- the schema check ---------------------------------------------------------------------------


def test_schema_check_catches_invented_keys(checked: MicrosoftCloud) -> None:
    microsoft = checked
    graph = _graph(microsoft)
    event = graph.post("/me/events", _event(transactionId="pc-schema")).json()
    list_id = microsoft.tenant.todo_lists(microsoft.alice)[0]["id"]
    task = graph.post(f"/me/todo/lists/{list_id}/tasks", {"title": "Check"}).json()

    assert schema_problems(Event, json.dumps(event).encode()) == []
    assert schema_problems(TodoTask, json.dumps(task).encode()) == []
    invented = dict(event, attendeeCount=0)
    assert schema_problems(Event, json.dumps(invented).encode()) == ["$.attendeeCount"]
    nested = dict(event, start=dict(event["start"], zone="UTC"))
    assert schema_problems(Event, json.dumps(nested).encode()) == ["$.start.zone"]
    assert schema_problems(TodoTask, json.dumps(dict(task, dueDate="x")).encode()) == ["$.dueDate"]
    assert schema_problems(TodoTask, json.dumps(dict(task, status="finished")).encode()) == [
        "$.status"
    ]
