"""Raw RFC 5322 bytes to the plain values the mailbox mirror stores.

`parse_message` is the only entry point. It never raises anything but `MessageRejected`, whatever
the bytes: mailboxes hold decades of broken mail, and one bad message must not stop a sync.
Parsing uses the compat32 policy and decodes by hand, several times faster than the modern
policy (see /work/shared/notes/performance.md); `benchmarks/parse_corpus.py` measures it.
"""

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesParser

from . import body, headers
from .body import POLICY

logger = logging.getLogger(__name__)

# The ParticipantRole values (mailsync.models), without importing models into the parser.
FROM, TO, CC, BCC, REPLY_TO = "from", "to", "cc", "bcc", "reply_to"
_ROLE_HEADERS = ((FROM, "from"), (TO, "to"), (CC, "cc"), (BCC, "bcc"), (REPLY_TO, "reply-to"))

# At least one of these makes a header section worth mirroring (RFC examples and message
# fragments have no From, Date or Message-ID but are still mail).
_MAIL_HEADERS = frozenset(
    {"from", "sender", "date", "message-id", "to", "cc", "subject", "mime-version", "content-type"}
)
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OTHER_MAGIC = {b"%PDF-": "a PDF file", b"PK\x03\x04": "a ZIP file", b"\x1f\x8b": "a gzip file"}
# Text bytes in a header section: tab, CR, LF, ESC (ISO-2022-JP), printable ASCII, 8-bit.
_TEXT_BYTES = bytes([9, 10, 13, 27, *range(32, 127), *range(128, 256)])
_LEADING_BLANK_LINES = re.compile(rb"\A(?:[ \t]*\r?\n)+")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_SPACE_BEFORE_COLON = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)
_HEADER_LINE = re.compile(rb"[!-9;-~]+:|From ")
_UNFOLDED_LINE = re.compile(rb"\n(?![ \t]|[!-9;-~]+:|From )")
_FINGERPRINT_BODY_CHARS = 2_000
TOO_DEEP_MARKER = "[… message body not shown: its MIME parts are nested too deeply]"


class MessageRejected(Exception):
    """Not a message we can mirror; `reason` says why, in words fit for the sync log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ParsedAddress:
    address: str  # canonical, via crm.core.addresses.normalize_address
    name: str  # display name decoded (RFC 2047), "" if none


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str
    dedupe_key: str
    thread_key: str
    subject: str
    sent_at: datetime | None
    participants: tuple[tuple[str, ParsedAddress], ...]
    body_text: str
    body_truncated: bool
    attachment_names: tuple[str, ...]
    body_truncated_from: int | None = None  # size in bytes of the body as sent, if it was cut


def parse_message(
    raw: bytes, *, max_body_chars: int = 100_000, max_raw_bytes: int = 50 * 1024 * 1024
) -> ParsedMessage:
    """Parse one message. Raises MessageRejected (only) for non-mail and oversized input."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise MessageRejected(f"not an email: got {type(raw).__name__}, not bytes")
    if len(raw) > max_raw_bytes:
        raise MessageRejected(
            f"message is {_size(len(raw))}, over the {_size(max_raw_bytes)} limit"
        )
    try:
        return _parse(bytes(raw), max(max_body_chars, 0))
    except MessageRejected:
        raise
    except RecursionError:
        raise MessageRejected("MIME structure is nested too deeply to parse") from None
    except Exception as error:
        # A bug here must cost one message, not the sync: log it loudly and skip the message.
        logger.exception("parse_message failed")
        raise MessageRejected(f"could not be parsed ({type(error).__name__})") from error


