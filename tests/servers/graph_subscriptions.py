"""Microsoft Graph change notifications (webhooks) for the fake Graph: the state and the delivery.

Graph's side of learn.microsoft.com/graph/change-notifications-delivery-webhooks for Outlook
messages: a client creates a subscription (`POST /subscriptions`, served in graph.py, which asks
this module to validate the notification URL first), and from then on every change to a message
in the subscribed folder (or mailbox) is POSTed to the subscription's notificationUrl as a
changeNotificationCollection, from a background thread, so the test that made the change is not
held up. Lifecycle notifications (learn.microsoft.com/graph/change-notifications-lifecycle-
events) go to the lifecycleNotificationUrl when a test asks for one.

`SubscriptionControl` is the control API; `MicrosoftTenant` inherits it:

    tenant.subscriptions                  id -> Subscription (expired ones stay; Graph: 404)
    tenant.subscription_max_minutes       the longest lifetime POST/PATCH accept (10070)
    tenant.validation_timeout             how long the handshake waits for the answer (10 s)
    tenant.notification_timeout           how long one delivery waits for the answer (3 s)
    tenant.notification_retry_delays      the pauses before each retry of a failed delivery
    tenant.notifications_sent             one SentNotification per POST attempt, in order
    tenant.validation_requests            one ValidationRequest per handshake
    tenant.wait_for_notifications(n)      until n attempts are recorded; returns them
    tenant.wait_notifications_idle()      until nothing is queued or being sent
    tenant.expire_subscription(id)        time passes: the subscription has expired
    tenant.send_lifecycle(id, event)      reauthorizationRequired, subscriptionRemoved, missed

The tenant reports each message change (`publish_message_change`, under its lock) from deliver,
move, set_read, save_draft, delete and delete_folder; what a subscription sees of it is
`_as_seen_by`. Nothing here speaks Graph's request side: graph.py does.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit

import requests

# learn.microsoft.com/graph/api/resources/subscription#subscription-lifetime: Outlook message,
# event and contact subscriptions last at most 10,080 minutes ("under seven days") by the table
# there; Graph itself refuses anything over 10,070 (the limit reported by clients, and the one
# the brief for this fake names). Older versions of the table said 4,230 minutes, the limit
# reported in microsoft-graph-docs-contrib#7726. A test can set either on the tenant.
SUBSCRIPTION_MAX_MINUTES = 10070
# learn.microsoft.com/graph/api/resources/subscription (expirationDateTime): "Any value under 45
# minutes after the time of the request is automatically set to 45 minutes after the request
# time."
SUBSCRIPTION_MIN_MINUTES = 45
# learn.microsoft.com/graph/change-notifications-delivery-webhooks#notificationurl-validation:
# "The client must respond with the following characteristics within 10 seconds".
VALIDATION_TIMEOUT = 10.0
# change-notifications-delivery-webhooks#throttling: "Notifications are published using an
# HTTP client with a 3-second timeout."
NOTIFICATION_TIMEOUT = 3.0
# change-notifications-delivery-webhooks: without a 2xx Graph "tries to resend the change
# notification multiple times, for up to 4 hours". The fake retries twice, quickly.
RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5)
# learn.microsoft.com/graph/api/resources/subscription: changeType "created, updated, deleted.
# Multiple values can be combined using a comma-separated list"; latestSupportedTlsVersion
# "v1_0, v1_1, v1_2, v1_3", v1_2 by default; clientState "The maximum length is 128 characters".
CHANGE_TYPES = ("created", "updated", "deleted")
TLS_VERSIONS = ("v1_0", "v1_1", "v1_2", "v1_3")
DEFAULT_TLS_VERSION = "v1_2"
MAX_CLIENT_STATE = 128
# learn.microsoft.com/graph/change-notifications-lifecycle-events: the three lifecycle events.
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
# Real Graph takes only https notification URLs (api/resources/subscription: "This URL must make
# use of the HTTPS protocol"; anything else is 400 "NotificationUrl scheme='http' is not
# supported.", microsoft-graph-docs#2751). The fake also takes plain http to this machine, where
# the product's test server listens.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

ChangeType = Literal["created", "updated", "deleted"]
LifecycleEvent = Literal["reauthorizationRequired", "subscriptionRemoved", "missed"]
ValidationOutcome = Literal["ok", "status", "mismatch", "timeout", "unreachable"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def precise_datetime(value: datetime) -> str:
    """A DateTimeOffset as Graph writes a subscription's expirationDateTime: UTC, seven
    fractional digits, Z (api/subscription-post-subscriptions: "2016-11-20T18:23:45.9356913Z")."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass
