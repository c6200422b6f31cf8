"""Celery tasks: thin. They take ids and call a service."""

from celery import shared_task

from mailsync import services
from mailsync.models import Mailbox, MailboxState
from mailsync.push.services import push_mailboxes
from mailsync.sending import outbox

# A message due within this long is waited for by its own task; later ones by the beat.
RETRY_WITHIN_SECONDS = 600


@shared_task(ignore_result=True)
def mailbox_sync_task(mailbox_id: int, reconcile: bool = False) -> None:
    services.mailbox_sync(mailbox_id=mailbox_id, reconcile=reconcile)


@shared_task(ignore_result=True)
def mailbox_wake_task(mailbox_id: int) -> None:
    """The provider reported a change (mailsync/push/): sync unless a sync since covered it."""
    services.mailbox_sync(mailbox_id=mailbox_id, only_if_woken=True)


@shared_task(ignore_result=True)
def mailboxes_sync_due() -> None:
    for mailbox_id in services.mailboxes_claim_due():
        mailbox_sync_task.delay(mailbox_id)


@shared_task(ignore_result=True)
def mailboxes_reconcile() -> None:
    """Compare every folder's full id set with what the CRM holds, for every active mailbox."""
    active = (
        Mailbox.objects.exclude(state=MailboxState.DISCONNECTED)
        .exclude(credentials="")
        .exclude(is_demo=True)  # demo data: no server behind it
    )
    for mailbox_id in active.values_list("pk", flat=True):
        mailbox_sync_task.delay(mailbox_id, reconcile=True)


@shared_task(ignore_result=True, bind=True, max_retries=None)
def outgoing_send_task(self, outgoing_id: int) -> None:  # type: ignore[no-untyped-def]
    wait = outbox.outgoing_deliver(outgoing_id=outgoing_id)
    if wait is not None and wait <= RETRY_WITHIN_SECONDS:  # later ones: the beat queues them
        raise self.retry(countdown=wait)


@shared_task(ignore_result=True)
def outgoing_send_due() -> None:
    """Queued messages whose slot has come (paced, retried) and expired claims."""
    for outgoing_id in outbox.outgoing_claim_due():
        outgoing_send_task.delay(outgoing_id)


@shared_task(ignore_result=True)
def graph_lifecycle_task(subscription_pk: int, event: str) -> None:
    from mailsync.push.graph_webhooks import graph_lifecycle_handle

    graph_lifecycle_handle(subscription_pk=subscription_pk, event=event)


@shared_task(ignore_result=True)
def push_renew_due() -> None:
    """Graph subscriptions made or renewed, Gmail watches renewed, for every active mailbox."""
    for mailbox_id in push_mailboxes():
        push_ensure_task.delay(mailbox_id)


@shared_task(ignore_result=True)
def push_ensure_task(mailbox_id: int) -> None:
    from mailsync.push.services import push_ensure

    push_ensure(mailbox_id=mailbox_id)
