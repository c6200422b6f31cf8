"""Time mirroring a Microsoft 365 mailbox over Graph, against the fake Graph (tests/servers).

    .venv/bin/python benchmarks/graph_import.py [--messages 10000] [--quiet-messages 100000]
        [--folders 30] [--seed 1]

Starts the fake Microsoft identity platform and Graph in this process (tests/servers/microsoft.py),
and, in one run:

1. **First import.** Loads `--messages` varied messages into alice's Inbox (the IMAP benchmark's
   mailbox: 80% generated business mail, 20% cycled from ../shared/corpus/emails) and times
   - the floor: a bare client with Postcard's concurrency (4 threads, Outlook's limit per
     mailbox) paging through the folder's delta and downloading every message's MIME, nothing
     parsed or stored;
   - Postcard's first import into PostgreSQL (DATABASE_URL, default postcard_bench_graph): the
     sync service a worker runs, connected by the product's own sign-in code.
   Target (issue 10): within 1.3x of the floor.
2. **A no-change sync** of a mailbox of `--folders` folders holding `--quiet-messages` messages in
   all (already imported): wall time, Postcard's own time (wall time minus the time spent waiting
   for Graph), and HTTP round trips. Target: under 50 ms of Postcard's own time, at most one
   round trip per 20 folders.
3. **Requests per new message**: one new message in one folder, then a sync.

The fake answers from this process's threads: its own work counts in the wall times (for the floor
too), not in Postcard's own time. Compare the ratios of one run (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.imap_import import mailbox_messages  # noqa: E402
from tests.servers.microsoft import MicrosoftCloud, point_postcard_at  # noqa: E402
from tests.servers.microsoft_identity import form_fields  # noqa: E402

POSTCARD_DB = "postgres://postgres@127.0.0.1:5432/postcard_bench_graph"
ALICE = "alice@contoso.com"
ALICE_UPN = "alice@contoso.onmicrosoft.com"
IN_FLIGHT = 4
PAGE = 200


@dataclass(frozen=True)
class Timed:
    seconds: float
    round_trips: int
    note: str = ""


def setup_postcard(cloud: MicrosoftCloud) -> None:
    from benchmarks.card_page import ensure_database, setup_django

    url = os.environ.setdefault("DATABASE_URL", POSTCARD_DB)
    if url.startswith(("postgres://", "postgresql://")):
        ensure_database(url)
    os.environ["REQUESTS_CA_BUNDLE"] = cloud.ca_pem_path
    setup_django()
    from django.conf import settings

    settings.DEBUG = False  # on only to skip the production key check: no query log

    point_postcard_at(
        cloud, settings, "http://127.0.0.1/settings/mailbox/connect/microsoft/callback/"
    )


def load(cloud: MicrosoftCloud, messages: Iterator[bytes], folder: str = "inbox") -> int:
    count = 0
    for raw in messages:
        cloud.tenant.deliver(ALICE, raw, folder)
        count += 1
    return count


# --- the floor: a bare client ----------------------------------------------------------------


def bare_token(cloud: MicrosoftCloud) -> str:
    """An access token through the product's sign-in code (the same as Postcard's)."""
    return str(sign_in().access_token)


def time_floor(cloud: MicrosoftCloud, token: str) -> Timed:
    """Page through the Inbox's delta, then GET every message's $value, 4 at a time."""
    cloud.tenant.reset_counts()
    headers = {"Authorization": f"Bearer {token}", "Prefer": 'IdType="ImmutableId"'}
    started = time.perf_counter()
    session = requests.Session()
    url = f"{cloud.graph_url}/me/mailFolders/inbox/messages/delta?$select=id"
    ids: list[str] = []
    while url:
        page = session.get(
            url, headers={**headers, "Prefer": f"{headers['Prefer']}, odata.maxpagesize={PAGE}"}
        ).json()
        ids += [item["id"] for item in page["value"] if "@removed" not in item]
        url = page.get("@odata.nextLink", "")

    sessions: dict[int, requests.Session] = {}

    def download(message_id: str) -> int:
        import threading

        own = sessions.setdefault(threading.get_ident(), requests.Session())
        response = own.get(f"{cloud.graph_url}/me/messages/{message_id}/$value", headers=headers)
        return len(response.content)

    with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
        total = sum(pool.map(download, ids))
    seconds = time.perf_counter() - started
    return Timed(
        seconds, cloud.tenant.requests_count(ALICE), f"{len(ids)} messages, {total / 1e6:.0f} MB"
    )


# --- Postcard -------------------------------------------------------------------------------


def sign_in() -> Any:
    """The product's sign-in: MSAL's flow, the fake's page posted as a browser would."""
    from mailsync import microsoft

    flow = microsoft.sign_in_start(login_hint=ALICE)
    answer = requests.post(
        flow["auth_uri"],
        data={"username": ALICE_UPN, "password": "secret", "consent": "accept"},
        allow_redirects=False,
        timeout=30,
    )
    return microsoft.sign_in_finish(flow, form_fields(answer.text))


