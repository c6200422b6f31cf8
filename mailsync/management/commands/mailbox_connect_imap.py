import sys
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from hierarchy.models import User
from mailsync.connections import ImapAccount
from mailsync.services import mailbox_connect_imap

SECURITY = ["ssl", "starttls", "plain"]


class Command(BaseCommand):
    help = "Connect a user's mailbox over IMAP. The password is read from standard input."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username", help="the CRM user who owns the mailbox")
        parser.add_argument("address", help="the email address")
        parser.add_argument("--login", help="IMAP/SMTP login name (default: the address)")
        parser.add_argument("--imap-host", required=True)
        parser.add_argument("--imap-port", type=int, default=993)
        parser.add_argument("--imap-security", choices=SECURITY, default="ssl")
        parser.add_argument("--smtp-host", default="", help="empty: no SMTP check")
        parser.add_argument("--smtp-port", type=int, default=587)
        parser.add_argument("--smtp-security", choices=SECURITY, default="starttls")
        parser.add_argument(
            "--since-days", default="90", help="how far back: 0 (new mail only), 30, 90, 365, all"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            owner = User.objects.get(username=options["username"])
        except User.DoesNotExist:
            raise CommandError(f"No user named {options['username']}.") from None
        password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise CommandError("Give the password on standard input.")
        since = options["since_days"]
        account = ImapAccount(
            address=options["address"],
            username=options["login"] or options["address"],
            password=password,
            imap_host=options["imap_host"],
            imap_port=options["imap_port"],
            imap_security=options["imap_security"],
            smtp_host=options["smtp_host"],
            smtp_port=options["smtp_port"],
            smtp_security=options["smtp_security"],
        )
        try:
            mailbox = mailbox_connect_imap(
                owner=owner, account=account, sync_since_days=None if since == "all" else int(since)
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        except ValueError:
            raise CommandError("--since-days takes a number of days or 'all'.") from None
        self.stdout.write(f"Connected {mailbox.address} for {owner.username}; first sync queued.")
