from collections.abc import Sequence
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from calendars.models import ItemKind
from calendars.services import calendar_push_soon
from crm.accounts.models import Account
from crm.activities.models import Meeting, Task
from crm.contacts.models import Contact
from hierarchy.models import User


def _check_span(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": "The meeting must end after it starts."})


@transaction.atomic
def meeting_create(
    *,
    owner: User,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    location: str = "",
    notes: str = "",
    account: Account | None = None,
    contacts: Sequence[Contact] = (),
    show_in_external_calendar: bool = False,
) -> Meeting:
    _check_span(starts_at, ends_at)
    meeting = Meeting(
        owner=owner,
        title=title.strip(),
        starts_at=starts_at,
        ends_at=ends_at,
        location=location.strip(),
        notes=notes,
        account=account,
        show_in_external_calendar=show_in_external_calendar,
    )
    meeting.full_clean()
    meeting.save()
    meeting.contacts.set(contacts)
    _push_soon(meeting)
    return meeting


@transaction.atomic
def meeting_update(
    *,
    meeting: Meeting,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    location: str = "",
    notes: str = "",
    account: Account | None = None,
    contacts: Sequence[Contact] = (),
    show_in_external_calendar: bool = False,
) -> Meeting:
    _check_span(starts_at, ends_at)
    meeting.title, meeting.starts_at, meeting.ends_at = title.strip(), starts_at, ends_at
    meeting.location, meeting.notes, meeting.account = location.strip(), notes, account
    meeting.show_in_external_calendar = show_in_external_calendar
    meeting.full_clean()
    meeting.save()
    meeting.contacts.set(contacts)
    _push_soon(meeting)
    return meeting


@transaction.atomic
def task_create(
    *,
    owner: User,
    title: str,
    due_at: datetime,
    notes: str = "",
    account: Account | None = None,
    contacts: Sequence[Contact] = (),
    show_in_external_calendar: bool = False,
    done: bool = False,
) -> Task:
    task = Task(
        owner=owner,
        title=title.strip(),
        due_at=due_at,
        notes=notes,
        account=account,
        show_in_external_calendar=show_in_external_calendar,
        done_at=timezone.now() if done else None,
    )
    task.full_clean()
    task.save()
    task.contacts.set(contacts)
    _push_soon(task)
    return task


@transaction.atomic
def task_update(
    *,
    task: Task,
    title: str,
    due_at: datetime,
    notes: str = "",
    account: Account | None = None,
    contacts: Sequence[Contact] = (),
    show_in_external_calendar: bool = False,
    done: bool = False,
) -> Task:
    task.title, task.due_at, task.notes, task.account = title.strip(), due_at, notes, account
    task.show_in_external_calendar = show_in_external_calendar
    if done != task.is_done:
        task.done_at = timezone.now() if done else None
    task.full_clean()
    task.save()
    task.contacts.set(contacts)
    _push_soon(task)
    return task


def task_set_done(*, task: Task, done: bool) -> Task:
    """Tick or untick a task; ticking it again keeps the first time it was done."""
    if done != task.is_done:
        task.done_at = timezone.now() if done else None
        task.save(update_fields=["done_at", "updated_at"])
        _push_soon(task)
    return task


def meeting_delete(*, meeting: Meeting) -> None:
    meeting_id = meeting.pk
    meeting.delete()
    calendar_push_soon(ItemKind.MEETING, meeting_id)  # takes its copy out of the calendar


def task_delete(*, task: Task) -> None:
    task_id = task.pk
    task.delete()
    calendar_push_soon(ItemKind.TASK, task_id)


def _push_soon(item: Meeting | Task) -> None:
    """The item's external calendar copy follows (calendars/): queued after commit. Only an
    item flagged now, or pushed before, has anything to do."""
    kind = ItemKind.MEETING if isinstance(item, Meeting) else ItemKind.TASK
    calendar_push_soon(kind, item.pk, item.owner if item.show_in_external_calendar else None)
