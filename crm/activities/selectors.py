from datetime import datetime
from typing import Any

from django.db.models import IntegerField, OuterRef, Prefetch, QuerySet, Subquery
from django.utils import timezone

from crm.activities.models import Meeting, Task
from crm.contacts.models import Contact
from hierarchy.models import User
from hierarchy.selectors import mailbox_visibility

# Whose activities a list shows: the viewer's own, or those of the colleagues the viewer may see.
SCOPES: dict[str, str] = {"mine": "Mine", "team": "My team"}
MEETING_PERIODS: dict[str, str] = {"upcoming": "Upcoming", "past": "Past"}
TASK_STATES: dict[str, str] = {"open": "Open", "done": "Done"}


# A contact or an account, by id or, inside a card's own query, as OuterRef("pk").
CardId = int | OuterRef


def meetings_for_contact(contact_id: CardId) -> QuerySet[Meeting]:
    return Meeting.objects.filter(contacts__id=contact_id).select_related("owner", "account")


def tasks_for_contact(contact_id: CardId) -> QuerySet[Task]:
    return Task.objects.filter(contacts__id=contact_id).select_related("owner", "account")


def meetings_for_account(account_id: CardId) -> QuerySet[Meeting]:
    return (
        (
            Meeting.objects.filter(account_id=account_id)
            | Meeting.objects.filter(contacts__account_id=account_id)
        )
        .distinct()
        .select_related("owner", "account")
    )


def tasks_for_account(account_id: CardId) -> QuerySet[Task]:
    return (
        (
            Task.objects.filter(account_id=account_id)
            | Task.objects.filter(contacts__account_id=account_id)
        )
        .distinct()
        .select_related("owner", "account")
    )


class CountOf(Subquery):
    """How many rows a query has, as a column of another query: a card's tab counts come with
    the card's own row instead of a query each."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) counted)"
    output_field = IntegerField()

    def __init__(self, queryset: QuerySet[Any]) -> None:
        super().__init__(queryset.order_by().values("pk"))


def contact_activity_counts() -> dict[str, CountOf]:
    """`meeting_count` and `task_count` of a Contact query (annotate(**these))."""
    return {
        "meeting_count": CountOf(meetings_for_contact(OuterRef("pk"))),
        "task_count": CountOf(tasks_for_contact(OuterRef("pk"))),
    }


def account_activity_counts() -> dict[str, CountOf]:
    """`meeting_count` and `task_count` of an Account query (annotate(**these))."""
    return {
        "meeting_count": CountOf(meetings_for_account(OuterRef("pk"))),
        "task_count": CountOf(tasks_for_account(OuterRef("pk"))),
    }


def meetings_with_links() -> QuerySet[Meeting]:
    """Meetings with what their detail page and lists show, in a fixed number of queries."""
    contacts = Contact.objects.select_related("account")
    return Meeting.objects.select_related("owner", "account").prefetch_related(
        Prefetch("contacts", queryset=contacts)
    )


def tasks_with_links() -> QuerySet[Task]:
    contacts = Contact.objects.select_related("account")
    return Task.objects.select_related("owner", "account").prefetch_related(
        Prefetch("contacts", queryset=contacts)
    )


def team_owner_ids(viewer: User) -> list[int]:
    """The colleagues whose meetings and tasks "My team" lists: those whose mail the viewer may
    see. Mailbox visibility is the one rule of who sees whom; nothing here widens it."""
    return [uid for uid in mailbox_visibility(viewer).owner_ids if uid != viewer.pk]


def _owner_ids(viewer: User, scope: str) -> list[int]:
    return team_owner_ids(viewer) if scope == "team" else [viewer.pk]


def meeting_list(
    *, viewer: User, scope: str = "mine", period: str = "upcoming", now: datetime | None = None
) -> QuerySet[Meeting]:
    """Upcoming meetings soonest first (one under way still counts), or past ones latest first."""
    now = now or timezone.now()
    meetings = meetings_with_links().filter(owner_id__in=_owner_ids(viewer, scope))
    if period == "past":
        return meetings.filter(ends_at__lte=now).order_by("-starts_at", "-id")
    return meetings.filter(ends_at__gt=now).order_by("starts_at", "id")


def task_list(*, viewer: User, scope: str = "mine", state: str = "open") -> QuerySet[Task]:
    """Open tasks by due date (the overdue ones first), or done ones most recently done first."""
    tasks = tasks_with_links().filter(owner_id__in=_owner_ids(viewer, scope))
    if state == "done":
        return tasks.filter(done_at__isnull=False).order_by("-done_at", "-id")
    return tasks.filter(done_at__isnull=True).order_by("due_at", "id")
