"""Microsoft's documented change-notification exchanges (../shared/provider-samples/graph/),
posted to Postcard's webhook as Graph would: the validation handshake, a message-created
notification and a reauthorizationRequired lifecycle event, with the documented answers."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from mailsync.models import Mailbox, PushKind, PushSubscription
from tests.factories import UserFactory, make_mailbox
from tests.servers.graph_samples import SAMPLES, load

pytestmark = pytest.mark.django_db


def request_of(name: str) -> tuple[str, bytes]:
    """The sample's request: its URL, and its body (the JSON after the headers)."""
    text = (SAMPLES / f"{name}.http").read_text(encoding="utf-8")
    lines = [line for line in text.split("\n") if not line.startswith("# ")]
    request = "\n".join(lines).partition("\n### response\n")[0].strip()
    head, _, body = request.partition("\n\n")
    return head.split("\n", 1)[0].split(" ")[1], body.encode()


def subscribed(remote_id, client_state):
    mailbox = make_mailbox(UserFactory(username="alice"))
    PushSubscription.objects.create(
        mailbox=mailbox, kind=PushKind.GRAPH, folder="inbox", remote_id=remote_id,
        client_state=client_state, expires_at=timezone.now() + timedelta(days=3),
    )  # fmt: skip
    return mailbox


def test_the_documented_validation_request_is_echoed():
    url, _ = request_of("subscription-validation-request")
    expected = load("subscription-validation-request")
    answer = Client().post("/hooks/graph/?" + urlsplit(url).query, content_type="text/plain")
    assert answer.status_code == expected.status
    assert answer["Content-Type"].startswith(expected.headers["Content-Type"])
    assert answer.content == expected.body.strip()


def test_the_documented_created_notification_wakes_the_mailbox():
    mailbox = subscribed("{subscription_guid}", "secretClientValue")
    _, body = request_of("change-notification-message-created")
    answer = Client().post("/hooks/graph/", body, content_type="application/json")
    assert answer.status_code == load("change-notification-message-created").status  # 202
    assert Mailbox.objects.get(pk=mailbox.pk).wake_pending


def test_the_documented_lifecycle_event_is_accepted():
    subscribed("e3898f08-5cd0-4a6a-80fc-6addbfb73b7b", "{secret client state}")
    _, body = request_of("lifecycle-reauthorization-required")
    answer = Client().post("/hooks/graph/lifecycle/", body, content_type="application/json")
    assert answer.status_code == load("lifecycle-reauthorization-required").status  # 202
