"""Who may see whose synchronized mail. The one place that decides it.

Every page, API endpoint, export and count asks `mailbox_visibility(viewer)`.
Rules (issue 3): employees are everyone below a user; equals share the user's parent (top-level
users are equals of each other). Level 0 own; 1 + employees; 2 + equals; 3 + equals' employees;
4 everyone. Only users who hold a mailbox count, and at most VISIBILITY_MAILBOX_CAP of them are
kept: own first, then nearest in the tree, then by name.
"""

from __future__ import annotations

import enum
import heapq
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError

from hierarchy.models import User, VisibilityLevel


class Reason(enum.IntEnum):
    """Why the viewer may see a mailbox; lower is the closer relation."""

    OWN = 0
    EMPLOYEE = 1
    EQUAL = 2
    EQUALS_EMPLOYEE = 3
    EVERYONE = 4

    @property
    def label(self) -> str:
        return _REASON_LABELS[self]


_REASON_LABELS = {
    Reason.OWN: "own mailbox",
    Reason.EMPLOYEE: "employee",
    Reason.EQUAL: "equal",
    Reason.EQUALS_EMPLOYEE: "equal's employee",
    Reason.EVERYONE: "everyone",
}


class Node(NamedTuple):
    # A tuple, not a dataclass: a cold visibility builds one per user (5,000 and more), and a
    # frozen dataclass's __init__ costs several times a tuple's.
    id: int
    parent_id: int | None
    name: str
    has_mailbox: bool
    level: int = VisibilityLevel.OWN


@dataclass(frozen=True)
class VisibleOwner:
    user_id: int
    name: str
    reason: Reason
    distance: int


@dataclass(frozen=True)
class Visibility:
    owners: tuple[VisibleOwner, ...]  # kept, in cap order
    total: int  # how many the level allows before the cap
    cap: int
    # Allowed by the level but over the cap. Only filled for admin warnings: a level-4 viewer in
    # a big company would otherwise carry thousands of entries through the cache on every page.
    cut: tuple[VisibleOwner, ...] = ()

    @property
    def owner_ids(self) -> list[int]:
        return [owner.user_id for owner in self.owners]

    @property
    def is_capped(self) -> bool:
        return self.total > len(self.owners)

    def reason_for(self, user_id: int) -> Reason | None:
        return next((o.reason for o in self.owners if o.user_id == user_id), None)


def node_name(first_name: str, last_name: str, username: str) -> str:
    """The name the cap sorts by and admin shows: User.display_name, from its parts."""
    return f"{first_name} {last_name}".strip() or username


def load_tree() -> list[Node]:
    # A LEFT JOIN on the one-to-one mailbox: one pass over users, no subquery per row. Unordered
    # (nothing here depends on the order): MPTT's default order costs a sort of every user.
    rows = User.objects.order_by().values_list(
        "id", "parent_id", "first_name", "last_name", "username", "mailbox__id", "visibility_level"
    )
    return [
        Node(
            id=i,
            parent_id=p,
            name=node_name(first, last, username),
            has_mailbox=mailbox is not None,
            level=level,
        )
        for i, p, first, last, username, mailbox, level in rows
    ]


TREE_VERSION_KEY = "hierarchy:tree-version"


def tree_version() -> int:
    """Bumped on every change of users or mailboxes (see hierarchy.signals)."""
    version = cache.get_or_set(TREE_VERSION_KEY, fresh_tree_version, timeout=None)
    return int(version or fresh_tree_version())


def fresh_tree_version() -> int:
    # From the clock, so a lost counter (eviction, restart) never reuses an old version number.
    return time.time_ns() // 1000


def mailbox_visibility(viewer: User, *, cap: int | None = None) -> Visibility:
    """The viewer's visible mailbox owners, cached until the tree or a mailbox changes."""
    if not viewer.is_authenticated:
        return Visibility(owners=(), total=0, cap=0)
    cap = settings.VISIBILITY_MAILBOX_CAP if cap is None else cap
    key = f"hierarchy:visibility:{tree_version()}:{viewer.pk}:{viewer.visibility_level}:{cap}"
    visibility: Visibility | None = cache.get(key)
    if visibility is None:
        visibility = compute_visibility(
            load_tree(),
            viewer_id=viewer.pk,
            level=VisibilityLevel(viewer.visibility_level),
            cap=cap,
            with_cut=False,
        )
        cache.set(key, visibility, timeout=3600)
    return visibility


def compute_visibility(
    nodes: Iterable[Node],
    *,
    viewer_id: int,
    level: VisibilityLevel,
    cap: int,
    with_cut: bool = True,
) -> Visibility:
    """Pure function of the tree: the selector's core, tested against an oracle."""
    return _visibility(_Tree(list(nodes)), viewer_id, level, cap, with_cut=with_cut)


