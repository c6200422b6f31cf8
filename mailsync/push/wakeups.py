"""A provider said a mailbox changed: sync it soon, once.

A burst of events for one mailbox makes one sync, and an event during a running sync is followed
by exactly one more. `Mailbox.wake_pending` carries that:

    an event       pending False -> True: one wake task queued (pending True already: nothing;
                   a task is on its way, or the running sync queues one when it ends)
    a sync starts  pending -> False: everything reported until now is in this sync
    a sync ends    pending True (an event came while it ran) -> one wake task queued
    a wake task    pending False when it gets the mailbox (a sync that started after the event
                   covered it): nothing to do

The events' contents are never trusted for anything but "look now": the sync reads the mailbox.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from mailsync.models import Mailbox


def mailbox_wake(*, mailbox_id: int) -> bool:
    """Record the event; True when it queued a sync."""
    now = timezone.now()
    turned = Mailbox.objects.filter(pk=mailbox_id, wake_pending=False).update(
        wake_pending=True, woken_at=now
    )
    if not turned:
        Mailbox.objects.filter(pk=mailbox_id).update(woken_at=now)
        return False
    if Mailbox.objects.filter(pk=mailbox_id, lease_until__gt=now).exists():
        return False  # a sync is running: it queues the one more when it ends
    _queue(mailbox_id)
    return True


def wake_claimed(mailbox_id: int) -> bool:
    """A sync is starting: whether a wake was pending (it is cleared: this sync covers it)."""
    return bool(Mailbox.objects.filter(pk=mailbox_id, wake_pending=True).update(wake_pending=False))


def wake_after_sync(mailbox_id: int) -> None:
    """A sync ended: one more if an event came while it ran."""
    if Mailbox.objects.filter(pk=mailbox_id, wake_pending=True).exists():
        _queue(mailbox_id)


def _queue(mailbox_id: int) -> None:
    from mailsync.tasks import mailbox_wake_task

    transaction.on_commit(lambda: mailbox_wake_task.delay(mailbox_id))
