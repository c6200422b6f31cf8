from typing import Any

from django.core.management.base import BaseCommand

from mailsync.card_links import card_links_rebuild


class Command(BaseCommand):
    help = (
        "Rebuild the index the cards read (CardLink) from the stored mail and contacts: after "
        "loading rows by hand or restoring part of a backup. Normal writes keep it current."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{card_links_rebuild():,} card links built.")
