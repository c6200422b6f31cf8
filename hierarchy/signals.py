"""Cache invalidation only: any change to users or mailboxes makes cached visibilities stale.

Bumping a version (rather than deleting keys) invalidates every viewer's entry at once; the old
entries simply expire. Admin edits, services, demo data and createsuperuser all pass through here.
"""

from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from hierarchy.models import User
from hierarchy.selectors import TREE_VERSION_KEY, fresh_tree_version
from mailsync.models import Mailbox


def bump_tree_version(**_: Any) -> None:
    def bump() -> None:
        try:
            cache.incr(TREE_VERSION_KEY)
        except ValueError:  # not set yet, or evicted
            cache.set(TREE_VERSION_KEY, fresh_tree_version(), timeout=None)

    # Now, so this transaction reads its own change; and again after commit, so a reader that
    # cached the old tree under the first new version (before our commit) is not believed.
    bump()
    transaction.on_commit(bump)


def connect() -> None:
    for model in (User, Mailbox):
        post_save.connect(bump_tree_version, sender=model, dispatch_uid=f"tree-{model.__name__}")
        post_delete.connect(bump_tree_version, sender=model, dispatch_uid=f"tree-d{model.__name__}")
