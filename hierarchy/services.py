"""Writes to the user tree. django-mptt rewrites lft/rght of many rows on each move, and two
concurrent moves corrupt the tree, so every write here runs under one tree-wide lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q

from hierarchy.models import User, VisibilityLevel
from hierarchy.selectors import (
    Node,
    VisibleOwner,
    cap_summary,
    compute_visibility,
    load_tree,
    visible_mailbox_counts,
)

# An arbitrary constant naming the tree lock among PostgreSQL advisory locks.
TREE_LOCK_ID = 0x706F7374  # "post"


@contextmanager
def tree_lock() -> Iterator[None]:
    """One tree writer at a time: a transaction-scoped advisory lock on PostgreSQL.

    SQLite runs write transactions one at a time already (transaction_mode IMMEDIATE).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TREE_LOCK_ID])
        yield


@dataclass(frozen=True)
class CapWarning:
    """A user whose level allows more mailboxes than the cap, and who falls outside it."""

    user: User
    total: int
    cut: tuple[VisibleOwner, ...]

    def __str__(self) -> str:
        return cap_summary(self.user.display_name, self.total, self.cut)


def user_set_level(*, user: User, level: int) -> list[CapWarning]:
    """Change a user's visibility level; returns a warning if the cap now cuts their view."""
    level = VisibilityLevel(level)
    with tree_lock():
        User.objects.filter(pk=user.pk).update(visibility_level=level)
        user.visibility_level = level
    _bump()
    return _warnings_for([user])


def user_move(*, user: User, new_parent: User | None) -> list[CapWarning]:
    """Put `user` (and everyone below them) under `new_parent`; None makes them top-level.

    Returns warnings for every user the move newly pushes over the cap or cuts further.
    """
    before = visible_mailbox_counts(load_tree())
    with tree_lock():
        user = User.objects.get(pk=user.pk)  # fresh lft/rght, read under the lock
        if new_parent is not None:
            new_parent = User.objects.get(pk=new_parent.pk)
            if new_parent.pk == user.pk or new_parent.is_descendant_of(user):
                raise ValidationError(
                    {"parent": f"{user} cannot report to {new_parent}, who is below them."}
                )
        # save() (not move_to) keeps siblings in the tree's declared order (order_insertion_by).
        user.parent = new_parent
        user.save()
    _bump()
    tree_after = load_tree()
    after = visible_mailbox_counts(tree_after)
    grown = [uid for uid, total in after.items() if total > before.get(uid, 0)]
    return _warnings_for(list(User.objects.filter(pk__in=grown)), tree_after)


def sync_only_user_create(*, serves: User, username: str | None = None, email: str = "") -> User:
    """A user that holds a second mailbox for `serves`: sits under them, cannot log in."""
    username = username or f"{serves.username}-mailbox-2"
    if User.objects.filter(username=username).exists():
        raise ValidationError({"username": f"The username {username} is taken."})
    with tree_lock():
        sync_user = User(
            username=username,
            first_name=serves.first_name,
            last_name=f"{serves.last_name} (2nd mailbox)".strip(),
            email=email,
            is_sync_only=True,
            parent=User.objects.get(pk=serves.pk),
            visibility_level=VisibilityLevel.OWN,
        )
        sync_user.set_unusable_password()
        sync_user.save()
    return sync_user


def users_over_cap() -> list[tuple[User, int]]:
    """Every user whose level allows more mailboxes than the cap, with that number."""
    counts = visible_mailbox_counts(load_tree())
    over = {uid: n for uid, n in counts.items() if n > settings.VISIBILITY_MAILBOX_CAP}
    users = User.objects.filter(pk__in=over).order_by("tree_id", "lft")
    return [(user, over[user.pk]) for user in users]


def _warnings_for(users: list[User], nodes: list[Node] | None = None) -> list[CapWarning]:
    nodes = load_tree() if nodes is None else nodes
    warnings = []
    for user in users:
        visibility = compute_visibility(
            nodes,
            viewer_id=user.pk,
            level=VisibilityLevel(user.visibility_level),
            cap=settings.VISIBILITY_MAILBOX_CAP,
        )
        if visibility.is_capped:
            warnings.append(CapWarning(user=user, total=visibility.total, cut=visibility.cut))
    return warnings


def _bump() -> None:
    # QuerySet.update and mptt's bulk lft/rght rewrites send no post_save: invalidate explicitly.
    from hierarchy.signals import bump_tree_version

    bump_tree_version()


SUPPORT_GROUP = "Support staff"
SUPPORT_PERMISSIONS = {
    "hierarchy": ["view_user", "change_user"],
    "mailsync": ["view_mailbox", "view_syncrun", "view_bodyaccess"],
    # Login lockouts: see them and unlock them (crm/core/admin.py).
    "axes": ["view_accessattempt", "delete_accessattempt", "view_accesslog"],
}


def support_group_ensure() -> Group:
    """The group support staff belong to: they set levels and move users in the tree in admin.

    Idempotent; run after every migrate so new permissions reach the group.
    """
    group, _ = Group.objects.get_or_create(name=SUPPORT_GROUP)
    wanted = Permission.objects.filter(
        Q(
            *[
                Q(content_type__app_label=app, codename__in=codenames)
                for app, codenames in SUPPORT_PERMISSIONS.items()
            ],
            _connector=Q.OR,
        )
    )
    group.permissions.set(wanted)
    return group
