"""The cards in a real browser: log in, create an account and a contact through the forms, and read
their synchronized emails, whose bodies load on demand and never run what the email contains."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from crm.accounts.models import Account
from crm.activities.services import meeting_create, task_create
from crm.contacts.models import Contact
from hierarchy.models import User
from mailsync.models import Mailbox
from tests.factories import UserFactory, make_mailbox, make_message

pytestmark = pytest.mark.browser

XSS_SUBJECT = 'Invoice <script>window.__xss=1</script> <img src=x onerror="window.__xss=2">'
XSS_BODY = (
    "Hi Sam,\n\nplease see below.\n\n"
    "<script>window.__xss=1</script>\n"
    '<img src=x onerror="window.__xss=2">\n\n'
    "Jane"
)
JANE = "jane.doe@northwind.example"


def log_in(page: Page, username: str, password: str) -> None:
    """Through the real login form, as a person would."""
    page.goto("/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))  # the home page
    expect(page.get_by_role("heading", name="My upcoming meetings")).to_be_visible()


def email_row(page: Page, subject: str) -> Locator:
    return page.locator("details.email").filter(
        has=page.locator(".subject").get_by_text(subject, exact=True)
    )


def detail(page: Page, term: str) -> Locator:
    """The <dd> after the <dt> named `term` in a card's Details panel."""
    return (
        page.locator("aside.details dt")
        .get_by_text(term, exact=True)
        .locator("xpath=following-sibling::dd[1]")
    )


def give_the_card_something_to_show(sam: User) -> Mailbox:
    """What a synchronized mailbox and a week of work would have left behind."""
    now = timezone.now()
    mailbox = make_mailbox(sam)
    me = mailbox.address
    make_message(
        mailbox,
        sender=JANE,
        to=(me,),
        cc=("ops@northwind.example",),
        subject="Re: Q3 renewal quote",
        body=(
            "Hi Sam,\n\nthanks for the updated quote. The 3-year term works for us if we can keep "
            "the current per-seat price for the warehouse team.\n\nCould you send the final PDF "
            "by Friday? Our board meets on Monday.\n\nBest,\nJane Doe\nHead of Procurement, "
            "Northwind Logistics"
        ),
        sent_at=now - timedelta(hours=3),
    )
    make_message(
        mailbox,
        sender=me,
        to=(JANE,),
        subject="Delivery schedule for March",
        body=(
            "Hi Jane,\n\nhere is the delivery schedule for March:\n\n"
            "  - Mar 4: Hamburg hub, 12 pallets\n  - Mar 11: Rotterdam, 8 pallets\n"
            "  - Mar 25: Antwerp, 15 pallets\n\nLet me know if any date needs to move.\n\nSam"
        ),
        sent_at=now - timedelta(days=1, hours=2),
    )
    make_message(
        mailbox,
        sender=JANE,
        to=(me,),
        subject="Intro call follow-up",
        body="Hi Sam,\n\ngreat talking to you today. Our volumes for last year are below.\n\nJane",
        sent_at=now - timedelta(days=6),
    )
    make_message(
        mailbox,
        sender="jane.personal@gmail.com",
        to=(me,),
        subject="Coffee next week?",
        body="Sam, I'm in town Tuesday, coffee near the station at 9?\n\nJane",
        sent_at=now - timedelta(days=2),
    )
    make_message(
        mailbox,
        sender=JANE,
        to=(me,),
        subject=XSS_SUBJECT,
        body=XSS_BODY,
        sent_at=now - timedelta(days=9),
    )
    # Not Jane's: must show on neither card.
    make_message(
        mailbox,
        sender="newsletter@elsewhere.example",
        to=(me,),
        subject="Your weekly digest",
        sent_at=now - timedelta(hours=1),
    )

    jane = Contact.objects.get(emails__address=JANE)
    meeting_create(
        owner=sam,
        title="Renewal review with Northwind",
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=2, hours=1),
        location="Video call",
        account=jane.account,
        contacts=[jane],
    )
    task_create(
        owner=sam,
        title="Send final renewal PDF to Jane",
        due_at=now + timedelta(days=1),
        account=jane.account,
        contacts=[jane],
    )
    return mailbox


EXPECTED_SUBJECTS = [  # newest first
    "Re: Q3 renewal quote",
    "Delivery schedule for March",
    "Coffee next week?",
    "Intro call follow-up",
    XSS_SUBJECT,
]


