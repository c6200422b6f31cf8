"""Gmail push against the fakes: users.watch to a Pub/Sub topic whose push subscription posts to
Postcard (served by pytest-django's live server) with an OIDC token signed by the Google identity
fake; Postcard verifies it with google-auth and wakes the mailbox. Forged, expired, misaddressed
tokens and envelopes are refused."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from mailsync import services
from mailsync.models import Mailbox, Message, PushKind, PushSubscription
from mailsync.push.services import push_ensure, push_sentence
from tests.mailsync import test_sync_google as g
from tests.servers.pubsub import DEFAULT_PUSH_SERVICE_ACCOUNT

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

gcloud = g.gcloud
owner = g.owner


@pytest.fixture
def hook(gcloud, live_server, settings) -> str:
    """The operator's set-up (README): a topic Gmail may publish to, a push subscription with
    authentication to Postcard's endpoint, and Postcard's settings naming them."""
    endpoint = f"{live_server.url}/hooks/gmail/"
    topic = gcloud.pubsub.create_topic("gmail-changes")
    gcloud.pubsub.grant_gmail_publisher(topic)
    gcloud.pubsub.create_push_subscription(topic, endpoint, audience=endpoint)
    settings.PUSH_BASE_URL = live_server.url
    settings.GOOGLE_PUBSUB_TOPIC = topic
    settings.GOOGLE_PUSH_SERVICE_ACCOUNT = DEFAULT_PUSH_SERVICE_ACCOUNT
    settings.GOOGLE_PUSH_AUDIENCE = endpoint
    settings.GOOGLE_CERTS_URL = gcloud.x509_certs_uri
    return endpoint


@pytest.fixture
def watched(gcloud, hook, client, owner) -> Mailbox:
    mailbox = g.connect(client)
    assert services.mailbox_sync(mailbox_id=mailbox.pk).error == ""
    push_ensure(mailbox_id=mailbox.pk)
    Mailbox.objects.filter(pk=mailbox.pk).update(wake_pending=False)
    return Mailbox.objects.get(pk=mailbox.pk)


def woken(mailbox: Mailbox) -> bool:
    return Mailbox.objects.get(pk=mailbox.pk).wake_pending


def envelope(address: str = g.ALICE) -> dict[str, object]:
    data = base64.b64encode(json.dumps({"emailAddress": address, "historyId": 99}).encode())
    message = {"data": data.decode(), "messageId": "1", "publishTime": "2026-12-04T10:00:00Z"}
    return {"message": message, "subscription": "projects/postcard-test/subscriptions/gmail-1"}


def test_a_watch_is_made_and_new_mail_pushed_wakes_the_mailbox(gcloud, watched):
    assert PushSubscription.objects.filter(mailbox=watched, kind=PushKind.GMAIL).exists()
    assert gcloud.accounts.watch_of(g.ALICE) is not None
    assert "within seconds" in push_sentence(watched)
    g.deliver(gcloud, 41, subject="Pushed")
    [delivery] = gcloud.pubsub.wait_idle()
    assert delivery.status == 204
    assert woken(watched)
    assert services.mailbox_sync(mailbox_id=watched.pk, only_if_woken=True).ran
    assert Message.objects.filter(mailbox=watched, subject="Pushed").exists()


@pytest.mark.parametrize(
    "forgery",
    ["other key", "expired", "other audience", "other sender", "other issuer", "no token"],
)
def test_a_forged_push_is_refused_and_wakes_nothing(gcloud, hook, watched, forgery):
    identity = gcloud.identity
    mint = {
        "other key": lambda: identity.mint_push_token(
            hook, DEFAULT_PUSH_SERVICE_ACCOUNT, key=rsa.generate_private_key(65537, 2048)
        ),
        "expired": lambda: identity.mint_push_token(
            hook, DEFAULT_PUSH_SERVICE_ACCOUNT, expired=True
        ),
        "other audience": lambda: identity.mint_push_token(
            "https://evil.test/", DEFAULT_PUSH_SERVICE_ACCOUNT
        ),
        "other sender": lambda: identity.mint_push_token(
            hook, "mallory@evil.iam.gserviceaccount.com"
        ),
        "other issuer": lambda: identity.mint_push_token(
            hook, DEFAULT_PUSH_SERVICE_ACCOUNT, issuer="https://evil.test"
        ),
        "no token": lambda: None,
    }[forgery]
    delivery = gcloud.pubsub.push_raw(hook, envelope(), mint())
    assert delivery.status == 403
    assert not woken(watched)


def test_a_genuine_push_for_an_unknown_address_is_acknowledged_and_garbage_refused(
    gcloud, hook, watched
):
    token = gcloud.identity.mint_push_token(hook, DEFAULT_PUSH_SERVICE_ACCOUNT)
    assert gcloud.pubsub.push_raw(hook, envelope("nobody@acme.test"), token).status == 204
    assert not woken(watched)
    assert gcloud.pubsub.push_raw(hook, {"message": {"data": "%%%"}}, token).status == 400
    assert gcloud.pubsub.push_raw(hook, envelope(), token).status == 204
    assert woken(watched)


def test_a_topic_gmail_may_not_publish_to_leaves_the_minute_poll(gcloud, hook, client, owner):
    gcloud.pubsub.revoke_gmail_publisher(gcloud.pubsub.topic_path("gmail-changes"))
    mailbox = g.connect(client)
    services.mailbox_sync(mailbox_id=mailbox.pk)
    push_ensure(mailbox_id=mailbox.pk)
    assert not PushSubscription.objects.filter(mailbox=mailbox).exists()
    assert "looked for every minute" in push_sentence(mailbox)
