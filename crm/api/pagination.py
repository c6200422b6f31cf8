"""Page-number pagination whose parameters are checked: a bad `page` or `page_size` is a 400.

DRF's own quietly falls back to the default size for `page_size=abc` and answers 404 for
`page=abc` or `page=0`; a client that sent either has a bug it should hear about.
"""

from typing import Any

from django.core.paginator import Paginator
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


def positive_int(raw: str, *, name: str, maximum: int | None = None) -> int:
    """`raw` as a whole number from 1 (to `maximum`), or a ValidationError naming `name`."""
    try:
        number = int(raw)
    except ValueError:  # also for a number of more than 4,300 digits
        raise ValidationError({name: ["A whole number is required."]}) from None
    if number < 1 or (maximum is not None and number > maximum):
        bounds = f"from 1 to {maximum}" if maximum is not None else "from 1"
        raise ValidationError({name: [f"Ensure this value is {bounds}."]})
    return number


class StandardPagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200
    last_page_strings = ()
    invalid_page_message = "Page {page_number} is past the last page."

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        return positive_int(raw, name=self.page_size_query_param, maximum=self.max_page_size)

    def get_page_number(self, request: Request, paginator: "Paginator[Any]") -> int:
        raw = request.query_params.get(self.page_query_param)
        return 1 if raw is None else positive_int(raw, name=self.page_query_param)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.page_query_param: {"minimum": 1},
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
