"""Tests of sending through the fake Gmail (users.messages.send) and of the `rfc822msgid:` search
the product uses to find what it sent (tests/servers/gmail.py).

Gmail is driven through google-api-python-client on its packaged discovery document, as in
test_google_fake.py, whose fixtures and helpers these reuse; every JSON body served is checked
against gmail.v1.json afterwards (`gmail_checked`).
"""

from __future__ import annotations

import base64
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from googleapiclient.errors import HttpError

from tests.servers import conftest_fixtures
from tests.servers import test_google_fake as gmail_tests
from tests.servers.gmail_state import SentMail
from tests.servers.google import GoogleCloud

# The fixtures, bound by name for pytest (an import would be shadowed by each test's argument).
google = conftest_fixtures.google
gmail_checked = gmail_tests.gmail_checked

ALICE = gmail_tests.ALICE
SEND = "https://www.googleapis.com/auth/gmail.send"


def _encoded(raw: bytes) -> dict[str, str]:
    return {"raw": base64.urlsafe_b64encode(raw).decode().rstrip("=")}


def _outgoing(subject: str, message_id: str, **headers: str) -> bytes:
    headers.setdefault("to", "Dora <dora@example.com>")
    return gmail_tests._mime(subject, sender=f"Alice <{ALICE}>", message_id=message_id, **headers)


def _send_with_requests(google: GoogleCloud, token: str, raw: bytes) -> requests.Response:
    return requests.post(
        google.gmail_url + "gmail/v1/users/me/messages/send",
        json=_encoded(raw),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


def test_send_records_the_message_and_keeps_bcc(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    messages = gmail_tests._gmail(google, gmail_tests._sign_in(google)).users().messages()
    raw = _outgoing(
        "Proposal", "<proposal-1@acme.test>", cc="Bob@Gmail.com", bcc="Audit <AUDIT@acme.test>"
    )

    sent = messages.send(userId="me", body=_encoded(raw)).execute()

    assert google.accounts.sent_mail == [
        SentMail(
            sender=ALICE,
            recipients=("dora@example.com", "bob@gmail.com", "audit@acme.test"),
            raw=raw,
            internet_message_id="<proposal-1@acme.test>",
        )
    ]
    got = messages.get(userId="me", id=sent["id"], format="raw").execute()
    assert base64.urlsafe_b64decode(got["raw"]) == raw  # the SENT copy keeps its Bcc
    assert got["labelIds"] == ["SENT"]


def test_rfc822msgid_search(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    accounts = google.accounts
    received = accounts.deliver(
        ALICE,
        gmail_tests._mime("Inbound", message_id="<inbound@example.com>"),
        internal_date=datetime(2026, 1, 5, tzinfo=UTC),
    )
    other = accounts.deliver(ALICE, gmail_tests._mime("Other", message_id="<other@example.com>"))
    messages = gmail_tests._gmail(google, gmail_tests._sign_in(google)).users().messages()
    sent = messages.send(
        userId="me", body=_encoded(_outgoing("Out", "<out-1@acme.test>"))
    ).execute()["id"]

    def search(q: str, **params: Any) -> list[str]:
        return gmail_tests._ids(messages.list(userId="me", q=q, **params).execute())

    assert search("rfc822msgid:<out-1@acme.test>") == [sent]
    assert search("rfc822msgid:out-1@acme.test") == [sent]  # brackets optional
    assert search('rfc822msgid:"<out-1@acme.test>"') == [sent]
    assert search("rfc822msgid:inbound@example.com") == [received]
    assert search("rfc822msgid:nowhere@example.com") == []
    assert search("rfc822msgid:out-1@acme.test", labelIds=["SENT"]) == [sent]
    assert search("rfc822msgid:out-1@acme.test", labelIds=["INBOX"]) == []
    jan6 = int(datetime(2026, 1, 6, tzinfo=UTC).timestamp())
    assert search(f"rfc822msgid:<inbound@example.com> before:{jan6}") == [received]
    assert search(f"after:{jan6} rfc822msgid:<inbound@example.com>") == []
    # Two ids at once: both must match (search terms combine with AND).
    assert search("rfc822msgid:other@example.com rfc822msgid:inbound@example.com") == []
    assert search("rfc822msgid:other@example.com") == [other]
    with pytest.raises(HttpError) as unsupported:
        search("rfc822msgid:out-1@acme.test from:alice")
    assert unsupported.value.status_code == 400


def test_send_needs_a_sending_scope_and_a_recipient(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    raw = _outgoing("Scoped", "<scoped@acme.test>")
    read_only = gmail_tests._gmail(
        google, gmail_tests._sign_in(google, ALICE, [gmail_tests.READONLY])
    )
    with pytest.raises(HttpError) as refused:
        read_only.users().messages().send(userId="me", body=_encoded(raw)).execute()
    assert refused.value.status_code == 403
    error = gmail_tests._http_error(refused.value)
    assert error["message"] == "Request had insufficient authentication scopes."
    assert error["errors"][0]["reason"] == "insufficientPermissions"
    assert google.accounts.sent_mail == []

    send_only = gmail_tests._gmail(google, gmail_tests._sign_in(google, ALICE, [SEND]))
    sent = send_only.users().messages().send(userId="me", body=_encoded(raw)).execute()
    assert sent["labelIds"] == ["SENT"]
    assert [s.internet_message_id for s in google.accounts.sent_mail] == ["<scoped@acme.test>"]

    nobody = gmail_tests._mime("Nobody", sender=ALICE, to="")
    with pytest.raises(HttpError) as no_recipient:
        send_only.users().messages().send(userId="me", body=_encoded(nobody)).execute()
    assert no_recipient.value.status_code == 400
    assert gmail_tests._http_error(no_recipient.value)["message"] == "Recipient address required"
    assert len(google.accounts.sent_mail) == 1


def test_on_send_runs_after_storing_and_before_the_answer(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    accounts = google.accounts
    token = gmail_tests._sign_in(google, ALICE, [SEND]).token
    assert token is not None
    in_hook, release = threading.Event(), threading.Event()
    seen: list[tuple[SentMail, list[str], int]] = []
    answers: list[requests.Response] = []

    def hook(sent: SentMail) -> None:
        stored = [m.message_id for m in accounts.messages(ALICE)]
        seen.append((sent, stored, len(accounts.sent_mail)))
        in_hook.set()
        assert release.wait(10)

    accounts.on_send = hook
    raw = _outgoing("Hooked", "<hooked@acme.test>")
    client = threading.Thread(
        target=lambda: answers.append(_send_with_requests(google, token, raw))
    )
    client.start()
    assert in_hook.wait(10)
    assert answers == []  # the client is still waiting for its answer
    [(sent, stored, recorded)] = seen
    assert (sent.internet_message_id, stored, recorded) == (
        "<hooked@acme.test>",
        ["<hooked@acme.test>"],
        1,
    )
    release.set()
    client.join(10)
    assert [a.status_code for a in answers] == [200]

    # A hook that fails: the client hears a 500 backendError, the message stays sent.
    def broken(sent: SentMail) -> None:
        raise RuntimeError("the test's own failure")

    accounts.on_send = broken
    failed = _send_with_requests(google, token, _outgoing("Broken", "<broken@acme.test>"))
    assert failed.status_code == 500
    assert failed.json()["error"]["errors"][0]["reason"] == "backendError"
    assert [m.message_id for m in accounts.messages(ALICE)] == [
        "<hooked@acme.test>",
        "<broken@acme.test>",
    ]
    assert len(accounts.sent_mail) == 2
