from typing import Any

from django.core.management.base import BaseCommand
from django.db.models import Count

from mailsync.models import Mailbox
from mailsync.selectors import SyncState, mailbox_status_view


def _watched(mailbox: Mailbox) -> str:
    """The listener's health for the mailbox (mailsync/push/imap_idle.py), if one watches it."""
    watch = getattr(mailbox, "watch", None)
    if watch is None:
        return ""
    state = "connected" if watch.connected else f"not connected ({watch.last_error or '...'})"
    event = watch.last_event_at.strftime("%H:%M:%S") if watch.last_event_at else "none yet"
    return f"  [IDLE {state} by {watch.listener}, last event {event}]"


class Command(BaseCommand):
    help = "List every mailbox with its state, last sync and message count."

    def handle(self, *args: Any, **options: Any) -> None:
        mailboxes = (
            Mailbox.objects.select_related("owner", "watch")
            .annotate(message_total=Count("messages"))
            .order_by("address")
        )
        for m in mailboxes:
            # The state the settings page shows (demo, backing off, stalled...), not the raw column.
            state = mailbox_status_view(m, runs=0).state
            last = m.last_synced_at.strftime("%Y-%m-%d %H:%M") if m.last_synced_at else "never"
            line = f"{m.address:40} {state:12} {m.message_total:>7} msgs  last sync {last}"
            if state in (SyncState.FIRST_IMPORT, SyncState.SYNCING):
                line += f"  ({m.progress_done}/{m.progress_total})"
            if m.state_reason:
                line += f"  - {m.state_reason}"
            line += _watched(m)
            self.stdout.write(line)
