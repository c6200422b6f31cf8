"""The visibility selector against an oracle written separately, plainly, from the rules of issue 3.

Random trees of up to 60 users with random levels, random mailboxes and a random cap are built in
the database; the selector (which reads the database) must agree with the oracle on who is visible,
why, and in which order the cap cuts.
"""

from dataclasses import dataclass

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hierarchy.models import User
from hierarchy.selectors import load_tree, mailbox_visibility, visible_mailbox_counts
from mailsync.models import Mailbox


def examples(laptop: int) -> int:
    """`laptop` random cases, or the profile's (larger) number under HYPOTHESIS_PROFILE=ci."""
    if settings.get_current_profile_name() == "default":
        return laptop
    return settings().max_examples  # a settings() with no arguments is the active profile


@dataclass
class Person:
    index: int
    parent: int | None
    level: int
    name: str
    has_mailbox: bool


def oracle(people: list[Person], viewer: int, cap: int) -> list[tuple[int, str]]:
    """(person index, reason) visible to `viewer`, in the order kept by the cap."""
    by_index = {p.index: p for p in people}

    def path_to_top(i: int) -> list[int]:
        path = [i]
        parent = by_index[i].parent
        while parent is not None:
            path.append(parent)
            parent = by_index[parent].parent
        return path

    def is_employee_of(u: int, boss: int) -> bool:
        return boss in path_to_top(u)[1:]

    def is_equal_of(u: int, v: int) -> bool:
        return u != v and by_index[u].parent == by_index[v].parent

    level = by_index[viewer].level
    reasons: dict[int, str] = {}
    for person in people:
        u = person.index
        if u == viewer:
            reasons[u] = "own"
        elif level >= 1 and is_employee_of(u, viewer):
            reasons[u] = "employee"
        elif level >= 2 and is_equal_of(u, viewer):
            reasons[u] = "equal"
        elif level >= 3 and any(is_equal_of(e, viewer) and is_employee_of(u, e) for e in by_index):
            reasons[u] = "equals_employee"
        elif level >= 4:
            reasons[u] = "everyone"

    def distance(u: int) -> int:
        a, b = path_to_top(viewer), path_to_top(u)
        common = next((x for x in a if x in b), None)
        if common is None:  # different top-level users: joined through a virtual root
            return len(a) + len(b)
        return a.index(common) + b.index(common)

    visible = [u for u in reasons if by_index[u].has_mailbox]
    visible.sort(key=lambda u: (u != viewer, distance(u), by_index[u].name.lower(), u))
    return [(u, reasons[u]) for u in visible[:cap]]


@st.composite
def companies(draw):
    size = draw(st.integers(min_value=1, max_value=60))
    names = st.sampled_from(["Ann", "ann", "Bob", "Cy", "Dee", "Eve", "Flo", "Gus"])
    people = []
    for index in range(size):
        parent = draw(st.one_of(st.none(), st.integers(0, index - 1))) if index else None
        people.append(
            Person(
                index=index,
                parent=parent,
                level=draw(st.integers(0, 4)),
                name=f"{draw(names)} {draw(names)}",
                has_mailbox=draw(st.booleans()),
            )
        )
    viewer = draw(st.integers(0, size - 1))
    cap = draw(st.integers(1, 30))
    return people, viewer, cap


def build(people: list[Person]) -> dict[int, User]:
    users: dict[int, User] = {}
    for person in people:
        first, last = person.name.split()
        users[person.index] = User.objects.create(
            username=f"u{person.index}",
            first_name=first,
            last_name=last,
            parent=users.get(person.parent) if person.parent is not None else None,
            visibility_level=person.level,
        )
        if person.has_mailbox:
            Mailbox.objects.create(
                owner=users[person.index], address=f"u{person.index}@x.test", provider="imap"
            )
    return users


@pytest.mark.django_db
@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(company=companies())
def test_selector_agrees_with_the_oracle(company):
    people, viewer, cap = company
    with transaction.atomic():
        users = build(people)
        index_of = {user.pk: index for index, user in users.items()}
        visibility = mailbox_visibility(User.objects.get(pk=users[viewer].pk), cap=cap)
        got = [(index_of[o.user_id], o.reason.name.lower()) for o in visibility.owners]
        expected = oracle(people, viewer, cap)
        assert got == expected
        allowed = [p for p in people if p.has_mailbox]
        uncapped = len(oracle(people, viewer, len(allowed) + 1))
        assert visibility.total == uncapped
        # The O(n) counts admin uses for everyone at once agree with the full computation.
        assert visible_mailbox_counts(load_tree())[users[viewer].pk] == uncapped
        transaction.set_rollback(True)
