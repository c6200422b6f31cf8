"""Calendar push, the reads: what the pages and the API say about an item's external copy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, cast

from django.db.models import Model, OuterRef, QuerySet, Subquery

from calendars.models import CalendarConnection, CalendarProvider, PushedItem, PushState

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class PushStatus:
    state: str  # PushState value, or "" when never pushed
    label: str  # "In your calendar (Work)", "Waiting", "Failed: ..."
    detail: str
    can_retry: bool


def push_status(kind: str, item_id: int) -> PushStatus:
    record = (
        PushedItem.objects.filter(kind=kind, item_id=item_id).select_related("connection").first()
    )
    if record is None:
        return PushStatus("", "", "", False)
    return status_of(record.state, record.error, _where(record.connection))


def with_push_status(items: QuerySet[M], kind: str) -> QuerySet[M]:
    """Each item with its push state, error and calendar name (`push_state`, `push_error`,
    `push_calendar`) in the same query: a list reads no row of its own per item."""
    record = PushedItem.objects.filter(kind=kind, item_id=OuterRef("pk"))
    annotated = items.annotate(
        push_state=Subquery(record.values("state")[:1]),
        push_error=Subquery(record.values("error")[:1]),
        push_calendar=Subquery(record.values("connection__calendar_name")[:1]),
        push_provider=Subquery(record.values("connection__provider")[:1]),
    )
    return cast("QuerySet[M]", annotated)  # the same rows, with three more attributes


def status_of(state: str | None, error: str | None, where: str) -> PushStatus:
    if not state:
        return PushStatus("", "", "", False)
    error = error or ""
    if state == PushState.PUSHED:
        return PushStatus(state, f"In your calendar{where}", "", False)
    if state == PushState.FAILED:
        return PushStatus(state, "Failed", error, True)
    if state == PushState.REMOVED:
        return PushStatus(state, "Removed from your calendar", error, True)
    if state == PushState.OFF:
        return PushStatus(state, "Not in your calendar", "", False)
    return PushStatus(state, "Waiting", error, False)


def _where(connection: CalendarConnection | None) -> str:
    if connection is None or not connection.calendar_name:
        return ""
    return f" ({calendar_place(connection.provider, connection.calendar_name)})"


def calendar_place(provider: str, name: str) -> str:
    """How a person names the calendar: "Outlook: Calendar", "Google Calendar: Work"."""
    app = {CalendarProvider.MICROSOFT: "Outlook", CalendarProvider.GOOGLE: "Google Calendar"}
    prefix = app.get(provider)  # type: ignore[call-overload]
    return f"{prefix}: {name}" if prefix else name


def calendar_connection_of(owner_id: int) -> CalendarConnection | None:
    return CalendarConnection.objects.filter(owner_id=owner_id).first()
