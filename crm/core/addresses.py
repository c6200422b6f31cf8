"""One canonical form of an email address, so a header address matches a contact's address.

Case and surrounding spaces are dropped, the domain is converted to its IDNA A-label
("Müller@BÜRO.de" and "müller@xn--bro-hoa.de" both become "müller@xn--bro-hoa.de").
The local part is lowercased too: RFC 5321 allows case-sensitive local parts, but no
mainstream provider uses them and every CRM matches case-insensitively.
"""

from email.utils import parseaddr

import idna
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

MAX_ADDRESS_LENGTH = 320


def normalize_address(raw: str) -> str:
    """Canonical form for matching; never raises (header addresses can be anything)."""
    address = raw.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return address.lower()[:MAX_ADDRESS_LENGTH]
    return f"{local.lower()}@{_ascii_domain(domain)}"[:MAX_ADDRESS_LENGTH]


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
    try:
        validate_email(normalized)
    except ValidationError:
        raise ValidationError(f"“{raw.strip()}” is not a valid email address.") from None
    return normalized


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
