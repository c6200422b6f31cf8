"""Who may see whose synchronized mail. The one place that decides it.

Every page, API endpoint, export and count asks `mailbox_visibility(viewer)`.
Rules (issue 3): employees are everyone below a user; equals share the user's parent (top-level
users are equals of each other). Level 0 own; 1 + employees; 2 + equals; 3 + equals' employees;
4 everyone. Only users who hold a mailbox count, and at most VISIBILITY_MAILBOX_CAP of them are
kept: own first, then nearest in the tree, then by name.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

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


@dataclass(frozen=True)
class Node:
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


def load_tree() -> list[Node]:
    # A LEFT JOIN on the one-to-one mailbox: one pass over users, no subquery per row.
    rows = User.objects.values_list(
        "id", "parent_id", "first_name", "last_name", "username", "mailbox__id", "visibility_level"
    )
    return [
        Node(
            id=i,
            parent_id=p,
            name=f"{first} {last}".strip() or username,
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
    tree = _Tree(list(nodes))
    reasons = _reasons(tree, viewer_id, level)
    distances = tree.distances_from(viewer_id)
    candidates = [
        VisibleOwner(user_id=uid, name=tree.nodes[uid].name, reason=reason, distance=distances[uid])
        for uid, reason in reasons.items()
        if tree.nodes[uid].has_mailbox
    ]
    candidates.sort(key=lambda o: (o.reason != Reason.OWN, o.distance, o.name.lower(), o.user_id))
    return Visibility(
        owners=tuple(candidates[:cap]),
        total=len(candidates),
        cap=cap,
        cut=tuple(candidates[cap:]) if with_cut else (),
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
