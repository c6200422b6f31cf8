"""The readable body and the attachment names of a parsed MIME tree.

The body is the message's own text: the first displayable text part that is not empty and not
an attachment (RFC 2183: only "Content-Disposition: attachment" makes one; an inline part with a
file name is displayed), text/plain before text/html inside multipart/alternative, HTML
converted only when there is no plain text. Attached messages (message/rfc822, digests) are only
searched when the message has no text of its own. Attachments and inline images are never
kept, only attachment names; the part shown as the body is not listed among them.
"""

import binascii
import re
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from email.policy import Compat32

from .charsets import codec_for, decode_bytes, fix_8bit, without_surrogates
from .headers import decode_words, fold_whitespace
from .htmltext import html_to_text, strip_tags
from .transfer import lenient_base64

MAX_ATTACHMENT_NAMES = 50
MAX_FILENAME_CHARS = 255
MAX_DEPTH = 30  # deeper MIME nesting is a parser torture test, not mail
MAX_PARTS = 5_000
# HTML beyond this many times the body limit is not converted: text is much shorter than markup
# (html2text converts about 1.5 MB a second).
HTML_INPUT_FACTOR = 10


class _RawHeaderPolicy(Compat32):
    """compat32, but header values come back unfolded with raw 8-bit bytes kept as surrogates.

    compat32 turns such values into Header objects whose str() has replaced the bytes with
    U+FFFD, before anyone could try the right charset on them.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        # Unfolded too: boundary="foo<CRLF> bar" is the boundary "foo bar" (RFC 5322 2.2.3).
        return value.replace("\r", "").replace("\n", "").strip()


POLICY = _RawHeaderPolicy()

_PLAIN, _HTML, _ENRICHED = "plain", "html", "enriched"
_PREFERENCE = {_PLAIN: 0, _HTML: 1, _ENRICHED: 2}
_KIND_BY_TYPE = {
    "text/plain": _PLAIN,
    "text/html": _HTML,
    "text/enriched": _ENRICHED,
    "text/richtext": _ENRICHED,
}
_UUENCODED = re.compile(r"^begin [0-7]{3,4} ([^\n]+)\n.*?^end[ \t]*$\n?", re.MULTILINE | re.DOTALL)
_DELIMITER_LINE = re.compile(rb'^--([^"\\\r\n]{1,200})\r?\n(?=[A-Za-z-]+:)', re.MULTILINE)
_HTML_START = re.compile(r"\s*<(?:!doctype\s+html|html)\b", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
# Bytes text never holds (C0 controls but tab, newlines, form feed and ESC of ISO-2022; DEL).
_CONTROL_BYTES = bytes(byte for byte in range(32) if byte not in b"\t\n\r\f\x1b") + b"\x7f"
_WORDS = re.compile(r"\S[ \t]+\S")
_TRAILING_SPACE = re.compile(r"[ \t\f\v]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{4,}")
# Zero-width characters newsletters pad their hidden preview text with (the joiner U+200D stays:
# emoji sequences need it).
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u034f\u200b\u200c\u2060\ufeff"))


@dataclass(frozen=True)
class Body:
    text: str
    truncated: bool
    attachment_names: tuple[str, ...]
    truncated_from: int | None = None  # bytes of the body part as sent, when it was cut


def extract(msg: Message, *, max_chars: int, header_charset: str | None) -> Body:
    recover_boundaries(msg)
    chosen = _find_body(msg, 0, into_messages=False) or _find_body(msg, 0, into_messages=True)
    names = attachment_names(msg, header_charset, body=chosen[1] if chosen else None)
    text = ""
    overflow = size = 0
    if chosen is not None:
        kind, part = chosen
        data = _text_bytes(part)
        size = len(data)
        text, overflow = _part_text(kind, part, data, max_chars)
    slack = 2 * max_chars + 10_000
    if len(text) > slack:  # no need to normalize megabytes that will be cut anyway
        overflow += len(text) - slack
        text = text[:slack]
    text = normalize(text)
    if "begin " in text:
        text, uu_names = _strip_uuencoded(text)
        names = (names + uu_names)[:MAX_ATTACHMENT_NAMES]
    if len(text) > max_chars or overflow:
        overflow += max(len(text) - max_chars, 0)
        text = (
            text[:max_chars].rstrip() + f"\n\n[… message cut: {overflow} more characters not shown]"
        )
        return Body(text, True, names, truncated_from=size)
    return Body(text, False, names)


def normalize(text: str) -> str:
    """\\n newlines; no NUL, zero-width padding or trailing spaces; at most two blank lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = text.replace("\u00a0", " ").translate(_INVISIBLE)
    text = _TRAILING_SPACE.sub("", text)
    text = _BLANK_LINES.sub("\n\n\n", text)
    return without_surrogates(text.strip("\n"))


