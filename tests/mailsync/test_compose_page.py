"""The composer, the outbox page and the sending settings, through the test client (the
transport is the real test SMTP server and Dovecot)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from mailsync.models import (
    CompanyAddress,
    MessageTemplate,
    OutgoingMessage,
    OutgoingState,
    SenderSettings,
    SendRoute,
)
from mailsync.sending.outbox import outgoing_deliver
from tests.factories import UserFactory, make_account, make_contact
from tests.mailsync.send_helpers import connect_with_smtp, parsed

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(dovecot, smtp_server):
    mailbox = connect_with_smtp(dovecot, smtp_server)
    return mailbox.owner


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def compose(client, params="", **data):
    fields = {"from_choice": "own", "action": "send", **data}
    return client.post(reverse("compose") + params, fields)


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def words(response) -> str:
    """What a reader sees: the page's text without its tags."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.content.decode()))


def test_the_card_opens_a_composer_addressed_to_the_contact_and_says_the_route(alice_client):
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@customer.test"])
    card = alice_client.get(reverse("contact-card", args=[jane.pk]))
    link = re.search(r'href="(/emails/compose/\?contact=[^"]+)"', card.content.decode())
    assert link is not None
    page = alice_client.get(link.group(1).replace("&amp;", "&"))
    assert page.status_code == 200
    assert 'value="&quot;Jane Doe&quot; &lt;jane@customer.test&gt;"' in page.content.decode()
    assert "This email goes from alice@example.test through 127.0.0.1." in words(page)


def test_sending_from_the_composer_delivers_and_puts_it_on_the_card(alice_client, smtp_server):
    jane = make_contact(emails=["jane@customer.test"])
    response = compose(
        alice_client,
        f"?contact={jane.pk}&next=/contacts/{jane.pk}/",
        to="jane@customer.test",
        subject="Offer",
        body="*Ten* euros.",
        markdown="on",
    )
    assert response.status_code == 302
    assert response["Location"] == f"/contacts/{jane.pk}/"
    row = OutgoingMessage.objects.get()
    outgoing_deliver(outgoing_id=row.pk)
    message = parsed(smtp_server.messages[0].data)
    assert message.get_body(("plain",)).get_content().strip() == "*Ten* euros."
    assert "<em>Ten</em>" in message.get_body(("html",)).get_content()
    card = alice_client.get(reverse("contact-card", args=[jane.pk]))
    assert "Offer" in card.content.decode()


def test_reply_page_prefills_the_answer_and_threads(alice_client, alice, smtp_server, dovecot):
    from tests.mailsync.sync_helpers import run_sync

    make_contact(emails=["jane@customer.test"])
    dovecot.append(
        "alice",
        "INBOX",
        b"From: Jane <jane@customer.test>\r\nTo: alice@example.test, cc@customer.test\r\n"
        b"Subject: Question\r\nMessage-ID: <q@customer.test>\r\n"
        b"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\nHow much?\r\n",
    )
    run_sync(alice.mailbox)
    message = alice.mailbox.messages.get()
    SenderSettings.objects.create(user=alice, signature="Alice, Sales", quote_history=False)
    page = alice_client.get(reverse("compose"), {"reply": message.pk, "kind": "reply_all"})
    body = page.content.decode()
    assert 'value="Re: Question"' in body
    assert "cc@customer.test" in body  # reply all: the other recipient in Cc
    assert "How much?" not in body  # this user's replies carry only the new text
    assert "-- \nAlice, Sales" in body
    compose(
        alice_client,
        f"?reply={message.pk}&kind=reply",
        to="jane@customer.test",
        subject="Re: Question",
        body="Ten euros.",
    )
    outgoing_deliver(outgoing_id=OutgoingMessage.objects.get().pk)
    sent = parsed(smtp_server.messages[0].data)
    assert sent["In-Reply-To"] == "<q@customer.test>"


def test_a_reply_to_a_message_the_user_may_not_see_is_not_found(alice_client):
    bob = UserFactory(username="bob")
    from tests.factories import make_mailbox, make_message

    hidden = make_message(make_mailbox(bob), sender="x@y.test", to=("bob@postcard.test",))
    assert alice_client.get(reverse("compose"), {"reply": hidden.pk}).status_code == 404
    assert alice_client.get(reverse("compose"), {"reply": "x" * 50}).status_code == 200
    assert alice_client.get(reverse("compose"), {"contact": "\u00b3"}).status_code == 200
    assert alice_client.get(reverse("compose"), {"reply": "1", "kind": "evil"}).status_code == 404


def test_company_address_needs_the_permission_granted_in_admin(alice_client, alice):
    sales = CompanyAddress.objects.create(address="sales@example.test", display_name="Sales")
    refused = compose(
        alice_client, to="jane@customer.test", subject="Hi", from_choice=f"company:{sales.pk}"
    )
    assert refused.status_code == 200  # the form again: not a choice this user has
    assert not OutgoingMessage.objects.exists()

    sales.senders.add(alice)
    page = alice_client.get(reverse("compose"))
    assert "sales@example.test" in page.content.decode()
    compose(alice_client, to="jane@customer.test", subject="Hi", from_choice=f"company:{sales.pk}")
    row = OutgoingMessage.objects.get()
    # No shared mailbox behind it: the CRM's mailer, as Sales, replies to sales@.
    assert row.route == SendRoute.CRM_MAILER
    assert b"Reply-To: sales@example.test" in bytes(row.raw)
    assert b"Sales via Postcard" in bytes(row.raw)


