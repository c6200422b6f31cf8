"""Celery tasks: thin. They take ids and call the push engine."""

from celery import shared_task
from django.utils import timezone

from calendars.models import PushedItem, PushState
from calendars.push import Busy, push
from calendars.services import calendar_push_started


@shared_task(ignore_result=True, bind=True, max_retries=None)
def calendar_push_task(self, kind: str, item_id: int, again: bool = False) -> None:  # type: ignore[no-untyped-def]
    calendar_push_started(kind, item_id)
    try:
        push(kind, item_id, again=again)
    except Busy:
        raise self.retry(countdown=5) from None


@shared_task(ignore_result=True)
def calendar_pushes_due() -> None:
    """The safety net: pushes waiting or failed whose time has come (a lost queue message,
    a retry after a failure)."""
    due = PushedItem.objects.filter(
        state__in=[PushState.WAITING, PushState.FAILED], next_attempt_at__lte=timezone.now()
    )
    for kind, item_id in due.values_list("kind", "item_id")[:500]:
        calendar_push_task.delay(kind, item_id)
