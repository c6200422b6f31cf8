"""Time from delivery to the card, with the product running as the README says (web, worker,
beat, listener), at 1, 100 and 1,000 watched IMAP mailboxes.

    .venv/bin/python benchmarks/latency.py [--sizes 1,100,1000] [--deliveries 60] [--seconds 60]

For each size: a fresh Dovecot with that many accounts (process limits raised), a fresh PostgreSQL
database (DATABASE_URL, default postcard_bench_latency) with one Postcard user and IMAP mailbox
per account, then gunicorn (DEBUG off), a Celery worker (threads), beat and `manage.py
mailbox_listen`, as production runs them. Once the listener watches every mailbox, `--deliveries`
messages arrive at random moments over `--seconds`, each to a random mailbox and from a sender
who is a contact of its own; each is timed until it appears in that contact's emails through the
API (GET /api/contacts/{id}/emails/ with the owner's token, polled every 50 ms).

The IMAP server must be able to notify that many IDLE sessions: Dovecot uses an inotify instance
per session (the kernel allows 128 per user by default, beyond which Dovecot looks every 30 s);
the benchmark raises fs.inotify.max_user_instances when run as root, and says so.

Also reported: the listener's memory per watched mailbox (its RSS once all are watched, less its
RSS watching none, over the count) and the IMAP connections it holds (from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.card_page import ensure_database, gunicorn, percentile, production_env  # noqa: E402
from tests.servers.dovecot import Dovecot  # noqa: E402

POSTCARD_DB = "postgres://postgres@127.0.0.1:5432/postcard_bench_latency"
BROKER = "redis://127.0.0.1:6379/7"
PYTHON = Path(sys.executable)
PASSWORD = "secret"  # noqa: S105  (the test server's users)
# One IMAP process per watched mailbox: Dovecot's default limits (100 processes) raised.
DOVECOT_LIMITS = (
    "default_process_limit = 3000\n"
    "default_client_limit = 6000\n"
    "default_vsz_limit = 0\n"
    "mail_max_userip_connections = 100\n"
    "service imap {\n  process_limit = 3000\n}\n"
    "service imap-login {\n  process_min_avail = 4\n}\n"
)


INOTIFY = Path("/proc/sys/fs/inotify/max_user_instances")


def enough_inotify(size: int) -> str:
    """Dovecot learns of new mail in an IDLE session through inotify, one instance per session,
    all under one user here; past the kernel's limit (128 by default) it falls back to looking
    every 30 s (mailbox_idle_check_interval). Raised when this process may (root), said if not."""
    wanted = size * 2 + 64
    try:
        current = int(INOTIFY.read_text())
        if current < wanted:
            INOTIFY.write_text(str(wanted))
        return f"inotify instances per user: {int(INOTIFY.read_text())}"
    except OSError as error:
        return f"inotify instances per user NOT raised ({error}): Dovecot polls every 30 s"


def setup(env: dict[str, str], dovecot: Dovecot, size: int) -> dict[int, tuple[int, str]]:
    """Users, mailboxes (connection checked once, not a thousand times) and tokens:
    mailbox id -> (user id, API token)."""
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    from rest_framework.authtoken.models import Token

    from hierarchy.models import User
    from mailsync.connections import ImapAccount, check_imap
    from mailsync.services import mailbox_connect_imap

    tokens: dict[int, tuple[int, str]] = {}
    for n in range(size):
        user = User.objects.create_user(username=f"u{n}", email=f"u{n}@example.test")
        account = ImapAccount(
            address=f"u{n}@example.test", username=f"u{n}", password=PASSWORD,
            imap_host=dovecot.host, imap_port=dovecot.port, imap_security="plain",
            smtp_host="", smtp_port=25, smtp_security="plain",
        )  # fmt: skip
        if n == 0:
            check_imap(account)
        mailbox = mailbox_connect_imap(owner=user, account=account, sync_since_days=0, check=False)
        tokens[mailbox.pk] = (user.pk, Token.objects.create(user=user).key)
    return tokens


def processes(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """Worker, beat and listener, as README's "Running on PostgreSQL and Redis" starts them."""
    celery = [str(PYTHON), "-m", "celery", "-A", "crm"]
    commands = [
        [*celery, "worker", "-l", "warning", "--pool", "threads", "-c", "8", "--without-gossip",
         "--without-mingle"],
        [*celery, "beat", "-l", "warning", "-s", str(ROOT / "var" / "bench-beat")],
        [str(PYTHON), "manage.py", "mailbox_listen", "--refresh", "5"],
    ]  # fmt: skip
    return [subprocess.Popen(c, cwd=ROOT, env={**os.environ, **env}) for c in commands]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def connections(pid: int, port: int) -> int:
    """ESTABLISHED TCP connections from the process to the IMAP port (ss from iproute2)."""
    command = ["/usr/bin/ss", "-tnpH", "state", "established", f"( dport = :{port} )"]
    out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
    return sum(1 for line in out.splitlines() if f"pid={pid}," in line)


def wait_watched(size: int, timeout: float = 600) -> float:
    from mailsync.models import MailboxWatch

    started = time.monotonic()
    while MailboxWatch.objects.filter(connected=True).count() < size:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"only {MailboxWatch.objects.filter(connected=True).count()} watched")
        time.sleep(0.5)  # waiting for the listener, polled
    return time.monotonic() - started


