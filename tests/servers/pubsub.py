"""A fake Cloud Pub/Sub, as far as Gmail push notifications need one: topics, the publish grant
Gmail's service account needs on a topic, push subscriptions, and delivery to push endpoints.

    pubsub = cloud.pubsub                       # one per GoogleCloud (accounts.pubsub)
    topic = pubsub.create_topic("gmail")        # "projects/postcard-test/topics/gmail"
    pubsub.grant_gmail_publisher(topic)
    pubsub.create_push_subscription(topic, "http://127.0.0.1:PORT/hooks/gmail/",
                                    audience="https://crm.example/hooks/gmail/",
                                    service_account_email="push@postcard-test.iam...")
    ... users.watch(topicName=topic), then mail arrives ...
    [delivery] = pubsub.wait_for_deliveries(1)

What the cited pages say and the fake does:

- developers.google.com/gmail/api/guides/push ("Grant publish rights on your topic"): Gmail
  publishes as gmail-api-push@system.gserviceaccount.com, which must hold publish permission on
  the topic (`grant_gmail_publisher`). Gmail's messages carry no attributes.
- cloud.google.com/pubsub/docs/push ("How push endpoints receive messages"): the wrapped
  payload, a JSON POST body {"message": {"data" (standard base64), "messageId", "message_id",
  "publishTime", "publish_time", "attributes" (only when the message has some)},
  "subscription": "projects/P/subscriptions/S"}. The endpoint acknowledges with 102, 200, 201,
  202 or 204; any other answer (or none) is a negative acknowledgement and Pub/Sub sends the
  message again, with backoff. The fake retries `retry_delays` times (default twice, after 0.1 s
  and 0.3 s) and then gives up; real Pub/Sub goes on for up to the retention period (7 days).
- cloud.google.com/pubsub/docs/authenticate-push-subscriptions: an authenticated subscription
  sends "Authorization: Bearer <JWT>", an OpenID Connect id token signed by Google (RS256, the
  keys of www.googleapis.com/oauth2/v3/certs) with aud (the subscription's audience, default the
  push endpoint URL: PushConfig.OidcToken.audience "if not specified, the Push endpoint URL will
  be used"), azp, email (the subscription's service account), email_verified, exp, iat, iss
  "https://accounts.google.com", sub. The identity fake mints it
  (`GoogleIdentityServer.mint_push_token`, wired in by `GoogleCloud`).

Delivery runs on one background thread, in publish order, outside every lock, so a push
endpoint may call the Gmail fake back while it answers. Every attempt is recorded in
`deliveries` (`wait_for_deliveries(count)` waits for them); `push_raw` posts any envelope with
any token synchronously, for tests of a receiver's checks. Real Pub/Sub insists on HTTPS push
endpoints; the fake posts to whatever URL it is given (a local http test server).
"""

from __future__ import annotations

import base64
import json
import queue
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

# developers.google.com/gmail/api/guides/push: "grant publish privileges to
# gmail-api-push@system.gserviceaccount.com".
GMAIL_PUBLISHER = "gmail-api-push@system.gserviceaccount.com"
# The Google Cloud project that owns the fake's OAuth client (and so, for Gmail, the topic:
# WatchRequest.topicName in gmail.v1.json: "the "my-project-identifier" portion must exactly
# match your Google developer project id").
DEFAULT_PROJECT = "postcard-test"
DEFAULT_PUSH_SERVICE_ACCOUNT = f"gmail-push@{DEFAULT_PROJECT}.iam.gserviceaccount.com"
# cloud.google.com/pubsub/docs/push: the status codes that acknowledge a pushed message.
ACK_STATUSES = frozenset({102, 200, 201, 202, 204})
RETRY_DELAYS = (0.1, 0.3)
PUSH_TIMEOUT = 10.0
# developers.google.com/search/docs/crawling-indexing/google-special-case-crawlers: "APIs-Google",
# the user agent "used by Google APIs to deliver push notification messages".
USER_AGENT = "APIs-Google (+https://developers.google.com/webmasters/APIs-Google.html)"

