"""Meeting and task pages: a detail view, lists of mine and my team's, and a form that works by a
plain POST (the contact picker is a <select multiple> that JavaScript only enhances)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.activities.models import Meeting, Task
from crm.activities.services import meeting_create, task_create
from hierarchy.models import VisibilityLevel
from tests.factories import UserFactory, make_account, make_contact, make_mailbox

pytestmark = pytest.mark.django_db

KICKOFF_START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


def make_meeting(owner, title="Kickoff", starts_at=None, hours=1, **kwargs):
    starts_at = starts_at or timezone.now() + timedelta(days=1)
    return meeting_create(
        owner=owner,
        title=title,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=hours),
        **kwargs,
    )


def make_task(owner, title="Follow up", due_in=timedelta(days=1), **kwargs):
    return task_create(owner=owner, title=title, due_at=timezone.now() + due_in, **kwargs)


def body(response):
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def world():
    """A level-1 viewer with an employee, and a colleague outside their view; all hold mailboxes
    (visibility only ever counts users who hold one)."""
    viewer = UserFactory(first_name="Vera", last_name="Viewer")
    viewer.visibility_level = VisibilityLevel.EMPLOYEES
    viewer.save(update_fields=["visibility_level"])
    employee = UserFactory(parent=viewer, first_name="Emil", last_name="Employee")
    stranger = UserFactory(first_name="Stan", last_name="Stranger")
    for user in (viewer, employee, stranger):
        make_mailbox(user)
    return viewer, employee, stranger


# --- Detail views ---------------------------------------------------------------------------------


def test_clicking_a_meeting_on_the_card_opens_its_detail_page(logged_in_client, user):
    account = make_account(name="Northwind")
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@acme.test"])
    meeting = make_meeting(
        user,
        title="Renewal review",
        starts_at=KICKOFF_START,
        hours=1,
        location="Video call",
        notes="Bring the Q3 numbers.",
        account=account,
        contacts=[jane],
        show_in_external_calendar=True,
    )
    card = body(logged_in_client.get(reverse("contact-card", args=[jane.pk]), {"tab": "meetings"}))
    link = re.search(r'href="([^"]+)"><strong>(?:<bdi>)?Renewal review', card)
    assert link, "the card lists the meeting"
    assert link.group(1).startswith(reverse("meeting-detail", args=[meeting.pk]))

    page = body(logged_in_client.get(link.group(1).replace("&amp;", "&")))
    assert "<h1><bdi>Renewal review</bdi></h1>" in page
    assert "Mon, Mar 4, 2030, 09:00" in page
    assert "10:00" in page
    assert "Video call" in page
    assert f'href="{jane.get_absolute_url()}"><bdi>Jane Doe</bdi></a>' in page
    assert f'href="{account.get_absolute_url()}"><bdi>Northwind</bdi></a>' in page
    assert "Bring the Q3 numbers." in page
    assert "Shown in Alice Archer\u2019s external calendar" in page
    assert "Created by" in page
    assert "Alice Archer" in page
    assert f'href="{reverse("meeting-edit", args=[meeting.pk])}"' in page
    assert reverse("meeting-delete", args=[meeting.pk]) in page
    # The back link returns to the card the meeting was opened from.
    assert f'href="{reverse("contact-card", args=[jane.pk])}?tab=meetings">← Back' in page


def test_meeting_edit_is_its_own_page_and_saving_returns_to_the_detail(logged_in_client, user):
    meeting = make_meeting(user, title="Kickoff", starts_at=KICKOFF_START)
    edit_url = reverse("meeting-edit", args=[meeting.pk])
    assert edit_url != reverse("meeting-detail", args=[meeting.pk])
    form = body(logged_in_client.get(edit_url))
    assert 'value="2030-03-04"' in form
    assert 'value="09:00"' in form
    response = logged_in_client.post(
        edit_url,
        {
            "title": "Kickoff, moved",
            "starts_at_0": "2030-03-05",
            "starts_at_1": "16:30",
            "ends_at_0": "2030-03-05",
            "ends_at_1": "17:15",
        },
    )
    assert response.status_code == 302
    assert response.url == reverse("meeting-detail", args=[meeting.pk])
    meeting.refresh_from_db()
    assert meeting.title == "Kickoff, moved"
    assert meeting.starts_at == datetime(2030, 3, 5, 16, 30, tzinfo=UTC)


def test_task_detail_shows_due_and_a_done_toggle_that_posts(logged_in_client, user):
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@acme.test"])
    task = task_create(
        owner=user,
        title="Send the PDF",
        due_at=datetime(2030, 3, 4, 17, 45, tzinfo=UTC),
        contacts=[jane],
    )
    url = reverse("task-detail", args=[task.pk])
    page = body(logged_in_client.get(url))
    assert "Due" in page
    assert "Mon, Mar 4, 2030, 17:45" in page
    assert f'action="{reverse("task-done", args=[task.pk])}"' in page
    assert "Mark as done" in page
    assert f'href="{jane.get_absolute_url()}"' in page

    response = logged_in_client.post(reverse("task-done", args=[task.pk]), {"done": "1"})
    assert response.status_code == 302
    assert response.url == url
    task.refresh_from_db()
    assert task.done_at is not None
    page = body(logged_in_client.get(url))
    assert "Done on" in page
    assert "Reopen task" in page

    logged_in_client.post(reverse("task-done", args=[task.pk]), {"done": "0"})
    task.refresh_from_db()
    assert task.done_at is None
    # Toggling is a change of state: never by a link or a prefetching GET.
    assert logged_in_client.get(reverse("task-done", args=[task.pk])).status_code == 405


def test_delete_asks_first_then_deletes_and_returns_to_the_list(logged_in_client, user):
    meeting = make_meeting(user, title="Doomed")
    url = reverse("meeting-delete", args=[meeting.pk])
    page = body(logged_in_client.get(url))
    assert "Delete this meeting?" in page
    assert Meeting.objects.filter(pk=meeting.pk).exists()
    response = logged_in_client.post(url)
    assert response.status_code == 302
    assert response.url == reverse("meeting-list")
    assert not Meeting.objects.filter(pk=meeting.pk).exists()


def test_detail_of_a_missing_activity_is_a_404(logged_in_client):
    assert logged_in_client.get(reverse("meeting-detail", args=[999999])).status_code == 404
    assert logged_in_client.get(reverse("task-detail", args=[999999])).status_code == 404


def test_activity_pages_need_a_login(client, user):
    meeting = make_meeting(user)
    for url in (
        reverse("meeting-list"),
        reverse("task-list"),
        reverse("meeting-detail", args=[meeting.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


# --- Lists: mine and my team's ------------------------------------------------------------------


def test_meeting_lists_show_mine_and_my_team_within_visibility_only(client, world):
    viewer, employee, stranger = world
    make_meeting(viewer, title="My pitch")
    make_meeting(employee, title="Employee demo")
    make_meeting(stranger, title="Stranger secret")
    make_meeting(viewer, title="Last week retro", starts_at=timezone.now() - timedelta(days=7))
    client.force_login(viewer)

    mine = body(client.get(reverse("meeting-list")))
    assert "My pitch" in mine
    assert "Employee demo" not in mine
    assert "Last week retro" not in mine  # past meetings only behind "Past"
    assert "Stranger secret" not in mine

    team = body(client.get(reverse("meeting-list"), {"scope": "team"}))
    assert "Employee demo" in team
    assert "Emil Employee" in team
    assert "Stranger secret" not in team

    past = body(client.get(reverse("meeting-list"), {"show": "past"}))
    assert "Last week retro" in past
    assert "My pitch" not in past


def test_a_level_0_user_sees_no_team_meetings(client, world):
    viewer, employee, _stranger = world
    make_meeting(employee, title="Employee demo")
    client.force_login(employee)  # level 0: own mailbox only
    page = body(client.get(reverse("meeting-list"), {"scope": "team"}))
    assert "Employee demo" not in page
    client.force_login(viewer)
    assert "Employee demo" in body(client.get(reverse("meeting-list"), {"scope": "team"}))


def test_task_lists_show_open_tasks_with_the_overdue_highlighted(client, world):
    viewer, employee, stranger = world
    make_task(viewer, title="Call back Jane", due_in=timedelta(days=-2))
    make_task(viewer, title="Prepare quote", due_in=timedelta(days=3))
    done = make_task(viewer, title="Already sent")
    done.done_at = timezone.now()
    done.save(update_fields=["done_at"])
    make_task(employee, title="Employee chore")
    make_task(stranger, title="Stranger chore")
    client.force_login(viewer)

    page = body(client.get(reverse("task-list")))
    assert page.index("Call back Jane") < page.index("Prepare quote")  # by due date
    assert "Already sent" not in page
    assert "Employee chore" not in page
    overdue_row = re.search(r'<li class="overdue">.*?</li>', page, re.S)
    assert overdue_row
    assert "Call back Jane" in overdue_row.group(0)
    assert "Overdue" in overdue_row.group(0)
    assert page.count('class="overdue"') == 1

    assert "Already sent" in body(client.get(reverse("task-list"), {"show": "done"}))
    team = body(client.get(reverse("task-list"), {"scope": "team"}))
    assert "Employee chore" in team
    assert "Stranger chore" not in team


def test_lists_are_paginated(logged_in_client, user):
    for n in range(30):
        make_meeting(user, title=f"Slot {n:02d}", starts_at=timezone.now() + timedelta(hours=n + 1))
    first = body(logged_in_client.get(reverse("meeting-list")))
    assert "30 upcoming meetings" in first
    assert first.count("<li>") == 25
    assert "Page 1 of 2" in first
    second = body(logged_in_client.get(reverse("meeting-list"), {"page": 2}))
    assert second.count("<li>") == 5
    assert "Slot 29" in second


def test_a_bad_filter_falls_back_instead_of_failing(logged_in_client, user):
    make_meeting(user, title="My pitch")
    page = body(logged_in_client.get(reverse("meeting-list"), {"scope": "all", "show": "x"}))
    assert "My pitch" in page


# --- The form: plain POST, contact picker ---------------------------------------------------------


def test_the_picker_is_a_plain_select_of_the_contacts_the_user_may_see(logged_in_client, user):
    acme = make_account(name="Acme Corp")
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@acme.test"], account=acme)
    bob = make_contact(first_name="Bob", last_name="Brown", emails=["bob@else.test"])
    page = body(logged_in_client.get(reverse("meeting-create"), {"contact": jane.pk}))
    select = re.search(r"<select[^>]*multiple[^>]*>.*?</select>", page, re.S)
    assert select, "without JavaScript the picker is a plain multiple select"
    assert 'name="contacts"' in select.group(0)
    assert "data-contact-picker" in select.group(0)
    options = re.findall(r'<option value="(\d+)"( selected)?>([^<]*)</option>', select.group(0))
    # The same contacts, in the same order, as the Contacts page lists for this user.
    listed = logged_in_client.get(reverse("contact-list")).context["page"].object_list
    assert [int(value) for value, _, _ in options] == [c.pk for c in listed]
    assert (str(jane.pk), " selected", "Jane Doe · Acme Corp · jane@acme.test") in options
    assert (str(bob.pk), "", "Bob Brown · bob@else.test") in options
    assert "js/contact-picker.js" in page
    assert "<script>" not in page  # no inline script: the page runs under a strict CSP


def test_a_meeting_is_created_by_a_plain_post_with_contacts(logged_in_client, user):
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@acme.test"])
    bob = make_contact(first_name="Bob", last_name="Brown", emails=["bob@else.test"])
    response = logged_in_client.post(
        reverse("meeting-create"),
        {
            "title": "Quarterly review",
            "starts_at_0": "2030-05-06",
            "starts_at_1": "14:00",
            "ends_at_0": "2030-05-06",
            "ends_at_1": "15:30",
            "location": "HQ",
            "contacts": [jane.pk, bob.pk],
        },
    )
    meeting = Meeting.objects.get(title="Quarterly review")
    assert response.status_code == 302
    assert response.url == reverse("meeting-detail", args=[meeting.pk])
    assert set(meeting.contacts.all()) == {jane, bob}
    assert meeting.owner == user
    assert meeting.starts_at == datetime(2030, 5, 6, 14, 0, tzinfo=UTC)
    assert meeting.ends_at == datetime(2030, 5, 6, 15, 30, tzinfo=UTC)


def test_a_task_is_created_by_a_plain_post(logged_in_client, user):
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@acme.test"])
    response = logged_in_client.post(
        reverse("task-create"),
        {"title": "Send PDF", "due_at_0": "2030-05-06", "due_at_1": "18:00", "contacts": [jane.pk]},
    )
    task = Task.objects.get(title="Send PDF")
    assert response.url == reverse("task-detail", args=[task.pk])
    assert list(task.contacts.all()) == [jane]
    assert task.due_at == datetime(2030, 5, 6, 18, 0, tzinfo=UTC)


def test_a_contact_outside_the_choices_is_refused_and_nothing_is_saved(logged_in_client, user):
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@acme.test"])
    gone = make_contact(first_name="Gone", last_name="Away", emails=["gone@acme.test"])
    gone_id = gone.pk
    gone.delete()
    response = logged_in_client.post(
        reverse("meeting-create"),
        {
            "title": "Quarterly review",
            "starts_at_0": "2030-05-06",
            "starts_at_1": "14:00",
            "ends_at_0": "2030-05-06",
            "ends_at_1": "15:00",
            "contacts": [jane.pk, gone_id],
        },
    )
    page = body(response)
    assert "That contact no longer exists: pick another one." in page
    assert not Meeting.objects.exists()
    # What was typed is kept.
    assert 'value="Quarterly review"' in page
    assert f'<option value="{jane.pk}" selected>' in page


@pytest.mark.parametrize("bad_id", ["99999999999999999999", "-1", "0", "1e5", "x"])
@pytest.mark.parametrize("kind", ["meeting", "task"])
def test_an_absurd_contact_or_account_id_is_a_form_error_not_a_server_error(
    logged_in_client, user, kind, bad_id
):
    times = {"starts_at_0": "2030-05-06", "starts_at_1": "14:00", "ends_at_0": "2030-05-06"}
    times |= {"ends_at_1": "15:00", "due_at_0": "2030-05-06", "due_at_1": "18:00"}
    for field in ("contacts", "account"):
        response = logged_in_client.post(
            reverse(f"{kind}-create"), {"title": "Review", field: bad_id, **times}
        )
        assert response.status_code == 200
        assert 'class="error" role="alert"' in body(response)
    assert not Meeting.objects.exists()
    assert not Task.objects.exists()


def test_a_12_hour_time_or_an_end_before_the_start_gets_a_clear_error(logged_in_client, user):
    data = {
        "title": "Review",
        "starts_at_0": "2030-05-06",
        "starts_at_1": "2:00 PM",
        "ends_at_0": "2030-05-06",
        "ends_at_1": "15:00",
    }
    page = body(logged_in_client.post(reverse("meeting-create"), data))
    assert "Enter a 24-hour time such as 09:30 or 17:00." in page
    data["starts_at_1"] = "16:00"
    page = body(logged_in_client.post(reverse("meeting-create"), data))
    assert "The meeting must end after it starts." in page
    assert not Meeting.objects.exists()


def _tab_counts(client, name, pk):
    page = body(client.get(reverse(name, args=[pk])))
    return {
        tab: int(count)
        for tab, count in re.findall(r'\?tab=(\w+)"[^>]*>\w+ <span class="count">(\d+)<', page)
    }


def test_card_tabs_count_each_meeting_and_task_once(logged_in_client, user):
    """A meeting with the account and two of its contacts is one meeting on the account card;
    another account's and another contact's are not counted."""
    account = make_account(name="Northwind")
    jane = make_contact(first_name="Jane", emails=["jane@acme.test"], account=account)
    rich = make_contact(first_name="Rich", emails=["rich@acme.test"], account=account)
    other = make_contact(first_name="Olga", emails=["olga@else.test"])
    make_meeting(user, title="Both", account=account, contacts=[jane, rich])
    make_meeting(user, title="Jane alone", contacts=[jane])
    make_meeting(user, title="Elsewhere", contacts=[other])
    make_task(user, title="Account only", account=account)
    make_task(user, title="Rich", contacts=[rich])

    assert _tab_counts(logged_in_client, "account-card", account.pk) == {
        "meetings": 2,
        "tasks": 2,
    }
    assert _tab_counts(logged_in_client, "contact-card", jane.pk) == {"meetings": 2, "tasks": 0}
    assert _tab_counts(logged_in_client, "contact-card", rich.pk) == {"meetings": 1, "tasks": 1}
    card = body(logged_in_client.get(reverse("account-card", args=[account.pk])))
    assert '<h2>Contacts <span class="count">2</span></h2>' in card
