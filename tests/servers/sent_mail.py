"""What the mail-sending fakes (Graph's sendMail, Gmail's messages.send) record of each send.

Both fakes keep a `sent_mail: list[SentMail]` on their state object (`MicrosoftTenant`,
`GoogleAccounts`) and call its `on_send` hook, if set, after the message is stored and recorded
but before the HTTP answer is written: a test can kill the client there, "after the provider
accepted", and check what the product does on its next run.

The helpers work on the raw bytes, so a stored copy stays byte for byte what the client sent.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.utils import getaddresses

RECIPIENT_HEADERS = ("To", "Cc", "Bcc")


@dataclass(frozen=True)
class SentMail:
    """One accepted send: the mailbox that sent it, every recipient (To, Cc and Bcc addresses,
    lower-cased, each once, in header order), the MIME as the provider took it, and its
    Message-ID (angle brackets included)."""

    sender: str
    recipients: tuple[str, ...]
    raw: bytes
    internet_message_id: str


def header_values(raw: bytes, name: str) -> list[str]:
    """Every value of one header field, as raw text (compat32: a malformed value is kept)."""
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    return [str(value) for value in parsed.get_all(name, [])]


def recipients(raw: bytes) -> tuple[str, ...]:
    """The addresses of To, Cc and Bcc, lower-cased and without repeats."""
    found: list[str] = []
    for name in RECIPIENT_HEADERS:
        try:
            pairs = getaddresses(header_values(raw, name))
        except (RecursionError, ValueError, IndexError):  # a pathological header
            continue
        for _, address in pairs:
            address = address.strip().lower()
            if address and address not in found:
                found.append(address)
    return tuple(found)


def message_id(raw: bytes) -> str:
    """The Message-ID header (stripped), or "" without one."""
    values = header_values(raw, "Message-ID")
    return values[0].strip() if values else ""


def newline(raw: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in raw else b"\n"


def with_header_first(raw: bytes, name: str, value: str) -> bytes:
    """The message with one more header field in front, in the message's own line ending."""
    return f"{name}: {value}".encode() + newline(raw) + raw


def without_header(raw: bytes, name: str) -> bytes:
    """The message with every field `name` (and its folded continuation lines) taken out of
    the header section; the rest is left byte for byte."""
    wanted = name.lower().encode()
    lines = raw.splitlines(keepends=True)
    kept: list[bytes] = []
    dropping = False
    for index, line in enumerate(lines):
        if line in (b"\r\n", b"\n"):  # the end of the header section
            kept.extend(lines[index:])
            break
        if line[:1] in (b" ", b"\t"):  # a continuation of the field above
            if not dropping:
                kept.append(line)
            continue
        dropping = line.split(b":", 1)[0].strip().lower() == wanted
        if not dropping:
            kept.append(line)
    return b"".join(kept)