TOPIC_NAME = re.compile(r"projects/(?P<project>[^/]+)/topics/(?P<topic>[^/]+)")

# (audience, service account email) -> a signed OIDC id token.
TokenMinter = Callable[[str, str], str]
# (endpoint, body, headers) -> the HTTP status the endpoint answered.
Transport = Callable[[str, bytes, dict[str, str]], int]


@dataclass
class Topic:
    name: str
    # Members holding roles/pubsub.publisher on the topic.
    publishers: set[str] = field(default_factory=set)


@dataclass
class PushSubscription:
    name: str
    topic: str
    push_endpoint: str
    audience: str
    service_account_email: str
    # False: a push subscription without authentication (no Authorization header).
    authenticated: bool = True


@dataclass(frozen=True)
class Published:
    """One message a publisher put on a topic."""

    topic: str
    message_id: str
    data: bytes
    publish_time: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """One push attempt: where, what, with which token, and how the endpoint answered (status
    None: no answer, `error` says why)."""

    endpoint: str
    envelope: dict[str, Any]
    token: str | None
    status: int | None
    error: str = ""
    attempt: int = 1
    # The subscription's name; "" for push_raw.
    subscription: str = ""

    @property
    def acknowledged(self) -> bool:
        return self.status in ACK_STATUSES

    def data(self) -> Any:
        """message.data decoded (standard base64, then JSON)."""
        return json.loads(base64.b64decode(self.envelope["message"]["data"]))


def publish_time(when: float) -> str:
    """PubsubMessage.publishTime: RFC 3339 UTC "Zulu" (the push page's samples carry
    milliseconds: "2021-02-26T19:13:55.749Z")."""
    moment = datetime.fromtimestamp(when, UTC)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S.')}{moment.microsecond // 1000:03d}Z"


def http_transport(endpoint: str, body: bytes, headers: dict[str, str]) -> int:
    response = requests.post(endpoint, data=body, headers=headers, timeout=PUSH_TIMEOUT)
    return response.status_code


