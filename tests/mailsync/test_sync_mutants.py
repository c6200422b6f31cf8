"""Sync behaviours that mutation runs of mailsync/sync.py showed no other test noticed.

Each test here kills mutants that survived the rest of the suite (tests/MUTATION.md lists the
run and the survivors left, with why they cannot change behaviour). Real Dovecot throughout.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mailsync import connections, sync
from mailsync.connections import ImapAccount, open_provider
from mailsync.models import Mailbox, Message, MessageLocation, SkippedMessage, SyncRun
from mailsync.providers.base import TemporaryFailure
from mailsync.providers.imap_sessions import ImapCursor, SessionPool
from mailsync.services import mailbox_connect_imap, mailbox_sync
from tests.factories import UserFactory
from tests.mailsync.sync_helpers import (
    CountingProvider,
    connect_alice,
    email,
    run_sync,
    subjects,
)

pytestmark = [pytest.mark.server, pytest.mark.django_db]

ALICE = "alice@example.test"
JANE = "jane@customer.test"
BOB = "bob@example.test"


def _days_ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def _append_aged(dovecot, folder: str, n: int, days: int) -> None:
    """Message n, dated and received `days` ago."""
    raw = email(n, sender=JANE, to=ALICE, days_ago=days)
    dovecot.append("alice", folder, raw, internal_date=_days_ago(days))


def _connected_days_ago(mailbox: Mailbox, days: int) -> None:
    Mailbox.objects.filter(pk=mailbox.pk).update(created_at=timezone.now() - timedelta(days=days))


def _last_run_detail(mailbox: Mailbox) -> str:
    return SyncRun.objects.filter(mailbox=mailbox).latest("pk").detail


# --- a folder holding more than 5,000 known ids (looked up 5,000 at a time) -----------------


def test_the_ids_held_are_found_among_more_than_5000_asked_at_once(dovecot):
    """What the engine tells a provider it holds (KnownIds, asked among the ids QRESYNC says
    changed or vanished): with 6,003 asked, the ids at every chunk edge are found, the ids
    not held are not. A miss here leaves mail deleted on the server on the cards."""
    dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    run_sync(mailbox)
    inbox = mailbox.folders.get(name="INBOX")
    message = Message.objects.get()
    held = [str(n) for n in range(100, 6100)]  # 6,000 locations, then two skipped messages
    MessageLocation.objects.bulk_create(
        MessageLocation(message=message, folder=inbox, remote_id=remote_id) for remote_id in held
    )
    SkippedMessage.objects.bulk_create(
        SkippedMessage(folder=inbox, remote_id=remote_id, reason="not an email")
        for remote_id in ("7000", "7001")
    )
    asked = [*held[:4999], "50", *held[4999:], "7000", "7001", "60"]  # "50", "60": not held

    with CaptureQueriesContext(connection) as queries:
        known = sync._known_id_set(inbox, among=asked)

    assert known == frozenset(held) | {"7000", "7001"}
    assert len(queries) == 4  # two chunks, each asked of locations and of skipped messages
    assert sync._known_id_set(inbox, among=asked[:1]) == {"100"}


def test_a_skipped_message_whose_flags_change_is_not_fetched_again(dovecot, caplog):
    """Known ids include the skipped ones: reading a non-email on the phone re-fetches nothing."""
    junk = dovecot.append("alice", "INBOX", b"\x00\x01\x02 binary junk \xff\xfe" * 40)
    dovecot.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    run_sync(mailbox)
    # The log names the mailbox, folder and id an operator needs to find the message.
    logged = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert logged[-1].startswith(f"mailbox {mailbox.pk}: INBOX/{junk} skipped: not an email")
    dovecot.set_flags("alice", "INBOX", [junk], ["\\Seen"])

    counts, provider = run_sync(mailbox)

    assert (counts.added, counts.skipped, provider.downloaded) == (0, 0, [])
    assert SkippedMessage.objects.count() == 1


# --- how far back: "the last N days" is counted from today; "new mail only" from the day --
# --- of connection (README: Mailbox sync; the status page says "The last N days") ---------


def test_the_last_n_days_are_counted_from_today_not_from_the_connection_day(dovecot):
    _append_aged(dovecot, "INBOX", 1, 50)
    _append_aged(dovecot, "INBOX", 2, 10)
    mailbox = connect_alice(dovecot, since_days=30)
    _connected_days_ago(mailbox, 100)  # connected long ago, first synced only now

    run_sync(mailbox)
    assert subjects(mailbox) == ["Message 2"]
    run_sync(mailbox, reconcile=True)  # the repair keeps the same window
    assert subjects(mailbox) == ["Message 2"]


def test_new_mail_only_reaches_back_to_the_day_of_connection_in_a_folder_made_later(dovecot):
    _append_aged(dovecot, "INBOX", 1, 300)
    mailbox = connect_alice(dovecot, since_days=0)
    _connected_days_ago(mailbox, 100)
    run_sync(mailbox)
    assert subjects(mailbox) == []
    dovecot.create_folder("alice", "Filtered")  # mail since the connection, filed there later
    _append_aged(dovecot, "Filtered", 2, 50)
    _append_aged(dovecot, "Filtered", 3, 120)

    run_sync(mailbox)

    assert subjects(mailbox) == ["Message 2"]


# --- a reconciliation that meets a UIDVALIDITY change ----------------------------------------


def test_a_reconciliation_meeting_a_uidvalidity_change_relinks_without_download(dovecot):
    for n in range(1, 4):
        dovecot.append("alice", "INBOX", email(n, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    run_sync(mailbox)
    before = dict(Message.objects.values_list("message_id", "pk"))
    new_validity = dovecot.reset_uidvalidity("alice", "INBOX")

    counts, provider = run_sync(mailbox, reconcile=True)

    assert provider.downloaded == []
    assert (counts.added, counts.removed) == (0, 0)
    assert dict(Message.objects.values_list("message_id", "pk")) == before
    inbox = mailbox.folders.get(name="INBOX")
    assert ImapCursor.decode(inbox.cursor).validity == new_validity
    assert sorted(inbox.locations.values_list("remote_id", flat=True), key=int) == [
        str(u) for u in dovecot.uids("alice", "INBOX")
    ]
    assert counts.notes == ["INBOX: renumbered by the server, re-linked by Message-ID"]


# --- "drift repaired" is said only by a reconciliation that found drift ----------------------


def test_only_a_reconciliation_that_found_drift_says_drift_was_repaired(dovecot):
    first = dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    mailbox_sync(mailbox_id=mailbox.pk)
    dovecot.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))
    dovecot.expunge("alice", "INBOX", [first])

    outcome = mailbox_sync(mailbox_id=mailbox.pk)  # a normal sync with news both ways
    assert (outcome.counts.added, outcome.counts.removed) == (1, 1)
    assert _last_run_detail(mailbox) == ""

    mailbox_sync(mailbox_id=mailbox.pk, reconcile=True)  # nothing drifted
    assert _last_run_detail(mailbox) == ""

    Message.objects.get(subject="Message 2").delete()  # now the CRM lost one
    mailbox_sync(mailbox_id=mailbox.pk, reconcile=True)
    assert _last_run_detail(mailbox) == (
        "INBOX: drift repaired, 1 missing fetched, 0 no longer on the server removed"
    )
    assert subjects(mailbox) == ["Message 2"]


# --- an interrupted reconciliation: its batches go in UID order, so the next sync resumes ----


class FailingThirdDownload(CountingProvider):
    """The connection drops on the third download: the first batch is stored by then (the next
    batch is downloaded while the one before it is stored)."""

    calls = 0

    def fetch_raw(self, folder, keys):
        FailingThirdDownload.calls += 1
        if FailingThirdDownload.calls == 3:
            raise TemporaryFailure("The connection dropped while downloading messages.")
        return super().fetch_raw(folder, keys)


@pytest.mark.parametrize("uidvalidity_reset", [False, True])
def test_an_interrupted_reconciliation_is_finished_by_the_next_sync(
    dovecot_plain, settings, uidvalidity_reset
):
    """UIDs 2 to 11 (or 6 to 10 after a reset) sort differently as text: a cursor saved after a
    first batch taken out of UID order would make the next sync skip the ones below it. (On a
    server without QRESYNC: with it, the flag-change report happens to list them again.)"""
    dovecot = dovecot_plain
    dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    if uidvalidity_reset:
        for n in range(2, 6):
            dovecot.append("alice", "INBOX", email(n, sender=JANE, to=ALICE))
        run_sync(mailbox)
        dovecot.reset_uidvalidity("alice", "INBOX")
    else:  # ten new messages, first seen by the reconciliation
        run_sync(mailbox)
        for n in range(2, 12):
            dovecot.append("alice", "INBOX", email(n, sender=JANE, to=ALICE))
    expected = [f"Message {n}" for n in range(1, 6 if uidvalidity_reset else 12)]
    settings.MAILBOX_SYNC_BATCH = 1
    FailingThirdDownload.calls = 0

    with pytest.raises(TemporaryFailure):
        run_sync(mailbox, reconcile=True, provider_class=FailingThirdDownload)
    run_sync(mailbox)

    assert sorted(subjects(mailbox)) == sorted(expected)
    inbox = mailbox.folders.get(name="INBOX")
    assert sorted(inbox.locations.values_list("remote_id", flat=True), key=int) == [
        str(u) for u in dovecot.uids("alice", "INBOX")
    ]


# --- a sync that finds nothing writes nothing ---------------------------------------------


def test_a_sync_that_finds_nothing_new_writes_nothing(dovecot):
    dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    dovecot.create_folder("alice", "Empty")
    mailbox = connect_alice(dovecot)
    run_sync(mailbox)
    mailbox.refresh_from_db()

    with CaptureQueriesContext(connection) as queries:
        counts, provider = run_sync(mailbox)

    assert (counts.added, counts.removed, provider.downloaded) == (0, 0, [])
    writes = [q["sql"] for q in queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")]
    assert writes == []

    assert not any("hierarchy_user" in q["sql"] for q in queries)  # no matching context read


def test_only_a_message_over_the_size_limit_is_marked_partial_and_dates_fall_back(dovecot):
    """A message without a Date header is dated when the server received it."""
    received = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    raw = f"From: {JANE}\r\nTo: {ALICE}\r\nSubject: Undated\r\n\r\nNo date here.\r\n"
    dovecot.append("alice", "INBOX", raw.encode(), internal_date=received)
    mailbox = connect_alice(dovecot)

    run_sync(mailbox)

    message = Message.objects.get()
    assert (message.sent_at, message.received_at) == (received, received)
    assert not message.body_truncated
    assert message.body_text.strip() == "No date here."


# --- counts over several batches (the operator's `mailbox_sync` prints them) ----------------


def test_counts_add_up_over_every_batch(dovecot, settings):
    for n in (1, 2):
        dovecot.append("alice", "INBOX", email(n, sender=JANE, to=ALICE))
        dovecot.append("alice", "INBOX", b"\x00\x01 binary junk \xff" * 40)
        dovecot.append("alice", "INBOX", email(n, sender=JANE, to=ALICE))  # delivered twice
    mailbox = connect_alice(dovecot)
    settings.MAILBOX_SYNC_BATCH = 2  # each batch: a copy already held, or a skipped one
    progress: list[tuple[int, int]] = []
    batches: list[None] = []

    counts = sync.sync_mailbox(
        mailbox,
        open_provider(mailbox),
        on_progress=lambda done, total: progress.append((done, total)),
        on_batch=lambda: batches.append(None),
    )

    assert (counts.added, counts.linked, counts.skipped) == (2, 2, 2)
    assert subjects(mailbox) == ["Message 1", "Message 2"]
    assert MessageLocation.objects.count() == 4  # both copies point to their one message
    assert progress == [(2, 6), (4, 6), (6, 6)]
    assert len(batches) == 3


def test_a_sync_is_quick_unless_a_reconciliation_is_asked_for(dovecot):
    """The full comparison of id sets runs every 6 hours, not at each sync."""
    for n in (1, 2):
        dovecot.append("alice", "INBOX", email(n, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    run_sync(mailbox)
    Message.objects.get(subject="Message 1").delete()  # drift: lost in the CRM

    counts = sync.sync_mailbox(mailbox, open_provider(mailbox))
    assert (counts.added, counts.notes) == (0, [])

    counts = sync.sync_mailbox(mailbox, open_provider(mailbox), reconcile=True)
    assert counts.added == 1
    assert subjects(mailbox) == ["Message 1", "Message 2"]


def test_a_first_import_asks_for_no_message_ids_before_downloading(dovecot_recorded):
    """An empty mailbox holds nothing to re-link: the Message-ID round trip is saved."""
    for n in (1, 2):
        dovecot_recorded.append("alice", "INBOX", email(n, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot_recorded)

    run_sync(mailbox)

    assert subjects(mailbox) == ["Message 1", "Message 2"]
    sent = " ".join(dovecot_recorded.client_commands("alice")).upper()
    assert "HEADER.FIELDS (MESSAGE-ID)" not in sent


def test_a_reconciliation_of_everything_lists_each_folder_once(dovecot_recorded):
    """With no age limit the full id list is also the wanted list: one SEARCH per folder."""
    dovecot_recorded.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot_recorded)  # "everything": no age limit
    run_sync(mailbox)
    before = len(dovecot_recorded.client_commands("alice"))

    run_sync(mailbox, reconcile=True)

    sent = dovecot_recorded.client_commands("alice")[before:]
    searches = [line for line in sent if " SEARCH " in f" {line.upper()} "]
    assert len(searches) == mailbox.folders.count()


def test_two_mailboxes_on_one_server_keep_their_own_folders(dovecot):
    """Both have an INBOX: each sync files mail under its own mailbox's folders, with roles."""
    dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    dovecot.append("bob", "INBOX", email(2, sender=JANE, to=BOB))
    dovecot.append("bob", "Sent", email(3, sender=BOB, to=JANE))
    alice = connect_alice(dovecot)
    run_sync(alice)
    bob = _connect_bob(dovecot)

    run_sync(bob)
    run_sync(alice)

    assert subjects(alice) == ["Message 1"]
    assert subjects(bob) == ["Message 2", "Message 3"]
    for mailbox in (alice, bob):
        held_in = MessageLocation.objects.filter(message__mailbox=mailbox)
        assert {loc.folder.mailbox_id for loc in held_in} == {mailbox.pk}
    roles = dict(bob.folders.values_list("name", "role"))
    assert (roles["INBOX"], roles["Sent"], roles["Archive"]) == ("inbox", "sent", "archive")


