"""The test servers themselves: each helper checked against the real Dovecot/SMTP with a client."""

from __future__ import annotations

import email
import email.policy
import random
import smtplib
import socket
from datetime import UTC, datetime

import imapclient
import pytest
from imapclient.exceptions import LoginError
from imapclient.imapclient import ARCHIVE, DRAFTS, JUNK, SENT, TRASH

from tests.servers import conftest_fixtures
from tests.servers.dovecot import Dovecot, parse_uid_set, uid_set
from tests.servers.mailgen import (
    CORPUS_DIR,
    business_message,
    corpus_message_paths,
    corpus_messages,
    with_fresh_message_id,
)

# The fixtures, bound by name for pytest (an import would be shadowed by each test's argument).
dovecot = conftest_fixtures.dovecot
dovecot_plain = conftest_fixtures.dovecot_plain
smtp_server = conftest_fixtures.smtp_server

ALICE = "Alice Archer <alice@postcard.example>"
CARLA = "Carla Müller <carla.mueller@kessler.example>"


def _message(n: int, *, html: bool = False, inline_image: bool = False) -> bytes:
    return business_message(
        n, rng=random.Random(n), sender=CARLA, to=ALICE, html=html, inline_image=inline_image
    )


def _bodies(server: Dovecot, user: str, folder: str) -> dict[int, bytes]:
    with server.client(user) as imap:
        imap.select_folder(folder, readonly=True)
        uids = imap.search(["ALL"])
        if not uids:
            return {}
        return {uid: data[b"BODY[]"] for uid, data in imap.fetch(uids, ["BODY.PEEK[]"]).items()}


# -- Dovecot -----------------------------------------------------------------------------------


@pytest.mark.server
def test_append_returns_the_uid_and_keeps_flags_and_date(dovecot):
    raw = _message(1)
    when = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)

    uid = dovecot.append("alice", "INBOX", raw, flags=[b"\\Seen"], internal_date=when)

    assert dovecot.uids("alice", "INBOX") == [uid]
    with dovecot.client("alice") as imap:
        imap.select_folder("INBOX", readonly=True)
        data = imap.fetch([uid], ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])[uid]
    assert data[b"BODY[]"] == raw
    assert b"\\Seen" in data[b"FLAGS"]
    assert data[b"INTERNALDATE"].astimezone(UTC) == when
    assert dovecot.uids("bob", "INBOX") == []


@pytest.mark.server
def test_append_many_loads_every_message_byte_for_byte(dovecot):
    raws = [_message(n, html=n % 2 == 0, inline_image=n % 4 == 0) for n in range(40)]

    uids = dovecot.append_many("alice", "INBOX", raws)

    assert len(uids) == len(set(uids)) == 40
    assert dovecot.uids("alice", "INBOX") == sorted(uids)
    bodies = _bodies(dovecot, "alice", "INBOX")
    assert [bodies[uid] for uid in uids] == raws


@pytest.mark.server
def test_expunge_removes_exactly_the_given_uids(dovecot):
    uids = dovecot.append_many("alice", "INBOX", [_message(n) for n in range(5)])

    dovecot.expunge("alice", "INBOX", [uids[1], uids[3]])

    assert dovecot.uids("alice", "INBOX") == [uids[0], uids[2], uids[4]]


@pytest.mark.server
def test_flag_deleted_marks_without_expunging(dovecot):
    uids = dovecot.append_many("alice", "INBOX", [_message(n) for n in range(2)])

    dovecot.flag_deleted("alice", "INBOX", [uids[0]])

    assert dovecot.uids("alice", "INBOX") == uids
    with dovecot.client("alice") as imap:
        imap.select_folder("INBOX", readonly=True)
        flags = imap.get_flags(uids)
    assert b"\\Deleted" in flags[uids[0]]
    assert b"\\Deleted" not in flags[uids[1]]


@pytest.mark.server
def test_move_returns_the_new_uids_in_the_order_asked(dovecot):
    raws = [_message(n) for n in range(4)]
    uids = dovecot.append_many("alice", "INBOX", raws)

    new = dovecot.move("alice", "INBOX", "Archive", [uids[2], uids[0]])

    assert dovecot.uids("alice", "INBOX") == [uids[1], uids[3]]
    archive = _bodies(dovecot, "alice", "Archive")
    assert sorted(archive) == sorted(new)
    assert archive[new[0]] == raws[2]
    assert archive[new[1]] == raws[0]


