"""Calendar push to Google Calendar and Google Tasks, through the Google sign-in of the user's
mailbox (asked again with the calendar scopes: incremental consent), against the Google fakes
(tests/servers/google*.py), every answer checked against the packaged discovery documents."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.urls import reverse

from calendars.models import CalendarConnection, ConnectionState, PushedItem, PushState
from calendars.push import push
from crm.activities.services import meeting_create, task_create, task_set_done
from mailsync.google import CALENDAR_SCOPES
from tests.calendars.killing import push_killed_at_random, settings_named
from tests.factories import make_contact
from tests.mailsync.test_sync_google import (  # noqa: F401  (fixtures)
    ALICE,
    connect,
    gcloud,
    google_answer,
    owner,
)

pytestmark = [pytest.mark.server, pytest.mark.django_db]

PARIS = ZoneInfo("Europe/Paris")


def allow_calendar(client, *, button: str = "allow", as_user: str = ALICE, decline: str = ""):
    """Calendar page: "Use my Google calendar", Google's consent page, back to the page."""
    started = client.post(reverse("calendar-sign-in", args=["google"]))
    assert started.status_code == 302, started.content
    asked = parse_qs(urlsplit(started["Location"]).query)["scope"][0].split()
    assert set(CALENDAR_SCOPES) <= set(asked)
    back = urlsplit(
        google_answer(started["Location"], as_user=as_user, button=button, decline=decline)
    )
    parked = client.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
    return client.get(parked["Location"])


def connect_calendar(client, address: str = ALICE) -> CalendarConnection:
    finished = allow_calendar(client, as_user=address)
    assert finished["Location"].endswith("?choose=google"), finished.content
    page = client.get(finished["Location"])
    assert page.status_code == 200
    calendars = client.session["calendar_pending"]["calendars"]
    primary = next(c for c in calendars if c["key"] == address)
    chosen = client.post(
        reverse("calendar-settings"), {"action": "choose-oauth", "calendar": primary["key"]}
    )
    assert chosen.status_code == 302
    return CalendarConnection.objects.get(owner__email=address)


@pytest.fixture
def calendar(gcloud, client, owner) -> CalendarConnection:
    owner.time_zone = "Europe/Paris"
    owner.save()
    connect(client)
    return connect_calendar(client)


def meeting(owner, **changes):
    start = datetime(2026, 12, 10, 10, 0, tzinfo=PARIS)
    fields = {
        "title": "Kick-off with Acme",
        "starts_at": start,
        "ends_at": start + timedelta(hours=1),
        "location": "Room 4",
        "show_in_external_calendar": True,
        **changes,
    }
    return meeting_create(owner=owner, **fields)


def test_the_calendar_list_comes_from_google_and_the_meeting_lands_there(gcloud, calendar, owner):
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@customer.test"])
    item = meeting(owner, contacts=[jane])

    assert push("meeting", item.pk).state == PushState.PUSHED

    (event,) = gcloud.accounts.calendar_events(ALICE, ALICE)
    assert event["summary"] == "Kick-off with Acme"
    assert event["location"] == "Room 4"
    assert event["start"]["timeZone"] == "Europe/Paris"
    assert datetime.fromisoformat(event["start"]["dateTime"]) == item.starts_at
    assert "Jane Doe" in event["description"]
    assert "attendees" not in event  # named, never invited


def test_changes_follow_and_a_deleted_meeting_leaves(gcloud, calendar, owner):
    item = meeting(owner)
    push("meeting", item.pk)

    item.title, item.location = "Kick-off (moved)", "Online"
    item.save()
    push("meeting", item.pk)
    (event,) = gcloud.accounts.calendar_events(ALICE, ALICE)
    assert (event["summary"], event["location"]) == ("Kick-off (moved)", "Online")

    item_id = item.pk
    item.delete()
    push("meeting", item_id)
    assert gcloud.accounts.calendar_events(ALICE, ALICE) == []


def test_an_event_deleted_in_google_calendar_is_not_recreated_unasked(gcloud, calendar, owner):
    item = meeting(owner)
    record = push("meeting", item.pk)
    gcloud.accounts.delete_event_as_user(ALICE, ALICE, record.remote_href)

    item.title = "Renamed"
    item.save()
    assert push("meeting", item.pk).state == PushState.REMOVED
    assert gcloud.accounts.calendar_events(ALICE, ALICE) == []

    assert push("meeting", item.pk, again=True).state == PushState.PUSHED
    (event,) = gcloud.accounts.calendar_events(ALICE, ALICE)
    assert event["summary"] == "Renamed"


