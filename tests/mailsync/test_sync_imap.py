"""The IMAP mirror against a real Dovecot: with CONDSTORE/QRESYNC and without."""

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest

from mailsync import connections
from mailsync.models import Direction, Message, MessageLocation, SkippedMessage
from mailsync.providers.base import TemporaryFailure
from mailsync.providers.imap_sessions import ImapCursor, SessionPool
from tests.mailsync.sync_helpers import CountingProvider, connect_alice, email, run_sync, subjects

pytestmark = [pytest.mark.server, pytest.mark.django_db]

ALICE = "alice@example.test"
JANE = "jane@customer.test"


@pytest.fixture(params=["qresync", "plain"])
def server(request, sessions):
    """Every scenario runs against a full Dovecot and one hiding CONDSTORE and QRESYNC."""
    return request.getfixturevalue("dovecot" if request.param == "qresync" else "dovecot_plain")


@pytest.fixture(params=["kept", "fresh"])
def sessions(request, monkeypatch):
    """...and with each sync on the session kept from the last one (a worker's steady state),
    or on a fresh login (its first sync of a mailbox, or one past the session age limit)."""
    if request.param == "fresh":
        pool = SessionPool(capacity=0, max_idle=0, max_age=0)
        monkeypatch.setattr(connections, "imap_sessions", lambda: pool)
    return request.param


def test_first_import_mirrors_synced_folders_and_skips_trash_junk_drafts(server):
    server.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    server.append("alice", "Sent", email(2, sender=ALICE, to=JANE))
    server.append("alice", "Archive", email(3, sender=JANE, to=ALICE))
    server.create_folder("alice", "Projects")
    server.append("alice", "Projects", email(4, sender=JANE, to=ALICE))
    for n, folder in enumerate(["Trash", "Junk", "Drafts"], start=5):
        server.append("alice", folder, email(n, sender=JANE, to=ALICE))
    mailbox = connect_alice(server)

    counts, _ = run_sync(mailbox)

    assert counts.added == 4
    assert subjects(mailbox) == ["Message 1", "Message 2", "Message 3", "Message 4"]
    sent = Message.objects.get(subject="Message 2")
    assert sent.direction == Direction.OUTGOING
    assert Message.objects.get(subject="Message 1").direction == Direction.INCOMING
    assert {(p.role, p.address) for p in sent.participants.all()} == {
        ("from", ALICE),
        ("to", JANE),
    }


def test_new_mail_then_nothing_new_downloads_nothing(server):
    server.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(server)
    run_sync(mailbox)
    server.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))

    counts, provider = run_sync(mailbox)
    assert (counts.added, counts.removed) == (1, 0)
    assert len(provider.downloaded) == 1

    counts, provider = run_sync(mailbox)
    assert (counts.added, counts.removed, provider.downloaded) == (0, 0, [])
    assert subjects(mailbox) == ["Message 1", "Message 2"]


@pytest.mark.parametrize("how", ["expunge", "trash", "junk", "flag_deleted", "folder_deleted"])
def test_deleted_mail_disappears_at_the_next_sync(server, how):
    server.create_folder("alice", "Projects")
    folder = "Projects" if how == "folder_deleted" else "INBOX"
    uid = server.append("alice", folder, email(1, sender=JANE, to=ALICE))
    server.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))
    mailbox = connect_alice(server)
    run_sync(mailbox)
    if how == "folder_deleted":  # the folder and all in it, deleted on the server
        server.delete_folder("alice", "Projects")
    elif how == "expunge":
        server.expunge("alice", "INBOX", [uid])
    elif how == "flag_deleted":
        server.flag_deleted("alice", "INBOX", [uid])
    else:
        server.move("alice", "INBOX", how.capitalize(), [uid])

    counts, _ = run_sync(mailbox)

    assert counts.removed == 1
    assert subjects(mailbox) == ["Message 2"]


def test_moving_between_synced_folders_keeps_the_message_without_downloading(server):
    uid = server.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(server)
    run_sync(mailbox)
    message = Message.objects.get()
    server.move("alice", "INBOX", "Archive", [uid])

    counts, provider = run_sync(mailbox)

    assert provider.downloaded == []
    assert (counts.added, counts.removed) == (0, 0)
    assert list(Message.objects.values_list("pk", flat=True)) == [message.pk]
    assert list(MessageLocation.objects.values_list("folder__name", flat=True)) == ["Archive"]


def test_uidvalidity_change_resyncs_without_duplicates_or_broken_links(server):
    for n in range(1, 4):
        server.append("alice", "INBOX", email(n, sender=JANE, to=ALICE))
    mailbox = connect_alice(server)
    run_sync(mailbox)
    before = dict(Message.objects.values_list("message_id", "pk"))
    old_validity = ImapCursor.decode(mailbox.folders.get(name="INBOX").cursor).validity
    server.reset_uidvalidity("alice", "INBOX")

    counts, provider = run_sync(mailbox)

    assert provider.downloaded == []  # re-linked by Message-ID
    assert dict(Message.objects.values_list("message_id", "pk")) == before
    inbox = mailbox.folders.get(name="INBOX")
    assert ImapCursor.decode(inbox.cursor).validity != old_validity
    assert sorted(inbox.locations.values_list("remote_id", flat=True)) == sorted(
        str(u) for u in server.uids("alice", "INBOX")
    )
    assert counts.removed == 0


