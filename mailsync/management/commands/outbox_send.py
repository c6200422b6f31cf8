"""Send the outbox's due messages now, in the foreground (operators, and the test that kills a
worker after the server accepted a message)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mailsync.models import OutgoingMessage
from mailsync.sending.outbox import outgoing_claim_due, outgoing_deliver


class Command(BaseCommand):
    help = "Send queued messages whose time has come (or the ones named); prints their states."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="outgoing message ids (default: due)")

    def handle(self, *args: Any, **options: Any) -> None:
        ids = options["ids"] or outgoing_claim_due()
        for outgoing_id in ids:
            outgoing_deliver(outgoing_id=outgoing_id)
        states = Counter(OutgoingMessage.objects.filter(pk__in=ids).values_list("state", flat=True))
        self.stdout.write(
            ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none due"
        )
