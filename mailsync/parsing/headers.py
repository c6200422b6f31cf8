"""Header values: RFC 2047 encoded words, raw 8-bit bytes, addresses, dates and Message-IDs.

Values come from the compat32 parser unchanged (folded, raw 8-bit bytes as surrogates), and
everything here is decoded by hand: the modern email policy is several times slower and raises
on some real headers (`To: unlisted-recipients:; (no To-header on input)`).
"""

import binascii
import functools
import inspect
import re
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from email.utils import getaddresses, parsedate_tz

from crm.core.addresses import normalize_address

from .charsets import decode_bytes, detect, fix_8bit, without_surrogates
from .transfer import lenient_base64

MAX_SUBJECT_CHARS = 998  # RFC 5322 line limit; also what Message.subject is shown with
MAX_NAME_CHARS = 300  # Participant.name
MAX_ADDRESS_HEADER_CHARS = 100_000  # a 135 KB To: header exists in the wild; enough is enough
MAX_MESSAGE_ID_CHARS = 995  # Message.message_id holds 998

# Headers whose raw 8-bit bytes are text to decode (names and subjects).
_TEXT_HEADERS = ("subject", "from", "to", "cc", "bcc", "reply-to", "sender")
_ENCODED_WORD = re.compile(r"=\?([^?\s]*)\?([bBqQ])\?([^?]*)\?=")
_MESSAGE_ID = re.compile(r"<([^<>]*)>")
_BRACKETED = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
# "alice@example.com <bob@example.com>" or "'bob@x.org' <bob@x.org>": an address used as the
# display name, unquoted; without quotes it would read as two addresses.
_ADDRESS_AS_NAME = re.compile(r"""(?<![\w.@+-])(['"]?)([^\s<>,;:"'()]+@[^\s<>,;:"'()]+)\1(\s*<)""")
_BARE_ADDRESS = re.compile(r"[^\s<>(),;:\"]+@[^\s<>(),;:\"]+")
# "a@x.org b@y.org" (a comment may follow each): addresses listed without commas, which mail
# clients read as a list; the stdlib parser makes one broken address of them.
_UNSEPARATED = re.compile(
    r"(?<![\w.+=-])([^\s<>(),;:\"]+@[^\s<>(),;:\"]+)(\s+(?:\([^()]*\)\s*)?)(?=[^\s<>(),;:\"]+@)"
)
# RFC 5322 4.3: a three-digit year is the year minus 1900 (old software printed tm_year).
_THREE_DIGIT_YEAR = range(100, 1000)
# C0 controls and DEL become spaces in header text (then whitespace is folded); NUL goes.
_CONTROLS: dict[int, str | None] = {i: " " for i in [*range(1, 32), 127]} | {0: None}

# Python >= 3.11.10 parses addresses strictly by default (CVE-2023-27043) and then returns
# nothing for some headers seen in real mail; the lenient parse keeps what can be kept.
_getaddresses = (
    functools.partial(getaddresses, strict=False)
    if "strict" in inspect.signature(getaddresses).parameters
    else getaddresses
)


def collect(msg: Message) -> dict[str, list[str]]:
    """Header values by lowercased name, in order, as raw strings."""
    headers: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        headers.setdefault(name.strip().lower(), []).append(str(value))
    return headers


def raw_charset(fields: dict[str, list[str]]) -> str | None:
    """The charset of the raw 8-bit bytes in these headers, detected over all of them at once
    (one display name alone is too short to tell); None when there are none or they are UTF-8."""
    values = [value for name in _TEXT_HEADERS for value in fields.get(name, [])]
    sample = b"\n".join(v.encode("utf-8", errors="surrogateescape") for v in values)
    if sample.isascii():
        return None
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return detect(sample)
    return None


def unfold(value: str) -> str:
    return value.replace("\r", "").replace("\n", "")


def fold_whitespace(value: str) -> str:
    return " ".join(value.translate(_CONTROLS).split())


