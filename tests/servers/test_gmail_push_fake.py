"""Tests of Gmail push notifications in the fakes: users.watch and users.stop
(tests/servers/gmail.py), the fake Pub/Sub that delivers them (tests/servers/pubsub.py) and the
push tokens the identity fake signs (tests/servers/google_identity.py).

Gmail is driven through google-api-python-client as in test_google_fake.py (every JSON body
served is checked against gmail.v1.json afterwards, `gmail_checked`); pushes go to a small
http.server receiver; tokens are verified with google-auth's `id_token.verify_token` against the
fake's certs URLs, as the product will.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import id_token
from googleapiclient.errors import HttpError

from tests.servers import conftest_fixtures
from tests.servers import test_google_fake as gmail_tests
from tests.servers.gmail_state import WATCH_LIFETIME_SECONDS
from tests.servers.google import GoogleCloud
from tests.servers.pubsub import DEFAULT_PUSH_SERVICE_ACCOUNT, GMAIL_PUBLISHER, USER_AGENT

# The fixtures, bound by name for pytest (an import would be shadowed by each test's argument).
google = conftest_fixtures.google
gmail_checked = gmail_tests.gmail_checked

ALICE = gmail_tests.ALICE
BOB = gmail_tests.BOB
READONLY = gmail_tests.READONLY
METADATA = gmail_tests.METADATA
SEND = "https://www.googleapis.com/auth/gmail.send"
AUDIENCE = "https://crm.example.test/hooks/gmail/"
PUSHER = "gmail-push@postcard-test.iam.gserviceaccount.com"


# --- a push endpoint -------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """A tiny push endpoint: records each POST, answers the next of `answers` (then 204)."""

    url: str
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def token(self, index: int = -1) -> str:
        scheme, _, value = self.received[index].headers["Authorization"].partition(" ")
        assert scheme == "Bearer"
        return value


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            with state.lock:
                state.received.append(Received(self.path, dict(self.headers.items()), body))
                status = state.answers.pop(0) if state.answers else 204
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hooks/gmail/"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- helpers ---------------------------------------------------------------------------------


def _gmail(google: GoogleCloud, scopes: list[str] | None = None) -> Any:
    return gmail_tests._gmail(google, gmail_tests._sign_in(google, ALICE, scopes or [READONLY]))


def _push_topic(google: GoogleCloud, receiver: Receiver, name: str = "gmail") -> str:
    """A topic Gmail may publish on, with a push subscription to the receiver."""
    topic = google.pubsub.create_topic(name)
    google.pubsub.grant_gmail_publisher(topic)
    google.pubsub.create_push_subscription(topic, receiver.url, AUDIENCE, PUSHER)
    return topic


def _error(error: HttpError) -> tuple[int, str, str]:
    body = gmail_tests._http_error(error)
    return body["code"], body["errors"][0]["reason"], body["message"]


def _verify(google: GoogleCloud, token: str, *, x509: bool = False) -> Any:
    """As the product will: google-auth against the fake's certs, then iss and email."""
    url = google.x509_certs_uri if x509 else google.certs_uri
    claims = id_token.verify_token(token, GoogleRequest(), audience=AUDIENCE, certs_url=url)
    assert claims["iss"] in {"https://accounts.google.com", "accounts.google.com"}
    return claims


def _mime(subject: str) -> bytes:
    return gmail_tests._mime(subject)


# --- users.watch and users.stop --------------------------------------------------------------


