"""Time sending from the CRM, as production runs it, against a real SMTP server and Dovecot.

    .venv/bin/python benchmarks/send.py [--sends 30] [--burst 200] [--paced 45] [--no-paced]

Starts Dovecot (the sender's IMAP account, for the Sent folder), the test SMTP server (aiosmtpd:
the submission server, recording what recipients would receive), gunicorn (DEBUG off) and one
Celery worker (prefork, one process; Redis broker on REDIS_URL, default redis://127.0.0.1:6379/6)
on PostgreSQL (DATABASE_URL, default postcard_bench_send, made fresh), then:

1. **Send to delivered and on the card.** `--sends` emails written one by one in the composer over
   HTTP (GET the page, POST "Send"), each timed until the SMTP server has accepted it, and until
   the contact's card (GET over HTTP) lists it as an email. Compared with a reference client
   doing what a desktop mail client does for one send: smtplib login and sendmail, then an
   imapclient APPEND to Sent, on fresh connections.
2. **Sends per second through one worker.** `--burst` emails queued at once (pace lifted), timed
   until the worker has sent and filed the last one; the reference sends the same number the
   same way, one after another.
3. **Within the provider's pace.** `--paced` emails queued at once with the pace left at the SMTP
   default (30 a minute): the busiest minute seen by the server, and how long the queue took.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import smtplib
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.card_page import (  # noqa: E402
    Browser,
    ensure_database,
    gunicorn,
    percentile,
    production_env,
)
from tests.servers.dovecot import Dovecot  # noqa: E402
from tests.servers.smtp import SmtpServer  # noqa: E402

POSTCARD_DB = "postgres://postgres@127.0.0.1:5432/postcard_bench_send"
BROKER = "redis://127.0.0.1:6379/6"
PYTHON = Path(sys.executable)
PASSWORD = "secret"  # noqa: S105  (the test servers' users)
ALICE = "alice@example.test"
BOB = "bob@example.test"
JANE = "jane@customer.test"


class Recorder:
    """When the SMTP server accepted each message, by subject."""

    def __init__(self) -> None:
        self.accepted: dict[str, float] = {}
        self.times: list[float] = []
        self.arrived = threading.Condition()

    def __call__(self, message: Any) -> None:
        found = re.search(rb"^Subject: (.*?)\r?$", message.data, re.MULTILINE)
        with self.arrived:
            now = time.perf_counter()
            self.accepted[found.group(1).decode() if found else ""] = now
            self.times.append(now)
            self.arrived.notify_all()

    def wait_subject(self, subject: str, timeout: float = 120) -> float:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while subject not in self.accepted:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"{subject!r} never reached the SMTP server")
                self.arrived.wait(left)
            return self.accepted[subject]

    def wait_for(self, count: int, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.times) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"only {len(self.times)} of {count} messages arrived")
                self.arrived.wait(left)


def prepare(env: dict[str, str], dovecot: Dovecot, smtp: SmtpServer) -> tuple[int, int, int]:
    """Alice (a login), her mailbox on Dovecot and the SMTP server, and Jane's card; Bob, whose
    own mailbox sends the paced run (a transport of its own, its minutes its own)."""
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    from crm.contacts.services import contact_create
    from hierarchy.models import User
    from mailsync.connections import ImapAccount
    from mailsync.services import mailbox_connect_imap

    alice = User.objects.create_user(
        username="alice", password=PASSWORD, email=ALICE, first_name="Alice", last_name="Adams"
    )
    account = ImapAccount(
        address=ALICE, username="alice", password=PASSWORD, imap_host=dovecot.host,
        imap_port=dovecot.port, imap_security="plain", smtp_host=smtp.host,
        smtp_port=smtp.port, smtp_security="plain",
    )  # fmt: skip
    mailbox_connect_imap(owner=alice, account=account, sync_since_days=0)
    bob = User.objects.create_user(username="bob", password=PASSWORD, email=BOB)
    mailbox_connect_imap(
        owner=bob,
        account=dataclasses.replace(account, address=BOB, username="bob"),
        sync_since_days=0,
    )
    jane = contact_create(owner=alice, first_name="Jane", last_name="Doe", emails=[JANE])
    return alice.pk, bob.pk, jane.pk


def celery_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(PYTHON), "-m", "celery", "-A", "crm", "worker", "--pool", "prefork", "-c", "1",
         "-l", "warning", "--without-gossip", "--without-mingle"],
        cwd=ROOT,
        env={**os.environ, **env},
    )  # fmt: skip


def on_card(browser: Browser, jane_id: int, subject: str) -> bool:
    """The card lists it among its emails (not only in the box of mail still on its way)."""
    page = browser.get(f"/contacts/{jane_id}/").body.decode()
    emails = re.sub(r'<section class="card-outbox".*?</section>', "", page, flags=re.DOTALL)
    return subject in emails


def send_from_composer(browser: Browser, jane_id: int, subject: str) -> None:
    page = browser.get(f"/emails/compose/?contact={jane_id}").body.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None, "no CSRF token on the composer"
    answer = browser.request(
        "POST",
        f"/emails/compose/?contact={jane_id}",
        {
            "csrfmiddlewaretoken": token.group(1),
            "from_choice": "own",
            "to": JANE,
            "subject": subject,
            "body": "Dear Jane,\n\nthe figures you asked for.\n",
            "action": "send",
        },
    )
    assert answer.status == 302, f"the composer answered {answer.status}"


def latency(
    browser: Browser, recorder: Recorder, jane_id: int, sends: int
) -> tuple[list[float], list[float]]:
    delivered, shown = [], []
    for n in range(sends):
        subject = f"Latency {n}"
        started = time.perf_counter()
        send_from_composer(browser, jane_id, subject)
        delivered.append(recorder.wait_subject(subject) - started)
        while not on_card(browser, jane_id, subject):
            time.sleep(0.01)  # polling the card, as a user reloading it would
        shown.append(time.perf_counter() - started)
    return delivered, shown


def reference_send(smtp: SmtpServer, dovecot: Dovecot, subject: str) -> None:
    """What a desktop client does for one send: submit, then APPEND to Sent."""
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = ALICE, JANE, subject
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="example.test")
    message.set_content("Dear Jane,\n\nthe figures you asked for.\n")
    raw = message.as_bytes()
    with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as client:
        client.login("alice", PASSWORD)
        client.sendmail(ALICE, [JANE], raw)
    with dovecot.client("alice") as imap:
        imap.append("Sent", raw, flags=[b"\\Seen"])


def reference_latency(
    smtp: SmtpServer, dovecot: Dovecot, recorder: Recorder, sends: int
) -> list[float]:
    times = []
    for n in range(sends):
        subject = f"Reference {n}"
        started = time.perf_counter()
        reference_send(smtp, dovecot, subject)
        times.append(recorder.accepted[subject] - started)
    return times


def burst(owner_id: int, count: int, recorder: Recorder, prefix: str) -> tuple[float, list[float]]:
    """Queue `count` emails at once through the product's service; seconds until the last one
    was accepted, and the acceptance times."""
    from hierarchy.models import User
    from mailsync.sending.drafting import recipients
    from mailsync.sending.outbox import Draft, outgoing_send

    owner = User.objects.get(pk=owner_id)
    before = len(recorder.times)
    started = time.perf_counter()
    for n in range(count):
        outgoing_send(
            sender=owner,
            draft=Draft(from_choice="own", to=recipients(JANE, "To"), subject=f"{prefix} {n}",
                        body_text="Our newsletter.\n"),
        )  # fmt: skip
    recorder.wait_for(before + count, timeout=3600)
    arrivals = recorder.times[before:]
    return arrivals[-1] - started, arrivals


def busiest_minute(arrivals: list[float]) -> int:
    return max(sum(1 for t in arrivals if start <= t < start + 60) for start in arrivals)


def all_sent_and_filed(dovecot: Dovecot) -> tuple[int, int]:
    from mailsync.models import OutgoingMessage, OutgoingState

    sent = OutgoingMessage.objects.filter(state=OutgoingState.SENT).count()
    filed = 0
    for user in ("alice", "bob"):
        with dovecot.client(user) as imap:
            filed += int(imap.folder_status("Sent", ["MESSAGES"])[b"MESSAGES"])
    return sent, filed


def ms(samples: list[float], pct: int = 50) -> str:
    value = statistics.median(samples) if pct == 50 else percentile(samples, pct)
    return f"{value * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=30)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--paced", type=int, default=45)
    parser.add_argument("--no-paced", action="store_true")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", POSTCARD_DB)
    ensure_database(url, fresh=True)
    env = production_env(url)
    env["REDIS_URL"] = os.environ.get("REDIS_URL", BROKER)
    env["ALLOWED_HOSTS"] = "127.0.0.1"
    recorder = Recorder()
    users = {"alice": PASSWORD, "bob": PASSWORD}
    with Dovecot(users=users) as dovecot, SmtpServer(users=users, on_accept=recorder) as smtp:
        owner_id, bob_id, jane_id = prepare(env, dovecot, smtp)
        fast = {**env, "SMTP_SEND_PER_MINUTE": "100000", "SMTP_SEND_PER_DAY": "1000000"}
        worker = celery_worker(fast)
        try:
            with gunicorn(fast, workers=2) as port:
                browser = Browser(port)
                browser.login("alice", PASSWORD)
                send_from_composer(browser, jane_id, "Warm-up")  # the worker's first task
                recorder.wait_for(1)
                delivered, shown = latency(browser, recorder, jane_id, args.sends)
            reference = reference_latency(smtp, dovecot, recorder, args.sends)
            os.environ.update(fast)  # this process queues the burst: the same pace as the worker
            from django.conf import settings

            settings.SMTP_SEND_PACE = (100000, 1000000)
            seconds, _ = burst(owner_id, args.burst, recorder, "Burst")
            started = time.perf_counter()
            for n in range(args.burst):
                reference_send(smtp, dovecot, f"Reference burst {n}")
            reference_seconds = time.perf_counter() - started
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        paced = None
        if not args.no_paced:
            settings.SMTP_SEND_PACE = (30, 500)
            worker = celery_worker(
                {**env, "SMTP_SEND_PER_MINUTE": "30", "SMTP_SEND_PER_DAY": "500"}
            )
            try:
                paced = burst(bob_id, args.paced, recorder, "Paced")
            finally:
                worker.terminate()
                worker.wait(timeout=30)
        sent, filed = all_sent_and_filed(dovecot)
        expected = 1 + args.sends + args.burst + (0 if args.no_paced else args.paced)
        by_reference = args.sends + args.burst
        duplicates = len(recorder.times) - len(set(recorder.accepted))

    print(
        f"send to accepted by the SMTP server, median of {args.sends}: {ms(delivered)} "
        f"(p95 {ms(delivered, 95)}); reference client (smtplib + APPEND): {ms(reference)}"
    )
    print(f"send to on the card (GET over HTTP), median: {ms(shown)} (p95 {ms(shown, 95)})")
    print(f"one worker, {args.burst} queued at once: {args.burst / seconds:.1f} sends/s "
          f"({seconds:.1f} s); reference client one after another: "
          f"{args.burst / reference_seconds:.1f} sends/s ({reference_seconds:.1f} s)")  # fmt: skip
    if paced is not None:
        paced_seconds, arrivals = paced
        print(f"paced at 30 a minute: {args.paced} queued at once took {paced_seconds:.0f} s; "
              f"busiest minute at the server: {busiest_minute(arrivals)} messages")  # fmt: skip
    print(f"sent in the outbox: {sent} of {expected}; Sent folder: {filed - by_reference} "
          f"copies of Postcard's {expected} (and the reference client's {by_reference}); "
          f"duplicate deliveries: {duplicates}")  # fmt: skip


if __name__ == "__main__":
    main()
