"""Running syncs: states, errors, notifications, one sync at a time, and crash recovery."""

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core import mail
from django.db import connection

from mailsync.models import Mailbox, MailboxState, Message, SyncRun
from mailsync.services import (
    lease_acquire,
    lease_release,
    mailbox_reconnect,
    mailbox_sync,
    mailboxes_claim_due,
)
from tests.mailsync.sync_helpers import connect_alice, email, subjects

pytestmark = [pytest.mark.server]

ROOT = Path(__file__).resolve().parents[2]
ALICE = "alice@example.test"
JANE = "jane@customer.test"


@pytest.mark.django_db
def test_wrong_password_disconnects_at_once_and_sends_exactly_one_email(dovecot, caplog):
    dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    assert mailbox_sync(mailbox_id=mailbox.pk).counts.added == 1
    dovecot.set_password("alice", "changed-by-alice")
    # Providers end a changed password's sessions; a server that does not is covered by
    # test_imap_sessions.py (a kept session is never reused past its age limit).
    dovecot.kick("alice")

    for _ in range(3):  # the scheduler would not even try again; a forced retry sends nothing
        mailbox_sync(mailbox_id=mailbox.pk)

    mailbox.refresh_from_db()
    assert mailbox.state == MailboxState.DISCONNECTED
    assert "refused the login for alice" in mailbox.state_reason
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["alice@example.test"]
    assert "Reconnect" in mail.outbox[0].body
    assert mailbox_id_not_due(mailbox.pk)
    assert subjects(mailbox) == ["Message 1"]  # synced mail is kept
    assert "secret" not in caplog.text
    assert "changed-by-alice" not in caplog.text

    mailbox_reconnect(mailbox=mailbox, password="changed-by-alice")
    dovecot.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))
    outcome = mailbox_sync(mailbox_id=mailbox.pk)
    assert (outcome.counts.added, outcome.counts.linked) == (1, 0)  # no re-import
    mailbox.refresh_from_db()
    assert mailbox.state == MailboxState.ACTIVE


def mailbox_id_not_due(mailbox_id: int) -> bool:
    return mailbox_id not in mailboxes_claim_due()


@pytest.mark.django_db
def test_server_down_backs_off_then_recovers(dovecot):
    dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    dovecot.stop()

    first = mailbox_sync(mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    assert "refused the connection" in first.error
    assert mailbox.state == MailboxState.ACTIVE  # temporary: not disconnected
    assert mailbox.failures == 1
    first_delay = mailbox.next_sync_at - SyncRun.objects.latest("started_at").finished_at
    mailbox_sync(mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    second_delay = mailbox.next_sync_at - SyncRun.objects.latest("started_at").finished_at
    assert second_delay > first_delay  # exponential backoff
    assert mail.outbox == []

    dovecot.start()
    outcome = mailbox_sync(mailbox_id=mailbox.pk)
    mailbox.refresh_from_db()
    assert outcome.counts.added == 1
    assert (mailbox.state, mailbox.failures, mailbox.state_reason) == (MailboxState.ACTIVE, 0, "")


@pytest.mark.django_db
def test_one_sync_per_mailbox_and_the_lease_expires_if_a_worker_dies(dovecot):
    mailbox = connect_alice(dovecot)
    token = lease_acquire(mailbox.pk)
    assert token is not None
    assert mailbox_sync(mailbox_id=mailbox.pk).ran is False
    lease_release(mailbox.pk, token)
    assert lease_acquire(mailbox.pk) is not None
    Mailbox.objects.filter(pk=mailbox.pk).update(lease_until="2000-01-01T00:00:00Z")  # died
    assert mailbox_sync(mailbox_id=mailbox.pk).ran is True


@pytest.mark.django_db
def test_due_mailboxes_are_claimed_once(dovecot):
    mailbox = connect_alice(dovecot)
    assert mailboxes_claim_due() == [mailbox.pk]
    assert mailboxes_claim_due() == []


@pytest.mark.django_db(transaction=True)
def test_sync_killed_at_a_random_point_resumes_with_exactly_the_right_messages(dovecot):
    if connection.vendor != "postgresql":
        pytest.skip("the killed sync runs in another process: needs a shared PostgreSQL database")
    total = 1200
    dovecot.append_many("alice", "INBOX", [email(n, sender=JANE, to=ALICE) for n in range(total)])
    mailbox = connect_alice(dovecot)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "MAILBOX_SYNC_BATCH": "50",  # many commits, so the kill lands mid-import
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "mailbox_sync", ALICE],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_at_random_point(worker, total)
    stored_when_killed = Message.objects.count()
    print(f"killed after {stored_when_killed} of {total} messages were stored")

    assert mailbox_sync(mailbox_id=mailbox.pk).ran is False  # the dead worker's lease holds
    Mailbox.objects.filter(pk=mailbox.pk).update(lease_until="2000-01-01T00:00:00Z")  # lapses
    outcome = mailbox_sync(mailbox_id=mailbox.pk)

    assert outcome.ran
    ids = list(Message.objects.values_list("message_id", flat=True))
    assert len(ids) == len(set(ids)) == total, f"killed with {stored_when_killed} stored"
    assert set(ids) == {f"msg-{n}@customer.test" for n in range(total)}


def kill_at_random_point(worker: subprocess.Popen[bytes], total: int) -> None:
    """SIGKILL the sync once a random number of messages (before the last batches) is stored,
    then wait until it and its parse workers are gone."""
    kill_after = random.Random().randint(1, total - 100)
    deadline = time.monotonic() + 120
    while Message.objects.count() < kill_after:
        assert time.monotonic() < deadline, "the sync made no progress"
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=0.02)  # a bounded wait between polls, not a race
        assert worker.returncode is None, "the sync finished before it could be killed"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    wait_until_gone("mailbox_sync", deadline=time.monotonic() + 15)


def wait_until_gone(command_word: str, *, deadline: float) -> None:
    """Poll /proc until no process runs `command_word`: a killed sync leaves no orphan."""
    while True:
        alive = [
            proc
            for proc in Path("/proc").iterdir()
            if proc.name.isdigit() and command_word.encode() in _cmdline(proc)
        ]
        if not alive:
            return
        assert time.monotonic() < deadline, f"orphans of the killed sync: {alive}"
        time.sleep(0.05)  # polling a condition with a deadline, not racing


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def sync_killed_then_resumed(mailbox, address: str, total: int, setting_names: tuple[str, ...]):
    """Run `manage.py mailbox_sync` in another process (a worker) with the provider's settings,
    SIGKILL it at a random point of the import, let its lease lapse, and sync again here: the
    second sync's outcome."""
    from django.conf import settings as django_settings

    from mailsync import services

    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "MAILBOX_SYNC_BATCH": "25",  # many commits, so the kill lands mid-import
        **{name: str(getattr(django_settings, name)) for name in setting_names},
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "mailbox_sync", address],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_at_random_point(worker, total)
    Mailbox.objects.filter(pk=mailbox.pk).update(lease_until="2000-01-01T00:00:00Z")  # lapses
    return services.mailbox_sync(mailbox_id=mailbox.pk)


def database_url() -> str:
    settings = connection.settings_dict
    user, host, port = settings["USER"], settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    return f"postgres://{user}{password}@{host}:{port}/{settings['NAME']}"
