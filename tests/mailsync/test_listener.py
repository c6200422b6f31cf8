"""The IMAP listener against a real Dovecot: IDLE wakes a mailbox on delivery, expunge and flag
change, reconnects after the server restarts, watches a mailbox connected while it runs and drops
one removed; and the wake-ups it causes are coalesced (a burst makes one sync, an event during a
sync exactly one more)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from mailsync import services
from mailsync.models import Mailbox, MailboxWatch
from mailsync.providers.imap import ImapSettings
from mailsync.push import wakeups
from mailsync.push.imap_idle import Event, Listener, WatchTarget, shard_of
from mailsync.push.watches import imap_watch_targets, watch_event, watches_refresh
from tests.mailsync.sync_helpers import connect_alice, email

pytestmark = [pytest.mark.server]


def settings_for(dovecot, user: str = "alice") -> ImapSettings:
    return ImapSettings(dovecot.host, dovecot.port, "plain", user, "secret")


class Recorder:
    """The listener's events, as its main thread receives them."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.changed = threading.Condition()

    def __call__(self, event: Event) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def count(self, kind: str, mailbox_id: int = 1) -> int:
        return sum(1 for e in self.events if e.kind == kind and e.mailbox_id == mailbox_id)

    def wait(self, condition: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"not seen in {timeout} s: {self.events}")
                self.changed.wait(min(left, 0.1))  # woken by events; the server polled too


@pytest.fixture
def running() -> Iterator[Callable[..., tuple[Listener, Recorder]]]:
    started: list[tuple[Listener, threading.Thread]] = []

    def start(targets: Callable[[], list[WatchTarget]], idle_restart: float = 1500.0):
        recorder = Recorder()
        listener = Listener(
            targets=targets,
            on_event=recorder,
            refresh_every=0.2,
            check_every=0.5,
            idle_restart=idle_restart,
        )
        thread = threading.Thread(target=listener.run, daemon=True)
        thread.start()
        started.append((listener, thread))
        return listener, recorder

    yield start
    for listener, thread in started:
        listener.stop()
        thread.join(timeout=10)


def watching(recorder: Recorder, mailbox_id: int = 1) -> None:
    """Connected (the IDLE follows at once)."""
    recorder.wait(lambda: recorder.count("connected", mailbox_id) >= 1)


def test_new_mail_expunge_and_flag_changes_wake_the_mailbox(dovecot, running):
    _, recorder = running(lambda: [WatchTarget(1, settings_for(dovecot))])
    watching(recorder)
    before = recorder.count("change")

    uid = dovecot.append("alice", "INBOX", email(1, sender="jane@customer.test", to="alice@x.test"))
    recorder.wait(lambda: recorder.count("change") > before)
    before = recorder.count("change")
    dovecot.set_flags("alice", "INBOX", [uid], ["\\Seen"])
    recorder.wait(lambda: recorder.count("change") > before)
    before = recorder.count("change")
    dovecot.expunge("alice", "INBOX", [uid])
    recorder.wait(lambda: recorder.count("change") > before)


def test_notify_reports_changes_in_the_other_folders(running):
    from tests.servers.dovecot import Dovecot

    # NOTIFY on folders other than the selected one needs Dovecot's mailbox list index.
    with Dovecot(users={"alice": "secret"}, extra_config="mailbox_list_index = yes\n") as server:
        _, recorder = running(lambda: [WatchTarget(1, settings_for(server))])
        watching(recorder)
        before = recorder.count("change")
        server.append("alice", "Sent", email(5, sender="alice@x.test", to="jane@customer.test"))
        recorder.wait(lambda: recorder.count("change") > before)


def test_idle_is_started_again_before_the_servers_timeout(dovecot_recorded, running):
    # A restart every second here (25 minutes in production): mail still wakes it after several.
    dovecot = dovecot_recorded
    _, recorder = running(lambda: [WatchTarget(1, settings_for(dovecot))], idle_restart=1.0)
    watching(recorder)

    def idles() -> int:
        return sum(1 for c in dovecot.client_commands("alice") if c.upper().endswith(" IDLE"))

    recorder.wait(lambda: idles() >= 3, timeout=20)
    before = recorder.count("change")
    dovecot.append("alice", "INBOX", email(2, sender="jane@customer.test", to="alice@x.test"))
    recorder.wait(lambda: recorder.count("change") > before)
    assert recorder.count("connected") == 1  # the same session throughout


def test_a_restarted_server_is_watched_again(dovecot, running):
    _, recorder = running(lambda: [WatchTarget(1, settings_for(dovecot))])
    watching(recorder)
    dovecot.stop()
    recorder.wait(lambda: recorder.count("disconnected") >= 1)
    before = recorder.count("change")
    dovecot.start()
    recorder.wait(lambda: recorder.count("connected") >= 2, timeout=30)
    # Mail may have come while the server was down: one wake-up on reconnecting.
    recorder.wait(lambda: recorder.count("change") > before)
    before = recorder.count("change")
    dovecot.append("alice", "INBOX", email(3, sender="jane@customer.test", to="alice@x.test"))
    recorder.wait(lambda: recorder.count("change") > before)


def test_mailboxes_connected_or_removed_while_it_runs_are_picked_up_and_dropped(dovecot, running):
    targets: list[WatchTarget] = []
    listener, recorder = running(lambda: list(targets))
    targets.append(WatchTarget(7, settings_for(dovecot, "bob")))
    watching(recorder, 7)
    assert set(listener.watchers) == {7}
    targets.clear()
    recorder.wait(lambda: not listener.watchers)
    before = recorder.count("change", 7)
    dovecot.append("bob", "INBOX", email(4, sender="jane@customer.test", to="bob@x.test"))
    with pytest.raises(AssertionError):
        recorder.wait(lambda: recorder.count("change", 7) > before, timeout=2)