def test_a_push_replayed_after_a_crash_makes_no_duplicate(gcloud, calendar, owner):
    item = meeting(owner)
    task = task_create(
        owner=owner,
        title="Send the quote",
        due_at=datetime(2026, 12, 12, 17, 0, tzinfo=PARIS),
        show_in_external_calendar=True,
    )
    push("meeting", item.pk)
    push("task", task.pk)
    PushedItem.objects.update(remote_href="", etag="", state=PushState.WAITING)  # commit lost

    push("meeting", item.pk)
    push("task", task.pk)

    assert len(gcloud.accounts.calendar_events(ALICE, ALICE)) == 1
    assert len(gcloud.accounts.tasks(ALICE, "@default")) == 1


def test_tasks_go_to_google_tasks_with_their_due_date_and_done_state(gcloud, calendar, owner):
    task = task_create(
        owner=owner,
        title="Send the quote",
        due_at=datetime(2026, 12, 12, 0, 30, tzinfo=PARIS),  # still the 11th in UTC
        show_in_external_calendar=True,
    )
    push("task", task.pk)
    (pushed,) = gcloud.accounts.tasks(ALICE, "@default")
    assert pushed["title"] == "Send the quote"
    assert pushed["due"].startswith("2026-12-12")  # the day where the owner is
    assert pushed["status"] == "needsAction"

    task_set_done(task=task, done=True)
    push("task", task.pk)

    (pushed,) = gcloud.accounts.tasks(ALICE, "@default")
    assert pushed["status"] == "completed"


def test_access_revoked_at_google_disconnects_the_calendar(gcloud, calendar, owner):
    gcloud.accounts.revoke_grants(ALICE)
    gcloud.accounts.expire_access_tokens()

    record = push("meeting", meeting(owner).pk)

    assert record.state == PushState.FAILED
    calendar.refresh_from_db()
    assert calendar.state == ConnectionState.DISCONNECTED
    assert "Google ended Postcard's access" in calendar.state_reason


def test_declining_calendar_access_changes_nothing(gcloud, client, owner):
    connect(client)

    finished = allow_calendar(client, button="cancel")

    assert finished["Location"] == reverse("calendar-settings")
    assert not CalendarConnection.objects.exists()


def test_the_flag_off_takes_it_out_and_another_calendar_moves_it(gcloud, calendar, owner, client):
    item = meeting(owner)
    push("meeting", item.pk)
    item.show_in_external_calendar = False
    item.save()
    assert push("meeting", item.pk).state == PushState.OFF
    assert gcloud.accounts.calendar_events(ALICE, ALICE) == []
    item.show_in_external_calendar = True
    item.save()
    push("meeting", item.pk)
    customers = gcloud.accounts.add_calendar(ALICE, "Customers", color="#ff7537")

    finished = allow_calendar(client)
    client.get(finished["Location"])
    chosen = client.post(
        reverse("calendar-settings"), {"action": "choose-oauth", "calendar": customers}
    )
    assert chosen.status_code == 302
    push("meeting", item.pk)

    assert gcloud.accounts.calendar_events(ALICE, ALICE) == []
    (moved,) = gcloud.accounts.calendar_events(ALICE, customers)
    assert moved["summary"] == "Kick-off with Acme"
    page = client.get(item.get_absolute_url()).content.decode()
    assert "In your calendar (Google Calendar: Customers)" in page


def test_a_week_across_the_daylight_saving_change_keeps_local_times(gcloud, calendar, owner):
    for day in (26, 29):  # Friday before (UTC+1) and Monday after (UTC+2) the change
        start = datetime(2027, 3, day, 9, 0, tzinfo=PARIS)
        push("meeting", meeting(owner, starts_at=start, ends_at=start + timedelta(hours=1)).pk)

    starts = sorted(
        datetime.fromisoformat(e["start"]["dateTime"])
        for e in gcloud.accounts.calendar_events(ALICE, ALICE)
    )

    assert [s.astimezone(PARIS).hour for s in starts] == [9, 9]


