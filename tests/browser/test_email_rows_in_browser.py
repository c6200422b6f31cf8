"""Synchronized email rows in Chromium at 1400 px: four mailbox chips no longer squeeze the
subject to "R…", a conversation opens as one row (with and without JavaScript), and the full
message page shows the whole body and leads back to the card it was opened from."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from hierarchy.models import User, VisibilityLevel
from tests.browser.signin import sign_in
from tests.factories import UserFactory, make_contact, make_mailbox, make_message, put_in_thread

pytestmark = pytest.mark.browser

JANE = "jane.doe@northwind.example"
RENEWAL = "Renewal of the warehouse contract for 2027"
COLLEAGUES = [("Laura", "Novak"), ("Omar", "Haddad"), ("Isabelle", "Dubois-Lefèvre")]


def mail_for_jane(viewer: User) -> None:
    """One email held in four mailboxes, a conversation of three, one long email."""
    now = timezone.now()
    boxes = [make_mailbox(viewer)]
    boxes += [make_mailbox(UserFactory.create(first_name=f, last_name=ln)) for f, ln in COLLEAGUES]
    for box in boxes:
        make_message(
            box,
            sender=JANE,
            to=tuple(b.address for b in boxes),
            subject=RENEWAL,
            message_id="<renewal@northwind.example>",
            sent_at=now - timedelta(hours=1),
        )
    mine = boxes[0]
    thread = [
        make_message(
            mine,
            sender=JANE if n % 2 == 0 else mine.address,
            to=(mine.address,) if n % 2 == 0 else (JANE,),
            subject="Pallet count" if n == 0 else f"Re: Pallet count ({n})",
            sent_at=now - timedelta(days=3 - n),
        )
        for n in range(3)
    ]
    put_in_thread(thread[0], *thread[1:])
    make_message(
        mine,
        sender=JANE,
        to=(mine.address,),
        subject="Delivery schedule",
        body="".join(f"Line {n}: 12 pallets to Rotterdam\n" for n in range(150)),
        sent_at=now - timedelta(days=5),
    )


@pytest.fixture
def viewer(db) -> User:
    user = UserFactory.create(first_name="Sam", last_name="Seller")
    user.visibility_level = VisibilityLevel.EVERYONE
    user.save(update_fields=["visibility_level"])
    return user


def summary(page: Page, subject: str):
    return page.locator("details.email > summary").filter(
        has=page.locator(".subject").get_by_text(subject, exact=True)
    )


def test_subject_keeps_its_room_beside_four_mailboxes(
    page: Page, live_server, viewer, screenshots_dir: Path
):
    jane = make_contact(first_name="Jane", last_name="Doe", emails=[JANE])
    mail_for_jane(viewer)
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, viewer, live_server.url)
    page.goto(reverse("contact-card", args=[jane.pk]))

    row = summary(page, RENEWAL)
    subject = row.locator(".subject")
    page.screenshot(path=screenshots_dir / "email-rows-1400.png", full_page=True)
    width = subject.evaluate("e => e.getBoundingClientRect().width")
    assert width > 300, f"the subject is {width:.0f} px wide"
    assert subject.evaluate("e => e.scrollWidth <= e.clientWidth"), "the subject is cut"
    # Narrower windows (a laptop, a tablet): the subject still keeps its room.
    for narrower in (1100, 900, 390):
        page.set_viewport_size({"width": narrower, "height": 900})
        width = subject.evaluate("e => e.getBoundingClientRect().width")
        assert width > 250, f"the subject is {width:.0f} px wide at {narrower} px"
    expect(row.locator(".holder")).to_have_text(["Sam Seller · you", "+3"])
    more = row.locator(".holder.more").get_attribute("title") or ""
    for first, last in COLLEAGUES:
        assert f"{first} {last}" in more


def test_a_conversation_opens_as_one_row_without_javascript(browser: Browser, live_server, viewer):
    jane = make_contact(first_name="Jane", last_name="Doe", emails=[JANE])
    mail_for_jane(viewer)
    context = browser.new_context(
        java_script_enabled=False,
        base_url=live_server.url,
        viewport={"width": 1400, "height": 900},
    )
    page = context.new_page()
    sign_in(page, viewer, live_server.url)
    page.goto(reverse("contact-card", args=[jane.pk]))

    thread = page.locator("details.thread")
    expect(thread).to_have_count(1)
    expect(thread.locator("> summary .thread-count")).to_have_text("3 emails")
    link = thread.get_by_role("link", name="Open the conversation (3 emails)")
    expect(link).to_be_hidden()
    thread.locator("> summary").click()
    link.click()  # without JavaScript the emails are on a page of their own
    inner = page.locator(".thread-emails .subject")
    expect(inner).to_have_text(["Re: Pallet count (2)", "Re: Pallet count (1)", "Pallet count"])
    first_email = page.locator("details.email").first
    first_email.locator("summary").click()
    expect(first_email.get_by_role("link", name="Open the full message")).to_be_visible()
    page.get_by_role("link", name="Back to Jane Doe").click()
    expect(page.locator("details.thread")).to_have_count(1)
    context.close()


def test_a_conversation_opens_in_place_and_each_email_in_it(page: Page, live_server, viewer):
    jane = make_contact(first_name="Jane", last_name="Doe", emails=[JANE])
    mail_for_jane(viewer)
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, viewer, live_server.url)
    page.goto(reverse("contact-card", args=[jane.pk]))

    thread = page.locator("details.thread")
    thread.locator("> summary").click()
    inner = thread.locator(".thread-emails .subject")
    expect(inner).to_have_text(["Re: Pallet count (2)", "Re: Pallet count (1)", "Pallet count"])
    oldest = thread.locator("details.email").last
    oldest.locator("summary").click()
    expect(oldest.locator("pre.plain-body")).to_be_visible()  # its body, fetched in turn


def test_full_message_shows_the_whole_body_and_leads_back_to_the_card(
    page: Page, live_server, viewer, screenshots_dir: Path
):
    jane = make_contact(first_name="Jane", last_name="Doe", emails=[JANE])
    mail_for_jane(viewer)
    page.set_viewport_size({"width": 1400, "height": 900})
    sign_in(page, viewer, live_server.url)
    card = reverse("contact-card", args=[jane.pk]) + "?tab=emails"
    page.goto(card)

    row = summary(page, "Delivery schedule").locator("xpath=..")
    row.locator("summary").click()
    expect(row.locator("pre.plain-body")).to_contain_text("Line 149")  # loaded by the script
    row.get_by_role("link", name="Open the full message").click()
    expect(page).to_have_url(re.compile(r"/emails/\d+/\?from="))

    body = page.locator("article.message pre.plain-body")
    expect(body).to_contain_text("Line 149: 12 pallets to Rotterdam")
    assert body.evaluate("e => e.scrollHeight <= e.clientHeight + 1"), "the body scrolls in a box"
    assert body.evaluate("e => e.getBoundingClientRect().height") > 150 * 15
    page.screenshot(path=screenshots_dir / "message-page-1400.png")
    sender = page.locator(".headers dd").first
    expect(sender.get_by_role("link")).to_have_attribute(
        "href", reverse("contact-card", args=[jane.pk])
    )

    page.get_by_role("link", name="Back to Jane Doe").click()
    expect(page).to_have_url(live_server.url + card)
    expect(page.get_by_role("heading", level=1)).to_have_text("Jane Doe")