def _visibility(
    tree: _Tree, viewer_id: int, level: VisibilityLevel, cap: int, *, with_cut: bool
) -> Visibility:
    reasons = _reasons(tree, viewer_id, level)
    distances = tree.distances_from(viewer_id)
    nodes = tree.nodes
    # Cap order: own mailbox, then the closest, then by name. Sort keys only; owners are built
    # for the kept ones (a level-4 viewer is allowed every mailbox of the company).
    keys = [
        (reason != Reason.OWN, distances[uid], nodes[uid].name.lower(), uid)
        for uid, reason in reasons.items()
        if nodes[uid].has_mailbox
    ]
    ordered = sorted(keys) if with_cut else heapq.nsmallest(cap, keys)

    def owner(key: tuple[bool, int, str, int]) -> VisibleOwner:
        uid = key[3]
        return VisibleOwner(user_id=uid, name=nodes[uid].name, reason=reasons[uid], distance=key[1])

    return Visibility(
        owners=tuple(owner(key) for key in ordered[:cap]),
        total=len(keys),
        cap=cap,
        cut=tuple(owner(key) for key in ordered[cap:]) if with_cut else (),
    )


def visible_mailbox_counts(nodes: Iterable[Node]) -> dict[int, int]:
    """How many mailboxes each user's level allows, before the cap, for every user at once.

    Linear in the size of the tree (subtree and sibling sums), so admin can list everyone over
    the cap of a 5,000-person company without computing 5,000 visibilities.
    """
    tree = _Tree(list(nodes))
    has = {uid: int(node.has_mailbox) for uid, node in tree.nodes.items()}
    below = tree.mailboxes_below(has)
    siblings_with, siblings_below = {}, {}
    for parent, kids in tree.children.items():
        siblings_with[parent] = sum(has[k] for k in kids)
        siblings_below[parent] = sum(below[k] for k in kids)
    everyone = sum(has.values())
    counts: dict[int, int] = {}
    for uid, node in tree.nodes.items():
        level = node.level
        own, employees = has[uid], below[uid]
        equals = siblings_with[node.parent_id] - has[uid]
        equals_employees = siblings_below[node.parent_id] - below[uid]
        counts[uid] = (
            everyone
            if level >= VisibilityLevel.EVERYONE
            else own
            + (employees if level >= VisibilityLevel.EMPLOYEES else 0)
            + (equals if level >= VisibilityLevel.EQUALS else 0)
            + (equals_employees if level >= VisibilityLevel.EQUALS_EMPLOYEES else 0)
        )
    return counts


def cap_summary(name: str, total: int, cut: Sequence[VisibleOwner]) -> str:
    """The one wording of "the cap hides some of what the level allows", for every admin notice."""
    names = ", ".join(owner.name for owner in cut)
    return f"{name} sees {total - len(cut)} of {total} mailboxes; not shown: {names}"


@dataclass(frozen=True)
class VisibilityChange:
    """How one user's visible mailboxes would change: kept owners after the cap, both sides."""

    user_id: int
    name: str
    gained: tuple[VisibleOwner, ...]
    lost: tuple[VisibleOwner, ...]
    after: Visibility  # with `cut` filled, for the cap notice

    def describe(self) -> list[str]:
        lines = []
        if self.lost:
            lines.append(f"{self.name} will no longer see {_mailboxes(self.lost)}")
        if self.gained:
            lines.append(f"{self.name} will now see {_mailboxes(self.gained, 'more ')}")
        if self.after.is_capped:
            lines.append("Mailbox cap: " + cap_summary(self.name, self.after.total, self.after.cut))
        return lines


def _mailboxes(owners: Sequence[VisibleOwner], more: str = "") -> str:
    noun = "mailbox" if len(owners) == 1 else "mailboxes"
    return f"{len(owners)} {more}{noun}: " + ", ".join(owner.name for owner in owners)


def visibility_change_preview(
    user: User, *, new_level: int, new_parent: User | None, new_name: str | None = None
) -> list[VisibilityChange]:
    """What saving `user` with this level, manager (and name) would change for everyone.

    Reads only: the stored tree and the tree as it would be go through the same computation as
    mailbox_visibility, cap included. The edited user comes first, then the others by name.
    """
    before = _Tree(load_tree())
    stored = before.nodes[user.pk]
    parent_id = None if new_parent is None else new_parent.pk
    if parent_id is not None and (parent_id == user.pk or parent_id in before.descendants(user.pk)):
        raise ValidationError(
            {"parent": f"{user} cannot report to {new_parent}, who is below them."}
        )
    edited = stored._replace(
        parent_id=parent_id,
        level=VisibilityLevel(new_level),
        name=stored.name if new_name is None else new_name,
    )
    after = _Tree([edited if node.id == user.pk else node for node in before.nodes.values()])
    cap = settings.VISIBILITY_MAILBOX_CAP
    changes = []
    for viewer in _viewers_touched(before, after, user.pk):
        old = _visibility(
            before, viewer, VisibilityLevel(before.nodes[viewer].level), cap, with_cut=False
        )
        new = _visibility(
            after, viewer, VisibilityLevel(after.nodes[viewer].level), cap, with_cut=True
        )
        old_ids, new_ids = set(old.owner_ids), set(new.owner_ids)
        gained = tuple(o for o in new.owners if o.user_id not in old_ids)
        lost = tuple(o for o in old.owners if o.user_id not in new_ids)
        if gained or lost:
            name = after.nodes[viewer].name
            changes.append(VisibilityChange(viewer, name, gained, lost, new))
    changes.sort(key=lambda c: (c.user_id != user.pk, c.name.lower(), c.user_id))
    return changes