def test_reconciliation_repairs_drift_and_reports_it(server):
    for n in range(1, 4):
        server.append("alice", "INBOX", email(n, sender=JANE, to=ALICE))
    mailbox = connect_alice(server)
    run_sync(mailbox)
    # Drift: the CRM lost one message, and holds a location the server no longer has.
    Message.objects.get(subject="Message 1").delete()
    ghost = Message.objects.get(subject="Message 2")
    MessageLocation.objects.create(
        message=ghost, folder=ghost.locations.first().folder, remote_id="999999"
    )

    counts, _ = run_sync(mailbox, reconcile=True)

    assert subjects(mailbox) == ["Message 1", "Message 2", "Message 3"]
    assert not MessageLocation.objects.filter(remote_id="999999").exists()
    assert any(
        "drift repaired, 1 missing fetched, 1 no longer on the server" in n for n in counts.notes
    )


def test_how_far_back_limits_the_first_import_only(server):
    long_ago = datetime.now(UTC) - timedelta(days=400)
    server.append(
        "alice", "INBOX", email(1, sender=JANE, to=ALICE, days_ago=400), internal_date=long_ago
    )
    server.append("alice", "INBOX", email(2, sender=JANE, to=ALICE, days_ago=2))
    mailbox = connect_alice(server, since_days=30)
    run_sync(mailbox)
    assert subjects(mailbox) == ["Message 2"]


def test_new_mail_only_imports_nothing_old(server):
    days_ago = datetime.now(UTC) - timedelta(days=3)
    server.append("alice", "INBOX", email(1, sender=JANE, to=ALICE), internal_date=days_ago)
    mailbox = connect_alice(server, since_days=0)
    run_sync(mailbox)
    assert subjects(mailbox) == []
    server.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))
    run_sync(mailbox)
    assert subjects(mailbox) == ["Message 2"]
    run_sync(mailbox, reconcile=True)  # the window holds for the reconciliation too
    assert subjects(mailbox) == ["Message 2"]


def test_an_undeleted_message_comes_back(server):
    uid = server.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(server)
    run_sync(mailbox)
    server.flag_deleted("alice", "INBOX", [uid])
    run_sync(mailbox)
    assert subjects(mailbox) == []
    server.set_flags("alice", "INBOX", [uid], [])

    run_sync(mailbox)  # with QRESYNC the flag change tells; otherwise the reconciliation
    if "QRESYNC" in server.capabilities_hidden:
        run_sync(mailbox, reconcile=True)

    assert subjects(mailbox) == ["Message 1"]


def test_flag_changes_on_mail_older_than_the_window_bring_nothing_in(server):
    long_ago = datetime.now(UTC) - timedelta(days=400)
    old = server.append(
        "alice", "INBOX", email(1, sender=JANE, to=ALICE, days_ago=400), internal_date=long_ago
    )
    server.append("alice", "INBOX", email(2, sender=JANE, to=ALICE, days_ago=2))
    mailbox = connect_alice(server, since_days=30)
    run_sync(mailbox)
    server.set_flags("alice", "INBOX", [old], ["\\Seen", "\\Flagged"])  # read on the phone

    counts, provider = run_sync(mailbox)

    assert (counts.added, provider.downloaded) == (0, [])
    assert subjects(mailbox) == ["Message 2"]


def test_mail_between_colleagues_only_stays_off_cards(dovecot):
    from hierarchy.selectors import mailbox_visibility
    from mailsync.card_pages import CardOf, card_emails
    from tests.factories import UserFactory, make_contact

    UserFactory(username="bob", email="bob@example.test")
    bob = make_contact(last_name="Bob as a contact", emails=["bob@example.test"])
    dovecot.append("alice", "INBOX", email(1, sender="bob@example.test", to=ALICE))
    dovecot.append("alice", "INBOX", email(2, sender=JANE, to=ALICE, subject="with Jane"))
    mailbox = connect_alice(dovecot)
    run_sync(mailbox)
    assert Message.objects.get(subject="Message 1").is_internal
    assert not Message.objects.get(subject="with Jane").is_internal
    # Even a colleague filed as a contact shows no colleagues-only mail on their card.
    page = card_emails(CardOf.contact(bob.pk), mailbox_visibility(mailbox.owner))
    assert [e.message.subject for e in page.items] == []
    jane = make_contact(last_name="Jane", emails=[JANE])  # a contact made after the sync
    page = card_emails(CardOf.contact(jane.pk), mailbox_visibility(mailbox.owner))
    assert [e.message.subject for e in page.items] == ["with Jane"]