def decode_words(value: str, charset: str | None = None) -> str:
    """Decode RFC 2047 encoded words; whitespace between two adjacent words is dropped.

    Adjacent words in one charset are joined before decoding, since encoders split multi-byte
    characters across words. Words inside quoted strings are decoded too, as every client does.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        adjacent = position > 0 and not gap.strip()  # only whitespace since the last word
        word_charset = match.group(1).lower()
        if pending and (not adjacent or word_charset != pending_charset):
            out.append(decode_bytes(bytes(pending), pending_charset or charset))
            pending.clear()
        if not adjacent:
            out.append(gap)
        pending += _decode_word(match.group(2), match.group(3))
        pending_charset = word_charset
        position = match.end()
    if pending:
        out.append(decode_bytes(bytes(pending), pending_charset or charset))
    out.append(value[position:])
    return "".join(out)


def _decode_word(encoding: str, text: str) -> bytes:
    data = text.encode("utf-8", errors="surrogateescape")
    if encoding in "qQ":
        return binascii.a2b_qp(data, header=True)
    return lenient_base64(data)


def header_text(value: str, charset: str | None = None) -> str:
    """Unfolded, 8-bit fixed, RFC 2047 decoded, whitespace-folded text of a header."""
    text = decode_words(fix_8bit(unfold(value), charset), charset)
    return without_surrogates(fold_whitespace(text))


def subject(values: list[str], charset: str | None) -> str:
    if not values:
        return ""
    return header_text(values[0], charset)[:MAX_SUBJECT_CHARS]


def addresses(values: list[str], charset: str | None) -> list[tuple[str, str]]:
    """(canonical address, display name) pairs, de-duplicated, invalid entries dropped."""
    if not values:
        return []
    texts = [fix_8bit(unfold(value), charset)[:MAX_ADDRESS_HEADER_CHARS] for value in values]
    found = _address_pairs(texts, charset)
    if not found and any("=?" in text for text in texts):
        # Broken clients encode the whole header, address included: decode first, then parse.
        found = _address_pairs([decode_words(text, charset) for text in texts], charset)
    return found


def _address_pairs(texts: list[str], charset: str | None) -> list[tuple[str, str]]:
    texts = [_separated(text) if "@" in text else text for text in texts]
    try:
        pairs = _getaddresses(texts)
    except RecursionError:  # the stdlib parser recurses on ":" (group syntax) in odd headers
        pairs = [("", match) for text in texts for match in _BARE_ADDRESS.findall(text)]
    seen: set[str] = set()
    found: list[tuple[str, str]] = []
    for raw_name, raw_address in pairs:
        address = _clean_address(raw_address)
        if not address or address in seen:
            continue
        seen.add(address)
        name = fold_whitespace(decode_words(raw_name, charset)).strip("\"' ")
        if normalize_address(name) == address:  # "jane@x.org <jane@x.org>" names nobody
            name = ""
        found.append((address, without_surrogates(name)[:MAX_NAME_CHARS]))
    return found


def _separated(text: str) -> str:
    if '"' not in text:  # in a quoted display name, a space is no separator
        text = _UNSEPARATED.sub(r"\1\2,", text)
    return _ADDRESS_AS_NAME.sub(r'"\2"\3', text)


def _clean_address(raw: str) -> str:
    """Canonical address, or "" when raw is not one (no @, spaces, group leftovers)."""
    text = raw.strip()
    if "<" in text or ">" in text:
        match = _BRACKETED.search(text)
        text = match.group(1) if match else ""
    if any(char.isspace() for char in text):
        # "foo bar baz@example.com": the address is the part with the @.
        text = next((token for token in reversed(text.split()) if "@" in token), "")
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or "@" in local.strip('"'):
        return ""
    if not text.isprintable() or any(char in text for char in ",;()[]\\"):
        return ""
    return without_surrogates(normalize_address(text))


def sent_at(values: list[str], now: datetime | None = None) -> datetime | None:
    """Aware UTC datetime of the Date header; None when missing, garbage or absurd."""
    if not values:
        return None
    text = fold_whitespace(fix_8bit(unfold(values[0])))
    if not text:
        return None
    try:
        parsed = _parse_date(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    now = now or datetime.now(UTC)
    if parsed.year < 1970 or parsed > now + timedelta(days=1):
        return None
    return parsed


def _parse_date(text: str) -> datetime | None:
    """RFC 5322 date in UTC. Two-digit years are the stdlib's (00-68: 20xx, 69-99: 19xx; RFC
    5322 reads 50-68 as 19xx, but either reading is out of the accepted range)."""
    fields = parsedate_tz(text)
    if fields is None:
        return None
    year, offset = fields[0], fields[9]
    if year in _THREE_DIGIT_YEAR:
        year += 1900
    # No zone or "-0000": the sender's zone is unknown, so UTC.
    zone = timezone(timedelta(seconds=offset)) if offset else UTC
    return datetime(year, *fields[1:6], tzinfo=zone).astimezone(UTC)


def message_id(values: list[str]) -> str:
    """The Message-ID without <>, whitespace and comments; "" when missing or invalid."""
    if not values:
        return ""
    text = unfold(fix_8bit(values[0]))
    match = _MESSAGE_ID.search(text)
    candidate = "".join((match.group(1) if match else text).split())
    return candidate if _valid_id(candidate) else ""


def referenced_ids(values: list[str]) -> list[str]:
    """The ids listed in References or In-Reply-To, oldest first."""
    ids: list[str] = []
    for value in values:
        text = unfold(fix_8bit(value))
        found = ["".join(found.split()) for found in _MESSAGE_ID.findall(text)]
        if not found:  # "References: id@host" without brackets (old or broken clients)
            found = [token for token in text.split() if "@" in token]
        ids.extend(candidate for candidate in found if _valid_id(candidate))
    return ids


def _valid_id(candidate: str) -> bool:
    return 0 < len(candidate) <= MAX_MESSAGE_ID_CHARS and candidate.isprintable()
