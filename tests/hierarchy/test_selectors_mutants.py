"""What mutation testing of hierarchy/selectors.py found untested (issue 8, point 24).

tests/MUTATION.md lists the mutants and why each test is here. Every test asserts what a person
sees: who may read which mailbox, in which order, and what admin says before an edit is saved.
"""

import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import AnonymousUser, Group
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.test import Client, override_settings

from hierarchy.models import User, VisibilityLevel
from hierarchy.selectors import (
    TREE_VERSION_KEY,
    Reason,
    mailbox_visibility,
    visibility_change_preview,
)
from hierarchy.services import SUPPORT_GROUP
from tests.factories import UserFactory, make_mailbox
from tests.hierarchy.html_forms import read_form
from tests.hierarchy.test_admin_preview import person, said, seen_by, submit_change_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def support():
    agent = UserFactory(username="support-agent", is_staff=True)
    agent.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    client = Client()
    client.force_login(agent)
    return client


@contextmanager
def fails_after(seconds: int) -> Iterator[None]:
    """A loop that never ends (a manager put below their own employee) fails the test instead
    of hanging the suite."""

    def interrupt(signum: int, frame: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- the admin preview of an edit ------------------------------------------------------------


@override_settings(VISIBILITY_MAILBOX_CAP=2)
def test_a_new_name_changes_who_a_capped_manager_sees_and_the_preview_says_so(support):
    # The cap keeps the nearest, then by name: renaming Cy to Abe puts Abe before Bob.
    zoe = person("Zoe", "Boss", level=VisibilityLevel.EMPLOYEES)
    person("Bob", "Rep", zoe)
    cy = person("Cy", "Rep", zoe)
    assert seen_by(zoe) == ["Zoe Boss", "Bob Rep"]

    page = submit_change_form(support, cy, first_name="Abe")
    assert said(page) == [
        "Zoe Boss will no longer see 1 mailbox: Bob Rep",
        "Zoe Boss will now see 1 more mailbox: Abe Rep",
        "Mailbox cap: Zoe Boss sees 2 of 3 mailboxes; not shown: Bob Rep",
    ]
    confirmation = read_form(page.content.decode(), "visibility-confirmation")
    assert support.post(confirmation.action, confirmation.post_data()).status_code == 302
    assert seen_by(zoe) == ["Zoe Boss", "Abe Rep"]


def test_a_preview_without_a_new_name_names_everyone_by_their_stored_name():
    carl = person("Carl", "Chief", level=VisibilityLevel.EMPLOYEES)
    laura = person("Laura", "Novak")
    changes = visibility_change_preview(laura, new_level=laura.visibility_level, new_parent=carl)
    assert [line for change in changes for line in change.describe()] == [
        "Carl Chief will now see 1 more mailbox: Laura Novak"
    ]


@pytest.mark.parametrize("below", ["self", "employee", "employee's employee"])
def test_a_preview_refuses_a_manager_below_the_edited_user(below):
    # Admin's form offers no such manager; a direct caller gets the error user_move gives.
    vera = person("Vera", "Sales", level=VisibilityLevel.EMPLOYEES)
    sam = person("Sam", "Seller", vera)
    tina = person("Tina", "Trainee", sam)
    new_parent = {"self": vera, "employee": sam, "employee's employee": tina}[below]
    with fails_after(10), pytest.raises(ValidationError) as refused:
        visibility_change_preview(vera, new_level=1, new_parent=new_parent)
    assert refused.value.message_dict == {
        "parent": [f"Vera Sales cannot report to {new_parent}, who is below them."]
    }
    assert User.objects.get(pk=vera.pk).parent is None


# --- the cached visibility -------------------------------------------------------------------


def test_a_lost_tree_version_comes_back_as_a_counter_later_edits_can_increment():
    # The version is bumped with the cache's INCR (hierarchy.signals); Redis only increments an
    # integer, so a version made afresh (after an eviction or a restart) must be one.
    boss = person("Bea", "Boss", level=VisibilityLevel.EMPLOYEES)
    cache.delete(TREE_VERSION_KEY)
    assert seen_by(boss) == ["Bea Boss"]
    version = cache.get(TREE_VERSION_KEY)
    assert type(version) is int
    person("Rex", "Rep", boss)  # bumps the version: Bea sees her new employee at once
    assert cache.get(TREE_VERSION_KEY) > version
    assert seen_by(boss) == ["Bea Boss", "Rex Rep"]


def test_the_reason_for_a_mailbox_the_viewer_cannot_see_is_none():
    boss = person("Bea", "Boss", level=VisibilityLevel.OWN)
    rex = person("Rex", "Rep", boss)
    visibility = mailbox_visibility(User.objects.get(pk=boss.pk))
    assert visibility.reason_for(boss.pk) == Reason.OWN
    assert visibility.reason_for(rex.pk) is None


def test_a_visibility_is_computed_once_then_read_from_the_cache(django_assert_num_queries):
    # Every page asks for it: only a change of users or mailboxes may make it read the tree again.
    boss = person("Bea", "Boss", level=VisibilityLevel.EMPLOYEES)
    person("Rex", "Rep", boss)
    viewer = User.objects.get(pk=boss.pk)
    first = mailbox_visibility(viewer)
    with django_assert_num_queries(0):
        assert mailbox_visibility(viewer) == first


def test_an_employee_without_a_name_is_listed_by_username():
    boss = person("Bea", "Boss", level=VisibilityLevel.EMPLOYEES)
    nameless = UserFactory(username="ops-robot", first_name="", last_name="", parent=boss)
    make_mailbox(nameless)
    assert seen_by(boss) == ["Bea Boss", "ops-robot"]


def test_someone_not_logged_in_sees_no_mailbox():
    person("Bea", "Boss", level=VisibilityLevel.EVERYONE)
    visibility = mailbox_visibility(AnonymousUser())
    assert visibility.owner_ids == []
    assert (visibility.total, visibility.is_capped) == (0, False)


@override_settings(VISIBILITY_MAILBOX_CAP=2)
def test_the_preview_of_a_move_far_away_tells_a_level_4_user_whose_capped_list_changes():
    # Vic (level 4, cap 2) keeps the nearest; Ann and Bob are both 4 edges away, Ann first by
    # name. Ann moves to another top-level manager: 5 edges away, so Vic sees Bob instead. Vic
    # is nowhere near the move; only his level makes the move change his view.
    ray = UserFactory(first_name="Ray", last_name="Root")
    pat = UserFactory(first_name="Pat", last_name="Parent", parent=ray)
    vic = person("Vic", "Viewer", pat, level=VisibilityLevel.EVERYONE)
    abe = UserFactory(first_name="Abe", last_name="Away", parent=ray)
    ann = person("Ann", "Zed", abe)
    person("Bob", "Wes", abe)
    ben = UserFactory(first_name="Ben", last_name="Boss")
    assert seen_by(vic) == ["Vic Viewer", "Ann Zed"]

    changes = visibility_change_preview(ann, new_level=ann.visibility_level, new_parent=ben)
    lines = [line for change in changes for line in change.describe()]
    assert "Vic Viewer will no longer see 1 mailbox: Ann Zed" in lines
    assert "Vic Viewer will now see 1 more mailbox: Bob Wes" in lines
