"""A CRM meeting or task as iCalendar (RFC 5545), through the icalendar package.

Meetings are VEVENTs in the owner's time zone (with its VTIMEZONE, so calendars show the right
local time on both sides of a daylight-saving change); tasks are VTODOs with their due time and
done state, or all-day VEVENTs on the due date where the calendar takes no tasks.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar

from calendars.providers.base import CalendarItem

PRODID = "-//Postcard CRM//Calendar push//EN"


def to_ical(item: CalendarItem) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    component = _todo(item) if item.is_task and item.all_day is None else _event(item)
    component.add("uid", item.uid)
    component.add("dtstamp", datetime.now(UTC))
    component.add("summary", item.title)
    if item.description:
        component.add("description", item.description)
    if item.location:
        component.add("location", item.location)
    calendar.add_component(component)
    calendar.add_missing_timezones()
    return bytes(calendar.to_ical())


def _event(item: CalendarItem) -> icalendar.Event:
    event = icalendar.Event()
    if item.all_day is not None:  # a task where the calendar takes no tasks
        event.add("dtstart", item.all_day)
        event.add("dtend", item.all_day + timedelta(days=1))
        event.add("transp", "TRANSPARENT")  # a reminder, not busy time
        return event
    zone = item.zone
    assert item.starts_at is not None  # a meeting has both
    assert item.ends_at is not None
    event.add("dtstart", item.starts_at.astimezone(zone))
    event.add("dtend", item.ends_at.astimezone(zone))
    return event


def _todo(item: CalendarItem) -> icalendar.Todo:
    todo = icalendar.Todo()
    if item.due_at is not None:
        todo.add("due", item.due_at.astimezone(item.zone))
    if item.done:
        todo.add("status", "COMPLETED")
        todo.add("percent-complete", 100)
        todo.add("completed", datetime.now(UTC))
    else:
        todo.add("status", "NEEDS-ACTION")
    return todo
