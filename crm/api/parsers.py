"""Request body parsers that refuse a body too large or too deeply nested before parsing it.

DRF's own parsers read the whole stream: Django's DATA_UPLOAD_MAX_MEMORY_SIZE guards only
`request.body` and `request.POST`, which DRF bypasses. And Python's json module recurses once
per nesting level, so `[[[[…]]]]` 100,000 deep raised RecursionError, a 500. Here the size is
capped while reading and the depth is measured without recursion before parsing.
"""

import io
import re
from collections.abc import Mapping
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent
from rest_framework import parsers
from rest_framework.exceptions import APIException, ParseError

# Postcard's own bodies nest 3 deep (a contact's list of addresses); 32 leaves room for any
# client wrapper while staying far below the interpreter's recursion limit.
MAX_JSON_DEPTH = 32

# A JSON string, escapes included: its brackets are text, not nesting. An unterminated one runs
# to the end (the parser stops there too); without that, every escaped quote after it would
# start a new scan to the end of the body, quadratic time on `"\"\"\"…`.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\(?:.|\Z)[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_AS_SQUARE = str.maketrans("{}", "[]")


class RequestTooLarge(APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def body_limit() -> int | None:
    limit: int | None = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit


def read_limited(stream: IO[Any] | None) -> bytes:
    """The whole body, or RequestTooLarge as soon as it passes DATA_UPLOAD_MAX_MEMORY_SIZE."""
    if stream is None:
        return b""
    limit = body_limit()
    if limit is None:
        return bytes(stream.read())
    body: bytes = stream.read(limit + 1)
    if len(body) > limit:
        raise RequestTooLarge(f"The request body is larger than {limit:,} bytes.")
    return body


def nests_deeper_than(text: str, limit: int) -> bool:
    """Whether a JSON text nests arrays and objects more than `limit` deep.

    Measured without recursion and in C-speed passes (a 2.5 MB body of brackets must not cost
    seconds): each pass deletes the innermost "[]" pairs, so balanced JSON nested `limit` deep
    is gone after `limit` passes. A pair still left is nested deeper; brackets left unmatched
    (a malformed body) count as nesting too, since the parser would descend into them.
    """
    skeleton = _NOT_BRACKETS.sub("", _JSON_STRING.sub("", text)).translate(_AS_SQUARE)
    for _ in range(limit):
        reduced = skeleton.replace("[]", "")
        if reduced == skeleton:
            break
        skeleton = reduced
    return "[]" in skeleton or skeleton.count("[") > limit


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        body = read_limited(stream)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = body.decode(encoding)
        except (LookupError, UnicodeDecodeError) as error:
            raise ParseError(f"JSON parse error - {error}") from None
        if nests_deeper_than(text, MAX_JSON_DEPTH):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        return super().parse(io.BytesIO(body), media_type, parser_context)


class FormParser(parsers.FormParser):
    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        body = read_limited(stream)
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except TooManyFieldsSent as error:
            raise ParseError(str(error)) from None
