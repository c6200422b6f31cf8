"""Each transport's documented sending limits, and the moment a queued message may leave.

Messages queued together (a bulk send) get slots spaced so that no minute holds more than the
per-minute limit and no 24 hours more than the per-day one; the outbox page shows when each
leaves. Limits, as documented:
- Microsoft 365: 30 messages a minute, 10,000 recipients a day (learn.microsoft.com/office365/
  servicedescriptions/exchange-online-service-description/exchange-online-limits#sending-limits).
- Google Workspace: 2,000 messages a day (support.google.com/a/answer/166852); personal Gmail
  500 (support.google.com/mail/answer/22839); messages.send costs 100 of the 15,000 quota units a
  user may spend a minute (developers.google.com/gmail/api/reference/quota): 150 a minute at most,
  of which we use half, leaving the sync its share.
- Any other SMTP server, and the CRM's own mailer: no common rule; settings, conservative defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from mailsync.models import Mailbox, OutgoingMessage, OutgoingState, Provider, SendRoute

MINUTE = timedelta(minutes=1)
SLACK = timedelta(seconds=1)  # clocks and transit: never right at the edge of a window
DAY = timedelta(days=1)
PERSONAL_GMAIL = ("gmail.com", "googlemail.com")


@dataclass(frozen=True)
class Pace:
    per_minute: int
    per_day: int
    name: str  # "Microsoft 365", for the sentence that says why a message waits


def pace_of(mailbox: Mailbox | None) -> Pace:
    if mailbox is None:
        per_minute, per_day = settings.CRM_MAILER_PACE
        return Pace(per_minute, per_day, "the CRM's mailer")
    if mailbox.provider == Provider.MICROSOFT:
        return Pace(30, 10_000, "Microsoft 365")
    if mailbox.provider == Provider.GOOGLE:
        personal = mailbox.address.rpartition("@")[2] in PERSONAL_GMAIL
        return Pace(75, 500 if personal else 2_000, "Gmail")
    per_minute, per_day = settings.SMTP_SEND_PACE
    return Pace(per_minute, per_day, "your mail server")


def _same_transport(mailbox: Mailbox | None) -> QuerySet[OutgoingMessage]:
    live = OutgoingMessage.objects.filter(
        state__in=[OutgoingState.QUEUED, OutgoingState.SENDING, OutgoingState.SENT]
    )
    if mailbox is None:
        return live.filter(route=SendRoute.CRM_MAILER)
    return live.filter(mailbox=mailbox).exclude(route=SendRoute.CRM_MAILER)


def slots(mailbox: Mailbox | None, count: int, now: datetime) -> list[datetime]:
    """When each of `count` new messages may leave: at once while the last minute and the last
    24 hours hold fewer than the limits, else when the oldest message in the full window
    leaves it (a sliding window, as the providers count)."""
    pace = pace_of(mailbox)
    taken = sorted(
        t
        for t in _same_transport(mailbox)
        .filter(Q(not_before__gte=now - DAY) | Q(sent_at__gte=now - DAY))
        .values_list("not_before", flat=True)
        if t is not None
    )
    found: list[datetime] = []
    candidate = now
    for _ in range(count):
        candidate = _first_free(taken, candidate, pace)
        taken.append(candidate)
        taken.sort()
        found.append(candidate)
    return found


def _first_free(taken: list[datetime], candidate: datetime, pace: Pace) -> datetime:
    """The earliest moment from `candidate` at which one more message keeps every minute and
    every day within the limits (the messages already placed count wherever they are)."""
    moved = True
    while moved:
        moved = False
        for span, limit in ((MINUTE, pace.per_minute), (DAY, pace.per_day)):
            recent = [t for t in taken if t > candidate - span]
            if len(recent) >= limit:
                candidate = max(candidate, recent[len(recent) - limit] + span)
                moved = True
    return candidate


def wait_before_sending(mailbox: Mailbox | None) -> timedelta | None:
    """Checked again just before each hand-over, on the times messages actually left (a queued
    slot can run late, and then the next minute would hold too many): how long to wait, or
    None to go now."""
    pace = pace_of(mailbox)
    now = timezone.now()
    left = _same_transport(mailbox).filter(handed_over_at__gt=now - DAY)
    for span, limit in ((MINUTE, pace.per_minute), (DAY, pace.per_day)):
        times = left.filter(handed_over_at__gt=now - span).values_list("handed_over_at", flat=True)
        recent = sorted(t for t in times if t is not None)
        if len(recent) >= limit:
            return recent[len(recent) - limit] + span + SLACK - now
    return None


def over_pace(mailbox: Mailbox | None, count: int) -> bool:
    """Would `count` messages at once exceed a minute's limit (so some wait)?"""
    return count > pace_of(mailbox).per_minute