class Subscription:
    """One subscription (learn.microsoft.com/graph/api/resources/subscription) on Outlook
    messages: of one folder (`folder_id`) or of the whole mailbox (None, `me/messages`)."""

    id: str
    resource: str  # as the client wrote it, echoed back
    owner_oid: str  # whose mailbox
    folder_id: str | None
    change_type: str  # as the client wrote it
    change_types: frozenset[str]
    notification_url: str
    lifecycle_notification_url: str | None
    expires_at: datetime
    client_state: str | None
    application_id: str
    creator_id: str
    latest_supported_tls_version: str
    # Created with Prefer: IdType="ImmutableId": notifications carry immutable ids
    # (learn.microsoft.com/graph/outlook-immutable-id#immutable-id-with-change-notifications).
    immutable_ids: bool
    created_at: datetime = field(default_factory=utcnow)
    # send_lifecycle("reauthorizationRequired", pause=True): change notifications for it are
    # dropped, as "eventually change notification delivery pauses, until you take the required
    # action" (change-notifications-lifecycle-events), until reauthorize or a renewal.
    paused: bool = False
    # How often the client reauthorized it (POST .../reauthorize, or a PATCH renewal, which
    # "also reauthorizes your endpoint").
    reauthorizations: int = 0

    def live(self, now: datetime | None = None) -> bool:
        return self.expires_at > (now or utcnow())


@dataclass(frozen=True)
class SentNotification:
    """One POST of a notification collection, as it went: to `url`, with `body`, answered with
    `status` (None: no answer, `error` says why). `attempt` 1 is the first try, 2 and on are
    retries of the same body."""

    kind: Literal["change", "lifecycle"]
    url: str
    body: dict[str, Any]
    status: int | None
    attempt: int
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class ValidationRequest:
    """One validation handshake: the URL posted to (with ?validationToken=), the token, what came
    back, and whether it passed (`outcome` "ok")."""

    url: str
    token: str
    status: int | None
    content_type: str
    answer: str
    outcome: ValidationOutcome

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


@dataclass(frozen=True)
class MessageChange:
    """A change to one message, as the tenant reports it. `rest_id`, `folder_id`: where it is now
    (created, updated, moved) or was (deleted); for a move, `old_rest_id` and `old_folder_id` are
    where it was before."""

    kind: Literal["created", "updated", "deleted", "moved"]
    owner_oid: str
    immutable_id: str
    rest_id: str
    change_key: str
    folder_id: str
    old_rest_id: str = ""
    old_folder_id: str = ""


@dataclass
class _Job:
    kind: Literal["change", "lifecycle"]
    url: str
    body: dict[str, Any]