class PubSub:
    """Topics, grants, push subscriptions and the delivery thread. See the module docstring.
    Thread-safe; the delivery thread starts with the first message and ends with `close()`."""

    def __init__(self, *, project: str = DEFAULT_PROJECT) -> None:
        self.project = project
        self.lock = threading.Condition()
        self.topics: dict[str, Topic] = {}
        self.subscriptions: dict[str, PushSubscription] = {}
        self.published: list[Published] = []
        # Messages a publisher could not put on a topic (gone, or the grant withdrawn since the
        # watch): (topic, reason). Gmail drops them silently.
        self.dropped: list[tuple[str, str]] = []
        self.deliveries: list[Delivery] = []
        # Set by GoogleCloud: the identity fake's minting of push tokens.
        self.token_minter: TokenMinter | None = None
        # How each push goes out; a test may replace it (e.g. to call a WSGI app in-process).
        self.transport: Transport = http_transport
        self.retry_delays: tuple[float, ...] = RETRY_DELAYS
        # Pub/Sub message ids are decimal digit strings ("2070443601311540" on the push page).
        self._next_message_id = random.randint(2 * 10**15, 3 * 10**15)
        self._next_subscription = 1
        self._queue: queue.Queue[tuple[PushSubscription, dict[str, Any]] | None] = queue.Queue()
        self._pending = 0
        self._worker: threading.Thread | None = None
        self._closing = threading.Event()

    # --- control API: topics and subscriptions ---------------------------------------------

    def topic_path(self, name: str) -> str:
        """ "gmail" -> "projects/<project>/topics/gmail"; a full name stays as it is."""
        return name if name.startswith("projects/") else f"projects/{self.project}/topics/{name}"

    def create_topic(self, name: str) -> str:
        """A topic (short name or full "projects/P/topics/T"); returns its full name."""
        full = self.topic_path(name)
        if TOPIC_NAME.fullmatch(full) is None:
            raise ValueError(f"not a topic name: {full!r}")
        with self.lock:
            if full in self.topics:
                raise ValueError(f"topic {full!r} exists")
            self.topics[full] = Topic(full)
        return full

    def delete_topic(self, name: str) -> None:
        with self.lock:
            del self.topics[self.topic_path(name)]

    def grant_publisher(self, topic: str, member: str) -> None:
        """roles/pubsub.publisher on the topic for `member` (an email address)."""
        with self.lock:
            self._topic(topic).publishers.add(member.lower())

    def revoke_publisher(self, topic: str, member: str) -> None:
        with self.lock:
            self._topic(topic).publishers.discard(member.lower())

    def grant_gmail_publisher(self, topic: str) -> None:
        """developers.google.com/gmail/api/guides/push#grant_publish_rights_on_your_topic."""
        self.grant_publisher(topic, GMAIL_PUBLISHER)

    def revoke_gmail_publisher(self, topic: str) -> None:
        self.revoke_publisher(topic, GMAIL_PUBLISHER)

    def create_push_subscription(
        self,
        topic: str,
        push_endpoint: str,
        audience: str | None = None,
        service_account_email: str = DEFAULT_PUSH_SERVICE_ACCOUNT,
        *,
        name: str | None = None,
        authenticated: bool = True,
    ) -> PushSubscription:
        """A push subscription on the topic. cloud.google.com/pubsub/docs/authenticate-push-
        subscriptions: its pushes carry an id token for `service_account_email` with aud
        `audience` (default: the push endpoint URL); `authenticated=False` sends none."""
        full_topic = self.topic_path(topic)
        with self.lock:
            self._topic(full_topic)
            if name is None:
                name = f"gmail-push-{self._next_subscription}"
                self._next_subscription += 1
            if not name.startswith("projects/"):
                name = f"projects/{self.project}/subscriptions/{name}"
            if name in self.subscriptions:
                raise ValueError(f"subscription {name!r} exists")
            subscription = PushSubscription(
                name=name,
                topic=full_topic,
                push_endpoint=push_endpoint,
                audience=audience or push_endpoint,
                service_account_email=service_account_email,
                authenticated=authenticated,
            )
            self.subscriptions[name] = subscription
            return subscription

    def delete_subscription(self, name: str) -> None:
        with self.lock:
            found = [key for key in self.subscriptions if key == name or key.endswith("/" + name)]
            if not found:
                raise KeyError(f"no subscription {name!r}")
            del self.subscriptions[found[0]]

    def publish_refusal(self, topic: str, member: str) -> str | None:
        """Why `member` cannot publish on `topic` now: "not found", "denied", or None."""
        with self.lock:
            found = self.topics.get(topic)
            if found is None:
                return "not found"
            if member.lower() not in found.publishers:
                return "denied"
            return None

    # --- publishing and delivery ---------------------------------------------------------

    def publish(
        self,
        topic: str,
        data: bytes,
        *,
        attributes: dict[str, str] | None = None,
        publisher: str = GMAIL_PUBLISHER,
    ) -> str | None:
        """Put a message on the topic and queue one push per push subscription; returns the
        message id, or None when the topic is gone or `publisher` may not publish on it (the
        message is then only recorded in `dropped`)."""
        with self.lock:
            refusal = self.publish_refusal(topic, publisher)
            if refusal is not None:
                self.dropped.append((topic, refusal))
                return None
            self._next_message_id += random.randint(1, 5000)
            message = Published(
                topic=topic,
                message_id=str(self._next_message_id),
                data=data,
                publish_time=publish_time(time.time()),
                attributes=dict(attributes or {}),
            )
            self.published.append(message)
            for subscription in self.subscriptions.values():
                if subscription.topic == topic:
                    self._enqueue(subscription, envelope(message, subscription.name))
            return message.message_id

    def push_raw(
        self, endpoint: str, envelope: dict[str, Any], token: str | None = None
    ) -> Delivery:
        """POST `envelope` to `endpoint` now, with "Authorization: Bearer <token>" when a token
        is given (no retry); recorded in `deliveries` and returned."""
        delivery = self._attempt(endpoint, envelope, token, attempt=1, subscription="")
        with self.lock:
            self.deliveries.append(delivery)
            self.lock.notify_all()
        return delivery

    def wait_for_deliveries(self, count: int, timeout: float = 10.0) -> list[Delivery]:
        """Every delivery attempt so far, once there are at least `count` (AssertionError after
        `timeout` seconds otherwise)."""
        with self.lock:
            if not self.lock.wait_for(lambda: len(self.deliveries) >= count, timeout):
                raise AssertionError(
                    f"{len(self.deliveries)} push deliveries after {timeout} s, expected "
                    f"{count}: {self.deliveries!r}"
                )
            return list(self.deliveries)

    def wait_idle(self, timeout: float = 10.0) -> list[Delivery]:
        """Every delivery attempt so far, once nothing queued is left to push (retries
        included)."""
        with self.lock:
            if not self.lock.wait_for(lambda: self._pending == 0, timeout):
                raise AssertionError(f"pushes still pending after {timeout} s")
            return list(self.deliveries)

    def close(self) -> None:
        self._closing.set()
        worker = self._worker
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout=5)

    # --- internals -----------------------------------------------------------------------

    def _topic(self, name: str) -> Topic:
        try:
            return self.topics[self.topic_path(name)]
        except KeyError:
            raise KeyError(f"no topic {name!r}") from None

    def _enqueue(self, subscription: PushSubscription, body: dict[str, Any]) -> None:
        # Called with the lock held.
        if self._closing.is_set():
            return
        self._pending += 1
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._deliver_forever, name="fake-pubsub-push", daemon=True
            )
            self._worker.start()
        self._queue.put((subscription, body))

    def _deliver_forever(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            subscription, body = item
            try:
                self._deliver(subscription, body)
            except Exception as failure:  # e.g. no token minter: recorded, the thread goes on
                failed = Delivery(
                    subscription.push_endpoint,
                    body,
                    None,
                    None,
                    f"{type(failure).__name__}: {failure}",
                    subscription=subscription.name,
                )
                with self.lock:
                    self.deliveries.append(failed)
            finally:
                with self.lock:
                    self._pending -= 1
                    self.lock.notify_all()

    def _deliver(self, subscription: PushSubscription, body: dict[str, Any]) -> None:
        """One message to one subscription: the first attempt and, while the endpoint does not
        acknowledge, one retry per `retry_delays` entry."""
        delays = (0.0, *self.retry_delays)
        for attempt, delay in enumerate(delays, start=1):
            if delay and self._closing.wait(delay):
                return
            if self._closing.is_set():
                return
            token = None
            if subscription.authenticated:
                if self.token_minter is None:
                    raise RuntimeError("PubSub.token_minter is not set (GoogleCloud sets it)")
                token = self.token_minter(subscription.audience, subscription.service_account_email)
            delivery = self._attempt(
                subscription.push_endpoint,
                body,
                token,
                attempt=attempt,
                subscription=subscription.name,
            )
            with self.lock:
                self.deliveries.append(delivery)
                self.lock.notify_all()
            if delivery.acknowledged:
                return

    def _attempt(
        self,
        endpoint: str,
        body: dict[str, Any],
        token: str | None,
        *,
        attempt: int,
        subscription: str,
    ) -> Delivery:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            status: int | None = self.transport(endpoint, json.dumps(body).encode(), headers)
            error = ""
        except Exception as failure:  # the endpoint is unreachable or broke the connection
            status, error = None, f"{type(failure).__name__}: {failure}"
        return Delivery(endpoint, body, token, status, error, attempt, subscription)


def envelope(message: Published, subscription: str) -> dict[str, Any]:
    """cloud.google.com/pubsub/docs/push#receive_push: the wrapped push body. message.data is
    standard base64 (PubsubMessage.data, "A base64-encoded string"), though the Gmail push guide
    calls its payload base64url; both the camelCase and the snake_case keys are sent."""
    body: dict[str, Any] = {}
    if message.attributes:
        body["attributes"] = dict(message.attributes)
    body["data"] = base64.b64encode(message.data).decode()
    body["messageId"] = message.message_id
    body["message_id"] = message.message_id
    body["publishTime"] = message.publish_time
    body["publish_time"] = message.publish_time
    return {"message": body, "subscription": subscription}
