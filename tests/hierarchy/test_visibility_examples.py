"""Who sees whose mailbox, worked out by hand for every level at the root, the middle and a leaf.

The property test (test_visibility_property.py) compares the selector with an oracle on random
trees, but a random tree only sometimes holds the case a slip breaks (mutation testing let "a
level-4 user low in the tree loses the rest of the company" through). These examples hold each
case every time. The company, everyone with a mailbox except Ned:

    Carla Chief ─┬─ Vera Sales ─┬─ Sam Seller ── Tina Trainee
                 │              ├─ Sue Seller
                 │              └─ Ned Nomail ── Rita Rep
                 └─ Pete Support ─┬─ Hal Helper
                                  └─ Hank Helper
    Olga Owner ── Otto Ops            (Carla and Olga, both top-level, are equals)

Expected lists are in cap order: own mailbox first, then nearest in the tree (edges; top-level
users meet through a virtual root), then by name ignoring case.
"""

import pytest
from django.test import override_settings

from hierarchy.models import User, VisibilityLevel
from hierarchy.selectors import load_tree, mailbox_visibility, visible_mailbox_counts
from hierarchy.services import user_set_level
from tests.factories import UserFactory, make_mailbox

pytestmark = pytest.mark.django_db

COMPANY = [  # first name, last name, manager's first name, has a mailbox
    ("Carla", "Chief", None, True),
    ("Olga", "Owner", None, True),
    ("Vera", "Sales", "Carla", True),
    ("Pete", "Support", "Carla", True),
    ("Sam", "Seller", "Vera", True),
    ("Sue", "Seller", "Vera", True),
    ("Ned", "Nomail", "Vera", False),
    ("Tina", "Trainee", "Sam", True),
    ("Rita", "Rep", "Ned", True),
    ("Hal", "Helper", "Pete", True),
    ("Hank", "Helper", "Pete", True),
    ("Otto", "Ops", "Olga", True),
]


@pytest.fixture
def company():
    people = {}
    for first, last, manager, has_mailbox in COMPANY:
        people[first] = UserFactory(
            username=first.lower(),
            first_name=first,
            last_name=last,
            parent=people[manager] if manager else None,
        )
        if has_mailbox:
            make_mailbox(people[first])
    return people


def seen(people: dict[str, User], viewer: str, level: int, cap: int | None = None) -> str:
    user_set_level(user=people[viewer], level=level)
    visibility = mailbox_visibility(User.objects.get(pk=people[viewer].pk), cap=cap)
    first_names = {user.pk: first for first, user in people.items()}
    return ", ".join(f"{first_names[o.user_id]} {o.reason.label}" for o in visibility.owners)