class SubscriptionControl:
    """The tenant's subscriptions and the notifications it sends (MicrosoftTenant inherits this;
    see the module docstring)."""

    lock: threading.RLock
    tenant_id: str

    def _init_subscriptions(self) -> None:
        self.subscriptions: dict[str, Subscription] = {}
        self.subscription_max_minutes = SUBSCRIPTION_MAX_MINUTES
        self.validation_timeout = VALIDATION_TIMEOUT
        self.notification_timeout = NOTIFICATION_TIMEOUT
        self.notification_retry_delays: tuple[float, ...] = RETRY_DELAYS
        self.notifications_sent: list[SentNotification] = []
        self.validation_requests: list[ValidationRequest] = []
        self._outbox: queue.Queue[_Job | None] = queue.Queue()
        self._outbox_changed = threading.Condition()
        self._outbox_pending = 0
        self._outbox_thread: threading.Thread | None = None
        self._outbox_stop = threading.Event()

    # --- control API -----------------------------------------------------------------------

    def subscription(self, subscription_id: str) -> Subscription:
        with self.lock:
            return self.subscriptions[subscription_id]

    def live_subscriptions(self) -> list[Subscription]:
        """The subscriptions that have not expired, oldest first."""
        now = utcnow()
        with self.lock:
            return [s for s in self.subscriptions.values() if s.live(now)]

    def expire_subscription(self, subscription_id: str) -> None:
        """Time passes: the subscription's expirationDateTime is behind us. It delivers nothing
        and Graph answers 404 for it, as for one it deleted (change-notifications-delivery-
        webhooks#renew-a-subscription: "If you don't renew a subscription in time, Microsoft
        Graph deletes the subscription")."""
        with self.lock:
            self.subscriptions[subscription_id].expires_at = utcnow() - timedelta(seconds=1)

    def send_lifecycle(
        self, subscription_id: str, event: LifecycleEvent, *, pause: bool = False
    ) -> bool:
        """Send a lifecycle notification (learn.microsoft.com/graph/change-notifications-
        lifecycle-events#structure-of-a-lifecycle-notification) to the subscription's
        lifecycleNotificationUrl; True if one was queued. A subscription without one gets none
        ("Existing subscriptions without a lifecycleNotificationUrl property don't receive the
        lifecycle notifications"), though a removal still happens.

        - reauthorizationRequired: with `pause`, change notifications for the subscription are
          dropped (lost, as the page says) until POST .../reauthorize or a renewal.
        - subscriptionRemoved: the subscription is gone (404 from now on).
        - missed: only the notification."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"not a lifecycle event: {event!r}")
        with self.lock:
            sub = self.subscriptions[subscription_id]
            body = {
                "value": [
                    {
                        "subscriptionId": sub.id,
                        "subscriptionExpirationDateTime": precise_datetime(sub.expires_at),
                        "tenantId": self.tenant_id,
                        "clientState": sub.client_state,
                        "lifecycleEvent": event,
                    }
                ]
            }
            if event == "subscriptionRemoved":
                del self.subscriptions[subscription_id]
            elif event == "reauthorizationRequired" and pause:
                sub.paused = True
            if not sub.lifecycle_notification_url:
                return False
            self._enqueue(_Job("lifecycle", sub.lifecycle_notification_url, body))
            return True

    def wait_for_notifications(
        self,
        count: int,
        timeout: float = 10.0,
        *,
        kind: Literal["change", "lifecycle"] | None = None,
        url: str | None = None,
    ) -> list[SentNotification]:
        """Wait until at least `count` POST attempts (of `kind`, to `url`, if given) are
        recorded in `notifications_sent`; returns those attempts. TimeoutError otherwise."""

        def matching() -> list[SentNotification]:
            return [
                n
                for n in self.notifications_sent
                if (kind is None or n.kind == kind) and (url is None or n.url == url)
            ]

        with self._outbox_changed:
            if not self._outbox_changed.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(f"{len(matching())} of {count} notifications sent")
            return matching()

    def wait_notifications_idle(self, timeout: float = 10.0) -> None:
        """Wait until every queued notification has been sent (or given up on), so a test can
        assert that nothing (more) was sent."""
        with self._outbox_changed:
            if not self._outbox_changed.wait_for(lambda: self._outbox_pending == 0, timeout):
                raise TimeoutError(f"{self._outbox_pending} notifications still queued")

    def stop_notifications(self) -> None:
        """Stop the delivery thread (GraphServer.close calls this); what is queued is dropped.
        A later change starts it again."""
        thread = self._outbox_thread
        if thread is None:
            return
        self._outbox_stop.set()
        self._outbox.put(None)
        thread.join(timeout=5)
        with self._outbox_changed:
            self._outbox_thread = None
            self._outbox = queue.Queue()
            self._outbox_pending = 0
            self._outbox_stop = threading.Event()
            self._outbox_changed.notify_all()

    # --- the validation handshake ------------------------------------------------------------

    def validate_notification_url(self, url: str) -> ValidationRequest:
        """learn.microsoft.com/graph/change-notifications-delivery-webhooks#notificationurl-
        validation: POST {url}?validationToken={token} with Content-Type text/plain and no body;
        the endpoint must answer within 10 seconds (`validation_timeout`) with 200, Content-Type
        text/plain and the URL-decoded token as the body. The fake's token holds spaces, a colon
        and a slash, so an endpoint that echoes it still URL-encoded fails, as the page warns.
        Called without the tenant's lock held: the endpoint may call Graph meanwhile."""
        token = f"Validation: Testing client application reachability {secrets.token_hex(8)}/1"
        separator = "&" if urlsplit(url).query else "?"
        target = url + separator + urlencode({"validationToken": token}, quote_via=quote)
        status: int | None = None
        content_type = answer = ""
        try:
            response = _session().post(
                target,
                data=b"",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=self.validation_timeout,
            )
            status, answer = response.status_code, response.text
            content_type = response.headers.get("Content-Type", "")
            if status != 200:
                outcome: ValidationOutcome = "status"
            elif content_type.split(";")[0].strip().lower() != "text/plain" or answer != token:
                outcome = "mismatch"
            else:
                outcome = "ok"
        except requests.Timeout:
            outcome = "timeout"
        except requests.RequestException:
            outcome = "unreachable"
        record = ValidationRequest(target, token, status, content_type, answer, outcome)
        with self.lock:
            self.validation_requests.append(record)
        return record

    # --- change notifications ------------------------------------------------------------------

    def publish_message_change(self, change: MessageChange) -> None:
        """Queue the change notifications one message change makes: one POST per notification
        URL, with every matching live subscription's notification in it (change-notifications-
        delivery-webhooks: "Microsoft Graph may send multiple notifications that correspond to
        different subscriptions in the same POST request"). Called under the tenant's lock."""
        now = utcnow()
        by_url: dict[str, list[dict[str, Any]]] = {}
        for sub in self.subscriptions.values():
            if sub.owner_oid != change.owner_oid or sub.paused or not sub.live(now):
                continue
            for change_type, message_id in _as_seen_by(sub, change):
                if change_type in sub.change_types:
                    by_url.setdefault(sub.notification_url, []).append(
                        self._change_notification(sub, change_type, message_id, change)
                    )
        for url, notifications in by_url.items():
            self._enqueue(_Job("change", url, {"value": notifications}))

    def _change_notification(
        self, sub: Subscription, change_type: str, message_id: str, change: MessageChange
    ) -> dict[str, Any]:
        """One changeNotification (learn.microsoft.com/graph/api/resources/changenotification)
        in the shape of change-notifications-delivery-webhooks#change-notification-example. The
        page writes the resource as users/{user_guid}@{tenant_guid}/messages/{id}; Exchange sends
        Users/{user id}/Messages/{id}, which the fake follows. resourceData carries no @odata.etag
        for a deleted message (there is no item left to tag: the fake's choice)."""
        path = f"Users/{change.owner_oid}/Messages/{message_id}"
        resource_data: dict[str, Any] = {
            "@odata.type": "#Microsoft.Graph.Message",
            "@odata.id": path,
        }
        if change_type != "deleted":
            resource_data["@odata.etag"] = f'W/"{change.change_key}"'
        resource_data["id"] = message_id
        return {
            "id": secrets.token_urlsafe(10),
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": precise_datetime(sub.expires_at),
            "changeType": change_type,
            "resource": path,
            "resourceData": resource_data,
            "clientState": sub.client_state,
            "tenantId": self.tenant_id,
        }

    # --- the delivery thread -------------------------------------------------------------------

    def _enqueue(self, job: _Job) -> None:
        with self._outbox_changed:
            self._outbox_pending += 1
            if self._outbox_thread is None or not self._outbox_thread.is_alive():
                self._outbox_thread = threading.Thread(
                    target=self._deliver_forever,
                    args=(self._outbox, self._outbox_stop),
                    name="graph-notifications",
                    daemon=True,
                )
                self._outbox_thread.start()
            self._outbox.put(job)

    def _deliver_forever(self, jobs: queue.Queue[_Job | None], stop: threading.Event) -> None:
        """One job at a time, in order: the fake's notifications arrive in the order of the
        changes (Graph promises no order)."""
        session = _session()
        while not stop.is_set():
            job = jobs.get()
            if job is None:
                return
            try:
                self._deliver(session, job, stop)
            finally:
                with self._outbox_changed:
                    if jobs is self._outbox:
                        self._outbox_pending -= 1
                    self._outbox_changed.notify_all()

    def _deliver(self, session: requests.Session, job: _Job, stop: threading.Event) -> None:
        """POST the collection (Content-Type application/json) and retry after each answer that
        is not 2xx, or none within `notification_timeout` (change-notifications-delivery-
        webhooks#http-codes-and-retry-logic), pausing `notification_retry_delays` between."""
        data = json.dumps(job.body).encode()
        delays = list(self.notification_retry_delays)
        attempt = 0
        while True:
            attempt += 1
            status: int | None = None
            error = ""
            try:
                response = session.post(
                    job.url,
                    data=data,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                    timeout=self.notification_timeout,
                )
                status = response.status_code
            except requests.RequestException as exc:
                error = type(exc).__name__
            sent = SentNotification(job.kind, job.url, job.body, status, attempt, error)
            with self._outbox_changed:
                self.notifications_sent.append(sent)
                self._outbox_changed.notify_all()
            if sent.delivered or not delays or stop.wait(delays.pop(0)):
                return