def test_a_message_that_is_not_an_email_is_skipped_with_a_reason_once(dovecot, caplog):
    dovecot.append("alice", "INBOX", b"\x00\x01\x02 binary junk \xff\xfe" * 40)
    dovecot.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot)

    counts, _ = run_sync(mailbox)

    assert (counts.added, counts.skipped) == (1, 1)
    skipped = SkippedMessage.objects.get()
    assert "not an email" in skipped.reason
    assert "skipped: not an email" in caplog.text
    counts, provider = run_sync(mailbox, reconcile=True)  # not fetched again, even when repairing
    assert (counts.added, provider.downloaded) == (0, [])


def test_a_huge_message_is_stored_in_part_with_a_marker(dovecot, settings):
    settings.MAILBOX_MAX_MESSAGE_BYTES = 64 * 1024
    big = EmailMessage()
    big["From"], big["To"], big["Subject"] = JANE, ALICE, "Huge"
    big["Message-ID"] = "<huge@customer.test>"
    big.set_content("Dear Alice,\n\n" + "All the figures follow. " * 20000)
    dovecot.append("alice", "INBOX", big.as_bytes())
    mailbox = connect_alice(dovecot)

    run_sync(mailbox)

    message = Message.objects.get()
    assert message.subject == "Huge"
    assert message.body_truncated
    assert message.body_text.startswith("Dear Alice,")
    assert message.body_text.endswith("only its beginning was synchronized]")


@pytest.mark.parametrize(
    "header",
    [
        "<plain@customer.test>",
        "\r\n <folded@customer.test>",
        "<spaced @ customer.test> (a comment)",
        "no-brackets@customer.test",
        "",
    ],
)
def test_the_key_read_before_download_is_the_parsers_key(dovecot, header):
    from mailsync.parsing import message_id_key, parse_message
    from mailsync.providers.base import RemoteFolder
    from mailsync.providers.imap import ImapProvider, ImapSettings

    raw = (
        f"From: {JANE}\r\nTo: {ALICE}\r\nSubject: Key\r\nMessage-ID: {header}\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nBody\r\n"
    ).encode()
    uid = dovecot.append("alice", "INBOX", raw)
    provider = ImapProvider(ImapSettings(dovecot.host, dovecot.port, "plain", "alice", "secret"))
    [key] = provider.fetch_keys(RemoteFolder("INBOX", "inbox"), [str(uid)])
    provider.close()
    expected = parse_message(raw)
    if expected.message_id:
        assert message_id_key(key.message_id) == expected.dedupe_key
    else:
        assert message_id_key(key.message_id) == ""  # no id: recognised after download instead


def test_all_mail_is_synced_alone_once_without_duplicates(dovecot_all_mail):
    server = dovecot_all_mail
    both = email(1, sender=JANE, to=ALICE, subject="In Inbox and All Mail")
    server.append("alice", "INBOX", both)
    server.append("alice", "All Mail", both)
    archived = server.append(
        "alice", "All Mail", email(2, sender=JANE, to=ALICE, subject="Archived")
    )
    mailbox = connect_alice(server)

    counts, _ = run_sync(mailbox)

    assert counts.added == 2
    assert subjects(mailbox) == ["Archived", "In Inbox and All Mail"]
    assert set(MessageLocation.objects.values_list("folder__name", flat=True)) == {"All Mail"}
    server.move("alice", "All Mail", "Trash", [archived])
    run_sync(mailbox)
    assert subjects(mailbox) == ["In Inbox and All Mail"]


def test_a_server_without_condstore_is_never_sent_its_commands(dovecot_plain):
    dovecot_plain.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(dovecot_plain)
    run_sync(mailbox)
    dovecot_plain.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))
    run_sync(mailbox)
    sent = " ".join(dovecot_plain.client_commands("alice")).upper()
    for word in ("ENABLE", "QRESYNC", "CHANGEDSINCE", "MODSEQ", "CONDSTORE"):
        assert word not in sent
    assert subjects(mailbox) == ["Message 1", "Message 2"]


def test_a_removal_whose_sync_failed_later_is_still_mirrored(server):
    first = server.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(server)
    run_sync(mailbox)
    server.expunge("alice", "INBOX", [first])
    server.append("alice", "INBOX", email(2, sender=JANE, to=ALICE))

    with pytest.raises(TemporaryFailure):  # the removal is saved, then the download fails
        run_sync(mailbox, provider_class=FailingDownloads)
    run_sync(mailbox)

    assert subjects(mailbox) == ["Message 2"]


def test_new_mail_only_still_syncs_folders_created_later(server):
    server.append("alice", "INBOX", email(1, sender=JANE, to=ALICE))
    mailbox = connect_alice(server, since_days=0)
    run_sync(mailbox)
    server.create_folder("alice", "Filtered")  # a server-side rule delivers into a new folder
    server.append("alice", "Filtered", email(2, sender=JANE, to=ALICE))

    run_sync(mailbox)

    assert subjects(mailbox) == ["Message 2"]


class FailingDownloads(CountingProvider):
    def fetch_raw(self, folder, keys):
        raise TemporaryFailure("The connection dropped while downloading messages.")
