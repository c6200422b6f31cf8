"""Time calendar push against a real Radicale, with a real Celery worker.

    .venv/bin/python benchmarks/calendar_push.py [--meetings 30] [--existing 1000]

Starts Radicale (tests/servers/caldav_servers.py) and a Celery worker (threads pool, Redis broker
on REDIS_URL, default redis://127.0.0.1:6379/5; PostgreSQL DATABASE_URL, default
postcard_bench_calendar), as production runs them, then:

1. **Save to readable.** Saves `--meetings` meetings one by one through the product's service
   (the page and the API call the same), each flagged "show in my external calendar", and times
   how long until each one is readable in Radicale over CalDAV (polled every 20 ms).
   Target (issue 12): median under 2 s.
2. **A calendar connected with existing items.** `--existing` flagged meetings and tasks already
   in the CRM, then the calendar is connected: the time until every one is in Radicale, the HTTP
   requests the worker made (Radicale's access log), and that there is no duplicate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.caldav_servers import Radicale  # noqa: E402

POSTCARD_DB = "postgres://postgres@127.0.0.1:5432/postcard_bench_calendar"
BROKER = "redis://127.0.0.1:6379/5"
PASSWORD = "secret"  # noqa: S105  (the test server's users: tests/servers/caldav_servers.py)


def setup(radicale: Radicale) -> subprocess.Popen[bytes]:
    from benchmarks.card_page import ensure_database, setup_django

    os.environ.setdefault("DATABASE_URL", POSTCARD_DB)
    os.environ.setdefault("REDIS_URL", BROKER)
    ensure_database(os.environ["DATABASE_URL"], fresh=True)
    setup_django()
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "crm.settings"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--pool", "threads", "-c", "4",
         "-l", "warning", "--without-gossip", "--without-mingle"],
        cwd=ROOT,
        env=env,
    )  # fmt: skip
    return worker


def connect(radicale: Radicale, owner) -> None:
    from calendars.services import caldav_calendars, calendar_connect_caldav

    calendar_url = radicale.make_calendar(owner.username, "Work")
    url, calendars = caldav_calendars(
        server_url=radicale.url, username=owner.username, password=PASSWORD
    )
    chosen = next(c for c in calendars if c.key.rstrip("/") == calendar_url.rstrip("/"))
    calendar_connect_caldav(
        owner=owner, server_url=url, username=owner.username, password=PASSWORD, calendar=chosen
    )


def uids_in(radicale: Radicale, user: str, calendar_url: str) -> list[str]:
    return [
        str(component["UID"])
        for calendar in radicale.events(user, calendar_url)
        for component in calendar.walk()
        if component.name in ("VEVENT", "VTODO")
    ]


def save_to_readable(radicale: Radicale, count: int) -> list[float]:
    from django.db import transaction

    from calendars.models import CalendarConnection
    from calendars.push import uid_for
    from crm.activities.services import meeting_create
    from hierarchy.models import User

    owner = User.objects.create_user("alice", email="alice@example.test")
    connect(radicale, owner)
    calendar_url = CalendarConnection.objects.get(owner=owner).calendar_key
    client = radicale.client("alice")
    seconds = []
    start = datetime.now(UTC) + timedelta(days=7)
    for n in range(count):
        with transaction.atomic():
            meeting = meeting_create(
                owner=owner,
                title=f"Meeting {n}",
                starts_at=start + timedelta(hours=n),
                ends_at=start + timedelta(hours=n, minutes=30),
                show_in_external_calendar=True,
            )
        saved = time.perf_counter()
        href = f"{calendar_url.rstrip('/')}/{uid_for('meeting', meeting.pk)}.ics"
        while client.request(href, "GET").status != 200:
            time.sleep(0.02)
        seconds.append(time.perf_counter() - saved)
    return seconds


def existing_items(radicale: Radicale, count: int) -> tuple[float, int, int]:
    from crm.activities.models import Meeting, Task
    from hierarchy.models import User

    owner = User.objects.create_user("bob", email="bob@example.test")
    start = datetime.now(UTC) + timedelta(days=3)
    meetings = [
        Meeting(owner=owner, title=f"Existing {n}", starts_at=start + timedelta(hours=n),
                ends_at=start + timedelta(hours=n, minutes=45), show_in_external_calendar=True)
        for n in range(count // 2)
    ]  # fmt: skip
    tasks = [
        Task(owner=owner, title=f"Task {n}", due_at=start + timedelta(hours=n),
             show_in_external_calendar=True)
        for n in range(count - count // 2)
    ]  # fmt: skip
    Meeting.objects.bulk_create(meetings)
    Task.objects.bulk_create(tasks)
    requests_before = radicale_requests(radicale)
    started = time.perf_counter()
    connect(radicale, owner)
    from calendars.models import CalendarConnection

    calendar_url = CalendarConnection.objects.get(owner=owner).calendar_key
    while len(uids := uids_in(radicale, "bob", calendar_url)) < count:
        time.sleep(0.5)
    took = time.perf_counter() - started
    time.sleep(2)  # anything late would show up as a duplicate
    uids = uids_in(radicale, "bob", calendar_url)
    return took, radicale_requests(radicale) - requests_before, len(uids) - len(set(uids))


def radicale_requests(radicale: Radicale) -> int:
    """Requests the worker sent Radicale so far (its log at info level has one "request for"
    line per request; the benchmark's own reads, REPORTs, are left out)."""
    return sum(
        1
        for line in radicale.log_tail(10**9).splitlines()
        if " request for " in line and "REPORT request" not in line
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meetings", type=int, default=30)
    parser.add_argument("--existing", type=int, default=1000)
    args = parser.parse_args()

    with Radicale(log_requests=True) as radicale:
        worker = setup(radicale)
        try:
            time.sleep(3)  # the worker connects to the broker
            seconds = sorted(save_to_readable(radicale, args.meetings))
            p90 = seconds[int(len(seconds) * 0.9) - 1]
            print(
                f"save to readable in Radicale, {len(seconds)} meetings: median "
                f"{statistics.median(seconds) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, max "
                f"{seconds[-1] * 1000:.0f} ms (target: median < 2 s)"
            )
            took, requests, duplicates = existing_items(radicale, args.existing)
            print(
                f"{args.existing} existing items pushed on connecting: {took:.1f} s, "
                f"{requests} requests to Radicale, {duplicates} duplicates"
            )
        finally:
            worker.terminate()
            worker.wait(timeout=30)


if __name__ == "__main__":
    main()