def _as_seen_by(sub: Subscription, change: MessageChange) -> list[tuple[ChangeType, str]]:
    """What a subscription is told of a change: (changeType, message id) pairs, the id in the
    format the subscription asked for (REST by default; immutable with Prefer: IdType=
    "ImmutableId", learn.microsoft.com/graph/outlook-immutable-id).

    A move changes the REST id (outlook-immutable-id): a folder's subscription sees it leave
    (deleted) or arrive (created); a whole-mailbox one sees the old id deleted and the new one
    created, or, with immutable ids, the one item updated. How Exchange reports moves is not
    documented: this is the fake's choice."""
    immutable = sub.immutable_ids
    now_id = change.immutable_id if immutable else change.rest_id
    if change.kind != "moved":
        if sub.folder_id in (None, change.folder_id):
            return [(change.kind, now_id)]
        return []
    old_id = change.immutable_id if immutable else change.old_rest_id
    if sub.folder_id is None:
        return [("updated", now_id)] if immutable else [("deleted", old_id), ("created", now_id)]
    seen: list[tuple[ChangeType, str]] = []
    if sub.folder_id == change.old_folder_id:
        seen.append(("deleted", old_id))
    if sub.folder_id == change.folder_id:
        seen.append(("created", now_id))
    return seen


def _session() -> requests.Session:
    """A requests session that ignores proxy settings (the endpoints are on this machine) and
    trusts the test CA for an https endpoint, as the fixtures point REQUESTS_CA_BUNDLE at it."""
    session = requests.Session()
    session.trust_env = False
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or True
    return session


def notification_url_problem(url: Any, name: str = "NotificationUrl") -> str | None:
    """Why Graph would refuse `url` as a notification URL, or None. https anywhere; plain http
    only to this machine (LOCAL_HOSTS, the fake's allowance for the product's test server).
    Wordings: "NotificationUrl scheme='http' is not supported." (microsoft-graph-docs#2751) and
    "Invalid notification url='...'." (microsoftgraph/nodejs-webhooks-sample#9)."""
    if not isinstance(url, str) or not url:
        return f"Invalid notification url='{url}'."
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"Invalid notification url='{url}'."
    if not host or parts.scheme not in ("http", "https"):
        return f"Invalid notification url='{url}'."
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        return f"{name} scheme='http' is not supported."
    return None


def parse_expiration(value: Any) -> datetime | None:
    """An expirationDateTime (ISO 8601, Z or an offset; no offset is read as UTC)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().upper().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