def test_a_wrong_password_is_said_not_retried_in_a_loop(dovecot, running):
    wrong = ImapSettings(dovecot.host, dovecot.port, "plain", "alice", "wrong")
    _, recorder = running(lambda: [WatchTarget(1, wrong)])
    recorder.wait(lambda: recorder.count("disconnected") >= 1)
    assert "refused the login" in recorder.events[-1].detail
    with pytest.raises(AssertionError):  # REFUSED_WAIT: no second attempt within seconds
        recorder.wait(lambda: recorder.count("disconnected") >= 2, timeout=2)


def test_a_server_without_idle_is_said_and_left_to_the_poll(running):
    from tests.servers.dovecot import DEFAULT_CAPABILITIES, Dovecot

    with Dovecot(users={"alice": "secret"}, capabilities_hidden=("IDLE",)) as server:
        assert "IDLE" in DEFAULT_CAPABILITIES
        _, recorder = running(lambda: [WatchTarget(1, settings_for(server))])
        recorder.wait(lambda: recorder.count("disconnected") >= 1)
        assert "does not offer IDLE" in recorder.events[-1].detail


def test_shards_split_mailboxes_stably_and_without_overlap():
    ids = range(1, 2001)
    for shards in (1, 2, 3, 7):
        owners = [[i for i in ids if shard_of(i, shards) == s] for s in range(shards)]
        assert sorted(i for shard in owners for i in shard) == list(ids)
        assert all(abs(len(s) - len(ids) / shards) < len(ids) / shards * 0.2 for s in owners)
    assert shard_of(1234, 5) == shard_of(1234, 5)


# --- the database side: targets, health, coalesced wake-ups ----------------------------------


@pytest.mark.django_db
def test_watch_targets_are_the_active_imap_mailboxes_of_the_shard(dovecot):
    mailbox = connect_alice(dovecot)
    assert [t.mailbox_id for t in imap_watch_targets(shard=0, shards=1)] == [mailbox.pk]
    other = shard_of(mailbox.pk, 2) ^ 1
    assert imap_watch_targets(shard=other, shards=2) == []
    Mailbox.objects.filter(pk=mailbox.pk).update(state="disconnected")
    assert imap_watch_targets(shard=0, shards=1) == []


@pytest.mark.django_db
def test_events_wake_the_mailbox_once_per_burst_and_health_is_kept(
    dovecot, django_capture_on_commit_callbacks
):
    mailbox = connect_alice(dovecot)
    watchers: dict = {mailbox.pk: object()}
    watches_refresh(listener="host:1 shard 0/1", watchers=watchers)
    with django_capture_on_commit_callbacks() as queued:
        watch_event(listener="host:1 shard 0/1", event=Event(mailbox.pk, "connected"))
        for _ in range(5):
            watch_event(listener="host:1 shard 0/1", event=Event(mailbox.pk, "change"))
    assert len(queued) == 1  # a burst: one sync
    watch = MailboxWatch.objects.get(mailbox=mailbox)
    assert watch.connected
    assert watch.last_event_at is not None
    watches_refresh(listener="host:1 shard 0/1", watchers={})
    assert not MailboxWatch.objects.exists()


@pytest.mark.django_db
def test_an_event_during_a_sync_is_followed_by_exactly_one_more(
    dovecot, django_capture_on_commit_callbacks, monkeypatch
):
    mailbox = connect_alice(dovecot)
    real_run = services._run

    def run_with_events_meanwhile(*args, **kwargs):
        for _ in range(3):  # the server reports more while the sync runs
            wakeups.mailbox_wake(mailbox_id=mailbox.pk)
        return real_run(*args, **kwargs)

    with django_capture_on_commit_callbacks() as queued:
        assert wakeups.mailbox_wake(mailbox_id=mailbox.pk)
    assert len(queued) == 1
    monkeypatch.setattr(services, "_run", run_with_events_meanwhile)  # a spy around the sync
    with django_capture_on_commit_callbacks() as queued:
        assert services.mailbox_sync(mailbox_id=mailbox.pk, only_if_woken=True).ran
    assert len(queued) == 1  # exactly one more, for the three reports during the sync
    monkeypatch.setattr(services, "_run", real_run)
    with django_capture_on_commit_callbacks() as queued:
        assert services.mailbox_sync(mailbox_id=mailbox.pk, only_if_woken=True).ran
    assert queued == []  # nothing came meanwhile: no third
    # A wake already covered by a sync that started after it does nothing.
    with django_capture_on_commit_callbacks():
        wakeups.mailbox_wake(mailbox_id=mailbox.pk)
    assert services.mailbox_sync(mailbox_id=mailbox.pk).ran  # the beat's sync
    assert not services.mailbox_sync(mailbox_id=mailbox.pk, only_if_woken=True).ran


def test_a_failing_read_of_the_mailboxes_does_not_stop_the_listener(dovecot, running):
    calls = []

    def targets() -> list[WatchTarget]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database is restarting")
        return [WatchTarget(1, settings_for(dovecot))]

    _, recorder = running(targets)
    watching(recorder)


@pytest.mark.django_db
def test_a_mailbox_whose_credentials_cannot_be_read_is_skipped_not_fatal(dovecot):
    from django.db import connection

    first = connect_alice(dovecot)
    with connection.cursor() as cursor:  # written with a key this server no longer has
        cursor.execute(
            "UPDATE mailsync_mailbox SET credentials = %s WHERE id = %s",
            ["gAAAAAgarbage", first.pk],
        )
    assert imap_watch_targets(shard=0, shards=1) == []
