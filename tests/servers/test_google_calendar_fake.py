"""Tests of the fake Google Calendar and Google Tasks APIs (tests/servers/google_calendar.py).

Everything goes through google-api-python-client built from its packaged discovery documents,
aimed at the fake with `client_options={"api_endpoint": ...}`, with credentials from the fake's
own sign-in (google-auth-oauthlib's Flow, PKCE, the sign-in page submitted as a browser would).
Every JSON body served in a test is afterwards checked against calendar.v3.json or tasks.v1.json
by the schema checker of test_google_fake.py (`checked`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from tests.servers import conftest_fixtures
from tests.servers.gmail_state import ServedBody
from tests.servers.google import GoogleCloud, point_postcard_at
from tests.servers.google_calendar import SERVED
from tests.servers.google_calendar_state import api_document
from tests.servers.google_identity import form_fields
from tests.servers.test_google_fake import ERROR_SCHEMA, schema_problems, served_problems

# The fixture, bound by name for pytest (an import would be shadowed by each test's argument).
google = conftest_fixtures.google

AUTH = "https://www.googleapis.com/auth/"
CALENDAR_EVENTS = f"{AUTH}calendar.events"
CALENDAR_READONLY = f"{AUTH}calendar.readonly"
CALENDAR = f"{AUTH}calendar"
TASKS = f"{AUTH}tasks"
GMAIL_READONLY = f"{AUTH}gmail.readonly"
ALICE = "alice@acme.test"
BOB = "bob@gmail.com"
MEETING = {
    "summary": "Kick-off with Acme",
    "description": "Agenda: pricing",
    "location": "Room 4",
    "start": {"dateTime": "2026-03-02T10:00:00+01:00", "timeZone": "Europe/Berlin"},
    "end": {"dateTime": "2026-03-02T11:00:00+01:00", "timeZone": "Europe/Berlin"},
}


@pytest.fixture
def checked(google: GoogleCloud) -> Iterator[GoogleCloud]:
    """`google`, and afterwards every JSON body its Calendar and Tasks served checked against
    the discovery documents."""
    yield google
    with google.accounts.lock:
        served = [r for r in google.accounts.served if not r.method_id.startswith("gmail.")]
    assert served, "no Calendar or Tasks body was served"
    problems = [
        f"{record.method_id} ({record.status}): {problem}"
        for record in served
        for problem in served_problems(record)
    ]
    assert not problems, "\n".join(problems)


def _sign_in(google: GoogleCloud, scopes: list[str], address: str = ALICE) -> Credentials:
    flow = Flow.from_client_config(
        google.client_config(), scopes=scopes, redirect_uri=google.redirect_uri
    )
    url, _ = flow.authorization_url(access_type="offline", login_hint=address)
    page = requests.get(url, timeout=10)
    assert page.status_code == 200, page.text
    fields = {**form_fields(page.text), "password": "secret", "action": "allow"}
    answer = requests.post(google.auth_uri, data=fields, allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    flow.fetch_token(code=code)
    credentials: Credentials = flow.credentials
    return credentials


def _apis(
    google: GoogleCloud, scopes: list[str] | None = None, address: str = ALICE
) -> tuple[Any, Any]:
    credentials = _sign_in(google, scopes or [CALENDAR_EVENTS, TASKS], address)
    calendar = build(
        "calendar",
        "v3",
        credentials=credentials,
        client_options={"api_endpoint": google.calendar_url},
        cache_discovery=False,
    )
    tasks = build(
        "tasks",
        "v1",
        credentials=credentials,
        client_options={"api_endpoint": google.tasks_url},
        cache_discovery=False,
    )
    return calendar, tasks


def _error(raised: pytest.ExceptionInfo[HttpError]) -> tuple[int, str, str]:
    body = json.loads(raised.value.content)["error"]
    return raised.value.status_code, body["errors"][0]["reason"], body["message"]


def _if_match(request: Any, etag: str) -> Any:
    request.headers["If-Match"] = etag
    return request


# --- calendars -------------------------------------------------------------------------------


def test_calendar_list_and_the_primary_calendar(checked: GoogleCloud) -> None:
    google = checked
    work = google.accounts.add_calendar(ALICE, "Postcard", color="#7bd148")
    calendar, _ = _apis(google, [CALENDAR_READONLY])
    entries = calendar.calendarList().list().execute()["items"]
    assert [(e["id"], e.get("primary", False)) for e in entries] == [(ALICE, True), (work, False)]
    assert {e["accessRole"] for e in entries} == {"owner"}
    assert entries[1]["summary"] == "Postcard"
    assert entries[1]["backgroundColor"] == "#7bd148"
    assert work.endswith("@group.calendar.google.com")
    # "primary" is an alias of the user's address.
    assert calendar.calendars().get(calendarId="primary").execute()["id"] == ALICE
    assert calendar.calendars().get(calendarId=work).execute()["dataOwner"] == ALICE
    assert google.accounts.calendars(ALICE) == entries


def test_deleted_calendar_answers_404_for_everything_in_it(checked: GoogleCloud) -> None:
    google = checked
    work = google.accounts.add_calendar(ALICE, "Postcard")
    calendar, _ = _apis(google, [CALENDAR])
    events = calendar.events()
    events.insert(calendarId=work, body={**MEETING, "id": "pc0meeting1"}).execute()
    google.accounts.delete_calendar(ALICE, work)

    for request in (
        calendar.calendars().get(calendarId=work),
        events.get(calendarId=work, eventId="pc0meeting1"),
        events.insert(calendarId=work, body={**MEETING, "id": "pc0meeting2"}),
        events.patch(calendarId=work, eventId="pc0meeting1", body={"summary": "x"}),
        events.delete(calendarId=work, eventId="pc0meeting1"),
    ):
        with pytest.raises(HttpError) as gone:
            request.execute()
        assert _error(gone) == (404, "notFound", "Not Found")
    assert [e["id"] for e in calendar.calendarList().list().execute()["items"]] == [ALICE]
    shown = calendar.calendarList().list(showDeleted=True).execute()["items"]
    assert [(e["id"], e.get("deleted", False)) for e in shown] == [(ALICE, False), (work, True)]
    with pytest.raises(ValueError, match="primary"):
        google.accounts.delete_calendar(ALICE, "primary")
    # Someone else's calendar is not found either.
    with pytest.raises(HttpError) as foreign:
        calendar.calendars().get(calendarId=BOB).execute()
    assert foreign.value.status_code == 404


# --- events ----------------------------------------------------------------------------------


def test_insert_with_a_chosen_id_then_the_id_is_taken(checked: GoogleCloud) -> None:
    google = checked
    calendar, _ = _apis(google)
    events = calendar.events()
    event = events.insert(calendarId="primary", body={**MEETING, "id": "pc0meeting42"}).execute()
    assert event["id"] == "pc0meeting42"
    assert event["iCalUID"] == "pc0meeting42@google.com"
    assert event["status"] == "confirmed"
    assert event["sequence"] == 0
    assert event["etag"].startswith('"')
    assert (event["summary"], event["location"]) == ("Kick-off with Acme", "Room 4")
    assert event["start"] == MEETING["start"]
    assert event["organizer"] == {"email": ALICE, "self": True}
    assert google.accounts.calendar_events(ALICE, ALICE) == [event]

    with pytest.raises(HttpError) as taken:
        events.insert(calendarId=ALICE, body={**MEETING, "id": "pc0meeting42"}).execute()
    assert _error(taken) == (409, "duplicate", "The requested identifier already exists.")
    assert len(google.accounts.calendar_events(ALICE, "primary")) == 1

    # Without an id the server chooses one (base32hex as well).
    other = events.insert(calendarId="primary", body=MEETING).execute()
    assert len(other["id"]) == 26
    assert set(other["id"]) <= set("0123456789abcdefghijklmnopqrstuv")


@pytest.mark.parametrize(
    "bad_id",
    ["Pc0meeting1", "pc0-meeting", "pc0meetingw", "abcd", "a" * 1025, "pc0_meeting"],
)
def test_ids_outside_base32hex_or_5_to_1024_characters_answer_400(
    checked: GoogleCloud, bad_id: str
) -> None:
    calendar, _ = _apis(checked, [CALENDAR_EVENTS])
    with pytest.raises(HttpError) as refused:
        calendar.events().insert(calendarId="primary", body={**MEETING, "id": bad_id}).execute()
    assert _error(refused) == (400, "invalid", "Invalid resource id value.")
    assert checked.accounts.calendar_events(ALICE, "primary") == []


def test_all_day_events_and_time_checks(checked: GoogleCloud) -> None:
    calendar, _ = _apis(checked)
    events = calendar.events()
    # An all-day event: "date" on both ends, the end exclusive.
    day = {"summary": "Trade fair", "start": {"date": "2026-03-02"}, "end": {"date": "2026-03-03"}}
    event = events.insert(calendarId="primary", body={**day, "id": "pc0fair1"}).execute()
    assert (event["start"], event["end"]) == (day["start"], day["end"])

    def refused(body: dict[str, Any]) -> tuple[int, str, str]:
        with pytest.raises(HttpError) as raised:
            events.insert(calendarId="primary", body=body).execute()
        return _error(raised)

    assert refused({"summary": "x", "start": day["start"]}) == (
        400,
        "required",
        "Missing end time.",
    )
    same_day = {**day, "end": {"date": "2026-03-02"}}
    assert refused(same_day) == (400, "timeRangeEmpty", "The specified time range is empty.")
    no_zone = {
        "start": {"dateTime": "2026-03-02T10:00:00"},
        "end": {"dateTime": "2026-03-02T11:00:00"},
    }
    assert refused(no_zone)[2] == "Missing time zone definition for start time."
    # A local time in its timeZone comes back with the offset (RFC 3339).
    zoned = {k: {**v, "timeZone": "Europe/Berlin"} for k, v in no_zone.items()}
    assert events.insert(calendarId="primary", body=zoned).execute()["start"] == {
        "dateTime": "2026-03-02T10:00:00+01:00",
        "timeZone": "Europe/Berlin",
    }
    assert refused({**MEETING, "colour": "red"})[:2] == (400, "invalid")


def test_update_and_patch_with_a_stale_etag_answer_412(checked: GoogleCloud) -> None:
    google = checked
    calendar, _ = _apis(google)
    events = calendar.events()
    first = events.insert(calendarId="primary", body={**MEETING, "id": "pc0meeting7"}).execute()
    moved = {
        **MEETING,
        "start": {"dateTime": "2026-03-02T14:00:00+01:00"},
        "end": {"dateTime": "2026-03-02T15:00:00+01:00"},
    }
    second = _if_match(
        events.update(calendarId="primary", eventId="pc0meeting7", body=moved), first["etag"]
    ).execute()
    assert second["etag"] != first["etag"]
    assert second["sequence"] == 1  # the time changed
    assert "timeZone" not in second["start"]  # update replaces everything

    for stale in (
        events.update(calendarId="primary", eventId="pc0meeting7", body=MEETING),
        events.patch(calendarId="primary", eventId="pc0meeting7", body={"summary": "x"}),
        events.delete(calendarId="primary", eventId="pc0meeting7"),
    ):
        with pytest.raises(HttpError) as refused:
            _if_match(stale, first["etag"]).execute()
        assert _error(refused) == (412, "conditionNotMet", "Precondition Failed")

    # The user edits the event in Google Calendar: our etag is stale from then on.
    google.accounts.edit_event_as_user(ALICE, "primary", "pc0meeting7", {"location": "Room 9"})
    patch = events.patch(calendarId="primary", eventId="pc0meeting7", body={"summary": "New"})
    with pytest.raises(HttpError) as edited:
        _if_match(patch, second["etag"]).execute()
    assert edited.value.status_code == 412
    current = events.get(calendarId="primary", eventId="pc0meeting7").execute()
    patched = _if_match(patch, current["etag"]).execute()
    assert (patched["summary"], patched["location"]) == ("New", "Room 9")  # patch keeps the rest
    assert patched["sequence"] == 1
    # Without If-Match the write simply wins.
    events.patch(calendarId="primary", eventId="pc0meeting7", body={"location": None}).execute()
    assert "location" not in google.accounts.calendar_event(ALICE, "primary", "pc0meeting7")


def test_delete_then_410_and_the_id_stays_taken(checked: GoogleCloud) -> None:
    google = checked
    calendar, _ = _apis(google)
    events = calendar.events()
    events.insert(calendarId="primary", body={**MEETING, "id": "pc0meeting9"}).execute()
    assert events.delete(calendarId="primary", eventId="pc0meeting9").execute() == ""
    assert google.accounts.calendar_events(ALICE, "primary") == []
    # events.get still answers, with status "cancelled".
    gone = events.get(calendarId="primary", eventId="pc0meeting9").execute()
    assert (gone["status"], gone["summary"]) == ("cancelled", "Kick-off with Acme")

    with pytest.raises(HttpError) as again:
        events.delete(calendarId="primary", eventId="pc0meeting9").execute()
    assert _error(again) == (410, "deleted", "Resource has been deleted")
    with pytest.raises(HttpError) as reused:
        events.insert(calendarId="primary", body={**MEETING, "id": "pc0meeting9"}).execute()
    assert reused.value.status_code == 409
    with pytest.raises(HttpError) as unknown:
        events.delete(calendarId="primary", eventId="pc0nothing").execute()
    assert _error(unknown) == (404, "notFound", "Not Found")

    # The way back for a deleted id: update the cancelled event (status defaults to confirmed).
    back = events.update(calendarId="primary", eventId="pc0meeting9", body=MEETING).execute()
    assert back["status"] == "confirmed"
    assert [e["id"] for e in google.accounts.calendar_events(ALICE, "primary")] == ["pc0meeting9"]


def test_the_user_deletes_an_event_in_google_calendar(checked: GoogleCloud) -> None:
    google = checked
    calendar, _ = _apis(google)
    events = calendar.events()
    events.insert(calendarId="primary", body={**MEETING, "id": "pc0meeting5"}).execute()
    google.accounts.delete_event_as_user(ALICE, ALICE, "pc0meeting5")
    assert events.get(calendarId="primary", eventId="pc0meeting5").execute()["status"] == (
        "cancelled"
    )
    assert google.accounts.calendar_events(ALICE, "primary") == []
    assert google.accounts.calendar_event(ALICE, "primary", "pc0meeting5")["status"] == "cancelled"
    # A patch leaves it cancelled.
    patched = events.patch(
        calendarId="primary", eventId="pc0meeting5", body={"summary": "Moved"}
    ).execute()
    assert patched["status"] == "cancelled"
    with pytest.raises(HttpError) as deleted:
        events.delete(calendarId="primary", eventId="pc0meeting5").execute()
    assert deleted.value.status_code == 410


# --- tasks -----------------------------------------------------------------------------------


def test_tasks_insert_complete_reopen_and_delete(checked: GoogleCloud) -> None:
    google = checked
    _, tasks_api = _apis(google, [TASKS])
    lists = tasks_api.tasklists().list().execute()["items"]
    assert [t["title"] for t in lists] == ["My Tasks"]
    my_tasks = lists[0]["id"]
    assert tasks_api.tasklists().get(tasklist="@default").execute()["id"] == my_tasks
    tasks = tasks_api.tasks()

    # Only the date of "due" is kept; it comes back at midnight UTC.
    body = {"title": "Call Acme", "notes": "About the offer", "due": "2026-03-02T15:30:00+01:00"}
    task = tasks.insert(tasklist=my_tasks, body=body).execute()
    assert (task["title"], task["notes"], task["status"]) == (
        "Call Acme",
        "About the offer",
        "needsAction",
    )
    assert task["due"] == "2026-03-02T00:00:00.000Z"
    assert "completed" not in task
    second = tasks.insert(tasklist="@default", body={"title": "Send offer"}).execute()
    listed = google.accounts.tasks(ALICE, my_tasks)
    assert [t["title"] for t in listed] == ["Send offer", "Call Acme"]  # new tasks go first
    assert "due" not in second

    done = tasks.patch(tasklist=my_tasks, task=task["id"], body={"status": "completed"}).execute()
    assert done["status"] == "completed"
    assert done["completed"].endswith("Z")
    assert done["title"] == "Call Acme"  # patch keeps the rest
    reopened = tasks.update(
        tasklist=my_tasks, task=task["id"], body={**done, "status": "needsAction"}
    ).execute()
    assert reopened["status"] == "needsAction"
    assert "completed" not in reopened
    assert reopened["due"] == "2026-03-02T00:00:00.000Z"

    assert tasks.delete(tasklist=my_tasks, task=task["id"]).execute() == ""
    assert tasks.get(tasklist=my_tasks, task=task["id"]).execute()["deleted"] is True
    assert [t["id"] for t in google.accounts.tasks(ALICE, my_tasks)] == [second["id"]]

    google.accounts.delete_task_as_user(ALICE, my_tasks, second["id"])
    assert tasks.get(tasklist=my_tasks, task=second["id"]).execute()["deleted"] is True
    assert google.accounts.tasks(ALICE, "@default") == []
    with pytest.raises(HttpError) as unknown:
        tasks.get(tasklist=my_tasks, task="bm9zdWNodGFzaw").execute()
    assert _error(unknown) == (404, "notFound", "Requested entity was not found.")
    with pytest.raises(HttpError) as no_list:
        tasks.insert(tasklist="bm9zdWNobGlzdA", body={"title": "x"}).execute()
    assert no_list.value.status_code == 404
    with pytest.raises(HttpError) as bad:
        tasks.insert(tasklist=my_tasks, body={"title": "x", "due": "next week"}).execute()
    assert bad.value.status_code == 400


def test_task_lists_made_by_the_user(checked: GoogleCloud) -> None:
    google = checked
    crm = google.accounts.add_task_list(ALICE, "CRM")
    _, tasks_api = _apis(google, [f"{AUTH}tasks.readonly"])
    items = tasks_api.tasklists().list().execute()["items"]
    assert [(t["id"], t["title"]) for t in items][1:] == [(crm, "CRM")]
    assert google.accounts.task_lists(ALICE) == items
    with pytest.raises(HttpError) as read_only:
        tasks_api.tasks().insert(tasklist=crm, body={"title": "x"}).execute()
    assert read_only.value.status_code == 403


# --- scopes and tokens -----------------------------------------------------------------------


def test_scopes_are_checked_per_method(checked: GoogleCloud) -> None:
    google = checked
    calendar, tasks_api = _apis(google, [GMAIL_READONLY])
    for request in (
        calendar.calendarList().list(),
        calendar.events().insert(calendarId="primary", body=MEETING),
        tasks_api.tasklists().list(),
    ):
        with pytest.raises(HttpError) as refused:
            request.execute()
        assert _error(refused) == (
            403,
            "insufficientPermissions",
            "Request had insufficient authentication scopes.",
        )

    # calendar.events reaches events, not the calendar list (calendarList.list's scopes).
    events_only, _ = _apis(google, [CALENDAR_EVENTS])
    events_only.events().insert(calendarId="primary", body=MEETING).execute()
    with pytest.raises(HttpError) as no_list:
        events_only.calendarList().list().execute()
    assert no_list.value.status_code == 403
    read_only, _ = _apis(google, [CALENDAR_READONLY])
    with pytest.raises(HttpError) as no_write:
        read_only.events().insert(calendarId="primary", body=MEETING).execute()
    assert no_write.value.status_code == 403

    url = google.calendar_url + "users/me/calendarList"
    assert requests.get(url, timeout=10).status_code == 401
    google.accounts.revoke_grants(ALICE)
    stale = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert stale.status_code == 401
    assert stale.json()["error"]["errors"][0]["reason"] == "authError"


def test_throttle_and_calls(checked: GoogleCloud) -> None:
    google = checked
    calendar, _ = _apis(google)
    google.accounts.throttle_calendar(ALICE, 1)
    with pytest.raises(HttpError) as refused:
        calendar.events().insert(calendarId="primary", body=MEETING).execute()
    assert _error(refused) == (403, "rateLimitExceeded", "Rate Limit Exceeded")
    calendar.events().insert(calendarId="primary", body=MEETING).execute()
    assert google.accounts.calendar_calls(ALICE) == ["calendar.events.insert"] * 2
    with pytest.raises(HttpError) as missing:
        calendar.events().list(calendarId="primary").execute()
    assert missing.value.status_code == 501  # not faked: says so instead of guessing


def test_point_postcard_at_sets_the_api_urls(google: GoogleCloud) -> None:
    settings = SimpleNamespace()
    point_postcard_at(google, settings, "http://testserver/callback/")
    assert google.calendar_url == settings.GOOGLE_CALENDAR_URL
    assert settings.GOOGLE_CALENDAR_URL.endswith("/calendar/v3/")
    assert google.tasks_url == settings.GOOGLE_TASKS_URL
    assert google.gmail_url == settings.GOOGLE_GMAIL_URL


# --- the schema check ------------------------------------------------------------------------


def test_every_served_method_fits_the_documents(checked: GoogleCloud) -> None:
    """One call of every faked method plus errors, all checked by `checked`."""
    google = checked
    calendar, tasks_api = _apis(google, [CALENDAR, TASKS])
    events = calendar.events()
    calendar.calendarList().list().execute()
    calendar.calendars().get(calendarId="primary").execute()
    event = events.insert(calendarId="primary", body={**MEETING, "id": "pc0schema1"}).execute()
    events.get(calendarId="primary", eventId=event["id"], fields="id,status,start").execute()
    events.update(calendarId="primary", eventId=event["id"], body=event).execute()
    events.patch(calendarId="primary", eventId=event["id"], body={"summary": "x"}).execute()
    events.delete(calendarId="primary", eventId=event["id"]).execute()
    with pytest.raises(HttpError):
        events.delete(calendarId="primary", eventId=event["id"]).execute()
    tasks_api.tasklists().list().execute()
    tasks_api.tasklists().get(tasklist="@default").execute()
    task = tasks_api.tasks().insert(tasklist="@default", body={"title": "t"}).execute()
    tasks_api.tasks().get(tasklist="@default", task=task["id"]).execute()
    tasks_api.tasks().list(tasklist="@default", showCompleted=True, showHidden=True).execute()
    tasks_api.tasks().update(tasklist="@default", task=task["id"], body=task).execute()
    tasks_api.tasks().patch(tasklist="@default", task=task["id"], body={"notes": "n"}).execute()
    tasks_api.tasks().delete(tasklist="@default", task=task["id"]).execute()
    with pytest.raises(HttpError):
        tasks_api.tasks().get(tasklist="@default", task="bm9zdWNodGFzaw").execute()
    served = {r.method_id for r in google.accounts.served}
    # Every faked method served a JSON body, but tasks.delete (204, no body; events.delete's
    # body is its 410).
    assert served == SERVED - {"tasks.tasks.delete"}
    assert {r.status for r in google.accounts.served} >= {200, 404, 410}


def test_schema_check_catches_invented_keys() -> None:
    calendar = api_document("calendar")["schemas"]
    tasks = api_document("tasks")["schemas"]
    event = {"id": "pc0meeting1", "status": "confirmed", "start": {"date": "2026-03-02"}}
    assert schema_problems(event, {"$ref": "Event"}, schemas=calendar) == []
    assert schema_problems({**event, "colour": "red"}, {"$ref": "Event"}, schemas=calendar) == [
        "$.colour: not a property of Event"
    ]
    nested = {"start": {"date": "2026-03-02", "tz": "UTC"}}
    assert schema_problems(nested, {"$ref": "Event"}, schemas=calendar) == [
        "$.start.tz: not a property of EventDateTime"
    ]
    assert schema_problems(
        {"start": {"dateTime": "10:00"}}, {"$ref": "Event"}, schemas=calendar
    ) == ["$.start.dateTime: '10:00' is not an RFC 3339 date-time"]
    assert schema_problems({"sequence": "1"}, {"$ref": "Event"}, schemas=calendar) == [
        "$.sequence: '1' is not an integer"
    ]
    assert schema_problems({"title": "t", "dueDate": "x"}, {"$ref": "Task"}, schemas=tasks) == [
        "$.dueDate: not a property of Task"
    ]
    invented = ServedBody(
        "calendar.events.get",
        200,
        {"id": "pc0meeting1", "attendeeCount": 2},
        ("alt",),
        "/calendar/v3/calendars/primary/events/pc0meeting1",
    )
    assert served_problems(invented) == ["$.attendeeCount: not a property of Event"]
    wrong_path = ServedBody("tasks.tasks.get", 200, {}, (), "/tasks/v1/lists/x/task/y")
    assert served_problems(wrong_path) == [
        "/tasks/v1/lists/x/task/y does not fit tasks/v1/lists/{tasklist}/tasks/{task}"
    ]
    error = {"error": {"code": 410, "message": "Resource has been deleted", "errors": []}}
    assert schema_problems(error, ERROR_SCHEMA) == []
