"""Issue 8.17: before a level change or a move is saved, admin says who gains and loses what.

The change form first answers with a confirmation page; only the confirmed POST saves. Every
POST here is what the rendered page holds, as a browser sends it.
"""

import re
from html import unescape

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client, override_settings
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hierarchy.models import User, VisibilityLevel
from hierarchy.selectors import (
    compute_visibility,
    load_tree,
    mailbox_visibility,
    node_name,
    visibility_change_preview,
)
from hierarchy.services import SUPPORT_GROUP, user_move, user_set_level
from tests.factories import UserFactory, make_mailbox
from tests.hierarchy.html_forms import read_form
from tests.hierarchy.test_visibility_property import build, companies, examples

pytestmark = pytest.mark.django_db


@pytest.fixture
def support():
    agent = UserFactory(username="support-agent", is_staff=True)
    agent.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    client = Client()
    client.force_login(agent)
    return client


def person(first, last, boss=None, level=0):
    user = UserFactory(first_name=first, last_name=last, parent=boss, visibility_level=level)
    make_mailbox(user)
    return user


def submit_change_form(client: Client, user: User, **edits: str | int):
    """Open the user's change form, edit fields as a person would, press Save."""
    url = reverse("admin:hierarchy_user_change", args=[user.pk])
    data = read_form(client.get(url).content.decode(), "user_form").post_data(submit="_save")
    data.update({name: [str(value)] for name, value in edits.items()})
    return client.post(url, data)


def said(response) -> list[str]:
    """The sentences of the confirmation page's list of changes."""
    listing = re.search(r'<ul id="visibility-changes">(.*?)</ul>', response.content.decode(), re.S)
    assert listing, "no confirmation page"
    return [unescape(p).strip() for p in re.findall(r"<p>(.*?)</p>", listing.group(1), re.S)]


def seen_by(user: User) -> list[str]:
    return [o.name for o in mailbox_visibility(User.objects.get(pk=user.pk)).owners]


def test_lowering_a_level_lists_what_is_lost_and_saves_only_when_confirmed(support):
    laura = person("Laura", "Novak", level=VisibilityLevel.EMPLOYEES)
    team = [person(first, "Rep", laura) for first in ("Ann", "Bob", "Cy", "Dee", "Eve", "Flo")]
    before = seen_by(laura)
    assert len(before) == 7

    page = submit_change_form(support, laura, visibility_level=VisibilityLevel.OWN)
    assert page.status_code == 200
    assert said(page) == [
        "Laura Novak will no longer see 6 mailboxes: "
        "Ann Rep, Bob Rep, Cy Rep, Dee Rep, Eve Rep, Flo Rep"
    ]
    laura.refresh_from_db()
    assert laura.visibility_level == VisibilityLevel.EMPLOYEES
    assert seen_by(laura) == before

    # "No, take me back" leads to the change form; nothing was saved.
    confirmation = read_form(page.content.decode(), "visibility-confirmation")
    assert confirmation.links == [reverse("admin:hierarchy_user_change", args=[laura.pk])]
    assert support.get(confirmation.links[0]).status_code == 200
    laura.refresh_from_db()
    assert laura.visibility_level == VisibilityLevel.EMPLOYEES

    # "Yes" posts the same edit back and saves it.
    saved = support.post(confirmation.action, confirmation.post_data())
    assert saved.status_code == 302
    laura.refresh_from_db()
    assert laura.visibility_level == VisibilityLevel.OWN
    assert seen_by(laura) == ["Laura Novak"]
    assert {u.pk for u in team}.isdisjoint(
        mailbox_visibility(User.objects.get(pk=laura.pk)).owner_ids
    )


@override_settings(VISIBILITY_MAILBOX_CAP=3)
def test_raising_a_level_lists_the_gain_within_the_cap_and_the_cap_notice(support):
    laura = person("Laura", "Novak")
    for first in ("Ann", "Bob", "Cy"):
        person(first, "Rep", laura)
    page = submit_change_form(support, laura, visibility_level=VisibilityLevel.EMPLOYEES)
    assert said(page) == [
        "Laura Novak will now see 2 more mailboxes: Ann Rep, Bob Rep",
        "Mailbox cap: Laura Novak sees 3 of 4 mailboxes; not shown: Cy Rep",
    ]
    confirmation = read_form(page.content.decode(), "visibility-confirmation")
    saved = support.post(confirmation.action, confirmation.post_data(), follow=True)
    # The notice after saving says the same as the preview did.
    shown = [str(m) for m in saved.context["messages"]]
    assert "Mailbox cap: Laura Novak sees 3 of 4 mailboxes; not shown: Cy Rep" in shown
    assert seen_by(laura) == ["Laura Novak", "Ann Rep", "Bob Rep"]