def test_watch_needs_the_topic_and_gmails_publish_grant(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    users = _gmail(google).users()
    topic = "projects/postcard-test/topics/gmail"

    with pytest.raises(HttpError) as missing_name:
        users.watch(userId="me", body={"labelIds": ["INBOX"]}).execute()
    assert _error(missing_name.value) == (400, "invalidArgument", "topicName required")

    with pytest.raises(HttpError) as other_project:
        users.watch(userId="me", body={"topicName": "projects/elsewhere/topics/gmail"}).execute()
    assert _error(other_project.value) == (
        400,
        "invalidArgument",
        "Invalid topicName does not match projects/postcard-test/topics/*",
    )

    with pytest.raises(HttpError) as no_topic:
        users.watch(userId="me", body={"topicName": topic}).execute()
    assert _error(no_topic.value) == (
        404,
        "notFound",
        f"Error sending test message to Cloud PubSub {topic} : Resource not found "
        "(resource=gmail).",
    )

    google.pubsub.create_topic("gmail")
    with pytest.raises(HttpError) as no_grant:
        users.watch(userId="me", body={"topicName": topic}).execute()
    assert _error(no_grant.value) == (
        403,
        "forbidden",
        f"Error sending test message to Cloud PubSub {topic} : User not authorized to "
        "perform this action.",
    )
    assert google.accounts.watch_of(ALICE) is None

    google.pubsub.grant_gmail_publisher(topic)
    before = time.time()
    watch = users.watch(userId="me", body={"topicName": topic, "labelIds": ["INBOX"]}).execute()

    assert set(watch) == {"historyId", "expiration"}
    assert watch["historyId"] == users.getProfile(userId="me").execute()["historyId"]
    expires = int(watch["expiration"]) / 1000
    assert before + WATCH_LIFETIME_SECONDS - 5 < expires < time.time() + WATCH_LIFETIME_SECONDS
    current = google.accounts.watch_of(ALICE)
    assert current is not None
    assert (current.topic, current.label_ids, current.behavior) == (topic, ["INBOX"], "include")


def test_watch_and_stop_take_the_read_scopes(
    gmail_checked: GoogleCloud, receiver: Receiver
) -> None:
    google = gmail_checked
    topic = _push_topic(google, receiver)
    metadata = _gmail(google, [METADATA]).users()
    assert "historyId" in metadata.watch(userId="me", body={"topicName": topic}).execute()
    # 204 No Content; googleapiclient reads a method without a response schema as raw text.
    assert metadata.stop(userId="me").execute() == ""

    send_only = gmail_tests._gmail(google, gmail_tests._sign_in(google, BOB, [SEND])).users()
    with pytest.raises(HttpError) as refused:
        send_only.watch(userId="me", body={"topicName": topic}).execute()
    assert _error(refused.value)[:2] == (403, "insufficientPermissions")
    assert google.accounts.calls(ALICE)[-2:] == ["gmail.users.watch", "gmail.users.stop"]


# --- delivery --------------------------------------------------------------------------------


def test_new_mail_is_pushed_with_a_token_google_auth_verifies(
    gmail_checked: GoogleCloud, receiver: Receiver
) -> None:
    google = gmail_checked
    users = _gmail(google).users()
    topic = _push_topic(google, receiver)
    watch = users.watch(userId="me", body={"topicName": topic}).execute()

    message_id = google.accounts.deliver(ALICE, _mime("Pushed"))
    [delivery] = google.pubsub.wait_for_deliveries(1)

    assert delivery.status == 204
    assert delivery.acknowledged
    [request] = receiver.received
    assert request.path == "/hooks/gmail/"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT
    # cloud.google.com/pubsub/docs/push: the wrapped body, data in standard base64.
    assert request.body == delivery.envelope
    [subscription] = google.pubsub.subscriptions.values()
    message = request.body["message"]
    assert set(message) == {"data", "messageId", "message_id", "publishTime", "publish_time"}
    assert message["messageId"] == message["message_id"]
    assert message["messageId"].isdigit()
    assert message["publishTime"] == message["publish_time"]
    assert request.body["subscription"] == subscription.name
    assert subscription.name.startswith("projects/postcard-test/subscriptions/")
    notification = json.loads(base64.b64decode(message["data"], validate=True))
    history_id = int(google.accounts.history_id(ALICE))
    assert notification == {"emailAddress": ALICE, "historyId": history_id}
    assert delivery.data() == notification

    claims = _verify(google, receiver.token())
    assert claims["aud"] == AUDIENCE
    assert claims["email"] == PUSHER
    assert claims["email_verified"] is True
    assert claims["sub"] == claims["azp"]
    assert len(claims["sub"]) == 21
    assert claims["exp"] - claims["iat"] == 3600
    assert _verify(google, receiver.token(), x509=True) == claims

    # The notification says "look": history.list from the watch's id finds the message.
    history = users.history().list(userId="me", startHistoryId=watch["historyId"]).execute()
    assert [a["message"]["id"] for h in history["history"] for a in h["messagesAdded"]] == [
        message_id
    ]
    assert history["historyId"] == str(history_id)


def test_every_kind_of_change_is_pushed(google: GoogleCloud, receiver: Receiver) -> None:
    accounts = google.accounts
    topic = _push_topic(google, receiver)
    accounts.start_watch(ALICE, topic, [], "include")

    message_id = accounts.deliver(ALICE, _mime("Changes"))
    accounts.add_labels(ALICE, message_id, ["STARRED"])
    accounts.remove_labels(ALICE, message_id, ["STARRED"])
    accounts.delete_forever(ALICE, message_id)

    deliveries = google.pubsub.wait_for_deliveries(4)
    history_ids = [d.data()["historyId"] for d in deliveries]
    assert history_ids == sorted(history_ids)
    assert history_ids[-1] == int(accounts.history_id(ALICE))
    assert [r.id for r in accounts.mailbox(ALICE).history] == history_ids


def test_the_label_filter(google: GoogleCloud, receiver: Receiver) -> None:
    users = _gmail(google).users()
    topic = _push_topic(google, receiver)
    accounts = google.accounts
    users.watch(
        userId="me",
        body={"topicName": topic, "labelIds": ["INBOX"], "labelFilterBehavior": "INCLUDE"},
    ).execute()

    accounts.deliver(ALICE, _mime("Junk"), labels=["SPAM"])
    inbox = accounts.deliver(ALICE, _mime("Wanted"))
    assert len(google.pubsub.wait_for_deliveries(1)) == 1
    accounts.mark_spam(ALICE, inbox)  # INBOX removed: relates to INBOX
    deliveries = google.pubsub.wait_for_deliveries(2)
    assert len(google.pubsub.published) == 2
    assert [d.data()["historyId"] for d in deliveries] == [
        r.id for r in accounts.mailbox(ALICE).history[1:]
    ]

    # labelFilterBehavior wins over the deprecated labelFilterAction.
    users.watch(
        userId="me",
        body={
            "topicName": topic,
            "labelIds": ["SPAM"],
            "labelFilterAction": "include",
            "labelFilterBehavior": "exclude",
        },
    ).execute()
    accounts.deliver(ALICE, _mime("More junk"), labels=["SPAM"])
    accounts.deliver(ALICE, _mime("Fine"))
    deliveries = google.pubsub.wait_for_deliveries(3)
    google.pubsub.wait_idle()
    assert len(google.pubsub.published) == 3
    assert deliveries[-1].data()["historyId"] == int(accounts.history_id(ALICE))

    with pytest.raises(HttpError) as bad:
        users.watch(
            userId="me", body={"topicName": topic, "labelFilterBehavior": "sometimes"}
        ).execute()
    assert _error(bad.value)[:2] == (400, "invalidArgument")
    with pytest.raises(HttpError) as unknown_label:
        users.watch(userId="me", body={"topicName": topic, "labelIds": ["Label_99"]}).execute()
    assert _error(unknown_label.value) == (400, "invalidArgument", "Invalid label: Label_99")


def test_stop_ends_the_pushes_and_a_new_watch_replaces_the_old(
    google: GoogleCloud, receiver: Receiver
) -> None:
    users = _gmail(google).users()
    first = _push_topic(google, receiver, "first")
    second = _push_topic(google, receiver, "second")
    accounts = google.accounts

    users.watch(userId="me", body={"topicName": first}).execute()
    users.watch(userId="me", body={"topicName": second}).execute()
    accounts.deliver(ALICE, _mime("One"))
    [delivery] = google.pubsub.wait_for_deliveries(1)
    assert [p.topic for p in google.pubsub.published] == [second]
    assert delivery.subscription.endswith("gmail-push-2")

    assert users.stop(userId="me").execute() == ""
    assert accounts.watch_of(ALICE) is None
    accounts.deliver(ALICE, _mime("Two"))
    assert google.pubsub.wait_idle() == [delivery]
    assert len(google.pubsub.published) == 1
    assert users.stop(userId="me").execute() == ""  # stopping twice is fine


def test_a_watch_expires_after_seven_days(google: GoogleCloud, receiver: Receiver) -> None:
    accounts = google.accounts
    accounts.start_watch(ALICE, _push_topic(google, receiver), [], "include")
    now = time.time()
    accounts.clock = lambda: now + WATCH_LIFETIME_SECONDS + 1

    accounts.deliver(ALICE, _mime("Too late"))

    assert google.pubsub.wait_idle() == []
    assert google.pubsub.published == []


def test_a_withdrawn_grant_drops_the_notifications(google: GoogleCloud, receiver: Receiver) -> None:
    accounts = google.accounts
    topic = _push_topic(google, receiver)
    accounts.start_watch(ALICE, topic, [], "include")
    google.pubsub.revoke_gmail_publisher(topic)

    accounts.deliver(ALICE, _mime("Lost"))

    assert google.pubsub.wait_idle() == []
    assert google.pubsub.dropped == [(topic, "denied")]


def test_an_unacknowledged_push_is_retried(google: GoogleCloud, receiver: Receiver) -> None:
    accounts = google.accounts
    accounts.start_watch(ALICE, _push_topic(google, receiver), [], "include")
    receiver.answers = [500, 503]

    accounts.deliver(ALICE, _mime("Retry"))

    deliveries = google.pubsub.wait_for_deliveries(3)
    assert [(d.attempt, d.status) for d in deliveries] == [(1, 500), (2, 503), (3, 204)]
    assert len({json.dumps(d.envelope, sort_keys=True) for d in deliveries}) == 1
    assert len(receiver.received) == 3


def test_a_push_that_never_succeeds_gives_up(google: GoogleCloud, receiver: Receiver) -> None:
    accounts = google.accounts
    google.pubsub.retry_delays = (0.05,)
    accounts.start_watch(ALICE, _push_topic(google, receiver), [], "include")
    receiver.answers = [401, 401, 401]

    accounts.deliver(ALICE, _mime("Refused"))

    deliveries = google.pubsub.wait_idle()
    assert [(d.attempt, d.status, d.acknowledged) for d in deliveries] == [
        (1, 401, False),
        (2, 401, False),
    ]


def test_an_unauthenticated_subscription_sends_no_token(
    google: GoogleCloud, receiver: Receiver
) -> None:
    topic = google.pubsub.create_topic("plain")
    google.pubsub.grant_gmail_publisher(topic)
    subscription = google.pubsub.create_push_subscription(topic, receiver.url, authenticated=False)
    assert subscription.audience == receiver.url
    assert subscription.service_account_email == DEFAULT_PUSH_SERVICE_ACCOUNT
    google.accounts.start_watch(BOB, topic, [], "include")

    google.accounts.deliver(BOB, _mime("Open"))

    [delivery] = google.pubsub.wait_for_deliveries(1)
    assert delivery.token is None
    assert "Authorization" not in receiver.received[0].headers
    assert delivery.data()["emailAddress"] == BOB


# --- push tokens -----------------------------------------------------------------------------


def test_push_raw_posts_any_envelope(google: GoogleCloud, receiver: Receiver) -> None:
    envelope = {
        "message": {"data": base64.b64encode(b'{"emailAddress": "x"}').decode()},
        "subscription": "projects/p/subscriptions/s",
    }
    token = google.identity.mint_push_token(AUDIENCE, "intruder@evil.test")
    receiver.answers = [403]

    delivery = google.pubsub.push_raw(receiver.url, envelope, token)

    assert (delivery.status, delivery.acknowledged, delivery.attempt) == (403, False, 1)
    assert receiver.received[0].body == envelope
    assert receiver.token() == token
    assert google.pubsub.deliveries == [delivery]
    assert _verify(google, token)["email"] == "intruder@evil.test"  # signed by Google...
    unreachable = google.pubsub.push_raw("http://127.0.0.1:9/", envelope)
    assert unreachable.status is None
    assert unreachable.error


def test_a_token_signed_by_another_key_fails(google: GoogleCloud) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    same_kid = google.identity.mint_push_token(AUDIENCE, PUSHER, key=other)
    other_kid = google.identity.mint_push_token(AUDIENCE, PUSHER, key=other, kid="not-google")

    with pytest.raises(jwt.InvalidSignatureError):
        _verify(google, same_kid)
    with pytest.raises(jwt.PyJWTError, match="not-google"):
        _verify(google, other_kid)
    with pytest.raises(ValueError, match="Could not verify token signature"):
        _verify(google, same_kid, x509=True)
    with pytest.raises(ValueError, match="not-google"):
        _verify(google, other_kid, x509=True)


def test_an_expired_token_or_another_audience_fails(google: GoogleCloud) -> None:
    expired = google.identity.mint_push_token(AUDIENCE, PUSHER, expired=True)
    elsewhere = google.identity.mint_push_token("https://other.example/", PUSHER)

    with pytest.raises(jwt.ExpiredSignatureError):
        _verify(google, expired)
    with pytest.raises(ValueError, match="expired"):
        _verify(google, expired, x509=True)
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(google, elsewhere)
    with pytest.raises(ValueError, match="audience"):
        _verify(google, elsewhere, x509=True)


def test_the_issuer_and_claims_are_the_receivers_to_check(google: GoogleCloud) -> None:
    """verify_token checks signature, expiry and audience only: iss and email are the
    receiver's checks (cloud.google.com/pubsub/docs/authenticate-push-subscriptions)."""
    token = google.identity.mint_push_token(
        AUDIENCE, PUSHER, issuer="https://evil.example", claims={"email_verified": False}
    )
    claims = id_token.verify_token(
        token, GoogleRequest(), audience=AUDIENCE, certs_url=google.certs_uri
    )
    assert claims["iss"] == "https://evil.example"
    assert claims["email_verified"] is False
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "RS256", "kid": "fake-google-signing-key", "typ": "JWT"}
    assert GMAIL_PUBLISHER == "gmail-api-push@system.gserviceaccount.com"