# (viewer, level): what they see. "employee" = below them, "equal" = same manager (or both
# top-level), "equal's employee" = below an equal, "everyone" = any other, at level 4.
EXPECTED = {
    # A root: employees are the whole of their tree, the other top-level user is an equal.
    ("Carla", 0): "Carla own mailbox",
    ("Carla", 1): "Carla own mailbox, Pete employee, Vera employee, Hal employee, Hank employee, "
    "Sam employee, Sue employee, Rita employee, Tina employee",
    ("Carla", 2): "Carla own mailbox, Pete employee, Vera employee, Hal employee, Hank employee, "
    "Olga equal, Sam employee, Sue employee, Rita employee, Tina employee",
    ("Carla", 3): "Carla own mailbox, Pete employee, Vera employee, Hal employee, Hank employee, "
    "Olga equal, Sam employee, Sue employee, Otto equal's employee, Rita employee, "
    "Tina employee",
    ("Carla", 4): "Carla own mailbox, Pete employee, Vera employee, Hal employee, Hank employee, "
    "Olga equal, Sam employee, Sue employee, Otto equal's employee, Rita employee, "
    "Tina employee",
    # The other root: a small tree of their own, the big one through their equal.
    ("Olga", 0): "Olga own mailbox",
    ("Olga", 1): "Olga own mailbox, Otto employee",
    ("Olga", 2): "Olga own mailbox, Otto employee, Carla equal",
    ("Olga", 3): "Olga own mailbox, Otto employee, Carla equal, Pete equal's employee, "
    "Vera equal's employee, Hal equal's employee, Hank equal's employee, "
    "Sam equal's employee, Sue equal's employee, Rita equal's employee, Tina equal's employee",
    ("Olga", 4): "Olga own mailbox, Otto employee, Carla equal, Pete equal's employee, "
    "Vera equal's employee, Hal equal's employee, Hank equal's employee, "
    "Sam equal's employee, Sue equal's employee, Rita equal's employee, Tina equal's employee",
    # The middle, with a peer, subordinates two levels deep and a peer's subordinates.
    ("Vera", 0): "Vera own mailbox",
    ("Vera", 1): "Vera own mailbox, Sam employee, Sue employee, Rita employee, Tina employee",
    ("Vera", 2): "Vera own mailbox, Sam employee, Sue employee, Pete equal, Rita employee, "
    "Tina employee",
    ("Vera", 3): "Vera own mailbox, Sam employee, Sue employee, Pete equal, Rita employee, "
    "Tina employee, Hal equal's employee, Hank equal's employee",
    ("Vera", 4): "Vera own mailbox, Carla everyone, Sam employee, Sue employee, Pete equal, "
    "Rita employee, Tina employee, Hal equal's employee, Hank equal's employee, "
    "Olga everyone, Otto everyone",
    # Lower middle: one employee, a peer with a mailbox, a peer without one but with a report.
    ("Sam", 0): "Sam own mailbox",
    ("Sam", 1): "Sam own mailbox, Tina employee",
    ("Sam", 2): "Sam own mailbox, Tina employee, Sue equal",
    ("Sam", 3): "Sam own mailbox, Tina employee, Sue equal, Rita equal's employee",
    ("Sam", 4): "Sam own mailbox, Tina employee, Vera everyone, Carla everyone, Sue equal, "
    "Pete everyone, Rita equal's employee, Hal everyone, Hank everyone, Olga everyone, "
    "Otto everyone",
    # No mailbox of their own: they still see what their level allows.
    ("Ned", 0): "",
    ("Ned", 1): "Rita employee",
    ("Ned", 2): "Rita employee, Sam equal, Sue equal",
    ("Ned", 3): "Rita employee, Sam equal, Sue equal, Tina equal's employee",
    # A leaf with no peers: nothing to add until level 4, then the whole company.
    ("Tina", 0): "Tina own mailbox",
    ("Tina", 1): "Tina own mailbox",
    ("Tina", 2): "Tina own mailbox",
    ("Tina", 3): "Tina own mailbox",
    ("Tina", 4): "Tina own mailbox, Sam everyone, Vera everyone, Carla everyone, Sue everyone, "
    "Pete everyone, Rita everyone, Hal everyone, Hank everyone, Olga everyone, Otto everyone",
    # A leaf with a peer who has no employees.
    ("Hal", 0): "Hal own mailbox",
    ("Hal", 1): "Hal own mailbox",
    ("Hal", 2): "Hal own mailbox, Hank equal",
    ("Hal", 3): "Hal own mailbox, Hank equal",
    ("Hal", 4): "Hal own mailbox, Pete everyone, Carla everyone, Hank equal, Vera everyone, "
    "Olga everyone, Sam everyone, Sue everyone, Otto everyone, Rita everyone, Tina everyone",
    # A leaf of the other tree, the only child of their manager.
    ("Otto", 3): "Otto own mailbox",
    ("Otto", 4): "Otto own mailbox, Olga everyone, Carla everyone, Pete everyone, "
    "Vera everyone, Hal everyone, Hank everyone, Sam everyone, Sue everyone, Rita everyone, "
    "Tina everyone",
}