def wait_first_syncs(size: int, timeout: float = 600) -> None:
    from mailsync.models import Mailbox

    started = time.monotonic()
    while Mailbox.objects.filter(last_synced_at__isnull=False).count() < size:
        if time.monotonic() - started > timeout:
            raise SystemExit("first syncs did not finish")
        time.sleep(0.5)


def api_sees(port: int, token: str, contact_id: int, subject: str) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/contacts/{contact_id}/emails/",
        headers={"Authorization": f"Token {token}", "Host": "127.0.0.1"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310  (loopback)
        return subject in answer.read().decode()


class VisibleTimer:
    """Times each delivered message until the API shows it (a poller thread each, every 50 ms)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._found: list[float] = []
        self._lock = threading.Lock()
        self._pollers: list[threading.Thread] = []

    def watch(self, token: str, contact_id: int, subject: str, delivered: float) -> None:
        def poll() -> None:
            while time.monotonic() < delivered + 180:
                if api_sees(self.port, token, contact_id, subject):
                    with self._lock:
                        self._found.append(time.monotonic() - delivered)
                    return
                time.sleep(0.05)  # the API polled every 50 ms

        thread = threading.Thread(target=poll)
        thread.start()
        self._pollers.append(thread)

    def latencies(self) -> list[float]:
        for thread in self._pollers:
            thread.join()
        return list(self._found)


def message(n: int, sender: str, to: str) -> tuple[str, bytes]:
    subject = f"Latency {n} {random.random():.6f}"
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = sender, to, subject
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = make_msgid(domain="customer.test")
    mail.set_content("Are you free on Thursday?\n")
    return subject, mail.as_bytes()


def deliveries(
    dovecot: Dovecot, port: int, tokens: dict[int, tuple[int, str]], count: int, seconds: float
) -> list[float]:
    from crm.contacts.services import contact_create
    from mailsync.models import Mailbox

    owners = dict(Mailbox.objects.values_list("pk", "owner__username"))
    plan = sorted(random.uniform(0, seconds) for _ in range(count))
    timer = VisibleTimer(port)
    started = time.monotonic()
    for n, at in enumerate(plan):
        mailbox_id = random.choice(list(tokens))
        _, token = tokens[mailbox_id]
        sender = f"sender{n}@customer.test"
        contact = contact_create(last_name=f"Sender {n}", emails=[sender])
        subject, raw = message(n, sender, f"{owners[mailbox_id]}@example.test")
        time.sleep(max(0.0, started + at - time.monotonic()))  # the planned moment
        delivered = time.monotonic()
        dovecot.append(owners[mailbox_id], "INBOX", raw)
        timer.watch(token, contact.pk, subject, delivered)
    return timer.latencies()


def run(size: int, count: int, seconds: float, env: dict[str, str]) -> dict[str, float]:
    url = env["DATABASE_URL"]
    if "django" in sys.modules and os.environ.get("DJANGO_SETTINGS_MODULE"):
        from django import db

        db.connections.close_all()  # the previous size's: its database is dropped now
    ensure_database(url, fresh=True)
    print(enough_inotify(size), flush=True)
    users = {f"u{n}": PASSWORD for n in range(size)}
    with Dovecot(users=users, extra_config=DOVECOT_LIMITS) as dovecot:
        tokens = setup(env, dovecot, size)
        started = processes(env)
        listener = started[2]
        try:
            wait_first_syncs(size)
            watched_in = wait_watched(size)
            rss = rss_kib(listener.pid)
            held = connections(listener.pid, dovecot.port)
            with gunicorn(env, workers=2) as port:
                latencies = deliveries(dovecot, port, tokens, count, seconds)
        finally:
            for process in started:
                process.terminate()
            for process in started:
                process.wait(timeout=60)
    return {
        "mailboxes": size,
        "median": statistics.median(latencies),
        "p95": percentile(latencies, 95),
        "max": max(latencies),
        "delivered": len(latencies),
        "watched_in": watched_in,
        "rss_mib": rss / 1024,
        "connections": held,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--deliveries", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    results = []
    # One environment (and keys) for every size: this process's Django keeps the first.
    env = production_env(os.environ.get("DATABASE_URL", POSTCARD_DB))
    env.update(REDIS_URL=os.environ.get("REDIS_URL", BROKER), ALLOWED_HOSTS="127.0.0.1")
    for size in (int(s) for s in args.sizes.split(",")):
        result = run(size, args.deliveries, args.seconds, env)
        results.append(result)
        print(json.dumps(result), flush=True)
    baseline = results[0]["rss_mib"] if results and results[0]["mailboxes"] <= 1 else None
    for r in results:
        per = ""
        if baseline is not None and r["mailboxes"] > 1:
            each = (r["rss_mib"] - baseline) * 1024 / (r["mailboxes"] - 1)
            per = f"; {each:.0f} KiB per mailbox"
        print(
            f"{r['mailboxes']:>5} mailboxes: delivery to the API median {r['median'] * 1000:.0f} "
            f"ms, p95 {r['p95'] * 1000:.0f} ms, max {r['max'] * 1000:.0f} ms "
            f"({r['delivered']:.0f} messages); listener RSS {r['rss_mib']:.1f} MiB{per}, "
            f"{r['connections']:.0f} IMAP connections; all watched {r['watched_in']:.1f} s "
            "after the first syncs"
        )


if __name__ == "__main__":
    main()
