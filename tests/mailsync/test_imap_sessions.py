"""IMAP sessions kept between syncs: a quiet mailbox costs a NOOP, and nothing is missed."""

import time

import pytest

from mailsync import connections
from mailsync.models import MailboxState
from mailsync.providers.base import RemoteFolder
from mailsync.providers.imap import ImapProvider, ImapSettings, _uid_set
from mailsync.providers.imap_sessions import SessionPool
from mailsync.services import mailbox_sync
from tests.mailsync.sync_helpers import connect_alice, email, run_sync, subjects

pytestmark = [pytest.mark.server, pytest.mark.django_db]

ALICE = "alice@example.test"
JANE = "jane@customer.test"
USERS = ("alice", "bob", "carol")
INBOX = RemoteFolder("INBOX", "inbox")


def sessions_opened(server) -> int:
    return len(list((server.rawlog_dir / "alice").glob("*.in")))


def commands_during(server, action) -> list[str]:
    """What alice's clients sent while `action` ran, without the tags."""
    before = len(server.client_commands("alice"))
    action()
    return [line.split(" ", 1)[1] for line in server.client_commands("alice")[before:]]


def test_a_quiet_mailbox_is_checked_with_a_noop_on_the_kept_session(dovecot_recorded):
    server = dovecot_recorded
    server.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(server)
    run_sync(mailbox)
    opened = sessions_opened(server)

    sent = commands_during(server, lambda: run_sync(mailbox))

    assert sessions_opened(server) == opened  # no new login
    assert [c.split(" ", 1)[0].upper() for c in sent] == ["NOOP", "LIST", "STATUS", "STATUS"]
    assert not [c for c in sent if "INBOX" in c.upper()]  # the parked folder: NOOP only
    assert subjects(mailbox) == ["Message 1"]


def test_changes_made_elsewhere_reach_a_kept_session(dovecot):
    first = dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    run_sync(mailbox)
    run_sync(mailbox)  # parked, found unchanged

    second = dovecot.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))
    assert run_sync(mailbox)[0].added == 1
    dovecot.flag_deleted("alice", "INBOX", [first])
    assert run_sync(mailbox)[0].removed == 1
    dovecot.expunge("alice", "INBOX", [second])
    assert run_sync(mailbox)[0].removed == 1
    assert subjects(mailbox) == []
    dovecot.append("alice", "Sent", email(3, sender=ALICE, to=JANE))
    assert run_sync(mailbox)[0].added == 1


def test_a_session_the_server_dropped_is_replaced_by_a_new_login(dovecot):
    dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    run_sync(mailbox)
    dovecot.kick("alice")
    dovecot.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))

    outcome = mailbox_sync(mailbox_id=mailbox.pk)

    assert (outcome.error, outcome.counts.added) == ("", 1)


def test_a_changed_password_is_noticed_once_the_kept_session_is_too_old(dovecot, monkeypatch):
    """Dovecot keeps sessions open after a password change; the age limit forces a login."""
    later = {"seconds": 0.0}
    pool = SessionPool(
        capacity=10, max_idle=600, max_age=1200, clock=lambda: time.monotonic() + later["seconds"]
    )
    monkeypatch.setattr(connections, "imap_sessions", lambda: pool)
    dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    mailbox_sync(mailbox_id=mailbox.pk)
    dovecot.set_password("alice", "changed-by-alice")

    assert mailbox_sync(mailbox_id=mailbox.pk).error == ""  # the kept session still works
    later["seconds"] = 1200
    outcome = mailbox_sync(mailbox_id=mailbox.pk)

    mailbox.refresh_from_db()
    assert "refused the login" in outcome.error
    assert mailbox.state == MailboxState.DISCONNECTED


def test_the_pool_keeps_at_most_its_capacity_and_drops_idle_sessions(dovecot):
    later = {"seconds": 0.0}
    pool = SessionPool(
        capacity=2, max_idle=300, max_age=1200, clock=lambda: time.monotonic() + later["seconds"]
    )
    dovecot.add_user("carol", "secret")
    logins = [ImapSettings(dovecot.host, dovecot.port, "plain", u, "secret") for u in USERS]
    providers = [ImapProvider(login, sessions=pool) for login in logins]
    for provider in providers:
        provider.folder_delta(INBOX, "", known_ids=held(frozenset()), since=None)
        provider.close()

    assert len(pool) == 2  # alice's, the least recently parked, was logged out
    assert providers[0].client._imap.sock.fileno() == -1
    later["seconds"] = 300
    assert pool.take(providers[1]._key) is None  # idle too long: closed, not handed out
    assert providers[1].client._imap.sock.fileno() == -1


def test_a_change_reported_during_a_sync_is_not_lost_when_the_session_is_parked(dovecot):
    """A flag change the server reports in the answer to a FETCH is taken with it: the session
    is parked again from a fresh selection, so the next sync still sees the change."""
    pool = SessionPool(capacity=10, max_idle=600, max_age=1200)
    settings = ImapSettings(dovecot.host, dovecot.port, "plain", "alice", "secret")
    first = dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    provider = ImapProvider(settings, sessions=pool)
    old = provider.folder_delta(INBOX, "", known_ids=held(frozenset()), since=None)
    provider.close()
    second = dovecot.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))

    provider = ImapProvider(settings, sessions=pool)
    known = frozenset({str(first)})
    delta = provider.folder_delta(INBOX, old.cursor, known_ids=held(known), since=None)
    assert delta.new_ids == [str(second)]
    dovecot.flag_deleted("alice", "INBOX", [first])  # reported with the next command's answer
    assert [raw.remote_id for raw in provider.fetch_raw(INBOX, delta.new_ids)] == [str(second)]
    provider.close()

    provider = ImapProvider(settings, sessions=pool)
    known = frozenset({str(first), str(second)})
    later = provider.folder_delta(INBOX, delta.cursor, known_ids=held(known), since=None)
    provider.close()
    assert later.removed_ids == [str(first)]


def held(known: frozenset[str]):
    """What the CRM holds, as the sync engine answers a provider (all, or among some ids)."""
    return lambda among=None: known if among is None else known & frozenset(among)


def test_a_sync_that_stops_early_does_not_leave_a_stale_parked_state(dovecot):
    pool = SessionPool(capacity=10, max_idle=600, max_age=1200)
    settings = ImapSettings(dovecot.host, dovecot.port, "plain", "alice", "secret")
    dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    provider = ImapProvider(settings, sessions=pool)
    old = provider.folder_delta(INBOX, "", known_ids=held(frozenset()), since=None)
    provider.close()
    second = dovecot.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))

    ImapProvider(settings, sessions=pool).close()  # its NOOP heard of the new mail, then it stopped

    provider = ImapProvider(settings, sessions=pool)
    delta = provider.folder_delta(
        INBOX, old.cursor, known_ids=held(frozenset(old.new_ids)), since=None
    )
    provider.close()
    assert delta.new_ids == [str(second)]


def test_uid_sets_are_sent_as_ranges():
    assert _uid_set([1, 2, 3, 7, 9, 10]) == "1:3,7,9:10"
    assert _uid_set([5]) == "5"