@pytest.mark.parametrize(("viewer", "level"), list(EXPECTED), ids=lambda v: str(v))
def test_each_level_at_each_depth(company, viewer, level):
    assert seen(company, viewer, level) == EXPECTED[viewer, level]
    # The counts admin lists for everyone at once agree with the full computation.
    expected_total = len(EXPECTED[viewer, level].split(", ")) if EXPECTED[viewer, level] else 0
    assert visible_mailbox_counts(load_tree())[company[viewer].pk] == expected_total


def test_a_level_4_user_at_the_bottom_sees_the_whole_company(company):
    # The slip mutation testing found: a deep level-4 user kept only what was near them.
    holders = {first for first, _, _, has_mailbox in COMPANY if has_mailbox}
    shown = seen(company, "Tina", VisibilityLevel.EVERYONE)
    assert {entry.split()[0] for entry in shown.split(", ")} == holders


@pytest.mark.parametrize(
    ("viewer", "level", "cap", "expected"),
    [
        # Own first though "Carla" comes before "Vera" by name.
        ("Vera", 4, 3, "Vera own mailbox, Carla everyone, Sam employee"),
        # Nearest before name: Tina and Vera (1 edge) before Carla (2 edges).
        ("Sam", 4, 3, "Sam own mailbox, Tina employee, Vera everyone"),
        # Same distance: by name, so Carla (3 edges) before Sue (3 edges).
        ("Tina", 4, 4, "Tina own mailbox, Sam everyone, Vera everyone, Carla everyone"),
        # At the same distance the name decides, not the reason: Pete (equal, 2 edges) before
        # Rita and Tina (employees, 2 edges).
        ("Vera", 3, 4, "Vera own mailbox, Sam employee, Sue employee, Pete equal"),
        ("Tina", 4, 1, "Tina own mailbox"),
        # No own mailbox: the cap is filled by the nearest.
        ("Ned", 3, 2, "Rita employee, Sam equal"),
    ],
)
def test_the_cap_keeps_own_then_nearest_then_by_name(company, viewer, level, cap, expected):
    assert seen(company, viewer, level, cap=cap) == expected
    visibility = mailbox_visibility(User.objects.get(pk=company[viewer].pk), cap=cap)
    assert visibility.is_capped
    assert visibility.total == len(EXPECTED[viewer, level].split(", "))


@override_settings(VISIBILITY_MAILBOX_CAP=25)
def test_the_default_cap_of_25_keeps_the_nearest_25_of_a_bigger_team():
    boss = UserFactory(first_name="Bea", last_name="Boss", visibility_level=1)
    make_mailbox(boss)
    # 20 direct reports, each with one report: 40 employees, 20 of them one edge away.
    for n in range(20):
        rep = UserFactory(first_name=f"Rep{n:02}", last_name="Near", parent=boss)
        make_mailbox(rep)
        make_mailbox(UserFactory(first_name=f"Aide{n:02}", last_name="Far", parent=rep))
    visibility = mailbox_visibility(User.objects.get(pk=boss.pk))
    names = [owner.name for owner in visibility.owners]
    assert len(names) == 25
    assert visibility.total == 41
    assert names[0] == "Bea Boss"
    assert names[1:21] == [f"Rep{n:02} Near" for n in range(20)]
    # The farther ones fill what is left by name; "Aide" sorts before "Rep" but is farther.
    assert names[21:] == [f"Aide{n:02} Far" for n in range(4)]


def test_names_are_ordered_ignoring_case(company):
    top = UserFactory(first_name="Zoe", last_name="Top", visibility_level=1)
    make_mailbox(top)
    for first in ("bob", "Amy", "Cid"):
        make_mailbox(UserFactory(first_name=first, last_name="x", parent=top))
    visibility = mailbox_visibility(User.objects.get(pk=top.pk))
    assert [o.name for o in visibility.owners] == ["Zoe Top", "Amy x", "bob x", "Cid x"]