def test_a_template_fills_placeholders_and_flags_the_empty_ones(alice_client, alice):
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@customer.test"])
    template = MessageTemplate.objects.create(
        owner=alice,
        name="Intro",
        subject="Hello {contact.first_name}",
        body="Dear {contact.first_name} at {account.name},\n{sender.first_name}",
    )
    page = alice_client.post(
        reverse("compose") + f"?contact={jane.pk}",
        {"from_choice": "own", "to": "jane@customer.test", "template": template.pk,
         "action": "template"},
    )  # fmt: skip
    body = text(page)
    assert 'value="Hello Jane"' in body
    assert "Dear Jane at {account.name}" in body
    assert "no value for this recipient: {account.name}" in body
    refused = compose(alice_client, to="jane@customer.test", subject="Hi", body="at {account.name}")
    assert "Placeholders without a value: {account.name}" in text(refused)
    assert not OutgoingMessage.objects.exists()


def test_more_than_fifty_recipients_asks_then_queues_one_each_at_the_pace(alice_client, settings):
    settings.SMTP_SEND_PACE = (30, 500)
    account = make_account(name="Big Co", domains=("big.test",))
    addresses = [f"p{n}@big.test" for n in range(60)]
    for n, address in enumerate(addresses):
        make_contact(last_name=f"P{n}", first_name=f"Person{n}", emails=[address], account=account)
    data = {"to": ", ".join(addresses), "subject": "News", "body": "Hi {contact.first_name}"}
    warned = compose(alice_client, **data)
    assert "more than 50 recipients" in text(warned)
    assert not OutgoingMessage.objects.exists()

    compose(alice_client, bulk_confirmed="on", **data)
    rows = list(OutgoingMessage.objects.order_by("not_before", "pk"))
    assert len(rows) == 60
    assert all(len(r.to) == 1 and not r.cc and not r.bcc for r in rows)
    assert rows[0].body_text == "Hi Person0"
    start = rows[0].not_before
    soon = [r for r in rows if r.not_before < start + timedelta(minutes=1)]
    assert len(soon) == 30  # the provider's documented minute
    assert rows[-1].not_before >= start + timedelta(minutes=1)
    outbox = alice_client.get(reverse("outbox"))
    assert text(outbox).count('class="outgoing state-queued"') == 60


def test_outbox_actions_belong_to_their_sender(alice_client, alice):
    from django.test import Client

    make_contact(emails=["jane@customer.test"])
    compose(alice_client, to="jane@customer.test", subject="Later")
    row = OutgoingMessage.objects.get()
    OutgoingMessage.objects.filter(pk=row.pk).update(
        state=OutgoingState.HELD, not_before=timezone.now()
    )
    client = Client()
    client.force_login(UserFactory(username="mallory"))
    url = reverse("outbox-action", args=[row.pk, "cancel"])
    assert client.post(url).status_code == 404
    assert alice_client.post(reverse("outbox-action", args=[row.pk, "nonsense"])).status_code == 404
    alice_client.post(url)
    row.refresh_from_db()
    assert row.state == OutgoingState.CANCELLED


def test_a_draft_is_kept_and_sent_later(alice_client, smtp_server):
    compose(alice_client, to="jane@customer.test", subject="Draft one", action="draft")
    row = OutgoingMessage.objects.get()
    assert row.state == OutgoingState.DRAFT
    assert not row.message_id  # fixed when queued, not before
    page = alice_client.get(reverse("compose"), {"draft": row.pk})
    assert 'value="Draft one"' in page.content.decode()
    compose(alice_client, f"?draft={row.pk}", to="jane@customer.test", subject="Draft one")
    row.refresh_from_db()
    assert row.state == OutgoingState.QUEUED
    assert OutgoingMessage.objects.count() == 1


def test_sending_settings_and_templates_pages(alice_client, alice):
    alice_client.post(
        reverse("sending-settings"),
        {"display_name": "Alice from Sales", "signature": "A.", "quote_history": ""},
    )
    assert SenderSettings.objects.get(user=alice).display_name == "Alice from Sales"
    bad = alice_client.post(
        reverse("sending-settings"), {"display_name": "Alice\r\nBcc: x@y.z", "signature": ""}
    )
    assert "line breaks" in text(bad)
    alice_client.post(reverse("template-create"), {"name": "T", "subject": "S", "body": "B"})
    assert MessageTemplate.objects.get(owner=alice).name == "T"


def test_the_composer_warns_when_the_providers_minute_is_full(alice_client, alice, settings):
    settings.SMTP_SEND_PACE = (2, 500)
    for subject in ("One", "Two"):
        compose(alice_client, to="jane@customer.test", subject=subject)
    page = words(alice_client.get(reverse("compose")))
    assert "your mail server takes 2 emails a minute and 500 a day" in page.lower()
    assert "will wait its turn and leave at" in page


def test_a_drafts_files_are_kept_until_it_is_sent(alice_client, smtp_server):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("plan.pdf", b"%PDF-1.4 plan", content_type="application/pdf")
    alice_client.post(
        reverse("compose"),
        {"from_choice": "own", "to": "jane@customer.test", "subject": "Plan",
         "attachments": [upload], "action": "draft"},
    )  # fmt: skip
    row = OutgoingMessage.objects.get()
    assert row.attachment_names == ["plan.pdf"]
    compose(alice_client, f"?draft={row.pk}", to="jane@customer.test", subject="Plan")
    outgoing_deliver(outgoing_id=row.pk)
    [part] = list(parsed(smtp_server.messages[0].data).iter_attachments())
    assert part.get_filename() == "plan.pdf"
    assert part.get_content() == b"%PDF-1.4 plan"
