"""Sending through the CRM's own mailer (Django's EMAIL_BACKEND): when the user's mailbox is
not connected, or for a company address without a shared mailbox. The message goes from the
CRM's address (DEFAULT_FROM_EMAIL) with the user's name and a Reply-To of their own address,
since no server would let the CRM speak as their domain (SPF, DKIM, DMARC). No Sent folder
holds it: the outbox is its record."""

from __future__ import annotations

import contextlib
import smtplib
from collections.abc import Callable
from typing import Any

from django.core.mail import EmailMessage, get_connection

from mailsync.providers.base import TemporaryFailure
from mailsync.senders.base import Accepted, MessageRefused, NotAccepted, Outgoing
from mailsync.senders.smtp import without_bcc


class _Prebuilt:
    """The finished bytes, in the shape Django's mail backends serialise."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\r\n", **_: Any) -> bytes:
        return self.raw if linesep == "\r\n" else self.raw.replace(b"\r\n", linesep.encode())

    def as_string(self, unixfrom: bool = False, linesep: str = "\n", **_: Any) -> str:
        return self.as_bytes(linesep=linesep).decode("ascii", "replace")

    def get_charset(self) -> None:
        return None


class _PrebuiltMessage(EmailMessage):
    def __init__(self, outgoing: Outgoing) -> None:
        super().__init__(from_email=outgoing.envelope_from, to=list(outgoing.recipients))
        self._raw = without_bcc(outgoing.raw)

    def message(self, *, policy: Any = None) -> Any:  # the bytes are final already
        return _Prebuilt(self._raw)

    def recipients(self) -> list[str]:
        return list(self.to)


class CrmMailer:
    def send(self, outgoing: Outgoing, *, handing_over: Callable[[str], None]) -> Accepted:
        connection = get_connection(fail_silently=False)
        try:
            connection.open()  # connect and sign in first: a failure here sent nothing
        except (smtplib.SMTPException, OSError) as error:
            raise NotAccepted(f"The CRM's mail server could not be reached: {error}.") from None
        try:
            handing_over(outgoing.message_id)
            sent = connection.send_messages([_PrebuiltMessage(outgoing)])
        except smtplib.SMTPRecipientsRefused as refused:
            raise MessageRefused(
                f"The CRM's mail server refused {', '.join(map(str, refused.recipients))}."
            ) from None
        except (smtplib.SMTPException, OSError) as error:
            raise TemporaryFailure(
                f"The CRM's mail server failed while sending: {error}."
            ) from None
        finally:
            with contextlib.suppress(Exception):
                connection.close()
        if not sent:
            raise TemporaryFailure("The CRM's mail server did not take the message.")
        return Accepted(message_id=outgoing.message_id, filed=False)

    def find_sent(self, message_id: str) -> bool | None:
        return None

    def file_copy(self, outgoing: Outgoing) -> bool:
        return False

    def close(self) -> None:
        return None
