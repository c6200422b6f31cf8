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
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db.models import Exists, OuterRef

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
    cut: tuple[VisibleOwner, ...]  # allowed by the level but over the cap
    cap: int

    @property
    def owner_ids(self) -> list[int]:
        return [owner.user_id for owner in self.owners]

    @property
    def total(self) -> int:
        return len(self.owners) + len(self.cut)

    @property
    def is_capped(self) -> bool:
        return bool(self.cut)

    def reason_for(self, user_id: int) -> Reason | None:
        return next((o.reason for o in self.owners if o.user_id == user_id), None)


def load_tree() -> list[Node]:
    from mailsync.models import Mailbox

    rows = User.objects.annotate(
        has_mailbox=Exists(Mailbox.objects.filter(owner=OuterRef("pk")))
    ).values_list(
        "id", "parent_id", "first_name", "last_name", "username", "has_mailbox", "visibility_level"
    )
    return [
        Node(
            id=i,
            parent_id=p,
            name=f"{first} {last}".strip() or username,
            has_mailbox=has,
            level=level,
        )
        for i, p, first, last, username, has, level in rows
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
        return Visibility(owners=(), cut=(), cap=0)
    cap = settings.VISIBILITY_MAILBOX_CAP if cap is None else cap
    key = f"hierarchy:visibility:{tree_version()}:{viewer.pk}:{viewer.visibility_level}:{cap}"
    visibility: Visibility | None = cache.get(key)
    if visibility is None:
        visibility = compute_visibility(
            load_tree(),
            viewer_id=viewer.pk,
            level=VisibilityLevel(viewer.visibility_level),
            cap=cap,
        )
        cache.set(key, visibility, timeout=3600)
    return visibility


def visible_mailbox_owner_ids(viewer: User) -> list[int]:
    return mailbox_visibility(viewer).owner_ids


def compute_visibility(
    nodes: Iterable[Node], *, viewer_id: int, level: VisibilityLevel, cap: int
) -> Visibility:
    """Pure function of the tree: the selector's core, tested against an oracle."""
    tree = _Tree(list(nodes))
    reasons = _reasons(tree, viewer_id, level)
    candidates = [
        VisibleOwner(
            user_id=uid,
            name=tree.nodes[uid].name,
            reason=reason,
            distance=tree.distance(viewer_id, uid),
        )
        for uid, reason in reasons.items()
        if tree.nodes[uid].has_mailbox
    ]
    candidates.sort(key=lambda o: (o.reason != Reason.OWN, o.distance, o.name.lower(), o.user_id))
    return Visibility(owners=tuple(candidates[:cap]), cut=tuple(candidates[cap:]), cap=cap)


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

    def ancestors(self, user_id: int) -> list[int]:
        """The user, then their manager, and so on up to the top."""
        chain = [user_id]
        parent = self.nodes[user_id].parent_id
        while parent is not None:
            chain.append(parent)
            parent = self.nodes[parent].parent_id
        return chain

    def distance(self, a: int, b: int) -> int:
        """Edges between two users, top-level users joined by a virtual root."""
        up_a, up_b = self.ancestors(a), self.ancestors(b)
        on_a = {uid: steps for steps, uid in enumerate(up_a)}
        for steps_b, uid in enumerate(up_b):
            if uid in on_a:
                return on_a[uid] + steps_b
        return len(up_a) + len(up_b)
