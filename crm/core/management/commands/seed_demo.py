"""`manage.py seed_demo [--if-empty] [--seed N]`: load the demo company (see crm/core/demo.py)."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from crm.core.demo import DEMO_PASSWORD, Summary, build_demo, company_is_seeded


class Command(BaseCommand):
    help = "Load a believable demo company: team, mailboxes, accounts, contacts, mail, activities."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the database already has users (other than superusers).",
        )
        parser.add_argument("--seed", type=int, default=1, help="Same seed, same company.")

    def handle(self, *args: Any, **options: Any) -> None:
        if company_is_seeded():
            if options["if_empty"]:
                self.stdout.write("seed_demo: the database already has users; nothing loaded.")
                return
            # Usernames and addresses would collide with the existing company.
            raise CommandError("The database already has users; seed_demo needs an empty one.")
        started = time.monotonic()
        summary = build_demo(seed=options["seed"])
        self._report(summary, time.monotonic() - started)

    def _report(self, summary: Summary, seconds: float) -> None:
        out = self.stdout.write
        out(self.style.SUCCESS(f"Demo company loaded in {seconds:.1f} s:"))
        out(f"  {summary.users} users with {summary.mailboxes} mailboxes")
        out(f"  {summary.accounts} accounts, {summary.contacts} contacts")
        out(
            f"  {summary.messages} synchronized messages: {summary.emails} emails in "
            f"{summary.threads} threads, {summary.shared_emails} held in several mailboxes"
        )
        out(f"  {summary.meetings} meetings, {summary.tasks} tasks")
        out(f"Logins (password {DEMO_PASSWORD}):")
        for username, title in summary.logins:
            out(f"  {username:<20} {title}")
