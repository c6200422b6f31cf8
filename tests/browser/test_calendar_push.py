"""Calendar push, clicked through in Chromium: connect a Radicale calendar on the Calendar page,
create a meeting from a contact's card with "show in my external calendar", and find it in
Radicale over CalDAV; the meeting's page then says where it is.

The push itself is the one a worker runs (calendars/push.py), called by the test where the
worker would pick up the queued task."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from calendars.models import PushedItem
from calendars.push import push
from crm.activities.models import Meeting
from tests.browser.signin import sign_in
from tests.factories import UserFactory, make_contact
from tests.servers.conftest_fixtures import radicale  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.django_db(transaction=True)]


def make_alice():
    return UserFactory(username="alice", email="alice@example.test", time_zone="Europe/Paris")


def test_a_meeting_made_on_a_contact_card_lands_in_the_radicale_calendar(
    page: Page,
    live_server,
    radicale,  # noqa: F811
) -> None:
    calendar_url = radicale.make_calendar("alice", "Work", color="#3366FF")
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@customer.test"])
    sign_in(page, make_alice(), live_server.url)

    page.goto(live_server.url + "/settings/calendar/")
    page.get_by_label("Server address").fill(radicale.url)
    page.get_by_label("User name").fill("alice")
    page.get_by_label("App password").fill("secret")
    page.get_by_role("button", name="Find my calendars").click()
    page.get_by_label("Work").check()
    page.get_by_role("button", name="Use this calendar").click()
    expect(page.get_by_text("Meetings and tasks you flag now go to “Work”")).to_be_visible()

    page.goto(live_server.url + jane.get_absolute_url())
    page.get_by_role("link", name="New meeting").click()
    page.get_by_label("Title").fill("Quarterly review")
    page.get_by_label("Starts: date").fill("2026-12-15")
    page.get_by_label("Starts: time, 24-hour").fill("14:00")
    page.get_by_label("Ends: date").fill("2026-12-15")
    page.get_by_label("Ends: time, 24-hour").fill("15:00")
    page.get_by_label("show in my external calendar").check()
    page.get_by_role("button", name="Save").click()
    meeting = Meeting.objects.get(title="Quarterly review")
    assert PushedItem.objects.get(item_id=meeting.pk).state == "waiting"

    push("meeting", meeting.pk)  # what the worker does with the queued push

    (calendar,) = radicale.events("alice", calendar_url)
    event = next(c for c in calendar.walk() if c.name == "VEVENT")
    assert str(event["SUMMARY"]) == "Quarterly review"
    assert event.decoded("DTSTART").hour == 14
    assert event["DTSTART"].params["TZID"] == "Europe/Paris"
    assert "Jane Doe" in str(event["DESCRIPTION"])
    page.goto(live_server.url + meeting.get_absolute_url())
    expect(page.get_by_text("In your calendar (Work)")).to_be_visible()
