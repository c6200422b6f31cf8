"""What an incremental sync costs as a mailbox grows.

    .venv/bin/python benchmarks/sync_costs.py [--sizes 1000,10000,100000]

For each size: a fresh Dovecot holding that many messages in alice's INBOX, Postcard's first
import into PostgreSQL (DATABASE_URL, default postcard_bench_imap), then timed, median of 5:
a sync with nothing new on the session the worker kept from the previous sync (the steady state:
mailsync/providers/imap_sessions.py), the same with a fresh login each time (a worker's first sync
of a mailbox, or one past the session age limit), and a sync after 10 new messages arrived and 10
were deleted. Target: a no-change sync under 50 ms whatever the mailbox size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.imap_import import (
    FOLDER,
    PASSWORD,
    USER,
    load_mailbox,
    mailbox_messages,
    postcard_connect,
    postcard_sync,
    setup_postcard,
)
from tests.servers.dovecot import Dovecot

ROUNDS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    setup_postcard()
    for size in (int(s) for s in args.sizes.split(",")):
        measure(size)


def measure(size: int) -> None:
    from mailsync.connections import imap_sessions
    from mailsync.models import Message, SkippedMessage

    with Dovecot(users={USER: PASSWORD}) as dovecot:
        load_mailbox(dovecot, size, seed=1)
        mailbox_id = postcard_connect(dovecot)
        imported, counts = postcard_sync(mailbox_id)
        print(f"{size:>7} messages: first import {imported:.1f} s ({counts})")
        postcard_sync(mailbox_id)  # the session is parked on INBOX after a sync that changed it
        quiet = [postcard_sync(mailbox_id)[0] for _ in range(ROUNDS)]
        worst = max(quiet) * 1000
        print(f"{size:>7} messages: no-change sync median {ms(quiet)} (max {worst:.1f} ms)")
        fresh_login = []
        for _ in range(ROUNDS):
            imap_sessions().close_all()
            fresh_login.append(postcard_sync(mailbox_id)[0])
        print(f"{size:>7} messages: no-change sync, fresh login, median {ms(fresh_login)}")
        churn = []
        # Messages numbered after the loaded ones: new Message-IDs, same mix.
        fresh = list(mailbox_messages(size + 10 * ROUNDS, seed=1))[size:]
        for round_ in range(ROUNDS):
            uids = dovecot.uids(USER, FOLDER)
            dovecot.expunge(USER, FOLDER, uids[round_ * 10 : round_ * 10 + 10])
            dovecot.append_many(USER, FOLDER, fresh[round_ * 10 : round_ * 10 + 10])
            seconds, counts = postcard_sync(mailbox_id)
            assert "added 10, removed 10" in counts, counts
            churn.append(seconds)
        print(f"{size:>7} messages: 10 new + 10 deleted sync median {ms(churn)}")
        skipped = SkippedMessage.objects.count()  # not emails: remembered, not stored
        assert Message.objects.count() + skipped == len(dovecot.uids(USER, FOLDER))


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


if __name__ == "__main__":
    main()
