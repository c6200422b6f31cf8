"""Tests of sending through the fake Graph (POST /me/sendMail, /users/{id}/sendMail) and of the
message-list $filter the product uses to find what it sent (tests/servers/graph.py).

Graph is driven with plain requests, tokens come from MSAL against the identity fake, and every
JSON body served is checked against the msgraph-sdk models afterwards (`graph_checked`, from
test_microsoft_fake.py).
"""

from __future__ import annotations

import base64
import email
import email.policy
import threading
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import requests

from tests.servers import conftest_fixtures
from tests.servers import test_microsoft_fake as graph_tests
from tests.servers.microsoft import MicrosoftCloud
from tests.servers.microsoft_tenant import SentMail

# The fixtures, bound by name for pytest (an import would be shadowed by each test's argument).
microsoft = conftest_fixtures.microsoft
graph_checked = graph_tests.graph_checked
Graph = graph_tests.Graph

SEND = ["User.Read", "Mail.Read", "Mail.Send"]


def _raw(
    subject: str,
    *,
    sender: str = "Alice Archer <alice@contoso.com>",
    to: str | None = "Bob Baker <bob@contoso.com>",
    cc: str | None = "carol@example.com",
    bcc: str | None = "Dan <DAN@example.com>",
    message_id: str | None = None,
) -> bytes:
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    for name, value in (("To", to), ("Cc", cc), ("Bcc", bcc)):
        if value:
            message[name] = value
    message["Subject"] = subject
    message["Date"] = "Mon, 05 Jan 2026 10:00:00 +0000"
    if message_id is not None:
        message["Message-ID"] = message_id
    message.set_content(f"Body of {subject}.\n")
    return message.as_bytes()


def _send_mime(
    graph: Graph, raw: bytes | str, path: str = "/me/sendMail", *, wrap: bool = True
) -> requests.Response:
    """The MIME form: Content-Type text/plain, the message in base64 (with line breaks, as
    user-sendmail's example 4 sends it)."""
    body = (
        raw
        if isinstance(raw, str)
        else (base64.encodebytes(raw) if wrap else base64.b64encode(raw)).decode()
    )
    return requests.post(
        graph.base + path,
        data=body,
        headers={"Authorization": f"Bearer {graph.token}", "Content-Type": "text/plain"},
        timeout=10,
    )


def _filter_path(folder: str, message_id: str, select: str = "id,internetMessageId") -> str:
    where = "/me/messages" if folder == "" else f"/me/mailFolders/{folder}/messages"
    literal = "'" + message_id.replace("'", "''") + "'"  # an OData string literal
    return f"{where}?$filter={quote(f'internetMessageId eq {literal}')}&$select={select}"


