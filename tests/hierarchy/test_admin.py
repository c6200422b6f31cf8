import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from django.urls import reverse

from hierarchy.models import User, VisibilityLevel
from hierarchy.services import SUPPORT_GROUP
from mailsync.models import BodyAccess
from tests.factories import UserFactory, make_mailbox, make_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def support_client(client):
    agent = UserFactory(username="support-agent", is_staff=True)
    agent.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    client.force_login(agent)
    return client


def change_form_data(user: User, **overrides):
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "parent": user.parent_id or "",
        "visibility_level": user.visibility_level,
        "time_zone": user.time_zone,
    }
    return {**data, **overrides}


@override_settings(VISIBILITY_MAILBOX_CAP=2)
def test_support_staff_raise_a_level_and_are_told_who_falls_outside(support_client):
    boss = UserFactory(first_name="Bea", last_name="Boss")
    make_mailbox(boss)
    for name in ("Ann", "Bob"):
        make_mailbox(UserFactory(parent=boss, first_name=name, last_name="Rep"))
    url = reverse("admin:hierarchy_user_change", args=[boss.pk])
    data = change_form_data(boss, visibility_level=VisibilityLevel.EMPLOYEES)
    # The change of who sees what is confirmed first (issue 8.17, tests/test_admin_preview.py).
    preview = support_client.post(url, data)
    assert "Bea Boss will now see 1 more mailbox: Ann Rep" in preview.content.decode()
    data["_visibility_preview"] = preview.context["fingerprint"]
    response = support_client.post(url, data, follow=True)
    boss.refresh_from_db()
    assert boss.visibility_level == VisibilityLevel.EMPLOYEES
    shown = [str(m) for m in response.context["messages"]]
    assert "Mailbox cap: Bea Boss sees 2 of 3 mailboxes; not shown: Bob Rep" in shown

    listing = support_client.get(reverse("admin:hierarchy_user_changelist"), {"cap": "over"})
    assert [u.pk for u in listing.context["cl"].result_list] == [boss.pk]
    assert "2 of 3 (capped)" in listing.content.decode()


def test_support_staff_move_a_user_in_the_tree_but_cannot_grant_superuser(support_client):
    old_boss, new_boss = UserFactory(), UserFactory()
    worker = UserFactory(parent=old_boss)
    url = reverse("admin:hierarchy_user_change", args=[worker.pk])
    support_client.post(
        url, change_form_data(worker, parent=new_boss.pk, is_superuser="on", is_staff="on")
    )
    worker.refresh_from_db()
    assert worker.parent == new_boss
    assert not worker.is_superuser
    assert not worker.is_staff


def test_support_staff_set_a_users_time_zone(support_client):
    worker = UserFactory(time_zone="UTC")
    url = reverse("admin:hierarchy_user_change", args=[worker.pk])
    assert 'name="time_zone"' in support_client.get(url).content.decode()
    support_client.post(url, change_form_data(worker, time_zone="Asia/Tokyo"))
    worker.refresh_from_db()
    assert worker.time_zone == "Asia/Tokyo"


def test_moving_under_an_own_employee_is_refused_with_a_message(support_client):
    boss = UserFactory()
    employee = UserFactory(parent=boss)
    url = reverse("admin:hierarchy_user_change", args=[boss.pk])
    response = support_client.post(url, change_form_data(boss, parent=employee.pk), follow=True)
    boss.refresh_from_db()
    assert boss.parent is None
    assert response.status_code == 200


def test_admin_action_creates_a_sync_only_user_under_the_selected_user(admin_client):
    owner = UserFactory(username="dana")
    response = admin_client.post(
        reverse("admin:hierarchy_user_changelist"),
        {"action": "create_sync_only_user", "_selected_action": [owner.pk]},
        follow=True,
    )
    created = User.objects.get(username="dana-mailbox-2")
    assert created.parent == owner
    assert created.is_sync_only
    assert not created.has_usable_password()
    assert "cannot log in" in response.content.decode()


def test_admin_never_shows_message_bodies_and_lists_body_openings(admin_client, client):
    owner = UserFactory(visibility_level=VisibilityLevel.EMPLOYEES)
    colleague = UserFactory(parent=owner)
    message = make_message(
        make_mailbox(colleague),
        sender="jane@acme.test",
        to=("x@acme.test",),
        body="TOP-SECRET-BODY-TEXT",
    )
    client.force_login(owner)
    assert (
        "TOP-SECRET-BODY-TEXT" in client.get(reverse("message", args=[message.pk])).content.decode()
    )

    change = admin_client.get(reverse("admin:mailsync_message_change", args=[message.pk]))
    assert change.status_code == 200
    assert "TOP-SECRET-BODY-TEXT" not in change.content.decode()
    audit = admin_client.get(reverse("admin:mailsync_bodyaccess_changelist"))
    assert [(a.viewer, a.mailbox_owner) for a in audit.context["cl"].result_list] == [
        (owner, colleague)
    ]
    assert BodyAccess.objects.get().message == message