def connect() -> int:
    from django.core.management import call_command

    from hierarchy.models import User
    from mailsync.microsoft import MICROSOFT
    from mailsync.services import mailbox_connect_oauth

    call_command("flush", interactive=False, verbosity=0)
    owner = User.objects.create_user("alice", email=ALICE)
    mailbox = mailbox_connect_oauth(
        owner=owner, via=MICROSOFT, address=ALICE, sign_in=sign_in(), sync_since_days=None
    )
    return int(mailbox.pk)


def time_sync(cloud: MicrosoftCloud, mailbox_id: int) -> tuple[Timed, float]:
    """One sync as the worker runs it; (timing, seconds spent waiting for Graph)."""
    from mailsync.connections import open_provider
    from mailsync.models import Mailbox
    from mailsync.sync import sync_mailbox

    mailbox = Mailbox.objects.get(pk=mailbox_id)
    provider = open_provider(mailbox)
    cloud.tenant.reset_counts()
    started = time.perf_counter()
    counts = sync_mailbox(mailbox, provider)
    seconds = time.perf_counter() - started
    waited = provider.client.http_seconds  # type: ignore[attr-defined]
    note = f"added {counts.added}, removed {counts.removed}, skipped {counts.skipped}"
    return Timed(seconds, cloud.tenant.requests_count(ALICE), note), waited


def quiet_mailbox(cloud: MicrosoftCloud, folders: int, messages: int, seed: int) -> None:
    """`folders` folders (Inbox, Sent Items, Archive and user folders) sharing `messages`."""
    names = ["inbox", "sentitems", "archive"]
    names += [cloud.tenant.create_folder(ALICE, f"Project {n:02}") for n in range(folders - 3)]
    for n, raw in enumerate(mailbox_messages(messages, seed)):
        cloud.tenant.deliver(ALICE, raw, names[n % len(names)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--quiet-messages", type=int, default=100_000)
    parser.add_argument("--folders", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with MicrosoftCloud() as cloud:
        setup_postcard(cloud)
        started = time.perf_counter()
        loaded = load(cloud, mailbox_messages(args.messages, args.seed))
        took = time.perf_counter() - started
        print(f"loaded {loaded} messages into the fake's Inbox in {took:.1f} s")

        floor = time_floor(cloud, bare_token(cloud))
        mailbox_id = connect()
        postcard, _waited = time_sync(cloud, mailbox_id)
        print(
            f"floor (bare client, {IN_FLIGHT} in flight)  {floor.seconds:7.2f} s  "
            f"{floor.round_trips} requests  [{floor.note}]"
        )
        print(
            f"postcard first import           {postcard.seconds:7.2f} s  "
            f"{postcard.round_trips} requests  [{postcard.note}]"
        )
        print(
            f"postcard / floor: {postcard.seconds / floor.seconds:.2f}x (target <= 1.3x); "
            f"requests per message {postcard.round_trips / max(loaded, 1):.3f}"
        )

    with MicrosoftCloud() as cloud:
        setup_postcard(cloud)
        started = time.perf_counter()
        quiet_mailbox(cloud, args.folders, args.quiet_messages, args.seed)
        print(
            f"\nloaded {args.quiet_messages} messages into {args.folders} folders in "
            f"{time.perf_counter() - started:.1f} s"
        )
        mailbox_id = connect()
        first, _ = time_sync(cloud, mailbox_id)
        print(f"first import {first.seconds:.1f} s, {first.round_trips} requests [{first.note}]")
        runs = [time_sync(cloud, mailbox_id) for _ in range(7)]
        walls = sorted(t.seconds for t, _ in runs)
        owns = sorted(t.seconds - w for t, w in runs)
        trips = runs[-1][0].round_trips
        print(
            f"no-change sync, {args.folders} folders, {args.quiet_messages} messages: "
            f"median {walls[3] * 1000:.1f} ms wall, {owns[3] * 1000:.1f} ms Postcard's own "
            f"(target < 50 ms); {trips} round trips (target <= {-(-args.folders // 20)})"
        )
        cloud.tenant.deliver(ALICE, next(mailbox_messages(1, args.seed + 1)), "inbox")
        one, _ = time_sync(cloud, mailbox_id)
        ms = one.seconds * 1000
        print(f"one new message: {ms:.0f} ms, {one.round_trips} round trips [{one.note}]")
        host = urlsplit(cloud.graph_url).netloc
        print(f"(fake Graph at {host}; PostgreSQL {os.environ['DATABASE_URL'].rsplit('/', 1)[-1]})")


if __name__ == "__main__":
    main()