@pytest.mark.server
def test_special_use_folders_and_folder_lifecycle(dovecot):
    with dovecot.client("alice") as imap:
        assert imap.find_special_folder(SENT) == "Sent"
        assert imap.find_special_folder(TRASH) == "Trash"
        assert imap.find_special_folder(ARCHIVE) == "Archive"
        assert imap.find_special_folder(JUNK) == "Junk"
        assert imap.find_special_folder(DRAFTS) == "Drafts"

    dovecot.create_folder("alice", "Projects/Acme")
    dovecot.append("alice", "Projects/Acme", _message(1))
    assert "Projects/Acme" in dovecot.folders("alice")
    assert len(dovecot.uids("alice", "Projects/Acme")) == 1

    dovecot.delete_folder("alice", "Projects/Acme")
    assert "Projects/Acme" not in dovecot.folders("alice")


@pytest.mark.server
def test_full_server_advertises_condstore_and_qresync(dovecot):
    with dovecot.client("alice") as imap:
        capabilities = set(imap.capabilities())
    assert {b"CONDSTORE", b"QRESYNC", b"MOVE", b"UIDPLUS", b"SPECIAL-USE"} <= capabilities


@pytest.mark.server
def test_plain_server_hides_condstore_and_qresync(dovecot_plain):
    imap = imapclient.IMAPClient(dovecot_plain.host, port=dovecot_plain.port, ssl=False)
    before_login = set(imap.capabilities())
    imap.login("alice", "secret")
    # Ask again instead of trusting the capabilities cached from the LOGIN response.
    typ, data = imap._imap.capability()
    imap.logout()

    assert typ == "OK"
    after_login = set(data[-1].upper().split())
    for capabilities in (before_login, after_login):
        assert b"CONDSTORE" not in capabilities
        assert b"QRESYNC" not in capabilities
    assert {b"MOVE", b"UIDPLUS", b"IDLE", b"SPECIAL-USE", b"MULTIAPPEND"} <= after_login


@pytest.mark.server
def test_plain_server_records_what_clients_sent(dovecot_plain):
    uid = dovecot_plain.append("alice", "INBOX", _message(1))
    with dovecot_plain.client("alice") as imap:
        imap.select_folder("INBOX")
        imap.fetch([uid], ["FLAGS"])

    commands = [line.upper() for line in dovecot_plain.client_commands("alice")]

    assert any(f"UID FETCH {uid} (FLAGS)" in line for line in commands)
    assert not any(" ENABLE " in line or "CHANGEDSINCE" in line for line in commands)


@pytest.mark.server
def test_reset_uidvalidity_keeps_the_messages_under_new_uids(dovecot):
    raws = [_message(n) for n in range(3)]
    old_uids = dovecot.append_many("alice", "INBOX", raws)
    dovecot.flag_deleted("alice", "INBOX", [old_uids[0]])
    before = dovecot.status("alice", "INBOX")

    new_validity = dovecot.reset_uidvalidity("alice", "INBOX")

    after = dovecot.status("alice", "INBOX")
    assert new_validity == after["UIDVALIDITY"] != before["UIDVALIDITY"]
    assert after["MESSAGES"] == before["MESSAGES"] == 3
    new_uids = dovecot.uids("alice", "INBOX")
    assert not set(new_uids) & set(old_uids)
    assert sorted(_bodies(dovecot, "alice", "INBOX").values()) == sorted(raws)
    assert "postcard-uidvalidity" not in " ".join(dovecot.folders("alice"))


@pytest.mark.server
def test_set_password_makes_the_old_one_fail(dovecot):
    with dovecot.client("alice", "secret"):
        pass

    dovecot.set_password("alice", "n3w-secret")

    with pytest.raises(LoginError), dovecot.client("alice", "secret"):
        pass
    with dovecot.client("alice", "n3w-secret") as imap:
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0
    with dovecot.client("bob", "secret"):
        pass


@pytest.mark.server
def test_stop_refuses_connections_and_start_brings_the_same_mail_back(dovecot):
    raw = _message(1)
    uid = dovecot.append("alice", "INBOX", raw)
    validity = dovecot.status("alice", "INBOX")["UIDVALIDITY"]
    port = dovecot.port

    dovecot.stop()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((dovecot.host, port), timeout=2).close()

    dovecot.start()

    assert dovecot.port == port
    assert dovecot.status("alice", "INBOX")["UIDVALIDITY"] == validity
    assert _bodies(dovecot, "alice", "INBOX") == {uid: raw}


