from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from crm.core.addresses import normalize_address
from mailsync.models import Mailbox
from mailsync.services import mailbox_sync


class Command(BaseCommand):
    help = "Sync one mailbox now, in the foreground, and print what changed."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("address")
        parser.add_argument(
            "--reconcile", action="store_true", help="compare every folder's full id set"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        address = normalize_address(options["address"])
        mailbox = Mailbox.objects.filter(address=address).first()
        if mailbox is None:
            raise CommandError(f"No connected mailbox {address}.")
        outcome = mailbox_sync(mailbox_id=mailbox.pk, reconcile=options["reconcile"])
        if outcome.counts is None:
            raise CommandError(outcome.error or "The sync did not run.")
        counts = outcome.counts
        self.stdout.write(
            f"{address}: added {counts.added}, removed {counts.removed}, "
            f"already held {counts.linked}, skipped {counts.skipped}"
        )
        for note in counts.notes:
            self.stdout.write(f"  {note}")
