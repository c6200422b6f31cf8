"""One canonical form of an email address, so a header address matches a contact's address.

Case and surrounding spaces are dropped, the domain is converted to its IDNA A-label
("Müller@BÜRO.de" and "müller@xn--bro-hoa.de" both become "müller@xn--bro-hoa.de").
The local part is lowercased too: RFC 5321 allows case-sensitive local parts, but no
mainstream provider uses them and every CRM matches case-insensitively. A non-ASCII local
part (SMTPUTF8, RFC 6531) is put in Unicode normalization form NFC first (RFC 6532 3.1), so
"josé" typed on a Mac (e + combining accent) and "josé" in a header are one address. It is
lowercased, not casefolded: casefolding makes "straße" and "strasse", two mailboxes, one.
"""

import re
import unicodedata
from email.utils import parseaddr

import idna
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_ADDRESS_LENGTH = 320
MAX_LOCAL_PART_OCTETS = 64  # RFC 5321 4.5.3.1.1

_ASCII_ATEXT = re.compile(r"[-!#$%&'*+/=?^_`{}|~0-9a-zA-Z]")
# Unicode categories a non-ASCII local part may hold: letters, marks, numbers, punctuation and
# symbols. Not spaces, controls, format characters (bidi overrides), surrogates or unassigned.
_PRINTABLE_CATEGORIES = frozenset("LMNPS")


def normalize_address(raw: str) -> str:
    """Canonical form for matching; never raises (header addresses can be anything)."""
    address = raw.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return address.lower()[:MAX_ADDRESS_LENGTH]
    return f"{_canonical_local(local)}@{_ascii_domain(domain)}"[:MAX_ADDRESS_LENGTH]


def _canonical_local(local: str) -> str:
    if local.isascii():
        return local.lower()
    return unicodedata.normalize("NFC", local.lower())


def _ascii_domain(domain: str) -> str:
    domain = domain.strip().rstrip(".").lower()
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError:
        return domain


def clean_address(raw: str) -> str:
    """Validate an address typed by a user and return its canonical form.

    Accepts "Name <a@b.c>" as pasted from a mail client. Raises ValidationError with a
    message fit to show next to the field.
    """
    text = raw.strip()
    if "<" in text:
        text = parseaddr(text)[1] or text
    normalized = normalize_address(text)
    if len(normalized) > 254:
        raise ValidationError(f"“{raw.strip()}” is longer than an email address can be.")
    if not _valid_address(normalized):
        raise ValidationError(f"“{raw.strip()}” is not a valid email address.")
    return normalized


def _valid_address(address: str) -> bool:
    """Django's validator, which refuses non-ASCII local parts: for those, RFC 6531 rules
    (dot-separated atoms of ASCII atext or printable non-ASCII characters, 64 octets at most)
    and Django's check of the domain."""
    local, _, domain = address.rpartition("@")
    if local.isascii():
        probe = address
    elif _valid_utf8_local_part(local):
        probe = f"local@{domain}"
    else:
        return False
    try:
        validate_email(probe)
    except ValidationError:
        return False
    return True


def _valid_utf8_local_part(local: str) -> bool:
    if len(local.encode("utf-8", errors="replace")) > MAX_LOCAL_PART_OCTETS:
        return False
    return all(atom and all(map(_is_atext, atom)) for atom in local.split("."))


def _is_atext(char: str) -> bool:
    if char.isascii():
        return _ASCII_ATEXT.fullmatch(char) is not None
    return unicodedata.category(char)[0] in _PRINTABLE_CATEGORIES


def address_domain(address: str) -> str:
    return address.rpartition("@")[2]


def clean_domain(raw: str) -> str:
    """Validate a company domain ("Büro.de", "https://www.acme.com/") and return its A-label."""
    text = raw.strip().lower()
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    text = text.split("/", 1)[0].removeprefix("www.").rstrip(".")
    domain = _ascii_domain(text)
    try:
        validate_email(f"probe@{domain}")
    except ValidationError:
        raise ValidationError(f"“{raw.strip()}” is not a valid domain.") from None
    return domain
