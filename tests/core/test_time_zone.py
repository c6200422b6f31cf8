"""Each user's time zone: chosen in Preferences, used for every time shown (24-hour, like the
rest of the product) and for every time typed into a form."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from crm.activities.models import Meeting, Task
from crm.activities.services import meeting_create, task_create
from hierarchy.models import User
from tests.factories import UserFactory, make_contact

pytestmark = pytest.mark.django_db


def set_zone(user: User, zone: str) -> None:
    user.time_zone = zone
    user.save(update_fields=["time_zone"])


def page(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def text(html: str) -> str:
    """What a reader sees: the page without its tags."""
    return re.sub(r"<[^>]+>", "", html)


def test_a_new_user_starts_in_the_sites_time_zone(settings):
    assert UserFactory().time_zone == settings.TIME_ZONE


def test_the_preference_is_saved(logged_in_client, user):
    url = reverse("preferences")
    form = page(logged_in_client, url)
    assert '<option value="America/New_York">America / New York</option>' in form
    response = logged_in_client.post(url, {"time_zone": "America/New_York"})
    assert response.status_code == 302
    assert response.url == url
    user.refresh_from_db()
    assert user.time_zone == "America/New_York"
    saved = page(logged_in_client, url)
    assert '<option value="America/New_York" selected>America / New York</option>' in saved
    assert "in America/New_York" in saved


def test_an_unknown_zone_is_refused_and_the_old_one_kept(logged_in_client, user):
    set_zone(user, "Europe/Paris")
    response = logged_in_client.post(reverse("preferences"), {"time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    user.refresh_from_db()
    assert user.time_zone == "Europe/Paris"


def test_times_are_shown_in_the_users_zone_on_the_24_hour_clock(client, user):
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@acme.test"])
    meeting = meeting_create(
        owner=user,
        title="Review",
        starts_at=datetime(2030, 1, 15, 19, 0, tzinfo=UTC),
        ends_at=datetime(2030, 1, 15, 20, 30, tzinfo=UTC),
        contacts=[jane],
    )
    task = task_create(owner=user, title="Call", due_at=datetime(2030, 1, 15, 22, 15, tzinfo=UTC))
    client.force_login(user)

    set_zone(user, "America/New_York")  # UTC-5 in January
    detail = page(client, reverse("meeting-detail", args=[meeting.pk]))
    assert "Tue, Jan 15, 2030, 14:00" in detail
    assert "15:30" in detail
    assert "America/New_York" in detail
    for twelve_hour in ("2 p.m.", "2:00 PM", "p.m.", "a.m."):
        assert twelve_hour not in detail
    assert "Tue, Jan 15, 2030, 17:15" in page(client, reverse("task-detail", args=[task.pk]))
    card = page(client, reverse("contact-card", args=[jane.pk]), tab="meetings")
    assert "14:00\u201315:30" in card

    set_zone(user, "Asia/Kolkata")  # UTC+5:30: the next day has begun there
    assert "Wed, Jan 16, 2030, 00:30" in page(client, reverse("meeting-detail", args=[meeting.pk]))
    assert "Wed, Jan 16, 2030, 03:45" in page(client, reverse("task-detail", args=[task.pk]))


def test_the_zone_of_one_user_never_leaks_into_another_request(client, user):
    meeting = meeting_create(
        owner=user,
        title="Review",
        starts_at=datetime(2030, 1, 15, 19, 0, tzinfo=UTC),
        ends_at=datetime(2030, 1, 15, 20, 0, tzinfo=UTC),
    )
    set_zone(user, "America/New_York")
    utc_user = UserFactory(time_zone="UTC")
    client.force_login(user)
    assert "14:00" in page(client, reverse("meeting-detail", args=[meeting.pk]))
    client.force_login(utc_user)
    assert "Tue, Jan 15, 2030, 19:00" in page(client, reverse("meeting-detail", args=[meeting.pk]))


@pytest.mark.parametrize(
    ("day", "stored_hour"),
    [("2030-01-15", 14), ("2030-07-15", 13)],  # EST (UTC-5), then EDT (UTC-4)
)
def test_a_typed_time_is_read_in_the_users_zone(client, user, day, stored_hour):
    set_zone(user, "America/New_York")
    client.force_login(user)
    response = client.post(
        reverse("meeting-create"),
        {
            "title": "Breakfast",
            "starts_at_0": day,
            "starts_at_1": "09:00",
            "ends_at_0": day,
            "ends_at_1": "10:00",
        },
    )
    assert response.status_code == 302
    meeting = Meeting.objects.get(title="Breakfast")
    assert meeting.starts_at.astimezone(UTC).hour == stored_hour
    assert meeting.ends_at - meeting.starts_at == timedelta(hours=1)
    detail = page(client, response.url)
    assert "Breakfast" in detail
    assert f"{day[-2:].lstrip('0')}, 2030, 09:00\u201310:00 America/New_York" in text(detail)

    # The edit form offers the same local time back, so saving it unchanged moves nothing.
    form = page(client, reverse("meeting-edit", args=[meeting.pk]))
    assert f'value="{day}"' in form
    assert 'value="09:00"' in form


def test_a_task_due_time_is_read_in_the_users_zone(client, user):
    set_zone(user, "Europe/Paris")
    client.force_login(user)
    client.post(
        reverse("task-create"),
        {"title": "Send quote", "due_at_0": "2030-01-15", "due_at_1": "17:30"},
    )
    task = Task.objects.get(title="Send quote")
    assert task.due_at == datetime(2030, 1, 15, 16, 30, tzinfo=UTC)


def test_the_form_asks_for_24_hour_times_not_the_browsers_clock(logged_in_client, user):
    form = page(logged_in_client, reverse("meeting-create"))
    # datetime-local and time inputs follow the browser's locale: 12-hour in an en-US browser.
    assert 'type="datetime-local"' not in form
    assert 'type="time"' not in form
    assert 'type="date" name="starts_at_0"' in form
    assert 'placeholder="HH:MM"' in form
    assert "24-hour time (HH:MM), in UTC" in form
