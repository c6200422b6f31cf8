"""Writing to a contact from the card, clicked through in Chromium: the message reaches the test
SMTP server, sits once in Dovecot's Sent folder, is on the card at once, and after a sync is
still one message.

The send itself is the one a worker runs (outgoing_deliver), called by the test where the worker
would pick up the queued task."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from mailsync.models import Message, OutgoingMessage
from mailsync.sending.outbox import outgoing_deliver
from tests.browser.signin import sign_in
from tests.factories import make_contact
from tests.mailsync.send_helpers import connect_with_smtp, parsed, sent_folder
from tests.mailsync.sync_helpers import run_sync
from tests.servers.conftest_fixtures import dovecot, smtp_server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.django_db(transaction=True)]


def test_an_email_written_on_a_card_is_sent_filed_and_shown_once(
    page: Page,
    live_server,
    dovecot,  # noqa: F811
    smtp_server,  # noqa: F811
) -> None:
    mailbox = connect_with_smtp(dovecot, smtp_server)
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@customer.test"])
    sign_in(page, mailbox.owner, live_server.url)

    page.goto(live_server.url + jane.get_absolute_url())
    page.get_by_role("link", name="Write email").click()
    expect(page.get_by_label("To")).to_have_value('"Jane Doe" <jane@customer.test>')
    expect(page.locator("#route-sentence")).to_contain_text(
        "from alice@example.test through 127.0.0.1"
    )
    page.get_by_label("Subject").fill("Our offer")
    page.get_by_label("Message").fill("Dear Jane,\n\nhere is our offer.\n")
    page.get_by_role("button", name="Send", exact=True).click()

    expect(page).to_have_url(live_server.url + jane.get_absolute_url())
    expect(page.locator(".card-outbox")).to_contain_text("Queued")
    outgoing_deliver(outgoing_id=OutgoingMessage.objects.get().pk)  # the worker's turn

    page.reload()
    expect(page.locator(".card-outbox")).to_have_count(0)  # now a synchronized-style email
    expect(page.get_by_text("Our offer")).to_have_count(1)
    [received] = smtp_server.messages
    assert received.rcpt_tos == ["jane@customer.test"]
    assert parsed(received.data)["Subject"] == "Our offer"
    [copy] = sent_folder(dovecot)
    assert copy["Subject"] == "Our offer"

    run_sync(mailbox)
    page.reload()
    expect(page.get_by_text("Our offer")).to_have_count(1)
    assert Message.objects.filter(subject="Our offer").count() == 1