def test_a_rate_limit_is_waited_out_not_a_disconnection(gcloud, calendar, owner):
    item = meeting(owner)
    gcloud.accounts.throttle_calendar(ALICE, 1, status=403, reason="rateLimitExceeded")

    record = push("meeting", item.pk)

    assert record.state == PushState.FAILED
    assert "Retried automatically" in record.error
    calendar.refresh_from_db()
    assert calendar.state == ConnectionState.ACTIVE
    assert push("meeting", item.pk).state == PushState.PUSHED


def test_google_unreachable_then_back(gcloud, calendar, owner, settings):
    item = meeting(owner)
    reachable = settings.GOOGLE_CALENDAR_URL
    settings.GOOGLE_CALENDAR_URL = "http://127.0.0.1:9/calendar/v3/"  # nothing listens there

    record = push("meeting", item.pk)

    assert (record.state, record.next_attempt_at is not None) == (PushState.FAILED, True)
    settings.GOOGLE_CALENDAR_URL = reachable
    assert push("meeting", item.pk).state == PushState.PUSHED


def test_a_new_owner_gets_the_event_in_their_google_calendar(gcloud, calendar, owner):
    from django.test import Client

    from tests.factories import UserFactory
    from tests.mailsync.test_sync_google import BOB, sign_in

    item = meeting(owner)
    push("meeting", item.pk)
    bob = UserFactory(username="bob", email=BOB)
    bobs = Client()
    bobs.force_login(bob)
    sign_in(bobs, BOB)
    connect_calendar(bobs, BOB)

    item.owner = bob
    item.save()
    push("meeting", item.pk)

    assert gcloud.accounts.calendar_events(ALICE, ALICE) == []
    assert [e["summary"] for e in gcloud.accounts.calendar_events(BOB, BOB)] == [item.title]


@pytest.mark.django_db(transaction=True)
def test_a_push_killed_at_a_random_point_leaves_no_duplicate(gcloud, calendar, owner, settings):
    """A worker pushing 120 meetings to Google is SIGKILLed at a random moment; pushing again
    leaves each meeting in the calendar once."""
    if connection.vendor != "postgresql":
        pytest.skip("the killed push runs in another process: needs a shared PostgreSQL database")
    items = [meeting(owner, title=f"Meeting {n}") for n in range(120)]

    push_killed_at_random(
        owner.username,
        lambda: len(gcloud.accounts.calendar_events(ALICE, ALICE)),
        len(items),
        settings_named(settings, "GOOGLE_"),
    )
    for item in items:
        push("meeting", item.pk)

    events = gcloud.accounts.calendar_events(ALICE, ALICE)
    assert sorted(e["summary"] for e in events) == sorted(i.title for i in items)


def test_allowing_the_calendar_leaves_the_mail_sync_as_it_was(gcloud, client, owner):
    from django.utils import timezone

    from mailsync.models import Mailbox

    mailbox = connect(client)
    paused = timezone.now() + timedelta(minutes=5)  # Gmail asked to wait
    Mailbox.objects.filter(pk=mailbox.pk).update(paused_until=paused)

    connect_calendar(client)

    mailbox.refresh_from_db()
    assert mailbox.paused_until == paused
    assert "calendar.events" in mailbox.credentials  # the new grant, kept for both


def test_a_permission_unticked_on_googles_page_is_named_and_nothing_changes(gcloud, client, owner):
    mailbox = connect(client)
    before = mailbox.credentials

    finished = allow_calendar(client, decline="https://www.googleapis.com/auth/tasks")

    said = [str(m) for m in finished.wsgi_request._messages]
    assert said[-1] == (
        "Google did not give Postcard access to Google Tasks. Use your calendar again and tick "
        "every box on Google's page."
    )
    assert not CalendarConnection.objects.exists()
    mailbox.refresh_from_db()
    assert mailbox.credentials == before


def test_a_sync_started_before_calendar_access_keeps_the_newer_grant(gcloud, client, owner):
    """The user allows the calendar while a sync holds the older (mail-only) grant: when that
    sync refreshes and ends, the newer grant stays stored."""
    from mailsync.connections import open_provider
    from mailsync.models import Mailbox
    from mailsync.sync import sync_mailbox

    mailbox = connect(client)
    running = open_provider(mailbox)  # a sync begins with the mail-only grant
    connect_calendar(client)  # meanwhile: calendar access granted, stored
    gcloud.accounts.expire_access_tokens()  # the running sync must refresh

    sync_mailbox(Mailbox.objects.get(pk=mailbox.pk), running)

    mailbox.refresh_from_db()
    assert "calendar.events" in mailbox.credentials