def test_a_move_lists_gains_and_losses_of_everyone_it_touches(support):
    carl = person("Carl", "Chief", level=VisibilityLevel.EMPLOYEES)
    mia = person("Mia", "Manager", carl, level=VisibilityLevel.EMPLOYEES)
    max_ = person("Max", "Manager", carl, level=VisibilityLevel.EMPLOYEES)
    laura = person("Laura", "Novak", mia, level=VisibilityLevel.EQUALS)
    person("Liam", "Peer", mia, level=VisibilityLevel.EQUALS)
    person("Lou", "Junior", laura)
    mona = person("Mona", "Peer", max_, level=VisibilityLevel.EQUALS_EMPLOYEES)
    person("Moe", "Junior", mona)

    page = submit_change_form(support, laura, parent=max_.pk)
    assert said(page) == [
        # The edited user first, then everyone else whose view changes, by name.
        "Laura Novak will no longer see 1 mailbox: Liam Peer",
        "Laura Novak will now see 1 more mailbox: Mona Peer",
        "Liam Peer will no longer see 1 mailbox: Laura Novak",
        "Max Manager will now see 2 more mailboxes: Laura Novak, Lou Junior",
        "Mia Manager will no longer see 2 mailboxes: Laura Novak, Lou Junior",
        "Mona Peer will now see 2 more mailboxes: Laura Novak, Lou Junior",
    ]
    laura.refresh_from_db()
    assert laura.parent == mia

    confirmation = read_form(page.content.decode(), "visibility-confirmation")
    assert support.post(confirmation.action, confirmation.post_data()).status_code == 302
    laura.refresh_from_db()
    assert laura.parent == max_
    assert "Laura Novak" not in seen_by(mia)
    assert {"Laura Novak", "Lou Junior"} <= set(seen_by(max_))


def test_an_edit_that_changes_no_ones_view_saves_at_once(support):
    laura = person("Laura", "Novak")
    response = submit_change_form(
        support, laura, email="laura.novak@postcard.test", visibility_level=VisibilityLevel.EVERYONE
    )
    assert response.status_code == 302  # alone in the company: level 4 shows nothing more
    laura.refresh_from_db()
    assert laura.email == "laura.novak@postcard.test"
    assert laura.visibility_level == VisibilityLevel.EVERYONE


def test_a_confirmation_made_stale_by_another_change_shows_the_new_list(support):
    laura = person("Laura", "Novak", level=VisibilityLevel.EMPLOYEES)
    person("Ann", "Rep", laura)
    page = submit_change_form(support, laura, visibility_level=VisibilityLevel.OWN)
    assert said(page) == ["Laura Novak will no longer see 1 mailbox: Ann Rep"]
    person("Bob", "Rep", laura)  # meanwhile, someone joins Laura's team

    confirmation = read_form(page.content.decode(), "visibility-confirmation")
    again = support.post(confirmation.action, confirmation.post_data())
    assert again.status_code == 200
    assert "Someone changed the company tree" in again.content.decode()
    assert said(again) == ["Laura Novak will no longer see 2 mailboxes: Ann Rep, Bob Rep"]
    laura.refresh_from_db()
    assert laura.visibility_level == VisibilityLevel.EMPLOYEES


def test_names_on_the_confirmation_page_are_escaped(support):
    laura = person("Laura", "Novak", level=VisibilityLevel.EMPLOYEES)
    person("<b>Ann</b>", "Rep", laura)
    page = submit_change_form(support, laura, visibility_level=VisibilityLevel.OWN)
    assert "<b>Ann</b>" not in page.content.decode()
    assert said(page) == ["Laura Novak will no longer see 1 mailbox: <b>Ann</b> Rep"]


@st.composite
def edits(draw):
    """A random company and one edit of one user: a new manager, level and first name."""
    people, _, cap = draw(companies())
    edited = draw(st.integers(0, len(people) - 1))
    below = {edited}
    for p in people:  # parents come before children, so one pass finds the whole subtree
        if p.parent in below:
            below.add(p.index)
    outside = [p.index for p in people if p.index not in below]
    new_parent = draw(st.one_of(st.none(), st.sampled_from(outside))) if outside else None
    new_level = draw(st.integers(0, 4))
    new_first = draw(st.sampled_from([None, "Aaron", "Zed", people[edited].name.split()[0]]))
    return people, edited, new_parent, new_level, new_first, cap


def everyones_view() -> dict[int, set[int]]:
    """Every user's kept mailbox owners, each computed in full: no shortcut to trust."""
    nodes = load_tree()
    cap = django_settings.VISIBILITY_MAILBOX_CAP
    return {
        node.id: set(
            compute_visibility(
                nodes, viewer_id=node.id, level=VisibilityLevel(node.level), cap=cap
            ).owner_ids
        )
        for node in nodes
    }


@settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(edit=edits())
def test_the_preview_is_exactly_what_the_save_does_for_every_user(edit):
    people, edited, new_parent, new_level, new_first, cap = edit
    with transaction.atomic(), override_settings(VISIBILITY_MAILBOX_CAP=cap):
        users = build(people)
        user = User.objects.get(pk=users[edited].pk)
        parent = users[new_parent] if new_parent is not None else None
        first = user.first_name if new_first is None else new_first
        preview = visibility_change_preview(
            user,
            new_level=new_level,
            new_parent=parent,
            new_name=node_name(first, user.last_name, user.username),
        )
        before = everyones_view()
        # What admin's save does: rename, move, set the level (hierarchy.admin.save_model).
        User.objects.filter(pk=user.pk).update(first_name=first)
        user_move(user=user, new_parent=parent)
        user_set_level(user=user, level=new_level)
        after = everyones_view()
        expected = {
            uid: (after[uid] - before[uid], before[uid] - after[uid])
            for uid in before
            if before[uid] != after[uid]
        }
        got = {
            c.user_id: ({o.user_id for o in c.gained}, {o.user_id for o in c.lost}) for c in preview
        }
        assert got == expected
        transaction.set_rollback(True)
