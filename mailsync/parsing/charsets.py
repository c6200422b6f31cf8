"""Bytes to text when the declared charset is missing, unknown or wrong, as it often is in mail.

Order of trust: for single-byte charsets (the Latin, Cyrillic, Greek... families) valid UTF-8 wins
over the declaration, because multi-byte UTF-8 sequences almost never occur by chance in
single-byte text, while "iso-8859-1" on UTF-8 content is a common lie. For multi-byte and
stateful charsets (Shift_JIS, GB2312, ISO-2022-JP, UTF-16...) the declaration wins, since short
texts in them can also be valid UTF-8. With no usable declaration (none, unknown, "us-ascii" on
8-bit bytes, or a multi-byte one the bytes do not fit) the charset is detected with
charset-normalizer among those mail really uses. Last resort: windows-1252 with replacements.
"""

import codecs
import functools
import re

import charset_normalizer
from charset_normalizer.md import mess_ratio

# Names mail software declares that Python lacks, or supersets the senders really used
# (Outlook writes windows-1252 bytes as "iso-8859-1", GB2312 mail is usually GBK, and so on).
_ALIASES = {
    "iso8859-1": "cp1252",
    "iso-8859-8-i": "iso8859-8",
    "iso-8859-6-i": "iso8859-6",
    "windows-874": "cp874",
    "x-sjis": "cp932",
    "shift_jis": "cp932",
    "x-mac-roman": "mac-roman",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "big5": "cp950",
    "ansi_x3.4-1968": "ascii",
    "utf8": "utf-8",
}

# Codecs that are no charsets (or are quadratic on hostile input, like punycode and idna).
_REFUSED = frozenset({"idna", "punycode", "raw_unicode_escape", "unicode_escape", "undefined"})

# Declaration trusted before UTF-8: multi-byte and stateful encodings.
_MULTIBYTE_PREFIXES = (
    "cp932", "cp949", "cp950", "shift_jis", "euc_", "gb", "big5", "johab", "hz",
    "iso2022", "utf-7", "utf-16", "utf-32",
)  # fmt: skip
_FAMILIES = (
    (("iso2022_jp", "euc_j", "cp932", "shift_jis"), ("cp932", "euc_jp", "euc_jis_2004")),
    (("gb", "hz", "cp950", "big5"), ("gb18030", "cp950", "big5hkscs")),
    (("cp949", "euc_kr", "iso2022_kr", "johab"), ("cp949", "johab")),
)
# Encodings in which ASCII bytes do not mean ASCII text.
_NON_ASCII_TRANSPARENT = ("hz", "iso2022", "utf-7", "utf-16", "utf-32")

# Detection candidates, most used in mail first (ties go to the earlier one). Python codec names.
_DETECTABLE = (
    "cp1252", "cp1251", "gb18030", "cp932", "big5", "cp949", "euc_jp", "koi8_r", "cp1250",
    "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp874",
)  # fmt: skip
_SAMPLE_BYTES = 64 * 1024
# In a text of fewer 8-bit bytes than this (a few names and a subject), chaos and coherence
# differences below the margin are noise: such charsets tie.
_SHORT_TEXT = 64
_SHORT_TEXT_MARGIN = 0.05
_ASCII = bytes(range(128))
_GARBLE_BYTES = 8 * 1024
# Bytes that are never the second half of a character in the multi-byte charsets detected
# (trail bytes: 0x40 and up in Shift_JIS, Big5, GBK, UHC, EUC; 0x30-0x39 in GB18030's four-byte
# form): line ends, spaces, most punctuation, "<" and ">". The last one in a sample is where to cut.
_CUT_SAFE = rb"\x00-\x2f\x3a-\x3f"
_LAST_CUT_SAFE = re.compile(rb"[%s][^%s]*\Z" % (_CUT_SAFE, _CUT_SAFE))

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_FOREIGN_SURROGATES = re.compile(r"[\ud800-\udc7f\udd00-\udfff]")


@functools.lru_cache(maxsize=256)
def codec_for(charset: str | None) -> str | None:
    """Python codec name for a declared charset, or None when unknown or unusable."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower().split("*", 1)[0]  # RFC 2231 adds "*lang"
    if not name or len(name) > 40:
        return None
    name = _ALIASES.get(name, name)
    try:
        canonical = codecs.lookup(name).name
    except (LookupError, ValueError):
        return None
    if canonical in _REFUSED:
        return None
    return _ALIASES.get(canonical, canonical)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode mail bytes, never raising: see the module docstring for the order of trust."""
    codec = codec_for(charset)
    if codec is not None and codec.startswith(_MULTIBYTE_PREFIXES):
        text = _declared_multibyte(data, codec)
        if text is not None:
            return text
    if data.isascii():
        return _ascii(data)
    text = _mostly_utf8(data)
    if text is not None:
        return text
    # A declared single-byte charset cannot fail (every byte means something): it is kept.
    fallback = codec if codec is not None and _single_byte(codec) else detect(data)
    try:
        return data.decode(fallback or "cp1252", errors="replace")
    except (UnicodeError, LookupError):  # "charset=hex": a codec, but not for text
        return data.decode("cp1252", errors="replace")


