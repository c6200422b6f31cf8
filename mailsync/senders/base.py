"""The one small interface every send provider implements (SMTP, Graph, Gmail, the CRM's mailer).

A provider takes the finished bytes (mailsync/sending/mime.py) and hands them to its transport
once; it never retries a hand-over itself, because only the outbox knows whether an earlier
attempt may already have been accepted. Errors are mailsync.providers.base's: AuthenticationFailed
(the mailbox's sign-in is refused: disconnect it), TemporaryFailure (unreachable, busy: try again
later), plus the two below, which hold this message without touching the mailbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mailsync.providers.base import ProviderError, TemporaryFailure


class MessageRefused(ProviderError):
    """The transport refused this message (recipients, size, content): held with the reason."""

    permanent = True


class NotAccepted(TemporaryFailure):
    """The transport answered, refusing for now (SMTP 4xx, HTTP 429): certainly not accepted,
    so trying again later can make no duplicate."""


class SendingNotAllowed(MessageRefused):
    """The mailbox's sign-in does not allow sending (Mail.Send, gmail.send not granted)."""


@dataclass(frozen=True)
class Outgoing:
    raw: bytes
    message_id: str  # with angle brackets, as in the bytes
    envelope_from: str
    recipients: tuple[str, ...]  # To, Cc and Bcc addresses
    # The provider's id of the message replied to, in the same mailbox (Gmail's reply joins
    # that message's thread).
    replied_remote_id: str = ""
    reply_kind: str = ""  # reply, reply_all, forward (Graph answers through its own endpoints)


@dataclass(frozen=True)
class Accepted:
    message_id: str  # as the provider keeps it (the same, unless the provider rewrote it)
    provider_id: str = ""
    filed: bool = True  # a copy is in the mailbox's Sent folder
    note: str = ""  # e.g. recipients the server refused while accepting the others


class SendProvider(Protocol):
    # Whether a message this provider sent can be found afterwards by its Message-ID: the
    # outbox asks before any new attempt after a hand-over whose outcome it never learnt.
    def send(self, outgoing: Outgoing, *, handing_over: Callable[[str], None]) -> Accepted:
        """Hand the message over once. `handing_over(message_id)` is called just before the
        message goes (after connecting and signing in), with the Message-ID it will carry (the
        provider's, where it makes the message: Graph's reply drafts), so the outbox can record
        that an outcome may be unknown from then on, and what to look for."""
        ...

    def find_sent(self, message_id: str) -> bool | None:
        """Is a message with this Message-ID in the Sent folder? None: cannot tell."""
        ...

    def file_copy(self, outgoing: Outgoing) -> bool:
        """Make sure the Sent folder holds one copy; whether it does now."""
        ...

    def close(self) -> None: ...
