"""Sending through Microsoft 365 over Graph.

- A new email: sendMail with the MIME message (learn.microsoft.com/graph/outlook-send-mime-message):
  POST /me/sendMail, Content-Type text/plain, the MIME in base64. Exchange keeps our Message-ID and
  files the copy in Sent Items (saveToSentItems is the default); 202 means accepted.
- A reply, reply-all or forward of a message in the same mailbox: Graph's own endpoints, so that
  Exchange threads it in Outlook's conversation as its own replies are
  (learn.microsoft.com/graph/api/message-createreply, -createreplyall, -createforward, then
  message-send): the draft is made with our recipients and text (and attachments,
  message-post-attachments), then sent. Exchange gives the draft its own Message-ID; the outbox
  records it before the send, so a later attempt looks for that one.
"""

from __future__ import annotations

import base64
import contextlib
import email
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from typing import Any

from mailsync.providers.base import AuthenticationFailed, TemporaryFailure
from mailsync.providers.graph import Answer, GraphClient, _error_code, quote
from mailsync.senders.base import (
    Accepted,
    MessageRefused,
    NotAccepted,
    Outgoing,
    SendingNotAllowed,
)

# learn.microsoft.com/graph/api/user-sendmail: a request is limited to 4 MB; base64 grows the
# MIME by a third.
MAX_MIME_BYTES = 3 * 1024 * 1024
REPLY_ACTIONS = {"reply": "createReply", "reply_all": "createReplyAll", "forward": "createForward"}


class GraphSender:
    def __init__(self, client: GraphClient, *, on_close: Callable[[], None] | None = None) -> None:
        self.client = client
        self._on_close = on_close

    def send(self, outgoing: Outgoing, *, handing_over: Callable[[str], None]) -> Accepted:
        if len(outgoing.raw) > MAX_MIME_BYTES:
            raise MessageRefused(
                "The message is larger than the 3 MB Microsoft 365 accepts from Postcard."
            )
        action = REPLY_ACTIONS.get(outgoing.reply_kind)
        if outgoing.replied_remote_id and action:
            draft = self._reply_draft(outgoing, action)
            if draft is not None:
                return self._send_draft(draft, handing_over)
        handing_over(outgoing.message_id)
        answer = self.client.post_once(
            self.client.url("sendMail"),
            data=base64.b64encode(outgoing.raw),
            content_type="text/plain",
        )
        if answer.status == 202:
            return Accepted(message_id=outgoing.message_id)
        raise _send_error(answer)

    # --- replies through Graph's endpoints -------------------------------------------------

    def _reply_draft(self, outgoing: Outgoing, action: str) -> dict[str, Any] | None:
        """The reply draft with our recipients, text and files; None when the message answered
        is gone from the mailbox (then the MIME goes through sendMail, threaded by headers)."""
        parsed = email.message_from_bytes(outgoing.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        url = self.client.url(f"messages/{quote(outgoing.replied_remote_id)}/{action}")
        answer = self.client.send("POST", url, body={"message": _draft_fields(parsed)})
        if answer.status == 404:
            return None
        if answer.status != 201 or not isinstance(answer.body, dict):
            raise _send_error(answer)
        draft = answer.body
        try:
            self._attach(str(draft["id"]), parsed)
        except Exception:
            self._discard(str(draft["id"]))
            raise
        return draft

    def _attach(self, draft_id: str, parsed: EmailMessage) -> None:
        for part in parsed.iter_attachments():
            data = part.get_payload(decode=True)
            answer = self.client.send(
                "POST",
                self.client.url(f"messages/{quote(draft_id)}/attachments"),
                body={
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    "name": part.get_filename() or "attachment",
                    "contentType": part.get_content_type(),
                    "contentBytes": base64.b64encode(
                        data if isinstance(data, bytes) else b""
                    ).decode("ascii"),
                },
            )
            if answer.status != 201:
                raise _send_error(answer)

    def _send_draft(self, draft: dict[str, Any], handing_over: Callable[[str], None]) -> Accepted:
        draft_id = str(draft["id"])
        message_id = str(draft.get("internetMessageId") or "")
        handing_over(message_id)
        answer = self.client.post_once(self.client.url(f"messages/{quote(draft_id)}/send"))
        if answer.status == 202:
            return Accepted(message_id=message_id, provider_id=draft_id)
        if answer.status != 404:  # refused: the draft would linger in Drafts
            self._discard(draft_id)
        raise _send_error(answer)

    def _discard(self, draft_id: str) -> None:
        # A draft left in Drafts is untidy, not harmful.
        with contextlib.suppress(TemporaryFailure):
            self.client.send("DELETE", self.client.url(f"messages/{quote(draft_id)}"))

    # --- after a hand-over whose answer never came -------------------------------------------

    def find_sent(self, message_id: str) -> bool | None:
        # learn.microsoft.com/graph/api/user-list-messages: $filter on a message property;
        # internetMessageId holds the Message-ID header with its angle brackets.
        escaped = message_id.replace("'", "''")
        answer = self.client.get(
            self.client.url(
                "mailFolders/sentitems/messages"
                f"?$filter=internetMessageId eq '{escaped}'&$select=id"
            )
        )
        if answer.status != 200 or not isinstance(answer.body, dict):
            return None
        return bool(answer.body.get("value"))

    def file_copy(self, outgoing: Outgoing) -> bool:
        return True  # saveToSentItems: Exchange files it

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()


def _draft_fields(parsed: EmailMessage) -> dict[str, Any]:
    """Our recipients and text for the draft (learn.microsoft.com/graph/api/resources/message):
    the HTML part when the email has one (Markdown), else the plain text."""
    html = parsed.get_body(("html",))
    text = parsed.get_body(("plain",))
    body = (
        {"contentType": "HTML", "content": html.get_content()}
        if html is not None
        else {"contentType": "Text", "content": text.get_content() if text is not None else ""}
    )
    return {
        "subject": str(parsed.get("Subject", "")),
        "toRecipients": _recipients(parsed, "To"),
        "ccRecipients": _recipients(parsed, "Cc"),
        "bccRecipients": _recipients(parsed, "Bcc"),
        "body": body,
    }


def _recipients(parsed: EmailMessage, header: str) -> list[dict[str, Any]]:
    found = parsed.get(header)
    if found is None:
        return []
    return [
        {"emailAddress": {"address": a.addr_spec, "name": a.display_name or a.addr_spec}}
        for a in found.addresses
    ]


def _send_error(answer: Answer) -> Exception:
    code = _error_code(answer)
    if answer.status == 401:
        return AuthenticationFailed("Microsoft 365 no longer accepts Postcard's sign-in.")
    if answer.status == 403:
        return SendingNotAllowed(
            "Microsoft 365 does not let Postcard send from this mailbox yet (Mail.Send): "
            "choose Allow sending on the Mailbox sync page."
        )
    if answer.status in (400, 404, 413, 415):
        return MessageRefused(f"Microsoft 365 refused the message ({code or answer.status}).")
    if answer.status == 429:  # throttled: refused, not accepted
        return NotAccepted("Microsoft 365 asked Postcard to wait (throttling); trying again later.")
    if answer.status >= 500:
        return TemporaryFailure(f"Microsoft 365 is busy ({answer.status}); trying again later.")
    return MessageRefused(f"Microsoft 365 answered {answer.status} {code} to sendMail.")