def recover_boundaries(msg: Message) -> None:
    """Split multiparts whose declared boundary matches no line, using the delimiter lines
    actually present ("--something" followed by a part header), as mail clients do."""
    stack = [msg]
    visited = 0
    while stack and visited < MAX_PARTS:
        part = stack.pop()
        visited += 1
        if part.get_content_maintype() == "multipart" and not part.is_multipart():
            _resplit(part)
        if part.is_multipart():
            stack.extend(child for child in part.get_payload() if isinstance(child, Message))


def _resplit(part: Message) -> None:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return
    match = _DELIMITER_LINE.search(data)
    if match is None:
        return
    boundary = match.group(1).rstrip()
    content_type = part.get_content_type().encode("ascii", errors="replace")
    header = b'Content-Type: %s; boundary="%s"\n\n' % (content_type, boundary)
    rebuilt = message_from_bytes(header + data, policy=POLICY)
    if rebuilt.is_multipart() and rebuilt.get_payload():
        part.set_payload(rebuilt.get_payload())


def _find_body(part: Message, depth: int, *, into_messages: bool) -> tuple[str, Message] | None:
    """(kind, part) of the best body under part, or None."""
    if depth > MAX_DEPTH or _is_attachment(part, depth):
        return None
    content_type = part.get_content_type()
    maintype = content_type.partition("/")[0]
    if maintype == "message":
        inner = _inner_message(part) if into_messages else None
        return _find_body(inner, depth + 1, into_messages=True) if inner else None
    if part.is_multipart():
        children = [c for c in part.get_payload() if isinstance(c, Message)][:MAX_PARTS]
        found = (_find_body(child, depth + 1, into_messages=into_messages) for child in children)
        candidates = (choice for choice in found if choice is not None)
        if content_type == "multipart/alternative":
            return min(candidates, key=lambda choice: _PREFERENCE[choice[0]], default=None)
        return next(candidates, None)
    # A multipart the parser could not split: show what is there.
    kind = _PLAIN if maintype == "multipart" else _KIND_BY_TYPE.get(content_type)
    if kind is None or not _text_bytes(part).strip():
        return None  # an empty part (or a nested multipart reusing its parent's boundary)
    return kind, part


def _inner_message(part: Message) -> Message | None:
    """The message inside a message/rfc822 part, also when it was base64-encoded."""
    if part.get_content_type() not in ("message/rfc822", "message/global"):
        return None
    # The stdlib parser gives every message/* part a list of one Message, even an empty one.
    inner = part.get_payload()
    if not isinstance(inner, list) or not inner or not isinstance(inner[0], Message):
        return None
    inner_message = inner[0]
    encoding = _transfer_encoding(part)
    if encoding not in ("base64", "quoted-printable") or inner_message.keys():
        return inner_message
    # Encoded (against RFC 2046): the parser saw base64 lines as a body without headers.
    # Not get_payload(): it replaces raw 8-bit bytes with U+FFFD before anyone decodes them.
    raw = getattr(inner_message, "_payload", None)
    if not isinstance(raw, str):
        return None
    data = _decode_transfer(raw.encode("utf-8", errors="surrogateescape"), encoding)
    if not data.strip():
        return None
    try:
        return message_from_bytes(data, policy=POLICY)
    except RecursionError:
        return None


def _is_attachment(part: Message, depth: int) -> bool:
    disposition = part.get_content_disposition()
    if part.is_multipart():
        return disposition == "attachment"
    if part.get_content_type() in _KIND_BY_TYPE:
        # Text is displayed unless marked as an attachment (RFC 2183), whatever file name it
        # has; a single-part text message is its own body, whatever its headers say.
        return depth > 0 and disposition == "attachment"
    return disposition == "attachment" or _raw_filename(part) is not None


def _part_text(kind: str, part: Message, data: bytes, max_chars: int) -> tuple[str, int]:
    """Text of a body part and the number of characters known to be cut before conversion."""
    charset = content_charset(part)
    if kind == _HTML and charset is None:
        match = _META_CHARSET.search(data, 0, 4096)
        charset = match.group(1).decode("ascii") if match else None
    text = decode_bytes(data, charset)
    if kind == _HTML or _HTML_START.match(text):  # HTML also comes as text/plain, or untyped
        limit = max_chars * HTML_INPUT_FACTOR
        return html_to_text(text[:limit]), max(len(text) - limit, 0)
    if kind == _ENRICHED:
        text = strip_tags(text.replace("<<", "&lt;"))
    return text, 0


def content_charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except (ValueError, LookupError, UnicodeError, TypeError):  # e.g. NUL in an RFC 2231 charset
        return None


