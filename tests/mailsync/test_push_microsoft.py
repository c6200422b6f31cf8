"""Graph change notifications against the Graph fake, which validates Postcard's webhook and
posts to it over HTTP (Postcard served by pytest-django's live server): one subscription per
synced folder, a notification wakes the mailbox (never trusted for more), a wrong clientState is
refused, lifecycle events are handled, subscriptions are renewed before they end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from mailsync import services
from mailsync.models import Mailbox, Message, PushKind, PushSubscription
from mailsync.push.graph_webhooks import graph_lifecycle_handle
from mailsync.push.services import push_ensure, push_sentence
from tests.mailsync import test_sync_microsoft as ms
from tests.mailsync.sync_helpers import email

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

m365 = ms.m365
owner = ms.owner


@pytest.fixture
def pushed(m365, client, owner, live_server, settings):
    """Alice's Microsoft 365 mailbox, synced once, with Postcard reachable for Graph."""
    settings.PUSH_BASE_URL = live_server.url
    mailbox = ms.connect(client)
    assert services.mailbox_sync(mailbox_id=mailbox.pk).error == ""
    push_ensure(mailbox_id=mailbox.pk)
    return Mailbox.objects.get(pk=mailbox.pk)


def woken(mailbox: Mailbox) -> bool:
    return Mailbox.objects.get(pk=mailbox.pk).wake_pending


def test_every_synced_folder_is_subscribed_after_a_validated_handshake(m365, pushed, settings):
    folders = set(pushed.folders.values_list("name", flat=True))
    subscriptions = PushSubscription.objects.filter(mailbox=pushed, kind=PushKind.GRAPH)
    assert {s.folder for s in subscriptions} == folders
    live = m365.tenant.live_subscriptions()
    assert {s.id for s in live} == {s.remote_id for s in subscriptions}
    assert all(request.ok for request in m365.tenant.validation_requests)
    base = settings.PUSH_BASE_URL
    assert {r.url.split("?")[0] for r in m365.tenant.validation_requests} == {
        f"{base}/hooks/graph/",
        f"{base}/hooks/graph/lifecycle/",
    }
    assert "within seconds" in push_sentence(pushed)


def test_new_mail_notifies_and_wakes_the_mailbox_whose_sync_then_reads_it(m365, pushed):
    Mailbox.objects.filter(pk=pushed.pk).update(wake_pending=False)
    m365.tenant.deliver(ms.ALICE, email(31, sender=ms.JANE, to=ms.ALICE, subject="Urgent"))
    m365.tenant.wait_for_notifications(1, kind="change")
    m365.tenant.wait_notifications_idle()
    assert all(n.status == 202 for n in m365.tenant.notifications_sent)
    assert woken(pushed)
    assert services.mailbox_sync(mailbox_id=pushed.pk, only_if_woken=True).ran
    assert Message.objects.filter(mailbox=pushed, subject="Urgent").exists()


def test_a_notification_with_a_wrong_client_state_is_refused(pushed):
    Mailbox.objects.filter(pk=pushed.pk).update(wake_pending=False)
    subscription = PushSubscription.objects.filter(mailbox=pushed).first()
    body = {"value": [{"subscriptionId": subscription.remote_id, "clientState": "guessed",
                       "changeType": "created", "resource": "Users/x/Messages/y"}]}  # fmt: skip
    answer = Client().post("/hooks/graph/", body, content_type="application/json")
    assert answer.status_code == 403
    assert not woken(pushed)
    garbled = Client().post("/hooks/graph/", "{not json", content_type="application/json")
    assert garbled.status_code == 400
    echoed = Client().post("/hooks/graph/?validationToken=Validation%3A%20a%2Fb")
    assert echoed.status_code == 200
    assert echoed.content == b"Validation: a/b"
    assert echoed["Content-Type"].startswith("text/plain")


def test_lifecycle_events_are_handled(m365, pushed):
    subscription = PushSubscription.objects.filter(mailbox=pushed).first()
    old_id = subscription.remote_id

    Mailbox.objects.filter(pk=pushed.pk).update(wake_pending=False)
    assert m365.tenant.send_lifecycle(old_id, "missed")
    m365.tenant.wait_notifications_idle()
    assert woken(pushed)  # missed: the delta sync catches up at once

    assert m365.tenant.send_lifecycle(old_id, "reauthorizationRequired")
    m365.tenant.wait_notifications_idle()
    assert m365.tenant.notifications_sent[-1].status == 202
    graph_lifecycle_handle(subscription_pk=subscription.pk, event="reauthorizationRequired")
    assert m365.tenant.subscription(old_id).reauthorizations >= 1

    assert m365.tenant.send_lifecycle(old_id, "subscriptionRemoved")
    m365.tenant.wait_notifications_idle()
    graph_lifecycle_handle(subscription_pk=subscription.pk, event="subscriptionRemoved")
    subscription.refresh_from_db()
    assert subscription.remote_id != old_id  # made again
    assert subscription.remote_id in {s.id for s in m365.tenant.live_subscriptions()}


def test_subscriptions_are_renewed_a_day_before_they_end(m365, pushed):
    subscription = PushSubscription.objects.filter(mailbox=pushed).first()
    PushSubscription.objects.filter(pk=subscription.pk).update(
        expires_at=timezone.now() + timedelta(hours=3)
    )
    push_ensure(mailbox_id=pushed.pk)
    subscription.refresh_from_db()
    assert subscription.expires_at > timezone.now() + timedelta(days=6)
    remote = m365.tenant.subscription(subscription.remote_id)
    assert remote.expires_at > timezone.now() + timedelta(days=6)


def test_without_a_public_address_there_is_no_push_and_the_page_says_so(
    m365, client, owner, settings
):
    settings.PUSH_BASE_URL = ""
    settings.SITE_URL = "http://127.0.0.1:8000"
    mailbox = ms.connect(client)
    services.mailbox_sync(mailbox_id=mailbox.pk)
    push_ensure(mailbox_id=mailbox.pk)
    assert not PushSubscription.objects.exists()
    assert m365.tenant.live_subscriptions() == []
    assert "looked for every minute" in push_sentence(mailbox)
    page = client.get("/settings/mailbox/").content.decode()
    assert "PUSH_BASE_URL" in page


def test_disconnecting_ends_the_subscriptions_at_graph(m365, pushed, client):
    from mailsync.services import mailbox_disconnect

    assert m365.tenant.live_subscriptions()
    mailbox_disconnect(mailbox=pushed, keep_emails=True)
    assert m365.tenant.live_subscriptions() == []
    assert not PushSubscription.objects.filter(mailbox=pushed).exists()
