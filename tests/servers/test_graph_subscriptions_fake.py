"""Tests of Graph change notifications in the fake (tests/servers/graph_subscriptions.py and the
/subscriptions routes of tests/servers/graph.py).

Graph is driven with plain requests and a token issued by the tenant; the notification endpoint
is a small http.server on 127.0.0.1 (`Receiver`) that answers the validation handshake and
records what Graph POSTs. Every JSON body Graph served is checked against the msgraph-sdk models
afterwards (`graph_checked`, from test_microsoft_fake.py, whose MODELS know subscriptions), and
every notification body against `ChangeNotificationCollection` below: msgraph-sdk (1.65) ships
no model for it (nothing in Graph's API returns one), so this is one written the way the SDK
writes its models, from learn.microsoft.com/graph/api/resources/changenotificationcollection,
/changenotification and /resourcedata.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit
from uuid import UUID

import pytest
import requests
from kiota_abstractions.serialization import (
    AdditionalDataHolder,
    Parsable,
    ParseNode,
    SerializationWriter,
)

from tests.servers import conftest_fixtures
from tests.servers import test_microsoft_fake as graph_tests
from tests.servers.microsoft import MicrosoftCloud
from tests.servers.microsoft_tenant import User

# The fixtures, bound by name for pytest (an import would be shadowed by each test's argument).
microsoft = conftest_fixtures.microsoft
graph_checked = graph_tests.graph_checked

INBOX = "me/mailFolders('Inbox')/messages"
READ = ["User.Read", "Mail.Read"]


# --- a model of what Graph POSTs to a notification URL ----------------------------------------


class ChangeType(Enum):
    # learn.microsoft.com/graph/api/resources/changenotification: changeType.
    Created = "created"
    Updated = "updated"
    Deleted = "deleted"


class LifecycleEventType(Enum):
    # changenotification: lifecycleEvent "missed, subscriptionRemoved, reauthorizationRequired".
    Missed = "missed"
    SubscriptionRemoved = "subscriptionRemoved"
    ReauthorizationRequired = "reauthorizationRequired"


@dataclass
class ResourceData(AdditionalDataHolder, Parsable):
    """learn.microsoft.com/graph/api/resources/resourcedata: an open type; for Outlook items the
    @odata.type, @odata.id and @odata.etag annotations and the id."""

    additional_data: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    @staticmethod
    def create_from_discriminator_value(parse_node: ParseNode) -> ResourceData:
        return ResourceData()

    def get_field_deserializers(self) -> dict[str, Callable[[ParseNode], None]]:
        return {"id": lambda n: setattr(self, "id", n.get_str_value())}

    def serialize(self, writer: SerializationWriter) -> None:
        writer.write_str_value("id", self.id)
        writer.write_additional_data_value(self.additional_data)


@dataclass
class ChangeNotification(AdditionalDataHolder, Parsable):
    """learn.microsoft.com/graph/api/resources/changenotification (encryptedContent, for
    notifications with resource data, left out: the fake sends none)."""

    additional_data: dict[str, Any] = field(default_factory=dict)
    change_type: ChangeType | None = None
    client_state: str | None = None
    id: str | None = None
    lifecycle_event: LifecycleEventType | None = None
    resource: str | None = None
    resource_data: ResourceData | None = None
    subscription_expiration_date_time: datetime | None = None
    subscription_id: UUID | None = None
    tenant_id: UUID | None = None

    @staticmethod
    def create_from_discriminator_value(parse_node: ParseNode) -> ChangeNotification:
        return ChangeNotification()

    def get_field_deserializers(self) -> dict[str, Callable[[ParseNode], None]]:
        return {
            "changeType": lambda n: setattr(self, "change_type", n.get_enum_value(ChangeType)),
            "clientState": lambda n: setattr(self, "client_state", n.get_str_value()),
            "id": lambda n: setattr(self, "id", n.get_str_value()),
            "lifecycleEvent": lambda n: setattr(
                self, "lifecycle_event", n.get_enum_value(LifecycleEventType)
            ),
            "resource": lambda n: setattr(self, "resource", n.get_str_value()),
            "resourceData": lambda n: setattr(
                self, "resource_data", n.get_object_value(ResourceData)
            ),
            "subscriptionExpirationDateTime": lambda n: setattr(
                self, "subscription_expiration_date_time", n.get_datetime_value()
            ),
            "subscriptionId": lambda n: setattr(self, "subscription_id", n.get_uuid_value()),
            "tenantId": lambda n: setattr(self, "tenant_id", n.get_uuid_value()),
        }

    def serialize(self, writer: SerializationWriter) -> None:
        writer.write_enum_value("changeType", self.change_type)
        writer.write_str_value("clientState", self.client_state)
        writer.write_str_value("id", self.id)
        writer.write_enum_value("lifecycleEvent", self.lifecycle_event)
        writer.write_str_value("resource", self.resource)
        writer.write_object_value("resourceData", self.resource_data)
        writer.write_datetime_value(
            "subscriptionExpirationDateTime", self.subscription_expiration_date_time
        )
        writer.write_uuid_value("subscriptionId", self.subscription_id)
        writer.write_uuid_value("tenantId", self.tenant_id)
        writer.write_additional_data_value(self.additional_data)


@dataclass
class ChangeNotificationCollection(AdditionalDataHolder, Parsable):
    """learn.microsoft.com/graph/api/resources/changenotificationcollection."""

    additional_data: dict[str, Any] = field(default_factory=dict)
    validation_tokens: list[str] | None = None
    value: list[ChangeNotification] | None = None

    @staticmethod
    def create_from_discriminator_value(parse_node: ParseNode) -> ChangeNotificationCollection:
        return ChangeNotificationCollection()

    def get_field_deserializers(self) -> dict[str, Callable[[ParseNode], None]]:
        return {
            "validationTokens": lambda n: setattr(
                self, "validation_tokens", n.get_collection_of_primitive_values(str)
            ),
            "value": lambda n: setattr(
                self, "value", n.get_collection_of_object_values(ChangeNotification)
            ),
        }

    def serialize(self, writer: SerializationWriter) -> None:
        writer.write_collection_of_primitive_values("validationTokens", self.validation_tokens)
        writer.write_collection_of_object_values("value", self.value)
        writer.write_additional_data_value(self.additional_data)


# --- the notification endpoint ------------------------------------------------------------------


class Receiver:
    """A webhook endpoint on 127.0.0.1. The validation handshake is answered as `validation`
    says ("echo": 200 text/plain with the token; "encoded": the token still URL-encoded;
    "json": as application/json; "500"; "slow": echo after 1.5 seconds). Notifications are recorded
    (path, JSON body) and answered with `answers` in turn (then 202), after `delays` in turn."""

    def __init__(self) -> None:
        self.validation = "echo"
        self.answers: list[int] = []
        self.delays: list[float] = []
        self.validations: list[tuple[str, str, str]] = []  # path, token, Content-Type
        self.notifications: list[tuple[str, dict[str, Any]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                # A broken pipe: Graph gave up waiting (a timeout test).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    receiver.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def url(self, path: str = "/notify") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        token = parse_qs(parts.query).get("validationToken")
        if token is not None:
            with self.lock:
                self.validations.append(
                    (parts.path, token[0], request.headers.get("Content-Type", ""))
                )
            self._answer_validation(request, token[0])
            return
        with self.lock:
            self.notifications.append((parts.path, json.loads(body)))
            status = self.answers.pop(0) if self.answers else 202
            delay = self.delays.pop(0) if self.delays else 0.0
        time.sleep(delay)
        request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def _answer_validation(self, request: BaseHTTPRequestHandler, token: str) -> None:
        mode = self.validation
        if mode == "slow":
            time.sleep(1.5)
        status = 500 if mode == "500" else 200
        text = quote(token) if mode == "encoded" else token
        data = text.encode() if status == 200 else b""
        request.send_response(status)
        request.send_header("Content-Type", "application/json" if mode == "json" else "text/plain")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)

    def received(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for p, body in self.notifications if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def checked(graph_checked: MicrosoftCloud) -> Iterator[MicrosoftCloud]:
    """`graph_checked`, and afterwards every notification body the fake sent checked against
    ChangeNotificationCollection (after the Graph bodies' check, which runs on teardown too)."""
    yield graph_checked
    tenant = graph_checked.tenant
    tenant.wait_notifications_idle()
    problems = []
    for sent in tenant.notifications_sent:
        body = json.dumps(sent.body).encode()
        for problem in graph_tests.schema_problems(ChangeNotificationCollection, body):
            problems.append(f"{sent.kind} to {sent.url}: {problem}")
    assert not problems, "\n".join(problems)


# --- helpers ------------------------------------------------------------------------------------


class Graph(graph_tests.Graph):
    """Graph with PATCH and DELETE too."""

    def patch(self, path: str, body: Any) -> requests.Response:
        return requests.patch(self.base + path, json=body, headers=self._headers(None), timeout=30)

    def delete(self, path: str) -> requests.Response:
        return requests.delete(self.base + path, headers=self._headers(None), timeout=30)


def _graph(microsoft: MicrosoftCloud, user: User | None = None, scopes: list[str] = READ) -> Graph:
    token = microsoft.tenant.issue_access_token(
        (user or microsoft.alice).oid, microsoft.client_id, scopes
    )
    return Graph(microsoft, token.token)


def _expiry(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def _subscribe(graph: Graph, receiver: Receiver, **overrides: Any) -> requests.Response:
    body: dict[str, Any] = {
        "changeType": "created,updated,deleted",
        "notificationUrl": receiver.url(),
        "resource": INBOX,
        "expirationDateTime": _expiry(days=2),
        "clientState": "s3cret",
    }
    headers = overrides.pop("headers", None)
    body.update(overrides)
    body = {k: v for k, v in body.items() if v is not None}
    return graph.post("/subscriptions", body, headers)


def _created(graph: Graph, receiver: Receiver, **overrides: Any) -> dict[str, Any]:
    response = _subscribe(graph, receiver, **overrides)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _error(response: requests.Response) -> tuple[int, str, str]:
    error = response.json()["error"]
    return response.status_code, error["code"], error["message"]


def _mime(subject: str) -> bytes:
    message = EmailMessage()
    message["From"] = "Carol <carol@example.com>"
    message["To"] = "alice@contoso.com"
    message["Subject"] = subject
    message["Message-ID"] = f"<{subject.replace(' ', '-')}@example.com>"
    message.set_content(f"Body of {subject}.\n")
    return message.as_bytes()


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- creating: the handshake and the request's checks ------------------------------------------


def test_create_validates_both_urls_and_answers_the_subscription(
    checked: MicrosoftCloud, receiver: Receiver
) -> None:
    microsoft = checked
    graph = _graph(microsoft)
    expires = _expiry(days=3)

    response = _subscribe(
        graph,
        receiver,
        lifecycleNotificationUrl=receiver.url("/lifecycle"),
        expirationDateTime=expires,
        latestSupportedTlsVersion="v1_2",
    )

    assert response.status_code == 201, response.text
    sub = response.json()
    assert sub["@odata.context"].endswith("/$metadata#subscriptions/$entity")
    assert sub["resource"] == INBOX
    assert sub["changeType"] == "created,updated,deleted"
    assert sub["clientState"] == "s3cret"
    assert sub["notificationUrl"] == receiver.url()
    assert sub["lifecycleNotificationUrl"] == receiver.url("/lifecycle")
    assert sub["applicationId"] == microsoft.client_id
    assert sub["creatorId"] == microsoft.alice.oid
    assert sub["latestSupportedTlsVersion"] == "v1_2"
    assert abs(_when(sub["expirationDateTime"]) - _when(expires)) < timedelta(milliseconds=1)
    # Both URLs got the handshake: POST, text/plain, a token that needs URL-decoding.
    assert [(path, ctype) for path, _, ctype in receiver.validations] == [
        ("/notify", "text/plain; charset=utf-8"),
        ("/lifecycle", "text/plain; charset=utf-8"),
    ]
    token = receiver.validations[0][1]
    assert " " in token
    assert ":" in token
    assert [v.ok for v in microsoft.tenant.validation_requests] == [True, True]
    assert "validationToken=Validation%3A%20" in microsoft.tenant.validation_requests[0].url

    assert graph.get(f"/subscriptions/{sub['id']}").json() == sub | {
        "@odata.context": sub["@odata.context"]
    }
    listed = graph.get("/subscriptions").json()
    assert [s["id"] for s in listed["value"]] == [sub["id"]]
    # subscription-list: "the clientState property value is not returned".
    assert listed["value"][0]["clientState"] is None


@pytest.mark.parametrize(
    ("mode", "code", "message"),
    [
        ("500", "ValidationError", "Notification endpoint must respond with 200 OK"),
        ("encoded", "ValidationError", "Response must exactly match validationToken"),
        ("json", "ValidationError", "Response must exactly match validationToken"),
        ("slow", "InvalidRequest", "Subscription validation request timed out."),
    ],
)
def test_failed_handshake_creates_nothing(
    checked: MicrosoftCloud, receiver: Receiver, mode: str, code: str, message: str
) -> None:
    microsoft = checked
    if mode == "slow":
        microsoft.tenant.validation_timeout = 0.5
    receiver.validation = mode

    response = _subscribe(_graph(microsoft), receiver)

    assert _error(response)[:2] == (400, code)
    assert message in _error(response)[2]
    assert microsoft.tenant.subscriptions == {}
    assert [v.outcome for v in microsoft.tenant.validation_requests] == [
        {"500": "status", "slow": "timeout"}.get(mode, "mismatch")
    ]


def test_unreachable_or_failing_lifecycle_endpoint_fails_the_create(
    checked: MicrosoftCloud, receiver: Receiver
) -> None:
    microsoft = checked
    graph = _graph(microsoft)
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    dead_url = f"http://127.0.0.1:{closed.server_port}/gone"
    closed.server_close()

    assert _error(_subscribe(graph, receiver, notificationUrl=dead_url))[:2] == (
        400,
        "ValidationError",
    )
    response = _subscribe(graph, receiver, lifecycleNotificationUrl=dead_url)
    assert _error(response)[:2] == (400, "ValidationError")
    assert microsoft.tenant.subscriptions == {}
    assert [v.outcome for v in microsoft.tenant.validation_requests] == [
        "unreachable",
        "ok",
        "unreachable",
    ]


def test_request_checks(checked: MicrosoftCloud, receiver: Receiver) -> None:
    microsoft = checked
    graph = _graph(microsoft)

    def refused(**overrides: Any) -> tuple[int, str, str]:
        return _error(_subscribe(graph, receiver, **overrides))

    assert refused(notificationUrl="http://webhook.example.com/hook") == (
        400,
        "InvalidRequest",
        "NotificationUrl scheme='http' is not supported.",
    )
    assert refused(lifecycleNotificationUrl="http://webhook.example.com/life")[2] == (
        "LifecycleNotificationUrl scheme='http' is not supported."
    )
    assert refused(notificationUrl="ftp://127.0.0.1/x")[:2] == (400, "InvalidRequest")
    assert refused(clientState="x" * 129)[:2] == (400, "InvalidRequest")
    assert refused(changeType="created,moved")[:2] == (400, "InvalidRequest")
    assert refused(expirationDateTime=None) == (
        400,
        "InvalidRequest",
        "expirationDateTime is a required property for subscription creation.",
    )
    assert refused(expirationDateTime=_expiry(minutes=-5))[:2] == (400, "InvalidRequest")
    assert refused(latestSupportedTlsVersion="v2_0")[:2] == (400, "InvalidRequest")
    assert refused(changeTypes="created")[1] == "InvalidRequest"  # a misspelt property
    assert refused(resource="me/events")[:2] == (400, "InvalidRequest")
    assert refused(resource="me/mailFolders('Nope')/messages")[:2] == (404, "ExtensionError")
    # Delegated: only the signed-in user's own mailbox (even with access to another's).
    microsoft.tenant.grant_mailbox_access(microsoft.bob, microsoft.alice)
    assert refused(resource=f"users/{microsoft.bob.oid}/messages") == (
        403,
        "ExtensionError",
        "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access denied]",
    )
    no_mail = _graph(microsoft, scopes=["User.Read", "Mail.Send"])
    assert _error(_subscribe(no_mail, receiver))[:2] == (403, "ExtensionError")
    assert microsoft.tenant.subscriptions == {}
    # Nothing above got as far as the handshake.
    assert receiver.validations == []

    basic = _graph(microsoft, scopes=["Mail.ReadBasic"])
    for resource in (
        "/me/mailfolders('inbox')/messages",
        f"users/{microsoft.alice.upn}/mailFolders/inbox/messages",
        f"users('{microsoft.alice.oid}')/messages",
        "me/messages",
    ):
        assert _subscribe(basic, receiver, resource=resource).status_code == 201, resource


def test_expiration_limits(checked: MicrosoftCloud, receiver: Receiver) -> None:
    microsoft = checked
    graph = _graph(microsoft)

    assert _subscribe(graph, receiver, expirationDateTime=_expiry(minutes=10069)).status_code == 201
    assert _error(_subscribe(graph, receiver, expirationDateTime=_expiry(minutes=10071))) == (
        400,
        "ExtensionError",
        "Subscription expiration can only be 10070 minutes in the future.",
    )
    microsoft.tenant.subscription_max_minutes = 4230
    assert _error(_subscribe(graph, receiver, expirationDateTime=_expiry(minutes=4231)))[2] == (
        "Subscription expiration can only be 4230 minutes in the future."
    )
    # Under 45 minutes ahead becomes 45 minutes ahead.
    short = _created(graph, receiver, expirationDateTime=_expiry(minutes=5))
    ahead = _when(short["expirationDateTime"]) - datetime.now(UTC)
    assert timedelta(minutes=44) < ahead <= timedelta(minutes=45)


# --- change notifications ---------------------------------------------------------------------


def test_created_updated_deleted_notifications(checked: MicrosoftCloud, receiver: Receiver) -> None:
    microsoft = checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = _graph(microsoft)
    inbox = _created(graph, receiver)
    everything = _created(
        graph,
        receiver,
        resource="me/messages",
        changeType="created",
        notificationUrl=receiver.url("/all"),
        clientState=None,
        headers={"Prefer": 'IdType="ImmutableId"'},
    )

    first = tenant.deliver(alice, _mime("first"))
    [to_inbox] = tenant.wait_for_notifications(1, url=receiver.url())
    message = tenant.message(alice, first)
    assert to_inbox.status == 202
    assert to_inbox.attempt == 1
    [notification] = to_inbox.body["value"]
    assert notification.pop("id")
    assert notification == {
        "subscriptionId": inbox["id"],
        "subscriptionExpirationDateTime": inbox["expirationDateTime"],
        "changeType": "created",
        "resource": f"Users/{alice.oid}/Messages/{message.rest_id}",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Message",
            "@odata.id": f"Users/{alice.oid}/Messages/{message.rest_id}",
            "@odata.etag": f'W/"{message.change_key}"',
            "id": message.rest_id,
        },
        "clientState": "s3cret",
        "tenantId": tenant.tenant_id,
    }
    # The whole-mailbox subscription asked for immutable ids; it has no clientState.
    [to_all] = tenant.wait_for_notifications(1, url=receiver.url("/all"))
    [seen] = to_all.body["value"]
    assert (seen["subscriptionId"], seen["resourceData"]["id"]) == (everything["id"], first)
    assert seen["clientState"] is None
    # What the product does next: fetch the message the notification names.
    fetched = graph.get(f"/me/messages/{notification['resourceData']['id']}")
    assert fetched.json()["subject"] == "first"

    tenant.set_read(alice, first)  # updated: the inbox subscription only (/all wants created)
    old_rest_id = message.rest_id
    tenant.move(alice, first, "archive")  # left the inbox: deleted, under the id it had there
    second = tenant.deliver(alice, _mime("second"))
    tenant.delete(alice, second)
    tenant.deliver(alice, _mime("elsewhere"), "junkemail")  # not the inbox's; /all: created
    tenant.wait_notifications_idle()

    kinds = [
        (n["changeType"], n["resourceData"]["id"])
        for body in receiver.received("/notify")
        for n in body["value"]
    ]
    second_rest_id = kinds[3][1]
    assert kinds == [
        ("created", old_rest_id),
        ("updated", old_rest_id),
        ("deleted", old_rest_id),
        ("created", second_rest_id),
        ("deleted", second_rest_id),
    ]
    deleted = receiver.received("/notify")[2]["value"][0]["resourceData"]
    assert "@odata.etag" not in deleted
    assert [n["changeType"] for b in receiver.received("/all") for n in b["value"]] == [
        "created",
        "created",
        "created",
    ]
    assert all(n.delivered for n in tenant.notifications_sent)


def test_graph_writes_and_sends_notify_too(checked: MicrosoftCloud, receiver: Receiver) -> None:
    microsoft = checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = _graph(microsoft, scopes=["Mail.ReadWrite"])
    _created(graph, receiver, resource="me/mailFolders/inbox/messages")
    first = tenant.message(alice, tenant.deliver(alice, _mime("patched")))

    response = requests.patch(
        f"{graph.base}/me/messages/{first.rest_id}",
        json={"isRead": True},
        headers=graph._headers(None),
        timeout=30,
    )
    assert response.status_code == 200
    moved = graph.post(f"/me/messages/{first.rest_id}/move", {"destinationId": "archive"})
    assert moved.status_code == 201
    tenant.wait_notifications_idle()

    assert [n["changeType"] for b in receiver.received("/notify") for n in b["value"]] == [
        "created",
        "updated",
        "deleted",
    ]


def test_one_change_for_two_subscriptions_on_one_url_is_one_post(
    checked: MicrosoftCloud, receiver: Receiver
) -> None:
    microsoft = checked
    graph = _graph(microsoft)
    a = _created(graph, receiver)
    b = _created(graph, receiver, resource="me/messages", changeType="created")

    microsoft.tenant.deliver(microsoft.alice, _mime("batched"))

    [sent] = microsoft.tenant.wait_for_notifications(1)
    assert [n["subscriptionId"] for n in sent.body["value"]] == [a["id"], b["id"]]


def test_failed_deliveries_are_retried_and_recorded(
    checked: MicrosoftCloud, receiver: Receiver
) -> None:
    microsoft = checked
    tenant = microsoft.tenant
    tenant.notification_timeout = 0.8
    tenant.notification_retry_delays = (0.05, 0.05)
    _created(_graph(microsoft), receiver)

    receiver.answers = [503]
    tenant.deliver(microsoft.alice, _mime("retried"))
    tenant.wait_notifications_idle()
    assert [(n.status, n.attempt) for n in tenant.notifications_sent] == [(503, 1), (202, 2)]
    assert tenant.notifications_sent[0].body == tenant.notifications_sent[1].body

    receiver.delays = [2.0]  # no answer within the (shortened) 3 seconds, then a prompt 202
    tenant.deliver(microsoft.alice, _mime("slow"))
    tenant.wait_notifications_idle()
    slow = tenant.notifications_sent[2:]
    assert [(n.status, n.error, n.attempt) for n in slow] == [
        (None, "ReadTimeout", 1),
        (202, "", 2),
    ]

    receiver.answers = [500, 500, 500]
    tenant.deliver(microsoft.alice, _mime("dropped"))
    tenant.wait_notifications_idle()
    assert [n.status for n in tenant.notifications_sent[4:]] == [500, 500, 500]


# --- managing subscriptions -------------------------------------------------------------------


def test_expired_subscription_delivers_nothing_and_is_gone(
    checked: MicrosoftCloud, receiver: Receiver
) -> None:
    microsoft = checked
    tenant = microsoft.tenant
    graph = _graph(microsoft)
    sub = _created(graph, receiver)

    tenant.expire_subscription(sub["id"])
    tenant.deliver(microsoft.alice, _mime("unheard"))
    tenant.wait_notifications_idle()

    assert tenant.notifications_sent == []
    assert _error(graph.get(f"/subscriptions/{sub['id']}")) == (
        404,
        "ResourceNotFound",
        "The object was not found.",
    )
    assert (
        graph.patch(
            f"/subscriptions/{sub['id']}", {"expirationDateTime": _expiry(days=1)}
        ).status_code
        == 404
    )
    assert graph.get("/subscriptions").json()["value"] == []


def test_renewal_and_new_notification_url(checked: MicrosoftCloud, receiver: Receiver) -> None:
    microsoft = checked
    tenant = microsoft.tenant
    graph = _graph(microsoft)
    sub = _created(graph, receiver, expirationDateTime=_expiry(hours=2))
    path = f"/subscriptions/{sub['id']}"

    later = _expiry(days=6)
    renewed = graph.patch(path, {"expirationDateTime": later})
    assert renewed.status_code == 200, renewed.text
    assert abs(_when(renewed.json()["expirationDateTime"]) - _when(later)) < timedelta(
        milliseconds=1
    )
    assert tenant.subscription(sub["id"]).reauthorizations == 1

    assert _error(graph.patch(path, {"expirationDateTime": _expiry(days=8)}))[:2] == (
        400,
        "ExtensionError",
    )
    assert _error(graph.patch(path, {})) == (
        400,
        "InvalidRequest",
        "Subscription must contain either the 'expirationDateTime' or 'notificationUrl' "
        "property and its value.",
    )
    assert _error(graph.patch(path, {"clientState": "new"}))[:2] == (400, "InvalidRequest")

    receiver.validation = "500"
    failed = graph.patch(path, {"notificationUrl": receiver.url("/moved")})
    assert _error(failed)[:2] == (400, "ValidationError")
    assert tenant.subscription(sub["id"]).notification_url == receiver.url()
    receiver.validation = "echo"
    moved = graph.patch(path, {"notificationUrl": receiver.url("/moved")})
    assert moved.json()["notificationUrl"] == receiver.url("/moved")

    tenant.deliver(microsoft.alice, _mime("to the new url"))
    tenant.wait_notifications_idle()
    assert [n.url for n in tenant.notifications_sent] == [receiver.url("/moved")]
    assert (
        _error(graph.patch("/subscriptions/" + "0" * 36, {"expirationDateTime": later}))[0] == 404
    )


def test_delete_and_who_sees_which(checked: MicrosoftCloud, receiver: Receiver) -> None:
    microsoft = checked
    tenant = microsoft.tenant
    graph = _graph(microsoft)
    sub = _created(graph, receiver)
    bobs = _created(_graph(microsoft, microsoft.bob), receiver)
    other_app = tenant.add_app(["http://localhost/other"])
    stranger = Graph(
        microsoft, tenant.issue_access_token(microsoft.alice.oid, other_app.client_id, READ).token
    )

    assert [s["id"] for s in graph.get("/subscriptions").json()["value"]] == [sub["id"]]
    assert stranger.get("/subscriptions").json()["value"] == []
    assert stranger.get(f"/subscriptions/{sub['id']}").status_code == 404
    assert graph.get(f"/subscriptions/{bobs['id']}").status_code == 404
    # Managing one takes the read scope, as creating it did.
    weak = _graph(microsoft, scopes=["User.Read"])
    assert _error(weak.get(f"/subscriptions/{sub['id']}"))[:2] == (403, "ExtensionError")

    deleted = graph.delete(f"/subscriptions/{sub['id']}")
    assert deleted.status_code == 204
    assert not deleted.content
    assert graph.get(f"/subscriptions/{sub['id']}").status_code == 404
    assert graph.delete(f"/subscriptions/{sub['id']}").status_code == 404
    tenant.deliver(microsoft.alice, _mime("after delete"))
    tenant.deliver(microsoft.bob, _mime("bob's"))
    tenant.wait_notifications_idle()
    assert [n["subscriptionId"] for n in receiver.received("/notify")[0]["value"]] == [bobs["id"]]
    assert len(receiver.received("/notify")) == 1


# --- lifecycle events -----------------------------------------------------------------------


def test_lifecycle_events(checked: MicrosoftCloud, receiver: Receiver) -> None:
    microsoft = checked
    tenant = microsoft.tenant
    graph = _graph(microsoft)
    sub = _created(graph, receiver, lifecycleNotificationUrl=receiver.url("/lifecycle"))
    lifecycle_url = receiver.url("/lifecycle")

    assert tenant.send_lifecycle(sub["id"], "missed")
    [missed] = tenant.wait_for_notifications(1, kind="lifecycle")
    assert missed.url == lifecycle_url
    assert missed.body == {
        "value": [
            {
                "subscriptionId": sub["id"],
                "subscriptionExpirationDateTime": sub["expirationDateTime"],
                "tenantId": tenant.tenant_id,
                "clientState": "s3cret",
                "lifecycleEvent": "missed",
            }
        ]
    }

    # reauthorizationRequired, and delivery pauses until the app reauthorizes.
    assert tenant.send_lifecycle(sub["id"], "reauthorizationRequired", pause=True)
    tenant.deliver(microsoft.alice, _mime("lost"))
    tenant.wait_notifications_idle()
    assert receiver.received("/notify") == []
    reauthorized = requests.post(
        f"{graph.base}/subscriptions/{sub['id']}/reauthorize",
        headers=graph._headers(None),
        timeout=30,
    )
    assert reauthorized.status_code == 204
    assert not reauthorized.content
    assert tenant.subscription(sub["id"]).reauthorizations == 1
    tenant.deliver(microsoft.alice, _mime("heard"))
    tenant.wait_notifications_idle()
    assert len(receiver.received("/notify")) == 1

    # subscriptionRemoved: the subscription is gone.
    assert tenant.send_lifecycle(sub["id"], "subscriptionRemoved")
    tenant.wait_notifications_idle()
    events = [b["value"][0]["lifecycleEvent"] for b in receiver.received("/lifecycle")]
    assert events == ["missed", "reauthorizationRequired", "subscriptionRemoved"]
    assert graph.get(f"/subscriptions/{sub['id']}").status_code == 404
    tenant.deliver(microsoft.alice, _mime("unheard"))
    tenant.wait_notifications_idle()
    assert len(receiver.received("/notify")) == 1


def test_lifecycle_without_a_lifecycle_url_sends_nothing(
    checked: MicrosoftCloud, receiver: Receiver
) -> None:
    microsoft = checked
    tenant = microsoft.tenant
    sub = _created(_graph(microsoft), receiver)

    assert not tenant.send_lifecycle(sub["id"], "reauthorizationRequired")
    assert not tenant.send_lifecycle(sub["id"], "subscriptionRemoved")
    tenant.wait_notifications_idle()

    assert tenant.notifications_sent == []
    assert sub["id"] not in tenant.subscriptions
    with pytest.raises(ValueError, match="not a lifecycle event"):
        tenant.send_lifecycle(sub["id"], "renewed")  # type: ignore[arg-type]


def test_the_models_catch_invented_keys() -> None:
    """The schema checks above would notice a property Graph does not have."""
    notification = {
        "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
        "changeType": "created",
        "resource": "Users/x/Messages/y",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "id": "y"},
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
    }
    ok = json.dumps({"value": [notification]}).encode()
    assert graph_tests.schema_problems(ChangeNotificationCollection, ok) == []
    invented = json.dumps({"value": [{**notification, "folderId": "z"}]}).encode()
    assert graph_tests.schema_problems(ChangeNotificationCollection, invented) == [
        "$.value[0].folderId"
    ]
    wrong_type = json.dumps({"value": [{**notification, "changeType": "moved"}]}).encode()
    assert graph_tests.schema_problems(ChangeNotificationCollection, wrong_type) == [
        "$.value[0].changeType"
    ]
    # subscription-get's example has notificationContentType; the v1.0 schema does not.
    subscription = json.dumps({"id": "x", "notificationContentType": "application/json"})
    assert graph_tests.schema_problems(
        graph_tests.MODELS["subscription"], subscription.encode()
    ) == ["$.notificationContentType"]