def _viewers_touched(before: _Tree, after: _Tree, edited_id: int) -> set[int]:
    """Everyone whose view an edit of `edited_id` can change; the others need no computation.

    A level only changes its holder's view. A move or a new name changes, besides the edited
    user and those below them (their distances to everyone else): the managers above the old and
    new place (employees), the users beside any of those managers or beside the edited user
    (equals, equals' employees), and everyone at level 4 (the cap order by distance and name).
    tests/hierarchy/test_admin_preview.py checks this against every user on random trees.
    """
    old, new = before.nodes[edited_id], after.nodes[edited_id]
    if (old.parent_id, old.name) == (new.parent_id, new.name):
        return {edited_id}
    touched = {edited_id, *before.descendants(edited_id)}
    managers = before.ancestors(old.parent_id) | after.ancestors(new.parent_id)
    touched |= managers
    for manager in {*managers, None}:
        touched.update(before.children.get(manager, []), after.children.get(manager, []))
    touched.update(
        uid for uid, node in after.nodes.items() if node.level >= VisibilityLevel.EVERYONE
    )
    return touched


def _reasons(tree: _Tree, viewer_id: int, level: VisibilityLevel) -> dict[int, Reason]:
    reasons: dict[int, Reason] = {viewer_id: Reason.OWN}

    def grant(user_ids: Iterable[int], reason: Reason) -> None:
        for uid in user_ids:
            reasons.setdefault(uid, reason)

    if level >= VisibilityLevel.EMPLOYEES:
        grant(tree.descendants(viewer_id), Reason.EMPLOYEE)
    equals = tree.equals(viewer_id)
    if level >= VisibilityLevel.EQUALS:
        grant(equals, Reason.EQUAL)
    if level >= VisibilityLevel.EQUALS_EMPLOYEES:
        for equal in equals:
            grant(tree.descendants(equal), Reason.EQUALS_EMPLOYEE)
    if level >= VisibilityLevel.EVERYONE:
        grant(tree.nodes, Reason.EVERYONE)
    return reasons


class _Tree:
    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = {node.id: node for node in nodes}
        self.children: dict[int | None, list[int]] = {}
        for node in nodes:
            self.children.setdefault(node.parent_id, []).append(node.id)
        self._depth: dict[int, int] = {}

    def descendants(self, user_id: int) -> list[int]:
        found: list[int] = []
        stack = list(self.children.get(user_id, []))
        while stack:
            uid = stack.pop()
            found.append(uid)
            stack.extend(self.children.get(uid, []))
        return found

    def mailboxes_below(self, has: dict[int, int]) -> dict[int, int]:
        """Mailbox holders strictly below each user, children summed before parents."""
        below = dict.fromkeys(self.nodes, 0)
        order: list[int] = []
        stack = list(self.children.get(None, []))
        while stack:
            uid = stack.pop()
            order.append(uid)
            stack.extend(self.children.get(uid, []))
        for uid in reversed(order):
            parent = self.nodes[uid].parent_id
            if parent is not None:
                below[parent] += below[uid] + has[uid]
        return below

    def ancestors(self, user_id: int | None) -> set[int]:
        """`user_id` and every manager above them; nothing for None (the virtual root)."""
        found: set[int] = set()
        while user_id is not None:
            found.add(user_id)
            user_id = self.nodes[user_id].parent_id
        return found

    def equals(self, user_id: int) -> list[int]:
        parent = self.nodes[user_id].parent_id
        return [uid for uid in self.children.get(parent, []) if uid != user_id]

    def distances_from(self, start: int) -> dict[int, int]:
        """Edges from `start` to every user, in one breadth-first walk.

        Top-level users are joined through a virtual root, `None`: it is their parent_id already.
        """
        distance: dict[int | None, int] = {start: 0}
        queue: deque[int | None] = deque([start])
        while queue:
            here = queue.popleft()
            neighbours: list[int | None] = list(self.children.get(here, []))
            if here is not None:
                neighbours.append(self.nodes[here].parent_id)
            for there in neighbours:
                if there not in distance:
                    distance[there] = distance[here] + 1
                    queue.append(there)
        return {uid: d for uid, d in distance.items() if uid is not None}