def _parse(raw: bytes, max_body_chars: int) -> ParsedMessage:
    raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark, from Windows tools
    if raw[:1] in (b" ", b"\t", b"\r", b"\n"):
        raw = _LEADING_BLANK_LINES.sub(b"", raw)
    _reject_non_mail_bytes(raw)
    raw = _repair_header_section(raw)
    try:
        msg = BytesParser(policy=POLICY).parsebytes(raw)
        too_deep = False
    except RecursionError:  # thousands of nested multiparts: the stdlib parser recurses
        msg = BytesParser(policy=POLICY).parsebytes(raw, headersonly=True)
        too_deep = True
    fields = headers.collect(msg)
    if not _MAIL_HEADERS.intersection(fields):
        raise MessageRejected(_not_mail_reason(raw, fields))

    # The best guess for raw 8-bit bytes in headers: declared for the body, or detected.
    charset = body.content_charset(msg) or headers.raw_charset(fields)
    message_id = headers.message_id(fields.get("message-id", []))
    subject = headers.subject(fields.get("subject", []), charset)
    sent_at = headers.sent_at(fields.get("date", []))
    participants = tuple(
        (role, ParsedAddress(address, name))
        for role, header in _ROLE_HEADERS
        for address, name in headers.addresses(fields.get(header, []), charset)
    )
    if too_deep:
        content = body.Body(TOO_DEEP_MARKER, truncated=True, attachment_names=())
    else:
        content = body.extract(msg, max_chars=max_body_chars, header_charset=charset)

    if message_id:
        dedupe_key = _sha256(message_id)
    else:
        dedupe_key = _sha256(_fingerprint(fields, subject, content.text, charset))
    root = (
        headers.referenced_ids(fields.get("references", []))
        or headers.referenced_ids(fields.get("in-reply-to", []))
        or [message_id]
    )[0]
    return ParsedMessage(
        message_id=message_id,
        dedupe_key=dedupe_key,
        thread_key=_sha256(root) if root else dedupe_key,
        subject=subject,
        sent_at=sent_at,
        participants=participants,
        body_text=content.text,
        body_truncated=content.truncated,
        attachment_names=content.attachment_names,
        body_truncated_from=content.truncated_from,
    )


def _reject_non_mail_bytes(raw: bytes) -> None:
    if not raw.strip():
        raise MessageRejected("not an email: empty")
    if raw.startswith(_OLE2_MAGIC):
        raise MessageRejected("not an email: an Outlook .msg file (binary OLE2), not MIME")
    for magic, what in _OTHER_MAGIC.items():
        if raw.startswith(magic):
            raise MessageRejected(f"not an email: {what}")
    end = _HEADER_END.search(raw, 0, 8192)
    head = raw[: end.start() if end else 4096]
    controls = len(head.translate(None, _TEXT_BYTES))
    if controls > len(head) // 20:
        raise MessageRejected("not an email: binary data where the headers should be")


def _repair_header_section(raw: bytes) -> bytes:
    """Fix two header faults that make Python's parser end the headers early, taking
    Content-Type and the rest into the body: "Subject :" (obsolete RFC 822 syntax) and lines
    that lost their folding whitespace (seen in long Exchange diagnostic headers)."""
    end = _HEADER_END.search(raw, 0, 1 << 20)
    if end is None:
        return raw
    head = raw[: end.start()]
    if _SPACE_BEFORE_COLON.search(head) is None and _UNFOLDED_LINE.search(head) is None:
        return raw
    lines = _SPACE_BEFORE_COLON.sub(rb"\1:", head).split(b"\n")
    header_lines = [i for i, line in enumerate(lines) if _HEADER_LINE.match(line)]
    if not header_lines or header_lines[0] != 0:
        return raw
    # Only a line with more headers after it is a broken fold; the first non-header line after
    # the last header is where the body starts (no blank line in between), as the parser has it.
    for index in range(1, header_lines[-1]):
        if not _HEADER_LINE.match(lines[index]) and lines[index][:1] not in (b" ", b"\t"):
            lines[index] = b" " + lines[index]
    return b"\n".join(lines) + raw[end.start() :]


def _not_mail_reason(raw: bytes, fields: dict[str, list[str]]) -> str:
    if fields:
        return "not an email: no From, Date or Message-ID header"
    first_line = raw.split(b"\n", 1)[0][:60].decode("utf-8", errors="replace").strip()
    return f"not an email: no header section (starts with {first_line!r})"


def _fingerprint(
    fields: dict[str, list[str]], subject: str, body_text: str, charset: str | None
) -> str:
    """Stable identity of a message without Message-ID: same bytes, same fingerprint."""
    parts = [
        headers.header_text((fields.get("date") or [""])[0]),
        headers.header_text(",".join(fields.get("from", [])), charset),
        headers.header_text(",".join(fields.get("to", [])), charset),
        subject,
        body_text[:_FINGERPRINT_BODY_CHARS],
    ]
    return "\x00".join(parts)


def message_id_key(header_value: str) -> str:
    """The dedupe_key parse_message gives a message with this Message-ID header ("" if none).

    Lets the sync engine recognise a message it already holds from its header alone.
    """
    message_id = headers.message_id([header_value])
    return _sha256(message_id) if message_id else ""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def _size(count: int) -> str:
    for unit, scale in (("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"
