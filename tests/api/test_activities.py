from datetime import UTC, datetime

import pytest

from crm.activities.models import Meeting, Task
from crm.activities.services import task_create
from tests.api import client_for
from tests.factories import make_account, make_contact

pytestmark = pytest.mark.django_db

NINE = "2030-05-01T09:00:00Z"
TEN = "2030-05-01T10:00:00Z"


@pytest.fixture
def api(user):
    return client_for(user)


def meeting_payload(**overrides):
    return {"title": "Kick-off", "starts_at": NINE, "ends_at": TEN, **overrides}


def test_create_meeting_with_contacts_and_account(api, user):
    account = make_account()
    contact = make_contact(account=account)

    response = api.post(
        "/api/meetings/",
        meeting_payload(contacts=[contact.pk], account=account.pk, show_in_external_calendar=True),
        format="json",
    )

    assert response.status_code == 201, response.data
    meeting = api.get(f"/api/meetings/{response.data['id']}/").data
    assert meeting["contacts"] == [contact.pk]
    assert meeting["account"] == account.pk
    assert meeting["owner"] == user.pk
    assert meeting["show_in_external_calendar"] is True
    assert meeting["starts_at"] == NINE
    assert meeting["ends_at"] == TEN


def test_meeting_ending_before_it_starts_is_refused(api):
    response = api.post(
        "/api/meetings/", meeting_payload(ends_at=NINE, starts_at=TEN), format="json"
    )

    assert response.status_code == 400
    assert response.data["ends_at"] == ["The meeting must end after it starts."]
    assert not Meeting.objects.exists()


def test_unknown_contact_is_refused_and_nothing_saved(api):
    contact = make_contact()

    response = api.post(
        "/api/meetings/", meeting_payload(contacts=[contact.pk, 999]), format="json"
    )

    assert response.status_code == 400
    assert "999" in str(response.data["contacts"])
    assert not Meeting.objects.exists()


def test_over_long_title_is_refused(api):
    response = api.post("/api/meetings/", meeting_payload(title="x" * 201), format="json")

    assert response.status_code == 400
    assert "at most 200 characters" in response.data["title"][0]
    assert not Meeting.objects.exists()


def test_patch_meeting_keeps_contacts_and_checks_the_new_span(api):
    contact = make_contact()
    created = api.post("/api/meetings/", meeting_payload(contacts=[contact.pk]), format="json")
    url = f"/api/meetings/{created.data['id']}/"

    moved = api.patch(url, {"ends_at": "2030-05-01T11:00:00Z"}, format="json")
    backwards = api.patch(url, {"ends_at": "2030-05-01T08:00:00Z"}, format="json")

    assert moved.status_code == 200
    assert moved.data["contacts"] == [contact.pk]
    assert moved.data["ends_at"] == "2030-05-01T11:00:00Z"
    assert backwards.status_code == 400
    assert api.get(url).data["ends_at"] == "2030-05-01T11:00:00Z"


def test_meetings_filtered_by_contact_and_by_account(api):
    account = make_account()
    at_account = make_contact(last_name="AtAcme", account=account, emails=[])
    elsewhere = make_contact(last_name="Elsewhere", emails=[])
    api.post(
        "/api/meetings/",
        meeting_payload(title="Via contact", contacts=[at_account.pk]),
        format="json",
    )
    api.post(
        "/api/meetings/", meeting_payload(title="Via account", account=account.pk), format="json"
    )
    api.post(
        "/api/meetings/", meeting_payload(title="Other", contacts=[elsewhere.pk]), format="json"
    )

    def titles(**params):
        return sorted(m["title"] for m in api.get("/api/meetings/", params).data["results"])

    assert titles() == ["Other", "Via account", "Via contact"]
    assert titles(contact=at_account.pk) == ["Via contact"]
    assert titles(account=account.pk) == ["Via account", "Via contact"]
    assert titles(contact=elsewhere.pk, account=account.pk) == []


def test_task_done_sets_and_clears_done_at(api):
    created = api.post("/api/tasks/", {"title": "Call back", "due_at": NINE}, format="json")
    assert created.status_code == 201, created.data
    assert created.data["done"] is False
    assert created.data["done_at"] is None
    url = f"/api/tasks/{created.data['id']}/"

    done = api.patch(url, {"done": True}, format="json").data
    assert done["done"] is True
    assert done["done_at"] is not None
    assert done["title"] == "Call back"

    undone = api.patch(url, {"done": False}, format="json").data
    assert undone["done"] is False
    assert undone["done_at"] is None


def test_tasks_filtered_by_contact(api):
    contact = make_contact()
    api.post(
        "/api/tasks/", {"title": "Mine", "due_at": NINE, "contacts": [contact.pk]}, format="json"
    )
    api.post("/api/tasks/", {"title": "Other", "due_at": NINE}, format="json")

    results = api.get("/api/tasks/", {"contact": contact.pk}).data["results"]

    assert [t["title"] for t in results] == ["Mine"]


def test_delete_task(api, user):
    task = task_create(owner=user, title="Old", due_at=datetime(2030, 1, 1, tzinfo=UTC))

    assert api.delete(f"/api/tasks/{task.pk}/").status_code == 204
    assert not Task.objects.exists()
