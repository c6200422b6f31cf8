"""API errors as JSON with a readable message; Django ValidationErrors from services become 400.

Django's own refusals of a request (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too many form
fields) are SuspiciousOperations, which Django answers with an HTML page: they become JSON too.
"""

from typing import Any

from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from crm.api.parsers import RequestTooLarge, body_limit
from crm.contacts.models import ContactEmail


class AddressConflict(exceptions.APIException):
    """409: addresses other contacts already hold, which the client did not `force`."""

    status_code = 409
    default_code = "address_conflict"

    def __init__(self, holders: list[ContactEmail]) -> None:
        names = "; ".join(
            f"{holder.address} is already the address of {holder.contact.full_name} "
            f"(contact {holder.contact_id})"
            for holder in holders
        )
        super().__init__(f'{names}. Send "force": true to add it anyway.')
        self.conflicts = [
            {"address": h.address, "contact": h.contact_id, "name": h.contact.full_name}
            for h in holders
        ]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(f"The request body is larger than {body_limit() or 0:,} bytes.")
    elif isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        exc = exceptions.ParseError(str(exc))
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError("The request could not be read.")
    response = drf_exception_handler(exc, context)
    if isinstance(exc, AddressConflict) and response is not None:
        response.data["conflicts"] = exc.conflicts
    return response