def test_account_and_contact_created_in_the_ui_show_their_synchronized_emails(
    page: Page, screenshots_dir: Path
):
    sam = UserFactory.create(username="sam", password="pw", first_name="Sam", last_name="Seller")
    log_in(page, "sam", "pw")

    # An account, through the form.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Accounts").click()
    expect(page.get_by_role("heading", name="Accounts", exact=True)).to_be_visible()
    page.get_by_role("link", name="New account").click()
    page.locator("#id_name").fill("Northwind Logistics")
    page.locator("#id_website").fill("northwind.example")
    page.locator("#id_domains").fill("northwind.example")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/accounts/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Logistics")
    expect(detail(page, "Domains")).to_have_text("northwind.example")
    account = Account.objects.get(name="Northwind Logistics")
    assert account.website == "https://northwind.example"

    # A contact at that account, through the form; addresses are normalized, the first is primary.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="New contact").click()
    page.locator("#id_first_name").fill("Jane")
    page.locator("#id_last_name").fill("Doe")
    page.locator("#id_title").fill("Head of Procurement")
    page.locator("#id_account").select_option(label="Northwind Logistics")
    page.locator("#id_emails").fill("Jane.Doe@Northwind.example\njane.personal@gmail.com")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Jane Doe")
    expect(page.locator(".card-title")).to_contain_text(
        "Head of Procurement at Northwind Logistics"
    )
    expect(page.locator("aside.details a.email-address")).to_have_text(
        [JANE, "jane.personal@gmail.com"]
    )
    expect(detail(page, "Email")).to_have_text(
        re.compile(rf"^{re.escape(JANE)}\s+primary\s+jane\.personal@gmail\.com\s*$"),
        use_inner_text=True,  # the <br> between the addresses
    )
    expect(page.locator(".tab-body")).to_contain_text("No synchronized emails with Jane Doe")

    # The mailbox syncs (in this process; the live server shares the test database).
    give_the_card_something_to_show(sam)
    page.reload()

    tabs = page.get_by_role("navigation", name="Activity")
    expect(tabs.get_by_role("link")).to_have_text(
        ["Synchronized emails 5", "Meetings 1", "Tasks 1"]
    )
    expect(page.locator("ul.emails .subject")).to_have_text(EXPECTED_SUBJECTS)
    expect(email_row(page, "Re: Q3 renewal quote").locator(".dir")).to_have_text("↙ Received")
    expect(email_row(page, "Delivery schedule for March").locator(".dir")).to_have_text("↗ Sent")
    expect(email_row(page, "Re: Q3 renewal quote").locator(".holder")).to_have_text(
        "Sam Seller · you"
    )

    # Expanding a row fetches its body, shown as text: the markup in it is inert.
    xss = email_row(page, XSS_SUBJECT)
    with page.expect_response(re.compile(r"/emails/\d+/body/$")) as body_response:
        xss.locator("summary").click()
    assert body_response.value.ok
    body = xss.locator(".email-body pre.plain-body")
    expect(body).to_be_visible()
    expect(body).to_contain_text("<script>window.__xss=1</script>", use_inner_text=True)
    expect(body).to_contain_text('<img src=x onerror="window.__xss=2">', use_inner_text=True)
    expect(page.get_by_text("<script>window.__xss=1</script>").first).to_be_visible()
    expect(page.locator("ul.emails script, ul.emails img")).to_have_count(0)
    assert page.evaluate("window.__xss") is None

    quote = email_row(page, "Re: Q3 renewal quote")
    quote.locator("summary").click()
    expect(quote.locator("pre.plain-body")).to_contain_text("keep the current per-seat price")
    page.screenshot(path=screenshots_dir / "contact-card.png", full_page=True)

    # The account card, reached from the contact card, gathers the same mail.
    page.locator(".card-title").get_by_role("link", name="Northwind Logistics").click()
    expect(page).to_have_url(re.compile(rf"/accounts/{account.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Northwind Logistics")
    people = page.locator(".people-list li")
    expect(people).to_have_count(1)
    expect(people.get_by_role("link")).to_contain_text("Jane Doe")
    expect(people.locator(".muted")).to_have_text("Head of Procurement")
    expect(tabs.get_by_role("link")).to_have_text(
        ["Synchronized emails 5", "Meetings 1", "Tasks 1"]
    )
    expect(page.locator("ul.emails .subject")).to_have_text(EXPECTED_SUBJECTS)
    schedule = email_row(page, "Delivery schedule for March")
    schedule.locator("summary").click()
    expect(schedule.locator("pre.plain-body")).to_contain_text("Mar 11: Rotterdam, 8 pallets")
    page.screenshot(path=screenshots_dir / "account-card.png", full_page=True)
    assert page.evaluate("window.__xss") is None


def test_invalid_email_address_is_shown_next_to_the_field(page: Page):
    UserFactory(username="sam", password="pw", first_name="Sam", last_name="Seller")
    log_in(page, "sam", "pw")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
    page.get_by_role("link", name="New contact").click()
    expect(page).to_have_url(re.compile(r"/contacts/new/$"))
    page.locator("#id_last_name").fill("Doe")
    page.locator("#id_emails").fill("not-an-address")
    page.get_by_role("button", name="Save").click()

    field = page.locator(".field.has-error")
    expect(field).to_have_count(1)
    expect(field.locator("label")).to_have_text("Email addresses")
    expect(field.locator(".error")).to_have_text("“not-an-address” is not a valid email address.")
    expect(page).to_have_url(re.compile(r"/contacts/new/$"))
    expect(page.locator("#id_emails")).to_have_value("not-an-address")
    expect(page.locator("#id_last_name")).to_have_value("Doe")
    assert not Contact.objects.exists()


def test_wrong_password_keeps_the_login_form_with_an_error(page: Page):
    UserFactory(username="sam", password="pw")
    page.goto("/contacts/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/contacts/$"))
    page.locator("#id_username").fill("sam")
    page.locator("#id_password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Please enter a correct username and password"
    )
    expect(page).to_have_url(re.compile(r"/login/"))
    expect(page.locator("#id_username")).to_have_value("sam")
