"""Bare IMAP cost of a no-change check, without Postcard: the floor under a no-change sync.

    .venv/bin/python benchmarks/imap_floor.py [--sizes 1000,100000]

Logs in, ENABLEs QRESYNC, LISTs and asks STATUS of three folders, then logs out: the round trips
a Postcard no-change sync makes on a fresh login, timed with imapclient alone (median of 7). Then
those of a sync on a kept session parked on INBOX: NOOP, LIST, STATUS of the two other folders.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from imapclient import IMAPClient

from benchmarks.imap_import import load_mailbox
from tests.servers.dovecot import Dovecot

STATUS_ITEMS = [b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES", b"HIGHESTMODSEQ"]


def no_change_round_trips(server: Dovecot) -> float:
    started = time.perf_counter()
    client = IMAPClient(server.host, port=server.port, ssl=False)
    client.login("alice", "secret")
    client.enable("QRESYNC")
    client.list_folders()
    for name in ("INBOX", "Sent", "Archive"):
        client.folder_status(name, STATUS_ITEMS)
    client.logout()
    return (time.perf_counter() - started) * 1000


def kept_session_round_trips(client: IMAPClient) -> float:
    started = time.perf_counter()
    client.noop()
    client.list_folders()
    for name in ("Sent", "Archive"):
        client.folder_status(name, STATUS_ITEMS)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,100000")
    for size in (int(s) for s in parser.parse_args().sizes.split(",")):
        with Dovecot(users={"alice": "secret"}) as server:
            load_mailbox(server, size, 1)
            median = statistics.median(no_change_round_trips(server) for _ in range(7))
            print(f"{size}: bare IMAP no-change round trips, fresh login, median {median:.1f} ms")
            client = IMAPClient(server.host, port=server.port, ssl=False)
            client.login("alice", "secret")
            client.enable("QRESYNC")
            client.select_folder("INBOX", readonly=True)
            median = statistics.median(kept_session_round_trips(client) for _ in range(7))
            print(f"{size}: bare IMAP no-change round trips, kept session, median {median:.1f} ms")
            client.logout()


if __name__ == "__main__":
    main()