def _payload(part: Message) -> bytes:
    """The part's content with its transfer encoding undone, tolerating broken encodings."""
    if part.is_multipart():
        return b""
    if _transfer_encoding(part) == "base64":
        try:
            text = part.get_payload()
        except (ValueError, UnicodeError, LookupError):
            # 8-bit junk in base64 and a charset that cannot decode it: let the stdlib try.
            text = None
        if isinstance(text, str):
            return lenient_base64(text.encode("ascii", errors="ignore"))
    # Quoted-printable, uuencode or none. Not get_payload(): it decodes 8-bit text as ASCII.
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _text_bytes(part: Message) -> bytes:
    """A text part's content. Text a confused mailer labelled base64 stays as it was sent:
    decoding it would turn the words into binary garbage."""
    data = _payload(part)
    if _transfer_encoding(part) != "base64" or _wide(part, data):
        return data
    # Not get_payload(): it replaces 8-bit bytes with U+FFFD before anyone knows the charset.
    raw = getattr(part, "_payload", None)
    if not isinstance(raw, str) or _is_base64_of_text(raw, data):
        return data
    return raw.encode("utf-8", errors="surrogateescape")


def _wide(part: Message, data: bytes) -> bool:
    """UTF-16 or UTF-32 text, whose NUL bytes are no sign of binary data."""
    codec = codec_for(content_charset(part)) or ""
    return codec.startswith(("utf-16", "utf-32")) or data.startswith((b"\xff\xfe", b"\xfe\xff"))


def _is_base64_of_text(raw: str, decoded: bytes) -> bool:
    """Whether `raw` really was base64: it decodes to something, not to binary, and is not
    made of lines of words."""
    if not decoded.strip():
        return not raw.strip()
    controls = len(decoded) - len(decoded.translate(None, _CONTROL_BYTES))
    if controls * 50 >= len(decoded):
        return False  # text has (next to) no control characters; random bytes one in nine
    lines = [line for line in raw.splitlines() if line.strip()]
    prose = sum(1 for line in lines if _WORDS.search(line))
    return prose * 2 <= len(lines)  # base64 lines never hold words apart


def _transfer_encoding(part: Message) -> str:
    return str(part.get("content-transfer-encoding", "")).strip().lower()


def _decode_transfer(data: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        return lenient_base64(data)
    if encoding == "quoted-printable":
        return binascii.a2b_qp(data)
    return data


def attachment_names(
    msg: Message, charset: str | None, *, body: Message | None = None
) -> tuple[str, ...]:
    """Names of attachments in document order; inline images of HTML (cid:) and the part
    shown as the body are not listed."""
    names: list[str] = []
    stack: list[tuple[Message, str, int]] = [(msg, "", 0)]
    visited = 0
    while stack and len(names) < MAX_ATTACHMENT_NAMES and visited < MAX_PARTS:
        part, parent_type, depth = stack.pop()
        visited += 1
        if part.is_multipart() and part.get_content_maintype() != "message":
            if depth < MAX_DEPTH:
                children = [c for c in part.get_payload() if isinstance(c, Message)]
                stack.extend((c, part.get_content_type(), depth + 1) for c in reversed(children))
            continue
        if part is body or (depth == 0 and not _is_attachment(part, depth)):
            continue
        name = _attachment_name(part, parent_type, charset)
        if name:
            names.append(name)
    return tuple(names)


def _attachment_name(part: Message, parent_type: str, charset: str | None) -> str:
    raw = _raw_filename(part)
    disposition = part.get_content_disposition()
    if part.get_content_type() in ("message/rfc822", "message/global"):  # RFC 6532: UTF-8
        if raw is None:
            return _forwarded_name(part, charset)
    elif raw is None and disposition != "attachment":
        return ""
    if (
        parent_type == "multipart/related"
        and disposition != "attachment"
        and part.get("content-id") is not None
    ):
        return ""  # an image of the HTML body, not something the sender attached
    name = decode_words(fix_8bit(raw or "", charset), charset)
    # Keep the base name only: "C:\\Users\\x\\report.pdf" was a path on the sender's disk.
    name = fold_whitespace(name.replace("\\", "/").rsplit("/", 1)[-1]).strip("\"' ")
    return without_surrogates(name)[:MAX_FILENAME_CHARS] or _default_name(part)


def _raw_filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except (TypeError, ValueError, LookupError, UnicodeError):
        return None
    return name.strip() if isinstance(name, str) and name.strip() else None


def _forwarded_name(part: Message, charset: str | None) -> str:
    inner = _inner_message(part)
    subject = ""
    if inner is not None:
        value = inner.get("subject")
        subject = fold_whitespace(decode_words(fix_8bit(str(value or ""), charset), charset))
    stem = subject.replace("/", "-").replace("\\", "-")[: MAX_FILENAME_CHARS - 4]
    return without_surrogates(f"{stem or 'message'}.eml")


def _default_name(part: Message) -> str:
    return f"attachment ({part.get_content_type()})"


def _strip_uuencoded(text: str) -> tuple[str, tuple[str, ...]]:
    """Uuencoded files inside a text body (old mailers) are attachments too."""
    names: list[str] = []

    def drop(match: re.Match[str]) -> str:
        names.append(match.group(1).strip())
        return ""

    return _UUENCODED.sub(drop, text), tuple(names)
