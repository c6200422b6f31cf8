"""Time mirroring a Gmail mailbox over the Gmail API, against the fake Gmail (tests/servers).

    .venv/bin/python benchmarks/gmail_import.py [--messages 10000] [--quota 15000]
        [--quiet-messages 100000] [--seed 1]

Starts the fake Google sign-in service and Gmail in this process (tests/servers/google.py) and,
in one run:

1. **First import.** Loads `--messages` varied messages into alice's Inbox (the IMAP benchmark's
   mix: 80% generated business mail, 20% cycled from ../shared/corpus/emails), with Gmail's
   per-user quota set to `--quota` units a minute on both sides, and times
   - the floor: a bare google-api-python-client paging through messages.list and downloading
     every message (format=raw) in batches of 50, one batch at a time, keeping under the same
     quota with the same budget, nothing decoded, parsed or stored;
   - Postcard's first import into PostgreSQL (DATABASE_URL, default postcard_bench_gmail): the
     sync service a worker runs, connected by the product's own sign-in code.
   Target (issue 11): within 1.3x of the floor, without exceeding the quota (the fake reports
   the most units spent in any minute and how many calls it refused). At Google's 15,000 units
   a minute both are bound by the quota; `--quota 0` also times both without one.
2. **A no-change sync** of a mailbox of `--quiet-messages` messages (imported without a quota):
   wall time, Postcard's own time (wall time minus the time spent waiting for Gmail) and the
   calls made. Target: one history.list call, under 50 ms of Postcard's own time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.imap_import import mailbox_messages  # noqa: E402
from tests.servers.google import GoogleCloud, point_postcard_at  # noqa: E402
from tests.servers.google_identity import form_fields  # noqa: E402

POSTCARD_DB = "postgres://postgres@127.0.0.1:5432/postcard_bench_gmail"
ALICE = "alice@acme.test"
UNLIMITED = 100_000_000
WINDOW = 61  # seconds: Gmail's quota minute, as Postcard's budget counts it


@dataclass(frozen=True)
class Timed:
    seconds: float
    calls: int
    note: str = ""


def setup_postcard(cloud: GoogleCloud) -> None:
    from benchmarks.card_page import ensure_database, setup_django

    url = os.environ.setdefault("DATABASE_URL", POSTCARD_DB)
    if url.startswith(("postgres://", "postgresql://")):
        ensure_database(url)
    os.environ["REQUESTS_CA_BUNDLE"] = cloud.ca_pem_path
    setup_django()
    from django.conf import settings

    settings.DEBUG = False  # on only to skip the production key check: no query log
    point_postcard_at(cloud, settings, "http://127.0.0.1/settings/mailbox/connect/google/callback/")


def set_quota(cloud: GoogleCloud, units: int) -> None:
    from django.conf import settings

    cloud.accounts.set_quota(units)
    settings.GOOGLE_QUOTA_UNITS_PER_MINUTE = units


def load(cloud: GoogleCloud, messages: Iterator[bytes]) -> int:
    count = 0
    for raw in messages:
        cloud.accounts.deliver(ALICE, raw, labels=("INBOX",))
        count += 1
    return count


def sign_in() -> Any:
    """The product's sign-in: google-auth-oauthlib's flow, the fake's page posted as a browser
    would, the code exchanged by the product."""
    from mailsync import google

    flow = google.sign_in_start(login_hint=ALICE, scopes=google.MAIL_SCOPES)
    page = requests.get(flow["auth_uri"], timeout=30)
    fields = {**form_fields(page.text), "email": ALICE, "password": "secret", "action": "allow"}
    answer = requests.post(page.url, data=fields, allow_redirects=False, timeout=30)
    back = parse_qs(urlsplit(answer.headers["Location"]).query)
    return google.sign_in_finish(flow, {k: v[0] for k, v in back.items()})


# --- the floor: a bare client ----------------------------------------------------------------


def time_floor(cloud: GoogleCloud, token: str, quota: int) -> Timed:
    """messages.list pages, then batches of 50 messages.get(format=raw), under the quota."""
    import httplib2
    from googleapiclient.discovery import build
    from googleapiclient.http import BatchHttpRequest

    from mailsync.providers.gmail import UnitBudget

    cloud.accounts.reset_calls(ALICE)
    budget = UnitBudget(quota or UNLIMITED)
    started = time.perf_counter()
    http = httplib2.Http(timeout=60)
    users = build(
        "gmail", "v1", http=http, client_options={"api_endpoint": cloud.gmail_url}
    ).users()
    bearer = {"authorization": f"Bearer {token}"}
    ids: list[str] = []
    page_token = None
    while True:
        request = users.messages().list(
            userId="me", labelIds=["INBOX"], maxResults=500, pageToken=page_token
        )
        request.headers.update(bearer)
        budget.spend(5)
        body = request.execute()
        ids += [m["id"] for m in body.get("messages", [])]
        page_token = body.get("nextPageToken")
        if not page_token:
            break
    size = 0

    def collect(_key: str, response: Any, error: Exception | None) -> None:
        nonlocal size
        size += len(response["raw"]) if error is None else 0

    for start in range(0, len(ids), 50):
        batch = BatchHttpRequest(callback=collect, batch_uri=f"{cloud.gmail_url}batch/gmail/v1")
        for message_id in ids[start : start + 50]:
            request = users.messages().get(userId="me", id=message_id, format="raw")
            request.headers.update(bearer)
            batch.add(request)
        budget.spend(5 * len(ids[start : start + 50]))
        batch.execute(http=http)
    seconds = time.perf_counter() - started
    return Timed(
        seconds, len(cloud.accounts.calls(ALICE)), f"{len(ids)} messages, {size / 1e6:.0f} MB"
    )


# --- Postcard -------------------------------------------------------------------------------


def connect(signed_in: Any) -> int:
    from django.core.management import call_command

    from hierarchy.models import User
    from mailsync.google import GOOGLE
    from mailsync.services import mailbox_connect_oauth

    call_command("flush", interactive=False, verbosity=0)
    owner = User.objects.create_user("alice", email=ALICE)
    mailbox = mailbox_connect_oauth(
        owner=owner, via=GOOGLE, address=ALICE, sign_in=signed_in, sync_since_days=None
    )
    return int(mailbox.pk)


def time_sync(cloud: GoogleCloud, mailbox_id: int) -> tuple[Timed, float]:
    """One sync as the worker runs it; (timing, seconds spent waiting for Gmail)."""
    from mailsync.connections import open_provider
    from mailsync.models import Mailbox
    from mailsync.sync import sync_mailbox

    mailbox = Mailbox.objects.get(pk=mailbox_id)
    provider = open_provider(mailbox)
    cloud.accounts.reset_calls(ALICE)
    started = time.perf_counter()
    counts = sync_mailbox(mailbox, provider)
    seconds = time.perf_counter() - started
    waited = provider.client.http_seconds  # type: ignore[attr-defined]
    note = f"added {counts.added}, removed {counts.removed}, skipped {counts.skipped}"
    return Timed(seconds, len(cloud.accounts.calls(ALICE)), note), waited


def first_import(cloud: GoogleCloud, loaded: int, quota: int) -> None:
    set_quota(cloud, quota or UNLIMITED)
    signed_in = sign_in()
    floor = time_floor(cloud, signed_in.access_token, quota)
    floor_peak = cloud.accounts.peak_units_per_minute(ALICE)
    if quota:  # Postcard starts on a fresh quota minute, as the floor did
        time.sleep(WINDOW)
    mailbox_id = connect(signed_in)
    postcard, _waited = time_sync(cloud, mailbox_id)
    peak = cloud.accounts.peak_units_per_minute(ALICE)
    refused = cloud.accounts.refused(ALICE)
    quota_text = f"quota {quota} units/min" if quota else "no quota"
    print(f"\n{quota_text}:")
    for name, timed in (("floor (bare client)", floor), ("postcard first import", postcard)):
        print(f"  {name:24}  {timed.seconds:7.2f} s  {timed.calls} calls  [{timed.note}]")
    print(
        f"  postcard / floor: {postcard.seconds / floor.seconds:.2f}x (target <= 1.3x); "
        f"peak units in a minute {max(floor_peak, peak)}; calls refused by the quota {refused}; "
        f"calls per message {postcard.calls / max(loaded, 1):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--quota", type=int, default=15_000, help="units a minute; 0: none")
    parser.add_argument("--quiet-messages", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet-only", action="store_true", help="only the no-change sync")
    args = parser.parse_args()

    if not args.quiet_only:
        first_imports(args)
    quiet_sync(args)


def first_imports(args: argparse.Namespace) -> None:
    with GoogleCloud() as cloud:
        setup_postcard(cloud)
        started = time.perf_counter()
        loaded = load(cloud, mailbox_messages(args.messages, args.seed))
        took = time.perf_counter() - started
        print(f"loaded {loaded} messages into the fake's Inbox in {took:.1f} s")
        for quota in dict.fromkeys([args.quota, 0]):
            first_import(cloud, loaded, quota)


def quiet_sync(args: argparse.Namespace) -> None:
    with GoogleCloud() as cloud:
        setup_postcard(cloud)
        set_quota(cloud, UNLIMITED)
        started = time.perf_counter()
        load(cloud, mailbox_messages(args.quiet_messages, args.seed))
        print(f"\nloaded {args.quiet_messages} messages in {time.perf_counter() - started:.1f} s")
        mailbox_id = connect(sign_in())
        first, _ = time_sync(cloud, mailbox_id)
        print(f"first import {first.seconds:.1f} s, {first.calls} calls [{first.note}]")
        runs = [time_sync(cloud, mailbox_id) for _ in range(7)]
        walls = sorted(t.seconds for t, _ in runs)
        owns = sorted(t.seconds - w for t, w in runs)
        print(
            f"no-change sync, {args.quiet_messages} messages: median {walls[3] * 1000:.1f} ms "
            f"wall, {owns[3] * 1000:.1f} ms Postcard's own (target < 50 ms); calls "
            f"{runs[-1][0].calls} (target 1 history.list)"
        )
        cloud.accounts.deliver(ALICE, next(mailbox_messages(1, args.seed + 1)))
        one, _ = time_sync(cloud, mailbox_id)
        print(f"one new message: {one.seconds * 1000:.0f} ms, {one.calls} calls [{one.note}]")
        print(f"(PostgreSQL {os.environ['DATABASE_URL'].rsplit('/', 1)[-1]})")


if __name__ == "__main__":
    main()
