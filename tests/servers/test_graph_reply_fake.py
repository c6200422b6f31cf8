"""Tests of replying through drafts on the fake Graph (tests/servers/graph.py): createReply,
createReplyAll and createForward make a draft, PATCH and POST .../attachments change it, and
POST .../send sends it.

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

import requests

from tests.servers import conftest_fixtures
from tests.servers import test_microsoft_fake as graph_tests
from tests.servers.microsoft import MicrosoftCloud
from tests.servers.microsoft_tenant import SentMail, User

# The fixtures, bound by name for pytest (an import would be shadowed by each test's argument).
microsoft = conftest_fixtures.microsoft
graph_checked = graph_tests.graph_checked
Graph = graph_tests.Graph

REPLY = ["User.Read", "Mail.ReadWrite", "Mail.Send"]
IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}
CAROL = {"emailAddress": {"name": "Carol Clark", "address": "carol@example.com"}}
ALICE = {"emailAddress": {"name": "Alice Archer", "address": "alice@contoso.com"}}
BOB = {"emailAddress": {"name": "Bob Baker", "address": "bob@contoso.com"}}
DORA = {"emailAddress": {"name": "dora@example.com", "address": "dora@example.com"}}
ERIN = {"emailAddress": {"name": "Erin", "address": "erin@example.com"}}
NOT_FOUND = (404, "ErrorItemNotFound", "The specified object was not found in the store.")
DENIED = (403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def _original(
    subject: str,
    *,
    to: str = "Alice Archer <alice@contoso.com>",
    cc: str | None = None,
    reply_to: str | None = None,
    message_id: str = "<orig-1@example.com>",
    in_reply_to: str | None = None,
    references: str | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> bytes:
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = "Carol Clark <carol@example.com>"
    message["To"] = to
    for name, value in (
        ("Cc", cc),
        ("Reply-To", reply_to),
        ("In-Reply-To", in_reply_to),
        ("References", references),
    ):
        if value:
            message[name] = value
    message["Subject"] = subject
    message["Date"] = "Mon, 05 Jan 2026 10:00:00 +0000"
    message["Message-ID"] = message_id
    message.set_content(f"Body of {subject}.\n")
    if attachment is not None:
        message.add_attachment(
            attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
        )
    return message.as_bytes()


def _deliver(microsoft: MicrosoftCloud, user: User, raw: bytes) -> str:
    """Deliver to the user's Inbox; the message's REST id (what Graph answers by default)."""
    immutable = microsoft.tenant.deliver(user, raw)
    return microsoft.tenant.message(user, immutable).rest_id


def _patch(graph: Graph, path: str, body: Any) -> requests.Response:
    return requests.patch(
        graph.base + path, json=body, headers={"Authorization": f"Bearer {graph.token}"}, timeout=10
    )


def _mime(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _error(response: requests.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


def _create(graph: Graph, message_id: str, action: str, body: Any = None) -> dict[str, Any]:
    response = graph.post(f"/me/messages/{message_id}/{action}", body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_create_reply_is_a_threaded_draft_and_send_keeps_its_message_id(
    graph_checked: MicrosoftCloud,
) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, graph_tests._token(microsoft, alice, REPLY))
    original_id = _deliver(
        microsoft,
        alice,
        _original(
            "Quarterly plan", in_reply_to="<root@example.com>", references="<root@example.com>"
        ),
    )
    original = graph.get(f"/me/messages/{original_id}").json()

    draft = _create(graph, original_id, "createReply", {"comment": "Sounds good.\nSee you."})

    assert draft["@odata.context"].endswith("/messages/$entity")
    assert draft["subject"] == "RE: Quarterly plan"
    assert (draft["isDraft"], draft["isRead"]) == (True, True)
    assert draft["conversationId"] == original["conversationId"]
    assert draft["parentFolderId"] == tenant.folder(alice, "drafts").id
    assert (draft["toRecipients"], draft["ccRecipients"], draft["bccRecipients"]) == (
        [CAROL],
        [],
        [],
    )
    assert draft["from"] == draft["sender"] == ALICE
    assert draft["body"]["contentType"] == "html"
    content = draft["body"]["content"]
    assert "Sounds good.<br>\nSee you." in content
    assert content.index("See you.") < content.index("Body of Quarterly plan.")
    message_id = draft["internetMessageId"]
    assert message_id.startswith("<")
    assert message_id != "<orig-1@example.com>"
    # The draft is an item like any other: GET and $value answer it.
    fetched = graph.get(f"/me/messages/{draft['id']}").json()
    assert (fetched["isDraft"], fetched["internetMessageId"]) == (True, message_id)
    mime = _mime(graph.get(f"/me/messages/{draft['id']}/$value").content)
    assert mime["Message-ID"] == message_id
    assert mime["In-Reply-To"] == "<orig-1@example.com>"
    assert mime["References"] == "<root@example.com> <orig-1@example.com>"

    sent_answer = graph.post(f"/me/messages/{draft['id']}/send", None)

    assert (sent_answer.status_code, sent_answer.content) == (202, b"")
    [sent] = tenant.sent_mail
    assert (sent.sender, sent.recipients) == ("alice@contoso.com", ("carol@example.com",))
    assert sent.internet_message_id == message_id
    parsed = _mime(sent.raw)
    assert parsed["From"] == "Alice Archer <alice@contoso.com>"
    assert parsed["To"] == "Carol Clark <carol@example.com>"
    assert parsed["Subject"] == "RE: Quarterly plan"
    assert parsed["Message-ID"] == message_id
    assert parsed["In-Reply-To"] == "<orig-1@example.com>"
    assert parsed["References"] == "<root@example.com> <orig-1@example.com>"
    assert parsed["Date"]
    body = parsed.get_body(preferencelist=("html",))
    assert body is not None
    assert "Sounds good." in body.get_content()
    # Out of Drafts, into Sent Items, in the same conversation, no longer a draft.
    assert tenant.messages(alice, "drafts") == []
    [copy] = tenant.messages(alice, "sentitems")
    assert (copy.internet_message_id, copy.raw) == (message_id, sent.raw)
    listed = graph.get("/me/mailFolders/sentitems/messages").json()["value"]
    assert [(m["internetMessageId"], m["isDraft"], m["isRead"]) for m in listed] == [
        (message_id, False, True)
    ]
    assert listed[0]["conversationId"] == original["conversationId"]
    # Sent: the draft's id is gone.
    assert _error(graph.post(f"/me/messages/{draft['id']}/send", None)) == NOT_FOUND
    assert len(tenant.sent_mail) == 1


def test_reply_goes_to_reply_to_and_references_follow_in_reply_to(
    graph_checked: MicrosoftCloud,
) -> None:
    microsoft = graph_checked
    alice = microsoft.alice
    graph = Graph(microsoft, graph_tests._token(microsoft, alice, REPLY))
    original_id = _deliver(
        microsoft,
        alice,
        _original(
            "RE: Offer", reply_to="Sales <sales@example.com>", in_reply_to="<offer@contoso.com>"
        ),
    )

    draft = _create(graph, f"{original_id}", "createReply")

    assert draft["subject"] == "RE: Offer"  # not "RE: RE: Offer"
    assert draft["toRecipients"] == [
        {"emailAddress": {"name": "Sales", "address": "sales@example.com"}}
    ]
    assert (
        draft["conversationId"] == graph.get(f"/me/messages/{original_id}").json()["conversationId"]
    )
    mime = _mime(graph.get(f"/me/messages/{draft['id']}/$value").content)
    # RFC 5322 3.6.4: no References, a single In-Reply-To: that, then the parent's id.
    assert mime["References"] == "<offer@contoso.com> <orig-1@example.com>"
    # /users/{own UPN}/... is the caller's own mailbox, as are mailFolders paths.
    by_upn = graph.post(f"/users/{alice.upn}/messages/{original_id}/createReply", None)
    assert by_upn.status_code == 201
    in_folder = graph.post(f"/me/mailFolders/inbox/messages/{original_id}/createReply", None)
    assert in_folder.status_code == 201
    assert len(microsoft.tenant.messages(alice, "drafts")) == 3


def test_reply_all_recipients_and_the_message_parameter(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice, bob = microsoft.tenant, microsoft.alice, microsoft.bob
    graph = Graph(microsoft, graph_tests._token(microsoft, alice, REPLY))
    original_id = _deliver(
        microsoft,
        alice,
        _original(
            "Kick-off",
            to="Alice Archer <alice@contoso.com>, Bob Baker <bob@contoso.com>, dora@example.com",
            cc="A. Archer <a.archer@contoso.com>, Erin <erin@example.com>, bob@contoso.com",
        ),
    )

    draft = _create(graph, original_id, "createReplyAll")

    # The sender and the original To, the original Cc; never the mailbox's own addresses
    # (alias included), each once.
    assert draft["subject"] == "RE: Kick-off"
    assert draft["toRecipients"] == [CAROL, BOB, DORA]
    assert draft["ccRecipients"] == [ERIN]
    assert graph.post(f"/me/messages/{draft['id']}/send", None).status_code == 202
    [sent] = tenant.sent_mail
    assert sent.recipients == (
        "carol@example.com",
        "bob@contoso.com",
        "dora@example.com",
        "erin@example.com",
    )
    [delivered] = tenant.messages(bob, "inbox")
    assert delivered.internet_message_id == sent.internet_message_id
    assert delivered.raw == sent.raw

    # Recipients in `message` replace the defaults; its body is the draft's body.
    custom = _create(
        graph,
        original_id,
        "createReplyAll",
        {
            "message": {
                "ccRecipients": [{"emailAddress": {"address": "frank@example.com"}}],
                "body": {"contentType": "Text", "content": "Only this."},
                "subject": "Kick-off, my notes",
                "internetMessageHeaders": [{"name": "X-Postcard-Id", "value": "7"}],
            }
        },
    )
    assert custom["toRecipients"] == [CAROL, BOB, DORA]
    assert custom["ccRecipients"] == [
        {"emailAddress": {"name": "frank@example.com", "address": "frank@example.com"}}
    ]
    assert custom["body"] == {"contentType": "text", "content": "Only this."}
    assert custom["subject"] == "Kick-off, my notes"
    custom_mime = _mime(graph.get(f"/me/messages/{custom['id']}/$value").content)
    assert custom_mime["X-Postcard-Id"] == "7"
    assert custom_mime["In-Reply-To"] == "<orig-1@example.com>"

    # Comment and body together: 400. So are properties the fake does not model, bad
    # recipients and non-custom headers.
    both = {"comment": "x", "message": {"body": {"contentType": "text", "content": "y"}}}
    for bad, code in (
        (both, "BadRequest"),
        ({"message": {"importance": "high"}}, "BadRequest"),
        ({"unknown": 1}, "BadRequest"),
        (
            {"message": {"toRecipients": [{"emailAddress": {"address": "bob"}}]}},
            "ErrorInvalidRecipients",
        ),
        (
            {"message": {"internetMessageHeaders": [{"name": "References", "value": "<a@b>"}]}},
            "InvalidInternetMessageHeader",
        ),
    ):
        answer = graph.post(f"/me/messages/{original_id}/createReplyAll", bad)
        assert _error(answer)[:2] == (400, code), bad
    assert len(tenant.messages(alice, "drafts")) == 1


def test_forward_needs_recipients(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, graph_tests._token(microsoft, alice, REPLY))
    original_id = _deliver(
        microsoft, alice, _original("Contract", attachment=("contract.pdf", b"%PDF-1.4 terms"))
    )
    dora = [{"emailAddress": {"address": "dora@example.com"}}]

    # JSON: the toRecipients parameter or the message's, exactly one of them.
    for bad in (
        {"comment": "FYI"},
        {"toRecipients": dora, "message": {"toRecipients": dora}},
    ):
        assert _error(graph.post(f"/me/messages/{original_id}/createForward", bad))[:2] == (
            400,
            "BadRequest",
        )
    forward = _create(graph, original_id, "createForward", {"comment": "FYI", "toRecipients": dora})
    assert forward["subject"] == "FW: Contract"
    assert forward["toRecipients"] == [DORA]
    assert forward["hasAttachments"] is True  # a forward keeps the original's files
    assert "FYI" in forward["body"]["content"]
    assert "Body of Contract." in forward["body"]["content"]
    assert (
        forward["conversationId"]
        == graph.get(f"/me/messages/{original_id}").json()["conversationId"]
    )
    forward_mime = _mime(graph.get(f"/me/messages/{forward['id']}/$value").content)
    assert forward_mime["In-Reply-To"] is None

    # No body at all: a draft without recipients, which cannot be sent until it has some.
    bare = _create(graph, original_id, "createForward")
    assert (bare["toRecipients"], bare["ccRecipients"]) == ([], [])
    assert _error(graph.post(f"/me/messages/{bare['id']}/send", None))[:2] == (
        400,
        "ErrorInvalidRecipients",
    )
    assert tenant.sent_mail == []
    assert _patch(graph, f"/me/messages/{bare['id']}", {"toRecipients": [ERIN]}).status_code == 200
    assert graph.post(f"/me/messages/{bare['id']}/send", None).status_code == 202
    [sent] = tenant.sent_mail
    assert sent.recipients == ("erin@example.com",)
    assert sent.internet_message_id == bare["internetMessageId"]
    [attached] = _mime(sent.raw).iter_attachments()
    assert (attached.get_filename(), attached.get_content()) == ("contract.pdf", b"%PDF-1.4 terms")


def test_patch_updates_a_draft_and_only_a_draft(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice, bob = microsoft.tenant, microsoft.alice, microsoft.bob
    graph = Graph(microsoft, graph_tests._token(microsoft, alice, REPLY))
    original_id = _deliver(microsoft, alice, _original("Budget"))
    draft = _create(graph, original_id, "createReply")
    audit = {"emailAddress": {"name": "Audit", "address": "audit@example.com"}}
    changes = {
        "toRecipients": [DORA, CAROL],
        "ccRecipients": [BOB],
        "bccRecipients": [audit],
        "subject": "RE: Budget (revised)",
        "body": {"contentType": "HTML", "content": "<p>New figures attached.</p>"},
    }

    response = _patch(graph, f"/me/messages/{draft['id']}", changes)

    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["id"] == draft["id"]
    assert (updated["toRecipients"], updated["ccRecipients"]) == ([DORA, CAROL], [BOB])
    assert updated["bccRecipients"] == [audit]
    assert updated["subject"] == "RE: Budget (revised)"
    assert updated["body"] == {"contentType": "html", "content": "<p>New figures attached.</p>"}
    assert updated["changeKey"] != draft["changeKey"]
    assert updated["internetMessageId"] == draft["internetMessageId"]
    assert graph.get(f"/me/messages/{draft['id']}").json()["subject"] == "RE: Budget (revised)"
    mime = _mime(graph.get(f"/me/messages/{draft['id']}/$value").content)
    assert mime["To"] == "dora@example.com, Carol Clark <carol@example.com>"
    assert (mime["Cc"], mime["Bcc"]) == ("Bob Baker <bob@contoso.com>", "Audit <audit@example.com>")
    assert mime["In-Reply-To"] == "<orig-1@example.com>"

    # A bad change changes nothing.
    bad_address = {"ccRecipients": [{"emailAddress": {"address": "nobody"}}]}
    bad = _patch(graph, f"/me/messages/{draft['id']}", bad_address)
    assert _error(bad)[:2] == (400, "ErrorInvalidRecipients")
    unmodelled = _patch(graph, f"/me/messages/{draft['id']}", {"importance": "high"})
    assert _error(unmodelled)[:2] == (400, "BadRequest")
    assert graph.get(f"/me/messages/{draft['id']}").json()["ccRecipients"] == [BOB]
    # A received message: isRead yes, its content no.
    assert _error(_patch(graph, f"/me/messages/{original_id}", {"subject": "x"})) == (
        400,
        "ErrorInvalidPropertySet",
        "Message is not draft.",
    )
    marked = _patch(graph, f"/me/messages/{original_id}", {"isRead": True})
    assert (marked.status_code, marked.json()["isRead"], marked.json()["isDraft"]) == (
        200,
        True,
        False,
    )
    assert _error(_patch(graph, "/me/messages/AAMkAGnothere", {"subject": "x"})) == NOT_FOUND

    assert graph.post(f"/me/messages/{draft['id']}/send", None).status_code == 202
    [sent] = tenant.sent_mail
    assert sent.recipients == (
        "dora@example.com",
        "carol@example.com",
        "bob@contoso.com",
        "audit@example.com",
    )
    assert _mime(sent.raw)["Bcc"] == "Audit <audit@example.com>"
    [delivered] = tenant.messages(bob, "inbox")
    assert b"audit@example.com" not in delivered.raw


def test_attachments_on_a_draft_go_out_with_it(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, graph_tests._token(microsoft, alice, REPLY))
    original_id = _deliver(microsoft, alice, _original("Minutes"))
    draft = _create(graph, original_id, "createReply")
    assert draft["hasAttachments"] is False
    notes = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "notes.txt",
        "contentType": "text/plain",
        "contentBytes": base64.b64encode(b"Action items").decode(),
    }

    response = graph.post(f"/me/messages/{draft['id']}/attachments", notes)

    assert response.status_code == 201, response.text
    attachment = response.json()
    assert attachment["@odata.context"].endswith(f"/messages('{draft['id']}')/attachments/$entity")
    assert attachment["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert attachment["id"]
    assert (attachment["name"], attachment["contentType"], attachment["size"]) == (
        "notes.txt",
        "text/plain",
        12,
    )
    assert (attachment["isInline"], attachment["contentId"]) == (False, None)
    assert attachment["contentBytes"] == notes["contentBytes"]
    # Without contentType, the type comes from the name (the page's example: "smile", a GIF).
    smile = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "smile.gif",
        "contentBytes": base64.b64encode(b"GIF89a").decode(),
    }
    guessed = graph.post(f"/me/messages/{draft['id']}/attachments", smile).json()
    assert guessed["contentType"] == "image/gif"
    assert graph.get(f"/me/messages/{draft['id']}").json()["hasAttachments"] is True

    for bad in (
        {"@odata.type": "#microsoft.graph.itemAttachment", "name": "event"},
        dict(notes, contentBytes="not base64!"),
        dict(notes, name=""),
        dict(notes, contentBytes=base64.b64encode(b"x" * (3 * 1024 * 1024)).decode()),
    ):
        answer = graph.post(f"/me/messages/{draft['id']}/attachments", bad)
        assert _error(answer)[:2] == (400, "BadRequest")
    on_received = graph.post(f"/me/messages/{original_id}/attachments", notes)
    assert _error(on_received)[:2] == (400, "ErrorInvalidPropertySet")
    assert _error(graph.post("/me/messages/AAMkAGnothere/attachments", notes)) == NOT_FOUND

    assert graph.post(f"/me/messages/{draft['id']}/send", None).status_code == 202
    [sent] = tenant.sent_mail
    files = [
        (a.get_filename(), a.get_content_type(), a.get_payload(decode=True))
        for a in _mime(sent.raw).iter_attachments()
    ]
    assert files == [
        ("notes.txt", "text/plain", b"Action items"),
        ("smile.gif", "image/gif", b"GIF89a"),
    ]


def test_sending_moves_the_draft_for_delta_and_keeps_the_immutable_id(
    graph_checked: MicrosoftCloud,
) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, graph_tests._token(microsoft, alice, REPLY))
    original_id = _deliver(microsoft, alice, _original("Delta"))
    _, _, drafts_link = graph.delta_round("/me/mailFolders/drafts/messages/delta", {})
    _, _, sent_link = graph.delta_round("/me/mailFolders/sentitems/messages/delta", {})
    draft = _create(graph, original_id, "createReply")
    _, created, drafts_link = graph.delta_round(drafts_link, {})
    assert [(i["id"], i["isDraft"]) for i in created] == [(draft["id"], True)]

    assert graph.post(f"/me/messages/{draft['id']}/send", None).status_code == 202

    _, removed, _ = graph.delta_round(drafts_link, {})
    assert removed == [
        {
            "@odata.type": "#microsoft.graph.message",
            "id": draft["id"],
            "@removed": {"reason": "deleted"},
        }
    ]
    _, new, _ = graph.delta_round(sent_link, {})
    assert [(i["internetMessageId"], i["isDraft"]) for i in new] == [
        (draft["internetMessageId"], False)
    ]
    assert new[0]["id"] != draft["id"]  # a REST id changes with the folder

    # learn.microsoft.com/graph/outlook-immutable-id#immutable-id-with-sending-mail: the
    # immutable id of the draft finds the Sent Items copy.
    response = graph.post(f"/me/messages/{original_id}/createReply", None, IMMUTABLE)
    assert response.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    immutable = response.json()["id"]
    assert immutable.startswith("AAkALg")
    assert graph.post(f"/me/messages/{immutable}/send", None).status_code == 202
    copy = graph.get(f"/me/messages/{immutable}", IMMUTABLE).json()
    assert (copy["isDraft"], copy["parentFolderId"]) == (
        False,
        tenant.folder(alice, "sentitems").id,
    )
    assert copy["internetMessageId"] == response.json()["internetMessageId"]
    # Sent already: no draft to send.
    assert _error(graph.post(f"/me/messages/{immutable}/send", None, IMMUTABLE)) == NOT_FOUND
    assert len(tenant.sent_mail) == 2


def test_on_send_runs_after_storing_and_before_the_answer(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, graph_tests._token(microsoft, alice, REPLY))
    original_id = _deliver(microsoft, alice, _original("Hooked"))
    draft = _create(graph, original_id, "createReply")
    in_hook, release = threading.Event(), threading.Event()
    seen: list[tuple[SentMail, list[str], list[str], int]] = []
    answers: list[requests.Response] = []

    def hook(sent: SentMail) -> None:
        stored = [m.internet_message_id for m in tenant.messages(alice, "sentitems")]
        drafts = [m.internet_message_id for m in tenant.messages(alice, "drafts")]
        seen.append((sent, stored, drafts, len(tenant.sent_mail)))
        in_hook.set()
        assert release.wait(10)

    tenant.on_send = hook
    client = threading.Thread(
        target=lambda: answers.append(graph.post(f"/me/messages/{draft['id']}/send", None))
    )
    client.start()
    assert in_hook.wait(10)
    assert answers == []  # the client is still waiting for its answer
    [(sent, stored, drafts, recorded)] = seen
    message_id = draft["internetMessageId"]
    assert (sent.internet_message_id, stored, drafts, recorded) == (message_id, [message_id], [], 1)
    release.set()
    client.join(10)
    assert [a.status_code for a in answers] == [202]

    # A hook that fails: the client hears a 500, the message stays sent.
    def broken(sent: SentMail) -> None:
        raise RuntimeError("the test's own failure")

    tenant.on_send = broken
    second = _create(graph, original_id, "createReply")
    assert _error(graph.post(f"/me/messages/{second['id']}/send", None))[:2] == (
        500,
        "generalException",
    )
    assert [s.internet_message_id for s in tenant.sent_mail] == [
        message_id,
        second["internetMessageId"],
    ]
    assert tenant.messages(alice, "drafts") == []


def test_scopes_and_unknown_ids(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice, bob = microsoft.tenant, microsoft.alice, microsoft.bob
    token = graph_tests._token
    read_send = Graph(microsoft, token(microsoft, alice, ["User.Read", "Mail.Read", "Mail.Send"]))
    read_write = Graph(microsoft, token(microsoft, alice, ["User.Read", "Mail.ReadWrite"]))
    send_only = Graph(microsoft, token(microsoft, alice, ["Mail.Send"]))
    original_id = _deliver(microsoft, alice, _original("Scopes"))
    attachment = {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "a.txt",
        "contentBytes": "YQ==",
    }

    # Making and changing drafts takes Mail.ReadWrite (message-createreply, -createreplyall,
    # -createforward, message-update, message-post-attachments).
    for action in ("createReply", "createReplyAll", "createForward"):
        assert _error(read_send.post(f"/me/messages/{original_id}/{action}", None)) == DENIED
    draft = _create(read_write, original_id, "createReply")
    assert _error(_patch(read_send, f"/me/messages/{draft['id']}", {"subject": "x"})) == DENIED
    assert _error(read_send.post(f"/me/messages/{draft['id']}/attachments", attachment)) == DENIED
    # Sending it takes Mail.Send, and Mail.Send alone is enough (message-send).
    assert _error(read_write.post(f"/me/messages/{draft['id']}/send", None)) == DENIED
    assert tenant.sent_mail == []
    assert send_only.post(f"/me/messages/{draft['id']}/send", None).status_code == 202
    assert len(tenant.sent_mail) == 1

    # Another mailbox: a .Shared scope and Exchange's permission.
    bobs_id = _deliver(microsoft, bob, _original("For Bob", to="bob@contoso.com"))
    everything = ["Mail.ReadWrite", "Mail.Send", "Mail.ReadWrite.Shared", "Mail.Send.Shared"]
    shared = Graph(microsoft, token(microsoft, alice, everything))
    assert _error(read_write.post(f"/users/{bob.mail}/messages/{bobs_id}/createReply", None)) == (
        DENIED
    )
    assert _error(shared.post(f"/users/{bob.mail}/messages/{bobs_id}/createReply", None)) == DENIED
    tenant.grant_mailbox_access(bob, alice)
    bobs_draft = shared.post(f"/users/{bob.mail}/messages/{bobs_id}/createReply", None).json()
    assert bobs_draft["from"] == BOB
    assert (
        _error(read_write.post(f"/users/{bob.mail}/messages/{bobs_draft['id']}/send", None))
        == DENIED
    )
    sent = shared.post(f"/users/{bob.mail}/messages/{bobs_draft['id']}/send", None)
    assert sent.status_code == 202
    assert (tenant.sent_mail[-1].sender, tenant.sent_mail[-1].recipients) == (
        "bob@contoso.com",
        ("carol@example.com",),
    )

    # Unknown ids, and methods the actions do not take.
    graph = Graph(microsoft, token(microsoft, alice, ["Mail.ReadWrite", "Mail.Send"]))
    for action in ("createReply", "createReplyAll", "createForward", "send", "attachments"):
        body = attachment if action == "attachments" else None
        assert _error(graph.post(f"/me/messages/AAMkAGnothere/{action}", body)) == NOT_FOUND
    assert graph.get(f"/me/messages/{original_id}/createReply").status_code == 405
    mime_form = requests.post(
        f"{graph.base}/me/messages/{original_id}/createReply",
        data=base64.b64encode(_original("MIME")),
        headers={"Authorization": f"Bearer {graph.token}", "Content-Type": "text/plain"},
        timeout=10,
    )
    assert _error(mime_form)[:2] == (400, "BadRequest")
