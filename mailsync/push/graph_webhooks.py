"""Microsoft 365: Graph change notifications on the synced folders' messages.

learn.microsoft.com/graph/change-notifications-delivery-webhooks: a subscription per folder
(`me/mailFolders('{id}')/messages`, created, updated and deleted), with a clientState secret
Graph echoes in every notification, and a lifecycle URL for reauthorizationRequired,
subscriptionRemoved and missed (learn.microsoft.com/graph/change-notifications-lifecycle-events).
Graph validates both URLs when the subscription is made (the validationToken handshake, answered
by views.py). Subscriptions on messages live at most 10,070 minutes
(learn.microsoft.com/graph/api/resources/subscription#subscription-lifetime): the beat renews
them a day before they end. A notification only wakes the mailbox: the delta sync reads what
changed, and the notification's content is never trusted for more.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from mailsync.connections import Grant, microsoft_grant
from mailsync.models import Folder, Mailbox, MailboxState, Provider, PushKind, PushSubscription
from mailsync.providers.base import ProviderError
from mailsync.providers.graph import GraphClient, _error_code, quote
from mailsync.push.wakeups import mailbox_wake

logger = logging.getLogger(__name__)

LIFETIME = timedelta(minutes=10_000)  # under Graph's 10,070 for messages
RENEW_BEFORE = timedelta(days=1)
CHANGES = "created,updated,deleted"


def push_base_url() -> str:
    """Where Microsoft and Google can reach this server, or "" (then no push: the poll alone).
    Graph requires HTTPS (learn.microsoft.com/graph/change-notifications-delivery-webhooks)."""
    base = (settings.PUSH_BASE_URL or settings.SITE_URL).rstrip("/")
    parts = urlsplit(base)
    host = parts.hostname or ""
    if settings.PUSH_BASE_URL:
        return base
    if parts.scheme != "https" or host in ("localhost", "127.0.0.1", "::1"):
        return ""
    return base


def notification_url() -> str:
    return f"{push_base_url()}/hooks/graph/"


def lifecycle_url() -> str:
    return f"{push_base_url()}/hooks/graph/lifecycle/"


def _client(mailbox: Mailbox) -> tuple[GraphClient, Grant]:
    grant = microsoft_grant(mailbox)
    client = GraphClient(
        settings.MICROSOFT_GRAPH_URL,
        grant.token,
        user=str(mailbox.connection_settings.get("graph_user", "me")),
    )
    return client, grant


def graph_subscriptions_sync(*, mailbox: Mailbox) -> int:
    """One live subscription per synced folder (made, renewed when due, or dropped with its
    folder); returns how many are live. Network calls, outside any transaction."""
    if not push_base_url() or mailbox.provider != Provider.MICROSOFT:
        return 0
    if mailbox.state == MailboxState.DISCONNECTED or not mailbox.credentials:
        return 0
    client, grant = _client(mailbox)
    folders = dict(Folder.objects.filter(mailbox=mailbox).values_list("name", "label"))
    held = {
        s.folder: s for s in PushSubscription.objects.filter(mailbox=mailbox, kind=PushKind.GRAPH)
    }
    live = 0
    try:
        for folder_id in folders:
            subscription = held.pop(folder_id, None)
            if _kept(client, mailbox, folder_id, subscription):
                live += 1
        for gone in held.values():  # folders no longer synced
            _delete(client, gone)
    finally:
        grant.store()
    return live


def _graph_subscriptions(mailbox: Mailbox) -> QuerySet[PushSubscription]:
    return PushSubscription.objects.filter(mailbox=mailbox, kind=PushKind.GRAPH)


def _kept(
    client: GraphClient, mailbox: Mailbox, folder_id: str, subscription: PushSubscription | None
) -> bool:
    now = timezone.now()
    try:
        if subscription is not None and subscription.expires_at - now > RENEW_BEFORE:
            return True
        if subscription is not None and _renewed(client, subscription):
            return True
        _create(client, mailbox, folder_id, subscription)
        return True
    except ProviderError as error:
        PushSubscription.objects.filter(
            mailbox=mailbox, kind=PushKind.GRAPH, folder=folder_id
        ).update(last_error=error.message[:500])
        logger.warning(
            "mailbox %s: no Graph subscription for a folder: %s", mailbox.pk, error.message
        )
        return False


def _create(
    client: GraphClient, mailbox: Mailbox, folder_id: str, old: PushSubscription | None
) -> None:
    # learn.microsoft.com/graph/api/subscription-post-subscriptions
    state = secrets.token_urlsafe(32)
    expires = timezone.now() + LIFETIME
    user = str(mailbox.connection_settings.get("graph_user", "me"))
    answer = client.send(
        "POST",
        f"{client.base_url}/subscriptions",
        body={
            "changeType": CHANGES,
            "notificationUrl": notification_url(),
            "lifecycleNotificationUrl": lifecycle_url(),
            "resource": f"{user}/mailFolders('{folder_id}')/messages",
            "expirationDateTime": _iso(expires),
            "clientState": state,
        },
    )
    if answer.status != 201 or not isinstance(answer.body, dict):
        raise ProviderError(
            f"Microsoft 365 refused a change subscription ({answer.status} {_error_code(answer)})."
        )
    PushSubscription.objects.update_or_create(
        mailbox=mailbox,
        kind=PushKind.GRAPH,
        folder=folder_id,
        defaults={
            "remote_id": str(answer.body["id"]),
            "client_state": state,
            "expires_at": _parsed(answer.body.get("expirationDateTime")) or expires,
            "last_error": "",
        },
    )
    if old is not None and old.remote_id and old.remote_id != answer.body["id"]:
        client.send("DELETE", f"{client.base_url}/subscriptions/{quote(old.remote_id)}")


def _renewed(client: GraphClient, subscription: PushSubscription) -> bool:
    # learn.microsoft.com/graph/api/subscription-update: a new expirationDateTime.
    expires = timezone.now() + LIFETIME
    answer = client.send(
        "PATCH",
        f"{client.base_url}/subscriptions/{quote(subscription.remote_id)}",
        body={"expirationDateTime": _iso(expires)},
    )
    if answer.status != 200:
        return False  # gone (404) or refused: made again
    PushSubscription.objects.filter(pk=subscription.pk).update(expires_at=expires, last_error="")
    return True


def _delete(client: GraphClient, subscription: PushSubscription) -> None:
    client.send("DELETE", f"{client.base_url}/subscriptions/{quote(subscription.remote_id)}")
    subscription.delete()


def push_stop(*, mailbox: Mailbox) -> None:
    """The mailbox is disconnected or removed: Graph is told to stop (a Gmail watch ends with
    the grant Google revokes, and lapses in 7 days); nothing of its push is kept."""
    subscriptions = list(PushSubscription.objects.filter(mailbox=mailbox, kind=PushKind.GRAPH))
    if subscriptions and mailbox.credentials:
        try:
            client, _ = _client(mailbox)
            for subscription in subscriptions:
                client.send(
                    "DELETE", f"{client.base_url}/subscriptions/{quote(subscription.remote_id)}"
                )
        except ProviderError:
            pass  # they lapse on their own within a week
    PushSubscription.objects.filter(mailbox=mailbox).delete()


# --- what Graph posts --------------------------------------------------------------------------


MAX_ITEMS = 100  # Graph batches notifications; anything longer is not Graph's


def graph_notifications_received(items: list[dict[str, object]]) -> int:
    """Change notifications: each one's clientState checked against its subscription's secret
    (learn.microsoft.com/graph/change-notifications-delivery-webhooks#validate-the-notification),
    then its mailbox woken. Returns how many were genuine."""
    genuine = _genuine(items)
    for subscription, _ in genuine:
        mailbox_wake(mailbox_id=subscription.mailbox_id)
    return len(genuine)


def _genuine(items: list[dict[str, object]]) -> list[tuple[PushSubscription, dict[str, object]]]:
    """The items whose subscription is ours and whose clientState matches (one query)."""
    items = items[:MAX_ITEMS]
    ids = {str(item.get("subscriptionId", ""))[:255] for item in items}
    known = {
        s.remote_id: s
        for s in PushSubscription.objects.filter(kind=PushKind.GRAPH, remote_id__in=ids)
    }
    found = []
    for item in items:
        subscription = known.get(str(item.get("subscriptionId", ""))[:255])
        given = str(item.get("clientState", ""))
        if subscription is None or not given:
            continue
        if not hmac.compare_digest(given.encode(), subscription.client_state.encode()):
            logger.warning("Graph notification with a wrong clientState (%s)", subscription.pk)
            continue
        found.append((subscription, item))
    return found


def graph_lifecycle_received(items: list[dict[str, object]]) -> list[tuple[int, str]]:
    """Lifecycle notifications, checked as above: (subscription pk, event) to act on. "missed"
    wakes the mailbox at once (the delta catches up); the others need Graph calls (a task)."""
    found = []
    for subscription, item in _genuine(items):
        event = str(item.get("lifecycleEvent", ""))
        if event == "missed":
            mailbox_wake(mailbox_id=subscription.mailbox_id)
        elif event in ("reauthorizationRequired", "subscriptionRemoved"):
            found.append((subscription.pk, event))
    return found


def graph_lifecycle_handle(*, subscription_pk: int, event: str) -> None:
    """reauthorizationRequired: reauthorize (learn.microsoft.com/graph/api/subscription-
    reauthorize), else renew; subscriptionRemoved: make it again. Then wake the mailbox, as
    notifications may have been lost meanwhile."""
    subscription = (
        PushSubscription.objects.select_related("mailbox").filter(pk=subscription_pk).first()
    )
    if subscription is None:
        return
    mailbox = subscription.mailbox
    client, grant = _client(mailbox)
    try:
        if event == "reauthorizationRequired":
            answer = client.send(
                "POST",
                f"{client.base_url}/subscriptions/{quote(subscription.remote_id)}/reauthorize",
            )
            if answer.status not in (200, 202, 204) and not _renewed(client, subscription):
                _create(client, mailbox, subscription.folder, subscription)
        else:
            _create(client, mailbox, subscription.folder, None)
    except ProviderError as error:
        PushSubscription.objects.filter(pk=subscription.pk).update(last_error=error.message[:500])
    finally:
        grant.store()
    mailbox_wake(mailbox_id=mailbox.pk)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _parsed(value: object) -> datetime | None:
    """Graph's dateTimeOffset ("2026-12-10T10:00:00.0000000Z"), to the second."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", value) if isinstance(value, str) else None
    return datetime.fromisoformat(match.group(1)).replace(tzinfo=UTC) if match else None