def _error(response: requests.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


def test_mime_send_saves_the_copy_delta_and_filter_find(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice, bob = microsoft.tenant, microsoft.alice, microsoft.bob
    graph = Graph(microsoft, graph_tests._token(microsoft, alice, SEND))
    headers = {"Prefer": 'IdType="ImmutableId"'}
    _, before, delta_link = graph.delta_round("/me/mailFolders/sentitems/messages/delta", headers)
    assert before == []
    raw = _raw("Proposal", message_id="<proposal-1@contoso.com>")

    response = _send_mime(graph, raw)

    assert response.status_code == 202
    assert response.content == b""
    assert tenant.sent_mail == [
        SentMail(
            sender="alice@contoso.com",
            recipients=("bob@contoso.com", "carol@example.com", "dan@example.com"),
            raw=raw,
            internet_message_id="<proposal-1@contoso.com>",
        )
    ]
    # The sync's next delta round of Sent Items sees the copy as new.
    _, items, _ = graph.delta_round(delta_link, headers)
    assert [item["internetMessageId"] for item in items] == ["<proposal-1@contoso.com>"]
    copy_id = items[0]["id"]
    # The copy is the MIME as sent (Bcc included), read, with the Bcc in bccRecipients.
    assert graph.get(f"/me/messages/{copy_id}/$value", headers).content == raw
    copy = graph.get(f"/me/messages/{copy_id}", headers).json()
    assert copy["isRead"] is True
    dan = {"emailAddress": {"name": "Dan", "address": "DAN@example.com"}}
    assert copy["bccRecipients"] == [dan]
    assert copy["parentFolderId"] == tenant.folder(alice, "sentitems").id

    # $filter=internetMessageId eq '...' with $select=id,internetMessageId: in Sent Items, in the
    # whole mailbox, nowhere else.
    found = graph.get(_filter_path("sentitems", "<proposal-1@contoso.com>"), headers).json()
    assert found["value"] == [
        {
            "@odata.etag": copy["@odata.etag"],
            "id": copy_id,
            "internetMessageId": "<proposal-1@contoso.com>",
        }
    ]
    assert graph.get(_filter_path("", "<proposal-1@contoso.com>"), headers).json()["value"]
    assert graph.get(_filter_path("inbox", "<proposal-1@contoso.com>")).json()["value"] == []
    assert graph.get(_filter_path("sentitems", "proposal-1@contoso.com")).json()["value"] == []
    only_id = graph.get(_filter_path("sentitems", "<proposal-1@contoso.com>", "id")).json()
    assert set(only_id["value"][0]) == {"@odata.etag", "id"}

    # Bob, a user of the tenant, got it in his Inbox without the Bcc header.
    [delivered] = tenant.messages(bob, "inbox")
    assert b"Bcc" not in delivered.raw
    assert b"DAN@example.com" not in delivered.raw
    assert delivered.internet_message_id == "<proposal-1@contoso.com>"
    assert delivered.raw == raw.replace(b"Bcc: Dan <DAN@example.com>\r\n", b"")


def test_mime_without_message_id_gets_one(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    graph = Graph(microsoft, graph_tests._token(microsoft, microsoft.alice, SEND))
    raw = _raw("No id", to="dora@example.com", cc=None, bcc=None)

    assert _send_mime(graph, raw, wrap=False).status_code == 202

    [sent] = microsoft.tenant.sent_mail
    assert sent.internet_message_id.startswith("<")
    assert sent.raw == f"Message-ID: {sent.internet_message_id}\r\n".encode() + raw
    listed = graph.get(_filter_path("sentitems", sent.internet_message_id)).json()["value"]
    assert [m["internetMessageId"] for m in listed] == [sent.internet_message_id]


def test_json_send(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, graph_tests._token(microsoft, alice, SEND))
    message: dict[str, Any] = {
        "subject": "Meet for lunch?",
        "body": {"contentType": "HTML", "content": "<p>The new cafeteria is open.</p>"},
        "toRecipients": [{"emailAddress": {"address": "frannis@example.com", "name": "Fran"}}],
        "ccRecipients": [{"emailAddress": {"address": "Bob@Contoso.com"}}],
        "bccRecipients": [{"emailAddress": {"address": "audit@example.com"}}],
        "internetMessageHeaders": [{"name": "x-postcard-id", "value": "42"}],
        "attachments": [
            {
                "@odata.type": "#microsoft.graph.fileAttachment",
                "name": "hello.txt",
                "contentType": "text/plain",
                "contentBytes": base64.b64encode(b"Hello World!").decode(),
            }
        ],
    }

    assert graph.post("/me/sendMail", {"message": message}).status_code == 202

    [sent] = tenant.sent_mail
    assert sent.sender == "alice@contoso.com"
    assert sent.recipients == ("frannis@example.com", "bob@contoso.com", "audit@example.com")
    parsed = email.message_from_bytes(sent.raw, policy=email.policy.default)
    assert parsed["From"] == "Alice Archer <alice@contoso.com>"
    assert parsed["To"] == "Fran <frannis@example.com>"
    assert parsed["Bcc"] == "audit@example.com"
    assert parsed["Subject"] == "Meet for lunch?"
    assert parsed["X-Postcard-Id"] == "42"
    assert parsed["Message-ID"] == sent.internet_message_id
    assert [a.get_filename() for a in parsed.iter_attachments()] == ["hello.txt"]
    [copy] = graph.get(_filter_path("sentitems", sent.internet_message_id, "subject")).json()[
        "value"
    ]
    assert copy["subject"] == "Meet for lunch?"
    assert len(tenant.messages(microsoft.bob, "inbox")) == 1

    # saveToSentItems false (user-sendmail's example sends the string "false"): sent and
    # recorded, not saved. /users/{own UPN} is the caller's own mailbox: Mail.Send suffices.
    unsaved = {"message": dict(message, subject="Unsaved"), "saveToSentItems": "false"}
    assert graph.post(f"/users/{alice.upn}/sendMail", unsaved).status_code == 202
    assert [m.subject for m in tenant.messages(alice, "sentitems")] == ["Meet for lunch?"]
    assert len(tenant.sent_mail) == 2
    given = dict(message, internetMessageId="<given@contoso.com>")
    assert graph.post("/me/sendMail", {"message": given}).status_code == 202
    assert tenant.sent_mail[-1].internet_message_id == "<given@contoso.com>"


def test_sending_needs_mail_send_and_shared_for_others(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice, bob = microsoft.tenant, microsoft.alice, microsoft.bob
    read_only = Graph(microsoft, graph_tests._token(microsoft, alice, ["User.Read", "Mail.Read"]))
    send = Graph(microsoft, graph_tests._token(microsoft, alice, SEND))
    shared = Graph(
        microsoft, graph_tests._token(microsoft, alice, ["Mail.Read", "Mail.Send.Shared"])
    )
    raw = _raw("Denied", message_id="<denied@contoso.com>")

    for denied in (
        _send_mime(read_only, raw),
        read_only.post("/me/sendMail", {"message": {"toRecipients": []}}),
        _send_mime(send, raw, f"/users/{bob.mail}/sendMail"),
    ):
        assert _error(denied) == (
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    # From someone else through one's own mailbox: Send As is needed (Mail.Send.Shared here).
    as_bob = _send_mime(send, _raw("As Bob", sender="bob@contoso.com", message_id="<b@c>"))
    assert _error(as_bob)[:2] == (403, "ErrorSendAsDenied")
    assert tenant.sent_mail == []

    from_bob = _raw(
        "From Bob", sender="Bob Baker <bob@contoso.com>", to="alice@contoso.com", cc=None, bcc=None
    )
    assert _send_mime(shared, from_bob, f"/users/{bob.oid}/sendMail").status_code == 202
    [sent] = tenant.sent_mail
    assert (sent.sender, sent.recipients) == ("bob@contoso.com", ("alice@contoso.com",))
    assert [m.subject for m in tenant.messages(bob, "sentitems")] == ["From Bob"]
    assert [m.subject for m in tenant.messages(alice, "inbox")] == ["From Bob"]
    # Mail.Send.Shared covers one's own mailbox too (permissions-reference).
    assert _send_mime(shared, _raw("Own", message_id="<own@contoso.com>")).status_code == 202
    assert graph_tests.Graph(microsoft, send.token).get("/me/sendMail").status_code == 405


def test_malformed_sends_answer_400_and_send_nothing(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    graph = Graph(microsoft, graph_tests._token(microsoft, microsoft.alice, SEND))

    assert _error(_send_mime(graph, "this is not base64!")) == (
        400,
        "ErrorMimeContentInvalidBase64String",
        "Invalid base64 string for MIME content.",
    )
    for invalid in (b"", b"no headers here, just text\r\n"):
        assert _error(_send_mime(graph, invalid))[:2] == (400, "ErrorMimeContentInvalid")
    nobody = _raw("Nobody", to=None, cc=None, bcc=None, message_id="<n@c>")
    assert _error(_send_mime(graph, nobody))[:2] == (400, "ErrorInvalidRecipients")
    assert _error(graph.post("/me/sendMail", {"message": {"subject": "x"}}))[:2] == (
        400,
        "ErrorInvalidRecipients",
    )
    bad_address = {"message": {"toRecipients": [{"emailAddress": {"address": "bob"}}]}}
    assert _error(graph.post("/me/sendMail", bad_address))[:2] == (400, "ErrorInvalidRecipients")
    assert _error(graph.post("/me/sendMail", {"subject": "no message"}))[:2] == (400, "BadRequest")
    threaded = {
        "message": {
            "toRecipients": [{"emailAddress": {"address": "bob@contoso.com"}}],
            "internetMessageHeaders": [{"name": "In-Reply-To", "value": "<x@y>"}],
        }
    }
    assert _error(graph.post("/me/sendMail", threaded)) == (
        400,
        "InvalidInternetMessageHeader",
        "The internet message header name 'In-Reply-To' should start with 'x-' or 'X-'.",
    )
    bad_filter = graph.get("/me/mailFolders/sentitems/messages?$filter=subject eq 'x'")
    assert _error(bad_filter)[:2] == (400, "ErrorInvalidUrlQueryFilter")
    assert microsoft.tenant.sent_mail == []
    assert microsoft.tenant.messages(microsoft.alice) == []


def test_on_send_runs_after_storing_and_before_the_answer(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, graph_tests._token(microsoft, alice, SEND))
    in_hook, release = threading.Event(), threading.Event()
    seen: list[tuple[SentMail, list[str], int]] = []
    answers: list[requests.Response] = []

    def hook(sent: SentMail) -> None:
        stored = [m.internet_message_id for m in tenant.messages(alice, "sentitems")]
        seen.append((sent, stored, len(tenant.sent_mail)))
        in_hook.set()
        assert release.wait(10)

    tenant.on_send = hook
    client = threading.Thread(
        target=lambda: answers.append(_send_mime(graph, _raw("Hooked", message_id="<h@c>")))
    )
    client.start()
    assert in_hook.wait(10)
    assert answers == []  # the client is still waiting for its answer
    [(sent, stored, recorded)] = seen
    assert (sent.internet_message_id, stored, recorded) == ("<h@c>", ["<h@c>"], 1)
    release.set()
    client.join(10)
    assert [a.status_code for a in answers] == [202]

    # A hook that fails: the client hears a 500, the message stays sent.
    def broken(sent: SentMail) -> None:
        raise RuntimeError("the test's own failure")

    tenant.on_send = broken
    failed = _send_mime(graph, _raw("Broken", message_id="<broken@c>"))
    assert _error(failed)[:2] == (500, "generalException")
    assert [s.internet_message_id for s in tenant.sent_mail] == ["<h@c>", "<broken@c>"]

    # In a JSON batch the hook runs for the part, before the batch is answered.
    tenant.on_send = lambda sent: seen.append((sent, [], len(answers)))
    part = {
        "id": "1",
        "method": "POST",
        "url": "/me/sendMail",
        "headers": {"Content-Type": "application/json"},
        "body": {"message": {"toRecipients": [{"emailAddress": {"address": "x@example.com"}}]}},
    }
    batch = graph.post("/$batch", {"requests": [part]}).json()
    assert [(r["id"], r["status"]) for r in batch["responses"]] == [("1", 202)]
    assert seen[-1][0].recipients == ("x@example.com",)


def test_expired_token_throttling_and_failures_send_nothing(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, graph_tests._token(microsoft, alice, SEND))
    raw = _raw("Later", message_id="<later@contoso.com>")

    tenant.throttle(alice, 1, retry_after="3")
    throttled = _send_mime(graph, raw)
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    tenant.fail_next(alice, 503)
    assert _error(_send_mime(graph, raw))[:2] == (503, "serviceNotAvailable")
    tenant.expire_access_tokens(alice)
    assert _error(_send_mime(graph, raw))[:2] == (401, "InvalidAuthenticationToken")
    assert tenant.sent_mail == []
    assert tenant.messages(alice, "sentitems") == []
    # The (filtered) list still answers, so the check has a body to look at.
    fresh = Graph(microsoft, graph_tests._token(microsoft, alice, SEND))
    assert fresh.get(_filter_path("sentitems", "<later@contoso.com>")).json()["value"] == []
