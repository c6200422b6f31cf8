"""Sending through Microsoft 365: Graph's sendMail with the MIME message.

learn.microsoft.com/graph/outlook-send-mime-message: POST /me/sendMail with Content-Type
text/plain and the MIME in base64; Exchange keeps our Message-ID, In-Reply-To and References
(so the recipient's client and Outlook's conversation view thread the reply), and saves the copy
in Sent Items (saveToSentItems is the default). 202 Accepted means accepted for delivery.
Sending the same bytes on every provider is what lets the outbox find an earlier attempt by its
Message-ID (find_sent) and the sync recognise the Sent copy as the message already on the card.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from mailsync.providers.base import AuthenticationFailed, TemporaryFailure
from mailsync.providers.graph import Answer, GraphClient, _error_code
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
SEND_SCOPES = ["Mail.Send"]


class GraphSender:
    def __init__(self, client: GraphClient, *, on_close: Callable[[], None] | None = None) -> None:
        self.client = client
        self._on_close = on_close

    def send(self, outgoing: Outgoing, *, handing_over: Callable[[], None]) -> Accepted:
        if len(outgoing.raw) > MAX_MIME_BYTES:
            raise MessageRefused(
                "The message is larger than the 3 MB Microsoft 365 accepts from Postcard."
            )
        handing_over()
        answer = self.client.post_text(
            self.client.url("sendMail"), base64.b64encode(outgoing.raw).decode("ascii")
        )
        if answer.status == 202:
            return Accepted(message_id=outgoing.message_id)
        raise _send_error(answer)

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


def _send_error(answer: Answer) -> Exception:
    code = _error_code(answer)
    if answer.status == 401:
        return AuthenticationFailed("Microsoft 365 no longer accepts Postcard's sign-in.")
    if answer.status == 403:
        return SendingNotAllowed(
            "Microsoft 365 does not let Postcard send from this mailbox yet (Mail.Send): "
            "choose Allow sending on the Mailbox sync page."
        )
    if answer.status in (400, 413, 415):
        return MessageRefused(f"Microsoft 365 refused the message ({code or answer.status}).")
    if answer.status == 429:  # throttled: refused, not accepted
        return NotAccepted("Microsoft 365 asked Postcard to wait (throttling); trying again later.")
    if answer.status >= 500:
        return TemporaryFailure(f"Microsoft 365 is busy ({answer.status}); trying again later.")
    return MessageRefused(f"Microsoft 365 answered {answer.status} {code} to sendMail.")
