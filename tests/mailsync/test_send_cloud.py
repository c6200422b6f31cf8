"""Sending through Microsoft 365 (Graph sendMail with the MIME) and Gmail (messages.send), after
the user allowed it (incremental consent), against the fakes (tests/servers/): exactly one
delivery, one Sent copy, one message on the card; replies thread; a revoked grant holds the mail
and tells the user once; a worker killed after the provider accepted never sends twice."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse

from hierarchy.selectors import mailbox_visibility
from mailsync import services
from mailsync.card_pages import CardOf, card_emails
from mailsync.models import (
    Mailbox,
    MailboxState,
    Message,
    OutgoingMessage,
    OutgoingState,
    SendRoute,
)
from mailsync.sending.drafting import reply_start
from mailsync.sending.outbox import outgoing_deliver, outgoing_send
from mailsync.sending.routes import OWN, route_for
from tests.calendars.killing import settings_named
from tests.factories import make_contact
from tests.mailsync import test_sync_google as g
from tests.mailsync import test_sync_microsoft as ms
from tests.mailsync.send_helpers import draft, parsed
from tests.mailsync.sync_helpers import email
from tests.servers.microsoft_identity import form_fields

pytestmark = [pytest.mark.server, pytest.mark.django_db]

m365 = ms.m365
gcloud = g.gcloud


@pytest.fixture
def owner(client):
    from tests.factories import UserFactory

    user = UserFactory(username="alice", email=ms.ALICE, first_name="Alice", last_name="Archer")
    client.force_login(user)
    return user


@pytest.fixture
def g_owner(client):
    from tests.factories import UserFactory

    user = UserFactory(username="alice", email=g.ALICE, first_name="Alice", last_name="Archer")
    client.force_login(user)
    return user


def allow_sending_microsoft(client):
    started = client.post(reverse("mailbox-allow-sending", args=["microsoft"]))
    assert started.status_code == 302, started.content
    answer = requests.post(
        started["Location"],
        data={"username": ms.ALICE_UPN, "password": "secret", "consent": "accept"},
        allow_redirects=False,
        timeout=10,
    )
    posted = Client().post(ms.ms_url("mailbox-oauth-callback"), form_fields(answer.text))
    return client.get(posted["Location"])


def allow_sending_google(client, decline: str = ""):
    started = client.post(reverse("mailbox-allow-sending", args=["google"]))
    assert started.status_code == 302, started.content
    asked = parse_qs(urlsplit(started["Location"]).query)["scope"][0].split()
    assert "https://www.googleapis.com/auth/gmail.send" in asked
    back = urlsplit(g.google_answer(started["Location"], as_user=g.ALICE, decline=decline))
    parked = client.get(back.path, {k: v[0] for k, v in parse_qs(back.query).items()})
    return client.get(parked["Location"])


def send(owner, text_draft):
    [row] = outgoing_send(sender=owner, draft=text_draft)
    outgoing_deliver(outgoing_id=row.pk)
    row.refresh_from_db()
    return row


def card_subjects(contact, viewer):
    page = card_emails(CardOf.contact(contact.pk), mailbox_visibility(viewer))
    return [email.message.subject for email in page.object_list]


# --- Microsoft 365 ---------------------------------------------------------------------------


def test_microsoft_sends_only_once_allowed_then_once_in_sent_items_and_on_the_card(
    m365, client, owner
):
    mailbox = ms.connect(client)
    jane = make_contact(emails=[ms.JANE])
    sentence = route_for(owner, OWN).sentence
    assert "has not allowed Postcard to send from alice@contoso.com" in sentence
    page = client.get(reverse("mailbox-settings")).content.decode()
    assert "Allow sending" in page

    allowed = allow_sending_microsoft(client)
    assert ms.said(allowed)[-1] == "Postcard may now send email from alice@contoso.com."
    assert route_for(owner, OWN).sentence == "from alice@contoso.com through Microsoft 365"
    row = send(owner, draft(ms.JANE, subject="Offer"))

    assert row.state == OutgoingState.SENT
    [sent] = m365.tenant.sent_mail
    assert sent.recipients == (ms.JANE,)
    assert sent.internet_message_id == row.message_id
    assert parsed(sent.raw)["From"].addresses[0].addr_spec == ms.ALICE
    assert card_subjects(jane, owner) == ["Offer"]
    assert services.mailbox_sync(mailbox_id=mailbox.pk).error == ""
    assert services.mailbox_sync(mailbox_id=mailbox.pk, reconcile=True).error == ""
    assert card_subjects(jane, owner) == ["Offer"]
    assert Message.objects.filter(mailbox=mailbox, subject="Offer").count() == 1
    assert Message.objects.get(subject="Offer").locations.count() == 1  # Sent Items


def test_microsoft_reply_threads_with_in_reply_to(m365, client, owner):
    mailbox = ms.connect(client)
    allow_sending_microsoft(client)
    m365.tenant.deliver(ms.ALICE, email(5, sender=ms.JANE, to=ms.ALICE, subject="Pricing"))
    services.mailbox_sync(mailbox_id=mailbox.pk)
    original = Message.objects.get(subject="Pricing")
    start = reply_start(original, "reply", own_addresses=frozenset({ms.ALICE}), quote_history=True)
    send(
        owner,
        draft(
            ms.JANE, subject=start.subject, body="Yes.\n\n" + start.quote,
            replied_message=original, reply_kind="reply",
            in_reply_to=start.in_reply_to, references=start.references,
        ),
    )  # fmt: skip
    [sent] = m365.tenant.sent_mail
    message = parsed(sent.raw)
    assert message["In-Reply-To"] == "<msg-5@customer.test>"
    assert message["Subject"] == "Re: Pricing"
    assert "> Hello, this is message 5." in message.get_body(("plain", "html")).get_content()
    # Through Graph's reply endpoint: Exchange's own draft, its Message-ID the one recorded.
    row = OutgoingMessage.objects.get()
    assert row.provider_message_id
    assert sent.internet_message_id == row.message_id
    services.mailbox_sync(mailbox_id=mailbox.pk)
    reply = Message.objects.get(subject="Re: Pricing")
    assert reply.thread_key == original.thread_key
    assert Message.objects.filter(subject="Re: Pricing").count() == 1


def test_microsoft_forward_goes_through_graphs_forward_with_the_files_named(m365, client, owner):
    from mailsync.sending.mime import Attachment

    mailbox = ms.connect(client)
    allow_sending_microsoft(client)
    m365.tenant.deliver(ms.ALICE, email(6, sender=ms.JANE, to=ms.ALICE, subject="Specs"))
    services.mailbox_sync(mailbox_id=mailbox.pk)
    original = Message.objects.get(subject="Specs")
    start = reply_start(
        original, "forward", own_addresses=frozenset({ms.ALICE}), quote_history=True
    )
    note = Attachment("notes.txt", "text/plain", b"my notes")
    send(
        owner,
        draft(
            "boss@contoso.com", subject=start.subject, body="FYI\n\n" + start.quote,
            replied_message=original, reply_kind="forward", attachments=[note],
        ),
    )  # fmt: skip
    [sent] = m365.tenant.sent_mail
    assert sent.recipients == ("boss@contoso.com",)
    message = parsed(sent.raw)
    assert message["Subject"] == "Fwd: Specs"
    assert [p.get_filename() for p in message.iter_attachments()] == ["notes.txt"]


def test_microsoft_revoked_at_send_time_holds_the_mail_and_tells_the_user_once(m365, client, owner):
    mailbox = ms.connect(client)
    allow_sending_microsoft(client)
    first = outgoing_send(sender=owner, draft=draft(ms.JANE, subject="One"))[0]
    second = outgoing_send(sender=owner, draft=draft(ms.JANE, subject="Two"))[0]
    m365.tenant.fail_refresh(ms.ALICE, "revoked")
    m365.tenant.expire_access_tokens(ms.ALICE)
    mail.outbox.clear()
    for row in (first, second):
        outgoing_deliver(outgoing_id=row.pk)
        row.refresh_from_db()
        assert row.state == OutgoingState.HELD
    mailbox.refresh_from_db()
    assert mailbox.state == MailboxState.DISCONNECTED
    assert len(mail.outbox) == 1  # one email per break
    assert m365.tenant.sent_mail == []
    # The user's choice for the first: the CRM's mailer, replies to them.
    from mailsync.sending.outbox import outgoing_use_crm_mailer

    outgoing_use_crm_mailer(outgoing=first)
    outgoing_deliver(outgoing_id=first.pk)
    first.refresh_from_db()
    assert first.route == SendRoute.CRM_MAILER
    assert first.state == OutgoingState.SENT
    assert parsed(mail.outbox[-1].message().as_bytes())["Reply-To"] == ms.ALICE


def test_microsoft_reconnecting_sends_what_the_broken_sign_in_held(
    m365, client, owner, django_capture_on_commit_callbacks
):
    ms.connect(client)
    allow_sending_microsoft(client)
    m365.tenant.fail_refresh(ms.ALICE, "revoked")
    m365.tenant.expire_access_tokens(ms.ALICE)
    row = outgoing_send(sender=owner, draft=draft(ms.JANE, subject="Held"))[0]
    outgoing_deliver(outgoing_id=row.pk)
    row.refresh_from_db()
    assert row.state == OutgoingState.HELD

    with django_capture_on_commit_callbacks(execute=True):  # a new sign-in
        response = ms.sign_in(client, start="reconnect")
    assert "Reconnected" in ms.said(response)[-1]
    row.refresh_from_db()
    assert row.state == OutgoingState.QUEUED  # "reconnect and retry"
    outgoing_deliver(outgoing_id=row.pk)
    row.refresh_from_db()
    assert row.state == OutgoingState.SENT
    assert len(m365.tenant.sent_mail) == 1
    assert Mailbox.objects.get().state != MailboxState.DISCONNECTED


@pytest.mark.django_db(transaction=True)
def test_microsoft_worker_killed_after_graph_accepted_sends_once(m365, client, owner, settings):
    ms.connect(client)
    allow_sending_microsoft(client)
    killed_after_accept_then_resumed(
        owner, ms.JANE, m365.tenant, settings_named(settings, "MICROSOFT_")
    )
    assert len(m365.tenant.sent_mail) == 1  # found in Sent Items: not sent again


def killed_after_accept_then_resumed(owner, to: str, provider, environment) -> None:
    """A worker SIGKILLed by the provider's fake the moment it accepted the message; the next
    worker, once the claim expired, must find it sent rather than send it again."""
    from tests.mailsync.killing import KilledOnAccept, claim_expired

    if connection.vendor != "postgresql":
        pytest.skip("the killed worker runs in another process: needs a shared PostgreSQL database")
    row = outgoing_send(sender=owner, draft=draft(to, subject="Once"))[0]
    killer = KilledOnAccept(environment)
    provider.on_send = killer.hook
    killer.run(row.pk)
    provider.on_send = None
    claim_expired(row.pk)
    outgoing_deliver(outgoing_id=row.pk)
    row.refresh_from_db()
    assert row.state == OutgoingState.SENT


# --- Gmail -----------------------------------------------------------------------------------


def test_gmail_sends_once_allowed_with_one_sent_copy_and_one_card_message(gcloud, client, g_owner):
    mailbox = g.connect(client)
    jane = make_contact(emails=[g.JANE])
    assert "has not allowed Postcard to send" in route_for(g_owner, OWN).sentence
    allowed = allow_sending_google(client)
    assert g.said(allowed)[-1] == "Postcard may now send email from alice@acme.test."
    row = send(g_owner, draft(g.JANE, subject="Offer"))

    assert row.state == OutgoingState.SENT
    [sent] = gcloud.accounts.sent_mail
    assert sent.recipients == (g.JANE,)
    assert sent.internet_message_id == row.message_id
    assert card_subjects(jane, g_owner) == ["Offer"]
    assert services.mailbox_sync(mailbox_id=mailbox.pk).error == ""
    assert services.mailbox_sync(mailbox_id=mailbox.pk, reconcile=True).error == ""
    assert card_subjects(jane, g_owner) == ["Offer"]
    assert Message.objects.filter(mailbox=mailbox, subject="Offer").count() == 1


def test_gmail_permission_unticked_on_googles_page_is_named(gcloud, client, g_owner):
    g.connect(client)
    refused = allow_sending_google(client, decline="https://www.googleapis.com/auth/gmail.send")
    assert "permission to send email" in g.said(refused)[-1]
    assert "has not allowed Postcard to send" in route_for(g_owner, OWN).sentence


def test_gmail_reply_joins_the_thread(gcloud, client, g_owner):
    mailbox = g.connect(client)
    allow_sending_google(client)
    first_id = g.deliver(gcloud, 5, subject="Pricing")
    services.mailbox_sync(mailbox_id=mailbox.pk)
    original = Message.objects.get(subject="Pricing")
    start = reply_start(original, "reply", own_addresses=frozenset({g.ALICE}), quote_history=False)
    row = send(
        g_owner,
        draft(
            g.JANE, subject=start.subject, body="Yes.", replied_message=original,
            reply_kind="reply", in_reply_to=start.in_reply_to, references=start.references,
        ),
    )  # fmt: skip
    stored = gcloud.accounts.mailbox(g.ALICE).messages
    thread = stored[first_id].thread_id
    assert stored[row.provider_message_id].thread_id == thread
    assert "SENT" in stored[row.provider_message_id].label_ids


@pytest.mark.django_db(transaction=True)
def test_gmail_worker_killed_after_google_accepted_sends_once(gcloud, client, g_owner, settings):
    g.connect(client)
    allow_sending_google(client)
    killed_after_accept_then_resumed(
        g_owner, g.JANE, gcloud.accounts, settings_named(settings, "GOOGLE_")
    )
    assert len(gcloud.accounts.sent_mail) == 1


def test_attachments_over_what_microsoft_takes_are_refused_before_queueing(m365, client, owner):
    from django.core.exceptions import ValidationError

    from mailsync.models import OutgoingMessage
    from mailsync.sending.mime import Attachment

    ms.connect(client)
    allow_sending_microsoft(client)
    big = Attachment("deck.pdf", "application/pdf", b"x" * 2_500_000)
    with pytest.raises(ValidationError, match=r"Microsoft 365 takes at most 3\.1 MB"):
        outgoing_send(sender=owner, draft=draft(ms.JANE, attachments=[big]))
    assert not OutgoingMessage.objects.exists()
    small = Attachment("note.pdf", "application/pdf", b"%PDF" * 1000)
    row = send(owner, draft(ms.JANE, subject="With a file", attachments=[small]))
    [sent] = m365.tenant.sent_mail
    [part] = list(parsed(sent.raw).iter_attachments())
    assert part.get_filename() == "note.pdf"
    assert row.attachment_names == ["note.pdf"]
