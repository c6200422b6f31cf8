"""The one small interface every calendar provider implements (CalDAV now; Microsoft 365,
Google and on-premises Exchange next), like mailsync/providers/base.py for mail.

Providers speak only in these dataclasses and errors: no Django models. The engine
(calendars/push.py) decides what must be where; a provider writes one item at a time and is
idempotent through the stable id the engine gives it (CalDAV: the UID and the resource name,
Graph: transactionId, Google: the event id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class PushError(Exception):
    """A failure with a sentence fit for the user. `permanent` ones (login refused, access
    revoked) disconnect the calendar and need the user; others are retried with backoff."""

    permanent = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LoginRefused(PushError):
    permanent = True


class CalendarGone(PushError):
    """The chosen calendar no longer exists: the user chooses another."""

    permanent = True


class TemporaryPushFailure(PushError):
    permanent = False


class ItemRefused(PushError):
    """The calendar refused this one item (400, 415: something it will not store): said on
    the item, not retried, and the calendar stays connected for the others."""

    permanent = False


@dataclass(frozen=True)
class RemoteCalendar:
    key: str  # the provider's key: CalDAV collection URL, Graph or Google calendar id
    name: str
    color: str = ""
    supports_events: bool = True
    supports_tasks: bool = True
    is_default: bool = False  # the account's main calendar: chosen unless the user picks another


def zone_named(name: str) -> ZoneInfo:
    """A time zone by its IANA name; UTC for an unknown one (never fails a push)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class CalendarItem:
    """A meeting or a task as it goes out: no CRM ids beyond the link."""

    uid: str
    title: str
    description: str  # the CRM link and the contacts' names (never invited)
    location: str = ""
    starts_at: datetime | None = None  # meetings: aware datetimes
    ends_at: datetime | None = None
    time_zone: str = "UTC"  # the owner's, so the calendar shows local times across DST
    all_day: date | None = None  # a task pushed as an all-day event on its due date
    is_task: bool = False
    due_at: datetime | None = None
    done: bool = False

    @property
    def zone(self) -> ZoneInfo:
        return zone_named(self.time_zone)

    @property
    def due_day(self) -> date | None:
        """The task's due date where its owner is (tasks in To Do and Google Tasks keep a date
        only)."""
        return self.due_at.astimezone(self.zone).date() if self.due_at is not None else None


@dataclass(frozen=True)
class Stored:
    """Where a pushed copy sits and its version (CalDAV: href and ETag)."""

    href: str
    etag: str


class CalendarPushProvider(Protocol):
    def calendars(self) -> list[RemoteCalendar]: ...

    def create(self, calendar_key: str, item: CalendarItem) -> Stored:
        """Write a new copy. Retrying after a crash finds the copy made before (same uid)
        and brings it up to date instead of making a second one."""
        ...

    def update(self, calendar_key: str, stored: Stored, item: CalendarItem) -> Stored | None:
        """Overwrite the copy (the CRM is the source); None when it was deleted remotely."""
        ...

    def delete(self, calendar_key: str, stored: Stored) -> None:
        """Take the copy out; a copy already gone is fine."""
        ...

    def close(self) -> None: ...