def _connect_bob(dovecot):
    account = ImapAccount(
        address=BOB,
        username="bob",
        password="secret",
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_security="plain",
        smtp_host="",
        smtp_port=25,
        smtp_security="plain",
    )
    owner = UserFactory(username="bob", email=BOB)
    return mailbox_connect_imap(owner=owner, account=account, sync_since_days=None)


def test_mail_deleted_in_two_folders_in_one_sync_all_disappears(dovecot):
    inbox_uid = dovecot.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    archive_uid = dovecot.append("alice", "Archive", email(2, sender=JANE, to=ALICE))
    dovecot.append("alice", "Archive", email(3, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    run_sync(mailbox)
    dovecot.expunge("alice", "INBOX", [inbox_uid])
    dovecot.expunge("alice", "Archive", [archive_uid])

    counts, _ = run_sync(mailbox)

    assert counts.removed == 2
    assert subjects(mailbox) == ["Message 3"]


class FailingAtOnce(CountingProvider):
    def fetch_keys(self, folder, keys):
        raise TemporaryFailure("The connection dropped while reading headers.")


def test_a_folder_made_again_on_the_server_is_mirrored_whole_after_an_interruption(
    dovecot, monkeypatch
):
    """A folder deleted and created again has a new UIDVALIDITY and starts again at UID 1; a
    sync that stops right after noticing must leave the cursor before UID 1."""
    # Fresh logins: a kept session that has this folder selected does not notice it being
    # made again (reported separately; not the engine's concern here).
    pool = SessionPool(capacity=0, max_idle=0, max_age=0)
    monkeypatch.setattr(connections, "imap_sessions", lambda: pool)
    dovecot.create_folder("alice", "Projects")
    for n in (1, 2):
        dovecot.append("alice", "Projects", email(n, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)
    run_sync(mailbox)
    dovecot.delete_folder("alice", "Projects")
    dovecot.create_folder("alice", "Projects")
    uids = [dovecot.append("alice", "Projects", email(n, sender=JANE, to=ALICE)) for n in (1, 2)]
    assert uids == [1, 2]

    with pytest.raises(TemporaryFailure):
        run_sync(mailbox, provider_class=FailingAtOnce)
    run_sync(mailbox)

    assert subjects(mailbox) == ["Message 1", "Message 2"]
    projects = mailbox.folders.get(name="Projects")
    assert sorted(projects.locations.values_list("remote_id", flat=True)) == ["1", "2"]
