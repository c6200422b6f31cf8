"""Bytes to text when the declared charset is missing, unknown or wrong, as it often is in mail.

Order of trust: for single-byte charsets (the Latin, Cyrillic, Greek... families) valid UTF-8 wins
over the declaration, because multi-byte UTF-8 sequences almost never occur by chance in
single-byte text, while "iso-8859-1" on UTF-8 content is a common lie. For multi-byte and
stateful charsets (Shift_JIS, GB2312, ISO-2022-JP, UTF-16...) the declaration wins, since short
texts in them can also be valid UTF-8. Last resort: windows-1252 with replacement characters.
"""

import codecs
import functools
import re

# Names mail software declares that Python lacks, or supersets the senders really used
# (Outlook writes windows-1252 bytes as "iso-8859-1", GB2312 mail is usually GBK, and so on).
_ALIASES = {
    "iso8859-1": "cp1252",
    "ascii": "cp1252",
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
    "ansi_x3.4-1968": "cp1252",
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

_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


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
    """Decode mail bytes, never raising: unknown or lying charsets fall back to UTF-8, cp1252."""
    codec = codec_for(charset)
    if codec is not None and codec.startswith(_MULTIBYTE_PREFIXES):
        if data.isascii() and not codec.startswith(_NON_ASCII_TRANSPARENT):
            return data.decode("ascii")
        for candidate in (codec, *_siblings(codec)):
            try:
                return data.decode(candidate)
            except (UnicodeError, LookupError):
                continue
    if data.isascii():
        return data.decode("ascii")
    text = _mostly_utf8(data)
    if text is not None:
        return text
    fallback = codec if codec and codec != "utf-8" else "cp1252"
    try:
        return data.decode(fallback, errors="replace")
    except (UnicodeError, LookupError):
        return data.decode("cp1252", errors="replace")


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
    return decode_bytes(value.encode("utf-8", errors="surrogateescape"), charset)


def without_surrogates(value: str) -> str:
    """Last guard before the database: lone surrogates cannot be stored as UTF-8."""
    if value.isascii():
        return value
    return _SURROGATES.sub("\ufffd", value)
