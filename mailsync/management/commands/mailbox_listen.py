"""The IMAP listener process: IDLE on every active IMAP mailbox of its shard, a sync queued when
the server reports a change (mailsync/push/imap_idle.py). Runs next to the Celery worker and
beat; several processes share the mailboxes with `--shard N --shards M`."""

from __future__ import annotations

import resource
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from crm.env import env_int
from mailsync.push.imap_idle import Listener
from mailsync.push.watches import (
    imap_watch_targets,
    watch_event,
    watches_forget,
    watches_refresh,
)


def _more_sockets() -> None:
    """One socket per watched mailbox: the soft limit on open files (often 1,024) raised to the
    hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(
            resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard)
        )


class Command(BaseCommand):
    help = "Watch IMAP mailboxes with IDLE and sync each one as soon as its server reports mail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--shard", type=int, default=env_int("LISTENER_SHARD", 0))
        parser.add_argument("--shards", type=int, default=env_int("LISTENER_SHARDS", 1))
        parser.add_argument(
            "--refresh",
            type=float,
            default=float(env_int("LISTENER_REFRESH_SECONDS", 30)),
            help="seconds between two reads of the mailboxes to watch",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        shard, shards = options["shard"], options["shards"]
        if shards < 1 or not 0 <= shard < shards:
            raise CommandError("--shard must be between 0 and --shards - 1.")
        listener: Listener

        def targets() -> list[Any]:
            close_old_connections()  # a connection the database dropped is opened again
            return list(imap_watch_targets(shard=shard, shards=shards))

        def named() -> str:
            return f"{listener.name} shard {shard}/{shards}"

        listener = Listener(
            targets=targets,
            on_event=lambda event: watch_event(listener=named(), event=event),
            on_refresh=lambda watchers: watches_refresh(listener=named(), watchers=watchers),
            refresh_every=options["refresh"],
        )
        _more_sockets()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: listener.stop())
        self.stdout.write(f"listening: {named()}")
        try:
            listener.run()
        finally:
            watches_forget(listener=named())
