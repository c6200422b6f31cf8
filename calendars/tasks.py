"""Celery tasks: thin. They take ids and call the push engine."""

from celery import shared_task

from calendars.push import Busy, push
from calendars.services import calendar_push_started, calendar_pushes_claim_due


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
    a retry after a failure), each claimed for a few minutes so that the next beat does not
    queue it again while it waits in the queue."""
    for kind, item_id in calendar_pushes_claim_due():
        calendar_push_task.delay(kind, item_id)
