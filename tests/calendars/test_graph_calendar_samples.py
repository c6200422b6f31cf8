"""The Outlook calendar provider against Microsoft's documented exchanges
(../shared/provider-samples/graph, replayed by tests/servers/graph_samples.py): the calendar list,
and an event update, as Graph's documentation shows them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calendars.providers.base import CalendarItem, Stored
from calendars.providers.graph_calendar import GraphCalendarProvider
from mailsync.providers.graph import GraphClient
from tests.servers.graph_samples import SampleGraph

START = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
ITEM = CalendarItem(
    uid="postcard-meeting-1-abc",
    title="Kick-off",
    description="In Postcard: https://crm.example.com/meetings/1/",
    starts_at=START,
    ends_at=START + timedelta(hours=1),
    time_zone="Europe/Paris",
)


def provider(samples: SampleGraph) -> GraphCalendarProvider:
    return GraphCalendarProvider(GraphClient(samples.base_url, lambda refresh: "token"))


def test_the_documented_calendar_list_gives_the_calendars_by_name():
    with SampleGraph("calendars-list") as samples:
        calendars = provider(samples).calendars()

    assert calendars
    assert calendars[0].key == "AAMkAGI2TGuLAAA="
    assert calendars[0].name == "Calendar"


def test_the_documented_update_is_read_as_done():
    with SampleGraph("event-update-200") as samples:
        stored = provider(samples).update("AAMkAGI2TGuLAAA=", Stored("{id}", ""), ITEM)

    assert stored is not None  # 200: the copy is there, updated
    assert stored.href == "{id}"
