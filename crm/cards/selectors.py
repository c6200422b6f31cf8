"""What a contact or account card shows: the activity tabs and their counts.

Query count is fixed whatever the number of messages, mailboxes or users (asserted in tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet

from crm.activities.models import Meeting, Task
from hierarchy.models import User
from hierarchy.selectors import Visibility, mailbox_visibility
from mailsync.selectors import CardEmail, card_emails_page, messages_with_addresses

TABS = ("emails", "meetings", "tasks")
ACTIVITIES_PER_PAGE = 20


@dataclass
class CardActivity:
    tab: str
    visibility: Visibility
    email_count: int
    meeting_count: int
    task_count: int
    emails: Page[CardEmail] | None = None
    meetings: Page[Meeting] | None = None
    tasks: Page[Task] | None = None


def card_activity(
    *,
    viewer: User,
    tab: str,
    page_number: str | None,
    addresses: QuerySet[Any, str],
    meetings: QuerySet[Meeting],
    tasks: QuerySet[Task],
) -> CardActivity:
    tab = tab if tab in TABS else "emails"
    if tab == "emails":
        email_page, visibility = card_emails_page(
            viewer=viewer, addresses=addresses, page_number=page_number
        )
        email_count = email_page.paginator.count
    else:
        visibility = mailbox_visibility(viewer)
        email_count = (
            messages_with_addresses(visibility, addresses).values("dedupe_key").distinct().count()
        )
        email_page = None
    activity = CardActivity(
        tab=tab,
        visibility=visibility,
        email_count=email_count,
        meeting_count=meetings.count(),
        task_count=tasks.count(),
        emails=email_page,
    )
    if tab == "meetings":
        activity.meetings = Paginator(meetings, ACTIVITIES_PER_PAGE).get_page(page_number)
    elif tab == "tasks":
        activity.tasks = Paginator(tasks, ACTIVITIES_PER_PAGE).get_page(page_number)
    return activity
