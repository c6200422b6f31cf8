"""Sending through Gmail: users.messages.send with the MIME message (and the thread's id).

developers.google.com/gmail/api/guides/sending: `raw` is the base64url RFC 2822 message; a
reply joins its thread when `threadId` is given, the References and In-Reply-To headers follow
RFC 2822, and the Subject matches. The sent message gets the SENT label: that is the Sent copy.
developers.google.com/gmail/api/reference/rest/v1/users.messages/send costs 100 quota units.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from googleapiclient.errors import HttpError

from mailsync.providers.base import ProviderError
from mailsync.providers.gmail import GmailClient, NotFound, RateRefused
from mailsync.senders.base import (
    Accepted,
    MessageRefused,
    NotAccepted,
    Outgoing,
    SendingNotAllowed,
)

SEND_COST = 100
FIND_COST = 5
# The JSON form of messages.send carries the message in the request body; Gmail's limit for a
# message is 35 MB (support.google.com/mail/answer/6584), the JSON body's far less: 5 MB keeps
# clear of it.
MAX_MIME_BYTES = 5 * 1024 * 1024


class GmailSender:
    def __init__(self, client: GmailClient, *, on_close: Callable[[], None] | None = None) -> None:
        self.client = client
        self._on_close = on_close

    def send(self, outgoing: Outgoing, *, handing_over: Callable[[str], None]) -> Accepted:
        if len(outgoing.raw) > MAX_MIME_BYTES:
            raise MessageRefused("The message is larger than the 5 MB Gmail accepts from Postcard.")
        body: dict[str, str] = {"raw": base64.urlsafe_b64encode(outgoing.raw).decode("ascii")}
        thread_id = self._thread_of(outgoing.replied_remote_id)
        if thread_id:
            body["threadId"] = thread_id
        request = self.client.users.messages().send(userId="me", body=body)
        handing_over(outgoing.message_id)
        try:
            answer = self.client.execute_once(request, cost=SEND_COST, doing="sending a message")
        except RateRefused as refused:
            raise NotAccepted(refused.message) from None
        except ProviderError as error:
            raise _send_error(error) from None
        gmail_id = str(answer.get("id", ""))
        return Accepted(message_id=self._kept_message_id(gmail_id, outgoing), provider_id=gmail_id)

    def _thread_of(self, remote_id: str) -> str:
        if not remote_id:
            return ""
        request = self.client.users.messages().get(userId="me", id=remote_id, format="minimal")
        try:
            return str(
                self.client.execute(request, cost=FIND_COST, doing="finding the thread").get(
                    "threadId", ""
                )
            )
        except (ProviderError, NotFound):
            return ""  # gone since: the reply starts a thread of its own

    def _kept_message_id(self, gmail_id: str, outgoing: Outgoing) -> str:
        """The Message-ID Gmail kept (it may put its own on a message sent through the API):
        the card's copy must carry the one the sync will bring back."""
        if not gmail_id:
            return outgoing.message_id
        request = self.client.users.messages().get(
            userId="me", id=gmail_id, format="metadata", metadataHeaders=["Message-ID"]
        )
        try:
            answer = self.client.execute(request, cost=FIND_COST, doing="reading the sent message")
        except (ProviderError, NotFound):
            return outgoing.message_id
        for header in answer.get("payload", {}).get("headers", []):
            if str(header.get("name", "")).lower() == "message-id" and header.get("value"):
                return str(header["value"]).strip()
        return outgoing.message_id

    def find_sent(self, message_id: str) -> bool | None:
        # The rfc822msgid: search operator (support.google.com/mail/answer/7190).
        request = self.client.users.messages().list(
            userId="me", q=f"rfc822msgid:{message_id}", includeSpamTrash=True, maxResults=1
        )
        try:
            answer = self.client.execute(
                request, cost=FIND_COST, doing="looking for a sent message"
            )
        except (ProviderError, HttpError):
            return None
        return bool(answer.get("messages"))

    def file_copy(self, outgoing: Outgoing) -> bool:
        return True  # the sent message itself carries the SENT label

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close()


def _send_error(error: ProviderError) -> ProviderError:
    lowered = error.message.lower()
    if "insufficient" in lowered or "scope" in lowered or "permission" in lowered:
        return SendingNotAllowed(
            "Google does not let Postcard send from this mailbox yet (gmail.send): choose "
            "Allow sending on the Mailbox sync page."
        )
    if not error.permanent and "400" in lowered:
        return MessageRefused(error.message)
    return error
