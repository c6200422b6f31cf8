"""Sending from the CRM through the user's own SMTP server, filed in Dovecot's Sent folder."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from hierarchy.selectors import mailbox_visibility
from mailsync.card_pages import CardOf, card_emails
from mailsync.models import Message, OutgoingMessage, OutgoingState, SendRoute
from mailsync.sending.outbox import outgoing_deliver, outgoing_send, outgoing_use_crm_mailer
from tests.factories import make_contact
from tests.mailsync.send_helpers import canonical, connect_with_smtp, draft, parsed, sent_folder
from tests.mailsync.sync_helpers import run_sync

pytestmark = pytest.mark.django_db


def send(mailbox, text_draft):
    rows = outgoing_send(sender=mailbox.owner, draft=text_draft)
    for row in rows:
        outgoing_deliver(outgoing_id=row.pk)
        row.refresh_from_db()
    return rows


def card_subjects(contact, viewer):
    page = card_emails(CardOf.contact(contact.pk), mailbox_visibility(viewer))
    return [email.message.subject for email in page.object_list]


def test_a_message_reaches_the_recipient_once_and_sits_once_in_sent_and_on_the_card(
    dovecot, smtp_server
):
    mailbox = connect_with_smtp(dovecot, smtp_server)
    bob = make_contact(last_name="Brown", emails=["bob@customer.test"])
    [row] = send(mailbox, draft('"Bob Brown" <bob@customer.test>', cc="", subject="Proposal"))

    assert row.state == OutgoingState.SENT
    assert row.route == SendRoute.MAILBOX
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["bob@customer.test"]
    assert received.mail_from == "alice@example.test"
    message = parsed(received.data)
    assert message["Message-ID"] == row.message_id
    assert message["From"].addresses[0].addr_spec == "alice@example.test"
    assert message["From"].addresses[0].display_name == "Alice Adams"
    assert canonical(message["To"]) == ["bob@customer.test"]
    assert message.get_content().startswith("Hello,")

    [copy] = sent_folder(dovecot)
    assert copy["Message-ID"] == row.message_id
    assert card_subjects(bob, mailbox.owner) == ["Proposal"]  # at once, before any sync

    run_sync(mailbox)
    run_sync(mailbox, reconcile=True)
    assert card_subjects(bob, mailbox.owner) == ["Proposal"]
    assert (
        Message.objects.filter(mailbox=mailbox, message_id=row.message_id.strip("<>")).count() == 1
    )
    assert len(sent_folder(dovecot)) == 1
    assert len(smtp_server.messages) == 1


def test_bcc_reaches_its_recipient_without_being_shown_to_the_others(dovecot, smtp_server):
    mailbox = connect_with_smtp(dovecot, smtp_server)
    from mailsync.sending.drafting import recipients

    send(
        mailbox,
        draft("bob@customer.test", bcc=recipients("boss@example.test", "Bcc")),
    )
    [received] = smtp_server.messages
    assert sorted(received.rcpt_tos) == ["bob@customer.test", "boss@example.test"]
    assert parsed(received.data)["Bcc"] is None
    assert b"boss@example.test" not in received.data
    [copy] = sent_folder(dovecot)  # the sender's own copy says who was in Bcc
    assert canonical(copy["Bcc"]) == ["boss@example.test"]


def test_a_reply_threads_with_the_message_it_answers(dovecot, smtp_server):
    mailbox = connect_with_smtp(dovecot, smtp_server)
    make_contact(emails=["bob@customer.test"])
    dovecot.append(
        "alice",
        "INBOX",
        b"From: Bob <bob@customer.test>\r\nTo: alice@example.test\r\nSubject: Pricing\r\n"
        b"Message-ID: <q1@customer.test>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\n"
        b"What does it cost?\r\n",
    )
    run_sync(mailbox)
    original = Message.objects.get(message_id="q1@customer.test")
    from mailsync.sending.drafting import reply_start

    start = reply_start(
        original, "reply", own_addresses=frozenset({mailbox.address}), quote_history=True
    )
    [row] = send(
        mailbox,
        draft(
            "bob@customer.test",
            subject=start.subject,
            body="Ten euros.\n\n" + start.quote,
            replied_message=original,
            reply_kind="reply",
            in_reply_to=start.in_reply_to,
            references=start.references,
        ),
    )
    message = parsed(smtp_server.messages[0].data)
    assert message["Subject"] == "Re: Pricing"
    assert message["In-Reply-To"] == "<q1@customer.test>"
    assert message["References"] == "<q1@customer.test>"
    assert "> What does it cost?" in message.get_content()
    run_sync(mailbox)
    stored = Message.objects.get(message_id=row.message_id.strip("<>"))
    assert stored.thread_key == original.thread_key  # one conversation on the card


def test_header_injection_is_refused_before_anything_is_queued(dovecot, smtp_server):
    mailbox = connect_with_smtp(dovecot, smtp_server)
    with pytest.raises(ValidationError):
        outgoing_send(
            sender=mailbox.owner,
            draft=draft("bob@customer.test", subject="Hi\r\nBcc: victim@evil.test"),
        )
    with pytest.raises(ValidationError):
        draft("bob@customer.test\r\nBcc: victim@evil.test")
    with pytest.raises(ValidationError):
        outgoing_send(
            sender=mailbox.owner,
            draft=draft('"Bob\nBcc: victim@evil.test" <bob@customer.test>'),
        )
    assert not OutgoingMessage.objects.exists()
    assert smtp_server.messages == []


def test_a_refused_login_holds_the_message_disconnects_and_tells_the_user_once(
    dovecot, smtp_server
):
    mailbox = connect_with_smtp(dovecot, smtp_server)
    smtp_server.users["alice"] = "changed"  # the password was changed on the server
    mail.outbox.clear()
    # Both queued while the mailbox still looked fine, then the worker meets the new password.
    [first] = outgoing_send(sender=mailbox.owner, draft=draft("bob@customer.test", subject="One"))
    [second] = outgoing_send(sender=mailbox.owner, draft=draft("bob@customer.test", subject="2"))
    for row in (first, second):
        outgoing_deliver(outgoing_id=row.pk)
        row.refresh_from_db()
        assert row.state == OutgoingState.HELD
        assert "refused" in row.last_error
    mailbox.refresh_from_db()
    assert mailbox.state == "disconnected"
    assert len(mail.outbox) == 1  # one email per break, not per message
    assert smtp_server.messages == []

    outgoing_use_crm_mailer(outgoing=first)
    outgoing_deliver(outgoing_id=first.pk)
    first.refresh_from_db()
    assert first.state == OutgoingState.SENT
    assert first.route == SendRoute.CRM_MAILER
    sent = mail.outbox[-1]
    assert sent.to == ["bob@customer.test"]
    fallback = parsed(sent.message().as_bytes())
    assert fallback["Reply-To"] == "alice@example.test"
    assert fallback["Message-ID"] == first.message_id


def test_disconnected_mailbox_sends_through_the_crm_mailer_with_replies_to_the_user(
    dovecot, smtp_server
):
    mailbox = connect_with_smtp(dovecot, smtp_server)
    mailbox.state = "disconnected"
    mailbox.save()
    mail.outbox.clear()
    [row] = send(mailbox, draft("bob@customer.test"))
    assert row.route == SendRoute.CRM_MAILER
    assert row.state == OutgoingState.SENT
    assert smtp_server.messages == []
    [sent] = mail.outbox
    message = parsed(sent.message().as_bytes())
    assert message["Reply-To"] == "alice@example.test"
    assert message["From"].addresses[0].display_name == "Alice Adams via Postcard"


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_after_the_server_accepted_never_sends_twice(dovecot, smtp_server):
    from django.db import connection as db

    from tests.mailsync.killing import KilledOnAccept, claim_expired

    if db.vendor != "postgresql":
        pytest.skip("the killed worker runs in another process: needs a shared PostgreSQL database")
    mailbox = connect_with_smtp(dovecot, smtp_server)
    make_contact(emails=["bob@customer.test"])
    [row] = outgoing_send(sender=mailbox.owner, draft=draft("bob@customer.test", subject="Once"))
    killer = KilledOnAccept()
    smtp_server.on_accept = killer.hook
    killer.run(row.pk)
    smtp_server.on_accept = None
    row.refresh_from_db()
    assert row.state == OutgoingState.SENDING
    assert row.handed_over_at is not None

    claim_expired(row.pk)
    outgoing_deliver(outgoing_id=row.pk)  # the next worker, once the claim expired

    row.refresh_from_db()
    assert row.state == OutgoingState.SENT
    assert len(smtp_server.messages) == 1  # exactly one delivery
    assert len(sent_folder(dovecot)) == 1  # and the Sent copy the dead worker never filed
    assert "not sent again" in row.note


def test_a_company_address_leaves_through_its_shared_mailbox_for_permitted_users(
    dovecot, smtp_server
):
    from mailsync.connections import ImapAccount
    from mailsync.models import CompanyAddress
    from mailsync.services import mailbox_connect_imap
    from tests.factories import UserFactory

    mailbox = connect_with_smtp(dovecot, smtp_server)
    robot = UserFactory(username="sales-robot", is_sync_only=True, parent=mailbox.owner)
    shared = mailbox_connect_imap(
        owner=robot,
        account=ImapAccount(
            address="sales@example.test",
            username="bob",
            password="secret",
            imap_host=dovecot.host,
            imap_port=dovecot.port,
            imap_security="plain",
            smtp_host=smtp_server.host,
            smtp_port=smtp_server.port,
            smtp_security="plain",
        ),
    )
    sales = CompanyAddress.objects.create(address="sales@example.test", mailbox=shared)
    with pytest.raises(ValidationError):
        outgoing_send(
            sender=mailbox.owner,
            draft=draft("bob@customer.test", from_choice=f"company:{sales.pk}"),
        )
    sales.senders.add(mailbox.owner)

    [row] = send(mailbox, draft("bob@customer.test", from_choice=f"company:{sales.pk}"))
    assert row.route == SendRoute.COMPANY
    [received] = smtp_server.messages
    assert received.auth_user == "bob"  # the shared mailbox's own login
    assert parsed(received.data)["From"].addresses[0].addr_spec == "sales@example.test"
    assert len(sent_folder(dovecot, "bob")) == 1
    assert sent_folder(dovecot, "alice") == []
    assert Message.objects.get(message_id=row.message_id.strip("<>")).mailbox == shared


def test_a_temporary_refusal_of_the_message_is_tried_again_later(dovecot, smtp_server):
    mailbox = connect_with_smtp(dovecot, smtp_server)

    def busy(message):
        raise RuntimeError("queue full")  # the test server answers 451

    smtp_server.on_accept = busy
    [row] = send(mailbox, draft("bob@customer.test"))
    assert row.state == OutgoingState.QUEUED
    assert row.handed_over_at is None  # refused: certainly not accepted, nothing to look for
    assert "451" in row.last_error
    assert row.not_before > row.queued_at
    assert sent_folder(dovecot) == []


def test_the_providers_minute_is_kept_at_send_time(dovecot, smtp_server, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.SMTP_SEND_PACE = (2, 500)
    mailbox = connect_with_smtp(dovecot, smtp_server)
    first, second = (send(mailbox, draft("bob@customer.test", subject=s))[0] for s in "AB")
    assert first.state == second.state == OutgoingState.SENT
    [third] = outgoing_send(sender=mailbox.owner, draft=draft("bob@customer.test", subject="C"))
    assert third.not_before >= first.not_before + timedelta(minutes=1)  # its slot
    # Its task fires early (or the slot was taken before A and B left): it waits again.
    OutgoingMessage.objects.filter(pk=third.pk).update(not_before=timezone.now())
    wait = outgoing_deliver(outgoing_id=third.pk)
    assert wait is not None
    assert 50 < wait <= 61
    third.refresh_from_db()
    assert third.state == OutgoingState.QUEUED
    assert len(smtp_server.messages) == 2


def test_the_crm_mailer_unreachable_loses_nothing(dovecot, smtp_server, settings):
    import socket

    from django.utils import timezone

    mailbox = connect_with_smtp(dovecot, smtp_server)
    mailbox.state = "disconnected"
    mailbox.save()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed
    settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "alice", "secret"
    [row] = send(mailbox, draft("bob@customer.test", subject="Later"))
    assert row.state == OutgoingState.QUEUED  # tried again later, not taken for sent
    assert row.handed_over_at is None

    settings.EMAIL_PORT = smtp_server.port  # the server is back
    OutgoingMessage.objects.filter(pk=row.pk).update(not_before=timezone.now())
    outgoing_deliver(outgoing_id=row.pk)
    row.refresh_from_db()
    assert row.state == OutgoingState.SENT
    assert len(smtp_server.messages) == 1


def test_a_draft_sent_twice_leaves_once_and_keeps_its_threading(dovecot, smtp_server):
    from mailsync.sending.outbox import outgoing_draft_save

    mailbox = connect_with_smtp(dovecot, smtp_server)
    dovecot.append(
        "alice",
        "INBOX",
        b"From: Bob <bob@customer.test>\r\nTo: alice@example.test\r\nSubject: Dates\r\n"
        b"Message-ID: <d1@customer.test>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\nWhen?\r\n",
    )
    run_sync(mailbox)
    original = Message.objects.get(message_id="d1@customer.test")
    saved = outgoing_draft_save(
        sender=mailbox.owner,
        draft=draft(
            "bob@customer.test", subject="Re: Dates", replied_message=original,
            reply_kind="reply", in_reply_to="<d1@customer.test>", references="<d1@customer.test>",
        ),
    )  # fmt: skip
    # The composer's Send (and a second click on it) hand over the fields, not the threading.
    outgoing_send(sender=mailbox.owner, draft=draft("bob@customer.test", subject="Re: Dates"),
                  existing=OutgoingMessage.objects.get(pk=saved.pk))  # fmt: skip
    with pytest.raises(ValidationError, match="sent already"):
        outgoing_send(sender=mailbox.owner, draft=draft("bob@customer.test", subject="Re: Dates"),
                      existing=saved)  # fmt: skip
    outgoing_deliver(outgoing_id=saved.pk)
    [received] = smtp_server.messages
    assert parsed(received.data)["In-Reply-To"] == "<d1@customer.test>"
