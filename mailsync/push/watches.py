"""What the IMAP listener reads and writes (its database side, on its main thread)."""

from __future__ import annotations

import logging

from django.db.models import Q
from django.utils import timezone

from crm.core.fields import DecryptionError
from mailsync.connections import account_of
from mailsync.models import Mailbox, MailboxState, MailboxWatch, Provider
from mailsync.push.imap_idle import Event, Watcher, WatchTarget, shard_of
from mailsync.push.wakeups import mailbox_wake

logger = logging.getLogger(__name__)


def imap_watch_targets(*, shard: int, shards: int) -> list[WatchTarget]:
    """The active IMAP mailboxes of this shard, with their logins."""
    active = (
        Mailbox.objects.filter(provider=Provider.IMAP, is_demo=False)
        .exclude(state=MailboxState.DISCONNECTED)
        .exclude(Q(credentials="") | Q(credentials__isnull=True))
        .order_by("pk")
    )
    found = []
    for mailbox in active:
        if shard_of(mailbox.pk, shards) != shard:
            continue
        if not mailbox.connection_settings.get("imap_host"):
            continue
        try:
            found.append(WatchTarget(mailbox.pk, account_of(mailbox).imap()))
        except (DecryptionError, KeyError, ValueError) as error:  # its sync says why, too
            logger.warning("listener: mailbox %s is not watched: %s", mailbox.pk, error)
    return found


def watch_event(*, listener: str, event: Event) -> None:
    now = timezone.now()
    watches = MailboxWatch.objects.filter(mailbox_id=event.mailbox_id, listener=listener)
    if event.kind == "change":
        mailbox_wake(mailbox_id=event.mailbox_id)
        watches.update(last_event_at=now, seen_at=now)
    elif event.kind == "connected":
        watches.update(connected=True, last_error="", seen_at=now)
    else:
        watches.update(connected=False, last_error=event.detail[:500], seen_at=now)


def watches_refresh(*, listener: str, watchers: dict[int, Watcher]) -> None:
    """The listener's heartbeat: a row per watched mailbox, none for the ones it dropped."""
    now = timezone.now()
    MailboxWatch.objects.filter(listener=listener).exclude(mailbox_id__in=list(watchers)).delete()
    held = set(
        MailboxWatch.objects.filter(mailbox_id__in=list(watchers)).values_list(
            "mailbox_id", flat=True
        )
    )
    MailboxWatch.objects.filter(mailbox_id__in=list(watchers)).update(
        listener=listener, seen_at=now
    )
    MailboxWatch.objects.bulk_create(
        [
            MailboxWatch(mailbox_id=mailbox_id, listener=listener, since=now, seen_at=now)
            for mailbox_id in watchers
            if mailbox_id not in held
        ],
        ignore_conflicts=True,
    )


def watches_forget(*, listener: str) -> None:
    """The listener stops: it watches nothing any more."""
    MailboxWatch.objects.filter(listener=listener).delete()