def _single_byte(codec: str) -> bool:
    return not codec.startswith((*_MULTIBYTE_PREFIXES, "ascii", "utf"))


def _declared_multibyte(data: bytes, codec: str) -> str | None:
    if data.isascii() and not codec.startswith(_NON_ASCII_TRANSPARENT):
        return data.decode("ascii")
    for candidate in (codec, *_siblings(codec)):
        try:
            return data.decode(candidate)
        except (UnicodeError, LookupError):
            continue
    # A few broken bytes (a message cut mid-character, a bad gateway) do not make the
    # declaration wrong; many do.
    text = data.decode(codec, errors="replace")
    return text if text.count("\ufffd") * 100 <= len(text) else None


def _ascii(data: bytes) -> str:
    if b"\x1b$" in data:  # ISO-2022-JP escapes: Japanese mail that lost its charset label
        try:
            return data.decode("iso2022_jp")
        except UnicodeError:
            pass
    return data.decode("ascii")


def detect(data: bytes) -> str | None:
    """The charset among those mail uses that reads these 8-bit bytes best; None for ASCII."""
    if data.isascii():
        return None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # a UTF-16 byte order mark
        return "utf-16"
    sample = _sample(data)
    matches = charset_normalizer.from_bytes(sample, cp_isolation=list(_DETECTABLE))
    ranked = sorted(matches, key=_rank)
    if not ranked:  # no candidate decodes every byte: pick the least garbled reading
        return min(_DETECTABLE, key=lambda codec: _garble(sample, codec))
    # Several charsets often fit about equally well: the one most used in mail wins the tie.
    margin = _SHORT_TEXT_MARGIN if len(sample.translate(None, _ASCII)) < _SHORT_TEXT else 0.0
    best = _rank(ranked[0])
    tied = [m for m in ranked if all(a <= b + margin for a, b in zip(_rank(m), best, strict=True))]
    fitting = {name for m in tied for name in m.could_be_from_charset} & set(_DETECTABLE)
    return min(fitting, key=_DETECTABLE.index) if fitting else ranked[0].encoding


def _sample(data: bytes) -> bytes:
    """At most _SAMPLE_BYTES, cut after the last byte that ends a character in every detected
    charset: a split character makes charset-normalizer reject the charset outright. With no
    such byte in the second half (CJK text without punctuation), the plain cut: the fallback
    of `detect` (least garbled reading) shrugs off one split character."""
    if len(data) <= _SAMPLE_BYTES:
        return data
    head = data[:_SAMPLE_BYTES]
    cut = _LAST_CUT_SAFE.search(head, _SAMPLE_BYTES // 2)
    return head[: cut.start() + 1] if cut else head


def _rank(match: charset_normalizer.CharsetMatch) -> tuple[float, float]:
    return round(match.chaos, 2), -round(match.coherence, 2)


def _garble(data: bytes, codec: str) -> tuple[float, int]:
    """How garbled the reading is: charset-normalizer's mess ratio of what decodes, plus ten
    times the share of bytes that do not (a wrong multi-byte reading fails all along)."""
    text = data[:_GARBLE_BYTES].decode(codec, errors="replace")
    failed = text.count("\ufffd")
    mess = mess_ratio(text.replace("\ufffd", ""), 1.0)
    return mess + 10 * failed / max(len(text), 1), _DETECTABLE.index(codec)


def _siblings(codec: str) -> tuple[str, ...]:
    """Other encodings of the same language, tried when the declared one fails: mailers
    label EUC-JP or Shift_JIS text "iso-2022-jp", GBK text "gb2312", and so on."""
    for prefixes, family in _FAMILIES:
        if codec.startswith(prefixes):
            return tuple(candidate for candidate in family if candidate != codec)
    return ()


def _mostly_utf8(data: bytes) -> str | None:
    """The UTF-8 reading of data if it is UTF-8 with at most a few broken bytes, else None."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = len(_NON_ASCII.findall(text)) - bad
    # Truncated or spliced UTF-8 keeps most of its characters; Latin-1 read as UTF-8 has next
    # to none (valid multi-byte sequences almost never occur in single-byte text).
    return text if good >= bad > 0 else None


def fix_8bit(value: str, charset: str | None = None) -> str:
    """Header text from the compat32 parser holds raw 8-bit bytes as surrogates: decode them."""
    if value.isascii():
        return value
    if not _SURROGATES.search(value):
        return value
    # Only U+DC80..U+DCFF stand for raw bytes; other lone surrogates are decoded junk (UTF-7
    # "+2AA-" in an RFC 2231 file name) that cannot be encoded back.
    value = _FOREIGN_SURROGATES.sub("\ufffd", value)
    data = value.encode("utf-8", errors="surrogateescape")
    try:
        return data.decode("utf-8")  # RFC 6532 (SMTPUTF8): raw header bytes are UTF-8
    except UnicodeDecodeError:
        return decode_bytes(data, charset)


def without_surrogates(value: str) -> str:
    """Last guard before the database: lone surrogates cannot be stored as UTF-8."""
    if value.isascii():
        return value
    return _SURROGATES.sub("\ufffd", value)
