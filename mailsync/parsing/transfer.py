"""Base64 as mail clients read it: broken encodings are common, and losing the rest of a
message or a name to one stray character is worse than a garbled last letter."""

import binascii
import re

_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")


def lenient_base64(data: bytes) -> bytes:
    """Decode base64, never raising: stray characters are skipped, missing padding is added,
    and a dangling last character (six bits cannot make a byte) is dropped."""
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        pass
    cleaned = _NOT_BASE64.sub(b"", data)
    if len(cleaned) % 4 == 1:
        cleaned = cleaned[:-1]
    return binascii.a2b_base64(cleaned + b"=" * (-len(cleaned) % 4))
