import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from hierarchy.models import VisibilityLevel
from hierarchy.selectors import mailbox_visibility
from hierarchy.services import (
    sync_only_user_create,
    user_move,
    user_set_level,
    users_over_cap,
)
from tests.factories import UserFactory, make_mailbox

pytestmark = pytest.mark.django_db


def team(boss, size, prefix):
    members = []
    for n in range(size):
        member = UserFactory(parent=boss, first_name=f"{prefix}{n}", last_name="Member")
        make_mailbox(member)
        members.append(member)
    return members


@override_settings(VISIBILITY_MAILBOX_CAP=3)
def test_raising_a_level_past_the_cap_warns_naming_who_falls_outside():
    boss = UserFactory(first_name="Bea", last_name="Boss")
    make_mailbox(boss)
    team(boss, 4, "Rep")
    assert user_set_level(user=boss, level=VisibilityLevel.OWN) == []
    [warning] = user_set_level(user=boss, level=VisibilityLevel.EMPLOYEES)
    assert warning.total == 5
    assert str(warning) == "Bea Boss sees 3 of 5 mailboxes; not shown: Rep2 Member, Rep3 Member"
    boss.refresh_from_db()
    assert len(mailbox_visibility(boss).owners) == 3


@override_settings(VISIBILITY_MAILBOX_CAP=3)
def test_moving_a_team_under_a_manager_warns_about_the_manager():
    manager = UserFactory(first_name="Max", last_name="Manager", visibility_level=1)
    make_mailbox(manager)
    lead = UserFactory(first_name="Lee", last_name="Lead")
    make_mailbox(lead)
    team(lead, 3, "Dev")
    warnings = user_move(user=lead, new_parent=manager)
    assert [w.user for w in warnings] == [manager]
    assert warnings[0].total == 5
    lead.refresh_from_db()
    assert lead.parent == manager
    manager.refresh_from_db()  # mptt rewrote its lft/rght in the database
    assert set(manager.get_descendants()) == {lead, *lead.get_descendants()}


def test_a_user_cannot_be_moved_under_their_own_employee():
    boss = UserFactory()
    employee = UserFactory(parent=boss)
    with pytest.raises(ValidationError, match="below them"):
        user_move(user=boss, new_parent=employee)
    boss.refresh_from_db()
    assert boss.parent is None


def test_moving_changes_what_an_old_and_a_new_manager_see():
    old_boss = UserFactory(visibility_level=1)
    new_boss = UserFactory(visibility_level=1)
    worker = UserFactory(parent=old_boss)
    make_mailbox(worker)
    assert worker.pk in mailbox_visibility(old_boss).owner_ids
    user_move(user=worker, new_parent=new_boss)
    assert worker.pk not in mailbox_visibility(old_boss).owner_ids
    assert worker.pk in mailbox_visibility(new_boss).owner_ids


@override_settings(VISIBILITY_MAILBOX_CAP=2)
def test_users_over_cap_lists_exactly_those_whose_level_allows_more():
    ceo = UserFactory(visibility_level=VisibilityLevel.EVERYONE)
    quiet = UserFactory(parent=ceo, visibility_level=VisibilityLevel.OWN)
    for user in (ceo, quiet):
        make_mailbox(user)
    team(quiet, 2, "Ops")
    assert users_over_cap() == [(ceo, 4)]


def test_sync_only_user_sits_under_the_user_it_serves_and_cannot_log_in(client):
    owner = UserFactory(username="dana", visibility_level=VisibilityLevel.EMPLOYEES)
    second = sync_only_user_create(serves=owner)
    make_mailbox(second, "dana.support@acme.test")
    assert second.parent == owner
    assert second.is_sync_only
    assert second.pk in mailbox_visibility(owner).owner_ids  # an employee of the owner
    second.set_password("known")  # even with a password somebody set by hand
    second.save()
    assert not client.login(username=second.username, password="known")
    response = client.post("/api/auth/token/", {"username": second.username, "password": "known"})
    assert response.status_code == 400
    with pytest.raises(ValidationError, match="taken"):
        sync_only_user_create(serves=owner)


def test_a_token_made_by_hand_for_a_sync_only_user_is_refused():
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    second = sync_only_user_create(serves=UserFactory())
    token = Token.objects.create(user=second)
    api = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    response = api.get("/api/contacts/")
    assert response.status_code in (401, 403)
    assert "cannot sign in" in response.json()["detail"]