def test_uid_set_round_trip():
    assert uid_set([7, 1, 2, 3, 9, 10]) == "1:3,7,9:10"
    assert parse_uid_set("1:3,7,9:10") == [1, 2, 3, 7, 9, 10]
    assert parse_uid_set(b"5") == [5]


# -- SMTP --------------------------------------------------------------------------------------

MESSAGE = b"From: alice@postcard.example\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nHello Bob\r\n"


@pytest.mark.server
def test_smtp_refuses_a_wrong_password(smtp_server):
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login("alice", "wrong")
        assert refused.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPSenderRefused) as unauthenticated:
            client.sendmail("alice@postcard.example", ["bob@example.com"], MESSAGE)
        assert unauthenticated.value.smtp_code == 530
    assert smtp_server.messages == []


@pytest.mark.server
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtp_accepts_the_right_password_and_captures_the_message(smtp_server, mechanism):
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.ehlo()
        client.esmtp_features["auth"] = mechanism  # make smtplib use just this mechanism
        client.login("alice", "secret")
        client.sendmail("alice@postcard.example", ["bob@example.com", "carol@example.com"], MESSAGE)

    (received,) = smtp_server.wait_for_messages(1)
    assert received.auth_user == "alice"
    assert received.mail_from == "alice@postcard.example"
    assert received.rcpt_tos == ["bob@example.com", "carol@example.com"]
    assert received.data == MESSAGE


# -- generated and corpus mail ---------------------------------------------------------------


def test_business_messages_parse_cleanly_and_vary():
    rng = random.Random(42)
    raws = [
        business_message(
            n,
            rng=rng,
            sender=CARLA,
            to=[ALICE],
            cc=["bob@postcard.example"],
            html=n % 2 == 1,
            inline_image=n % 4 == 3,
        )
        for n in range(60)
    ]
    assert len({email.message_from_bytes(raw)["Message-ID"] for raw in raws}) == 60
    kinds = set()
    for raw in raws:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert not message.defects
        kinds.add(message.get_content_type())
        for part in message.walk():
            assert not part.defects
            if not part.is_multipart():
                part.get_content()
        assert message["Cc"] == "bob@postcard.example"
        assert "Müller" in str(message["From"])
    assert kinds == {"text/plain", "multipart/alternative", "multipart/related"}


def test_business_message_inline_image_is_referenced_by_cid():
    raw = _message(3, html=True, inline_image=True)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    image = next(part for part in message.walk() if part.get_content_type() == "image/png")
    assert image.get_content().startswith(b"\x89PNG")
    cid = image["Content-ID"].strip("<>")
    assert f"cid:{cid}" in message.get_body(("html",)).get_content()


def test_business_message_is_deterministic_per_seed():
    assert _message(5) == _message(5)
    assert _message(5) != _message(6)


def test_with_fresh_message_id_replaces_or_adds_one():
    folded = b"Subject: a\r\nMessage-Id:\r\n <old@x>\r\nTo: b\r\n\r\nMessage-ID: <body@x>\r\n"
    assert with_fresh_message_id(folded, "new@y") == (
        b"Subject: a\r\nMessage-ID: <new@y>\r\nTo: b\r\n\r\nMessage-ID: <body@x>\r\n"
    )
    assert with_fresh_message_id(b"Subject: a\n\nbody\n", "<n@y>") == (
        b"Message-ID: <n@y>\nSubject: a\n\nbody\n"
    )
    assert with_fresh_message_id(b"From x@y Mon Jan 5\nSubject: a\n\nb\n", "n@y") == (
        b"From x@y Mon Jan 5\nMessage-ID: <n@y>\nSubject: a\n\nb\n"
    )


def test_corpus_messages_each_get_exactly_one_fresh_message_id():
    if not (CORPUS_DIR / "MANIFEST.tsv").is_file():
        pytest.skip(f"email corpus missing at {CORPUS_DIR}")
    raws = list(corpus_messages())
    assert len(raws) == len(corpus_message_paths()) > 400
    for i, raw in enumerate(raws):
        fresh = with_fresh_message_id(raw, f"corpus-{i}@bench.example")
        assert fresh.count(f"<corpus-{i}@bench.example>".encode()) == 1


@pytest.mark.server
def test_corpus_messages_load_into_dovecot(dovecot):
    if not (CORPUS_DIR / "MANIFEST.tsv").is_file():
        pytest.skip(f"email corpus missing at {CORPUS_DIR}")
    raws = list(corpus_messages())

    uids = dovecot.append_many("alice", "INBOX", raws)

    assert len(uids) == len(raws)
