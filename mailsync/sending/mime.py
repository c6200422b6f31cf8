"""The bytes of an email written in the CRM (RFC 5322), built once when it is queued.

Python's email package with the SMTP policy does the encoding (RFC 2047 words, quoted-printable
or base64 bodies, CRLF line ends) and refuses CR or LF inside a header value, which is the
second line of defence against header injection (drafting.py refuses them first, with a
sentence). Bcc stays in the bytes: the Sent copy shows it, and every transport drops it from what
recipients receive (smtplib's send_message, Gmail and Graph strip it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from markdown_it import MarkdownIt

# CommonMark with raw HTML escaped, not passed through: the HTML part holds only what the
# Markdown says.
_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False})


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Envelope:
    """Everything the message says about who and what, before it becomes bytes."""

    from_address: str
    from_name: str
    to: Sequence[tuple[str, str]]  # (name, address)
    cc: Sequence[tuple[str, str]] = ()
    bcc: Sequence[tuple[str, str]] = ()
    reply_to: str = ""
    subject: str = ""
    body_text: str = ""
    markdown: bool = False
    in_reply_to: str = ""
    references: str = ""
    attachments: Sequence[Attachment] = field(default_factory=tuple)


def new_message_id(from_address: str) -> str:
    """A Message-ID under the sender's own domain (RFC 5322 section 3.6.4)."""
    domain = from_address.rpartition("@")[2] or "postcard.invalid"
    return make_msgid(domain=domain)


def build(envelope: Envelope, *, message_id: str, date: datetime) -> bytes:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = _address(envelope.from_name, envelope.from_address)
    if envelope.to:
        message["To"] = [_address(name, address) for name, address in envelope.to]
    if envelope.cc:
        message["Cc"] = [_address(name, address) for name, address in envelope.cc]
    if envelope.bcc:
        message["Bcc"] = [_address(name, address) for name, address in envelope.bcc]
    if envelope.reply_to:
        message["Reply-To"] = envelope.reply_to
    message["Subject"] = envelope.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    if envelope.in_reply_to:
        message["In-Reply-To"] = envelope.in_reply_to
    if envelope.references:
        message["References"] = envelope.references
    message["MIME-Version"] = "1.0"
    message.set_content(envelope.body_text, cte=_transfer_encoding(envelope.body_text))
    if envelope.markdown:
        message.add_alternative(_html(envelope.body_text), subtype="html")
    for attachment in envelope.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(
            attachment.data,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=attachment.filename,
        )
    return message.as_bytes()


def _address(name: str, address: str) -> Address:
    return Address(display_name=name, addr_spec=address)


def _transfer_encoding(text: str) -> str:
    # Plain ASCII text stays readable on the wire; anything else is quoted-printable.
    return (
        "7bit"
        if text.isascii() and all(len(line) < 990 for line in text.splitlines())
        else ("quoted-printable")
    )


def _html(markdown: str) -> str:
    rendered = _MARKDOWN.render(markdown)
    return f"<!DOCTYPE html>\n<html><body>\n{rendered}</body></html>\n"


_MESSAGE_ID_HEADER = re.compile(rb"^Message-ID:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*", re.I | re.M)


def with_message_id(raw: bytes, message_id: str) -> bytes:
    """The same bytes carrying another Message-ID: the copy kept on the card must match the
    one the provider sent (Gmail may put its own; Graph's reply drafts have their own)."""
    head, separator, body = raw.partition(b"\r\n\r\n")
    replaced = _MESSAGE_ID_HEADER.sub(b"Message-ID: " + message_id.encode(), head, count=1)
    return replaced + separator + body
