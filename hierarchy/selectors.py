"""Who may see whose synchronized mail. The one place that decides it.

Every page, API endpoint, export and count asks `mailbox_visibility(viewer)`.
Rules (issue 3): employees are everyone below a user; equals share the user's parent (top-level
users are equals of each other). Level 0 own; 1 + employees; 2 + equals; 3 + equals' employees;
4 everyone. Only users who hold a mailbox count, and at most VISIBILITY_MAILBOX_CAP of them are
kept: own first, then nearest in the tree, then by name.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
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
    ).values_list("id", "parent_id", "first_name", "last_name", "username", "has_mailbox")
    return [
        Node(id=i, parent_id=p, name=f"{first} {last}".strip() or username, has_mailbox=has)
        for i, p, first, last, username, has in rows
    ]


def mailbox_visibility(viewer: User, *, cap: int | None = None) -> Visibility:
    if not viewer.is_authenticated:
        return Visibility(owners=(), cut=(), cap=0)
    return compute_visibility(
        load_tree(),
        viewer_id=viewer.pk,
        level=VisibilityLevel(viewer.visibility_level),
        cap=settings.VISIBILITY_MAILBOX_CAP if cap is None else cap,
    )


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
