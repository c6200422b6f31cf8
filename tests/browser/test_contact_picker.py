"""The contact picker in a real browser: type part of a name or company, tick the contact, save;
the meeting's detail page then links that contact, at the time typed, in the user's zone."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from crm.activities.models import Meeting
from tests.factories import UserFactory, make_account, make_contact

pytestmark = pytest.mark.browser


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login/"))


def test_pick_a_contact_by_typing_then_save(page: Page, screenshots_dir: Path):
    UserFactory.create(
        username="sam",
        password="pw",
        first_name="Sam",
        last_name="Seller",
        time_zone="Europe/Paris",
    )
    northwind = make_account(name="Northwind Logistics", domains=["northwind.example"])
    jane = make_contact(
        first_name="Jane", last_name="Doe", emails=["jane@northwind.example"], account=northwind
    )
    make_contact(first_name="Ethan", last_name="Oak", emails=["ethan@oak.test"])
    for n in range(59):  # more than the list shows at once
        make_contact(first_name=f"Person{n:02d}", last_name="Filler", emails=[f"p{n}@filler.test"])
    log_in(page, "sam", "pw")

    page.goto("/meetings/new/")
    picker = page.get_by_role("group", name="Matching contacts")
    search = page.get_by_role("searchbox", name="Contacts", exact=True)
    expect(search).to_have_attribute("type", "search")  # the select became a search box
    expect(page.locator("select#id_contacts")).to_be_hidden()
    expect(page.locator(".picker-status")).to_contain_text("Showing 50 of 61 contacts")

    search.fill("ja")  # words start so: Jane, not "Ethan" or "Person" with a "ja" inside
    expect(picker.get_by_role("checkbox")).to_have_count(1)
    search.fill("an")  # Ethan ends in "an": no match; nobody's word starts with it
    expect(picker.get_by_role("checkbox")).to_have_count(0)
    search.fill("oak.test")  # an address typed as it is written
    expect(picker.get_by_role("checkbox", name=re.compile("Ethan Oak"))).to_have_count(1)
    search.fill("northw")  # the company, not the name
    expect(picker.get_by_role("checkbox")).to_have_count(1)
    picker.get_by_role("checkbox", name=re.compile("Jane Doe")).check()
    chosen = page.get_by_role("list", name="Chosen contacts")
    expect(chosen).to_contain_text("Jane Doe")

    page.locator("#id_title").fill("Renewal review")
    page.get_by_label("Starts: date").fill("2030-03-04")
    page.get_by_label("Starts: time, 24-hour").fill("09:00")
    page.get_by_label("Ends: date").fill("2030-03-04")
    page.get_by_label("Ends: time, 24-hour").fill("10:30")
    page.screenshot(path=str(screenshots_dir / "contact-picker.png"), full_page=True)
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(r"/meetings/\d+/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Renewal review")
    expect(page.get_by_role("link", name="Jane Doe")).to_have_attribute(
        "href", jane.get_absolute_url()
    )
    expect(page.locator("dl.facts")).to_contain_text(
        "Mon, Mar 4, 2030, 09:00\u201310:30 Europe/Paris"
    )
    page.screenshot(path=str(screenshots_dir / "meeting-detail.png"), full_page=True)

    meeting = Meeting.objects.get(title="Renewal review")
    assert list(meeting.contacts.all()) == [jane]
    assert meeting.starts_at == datetime(2030, 3, 4, 8, 0, tzinfo=UTC)  # 09:00 in Paris (CET)


def test_removing_a_chip_unpicks_the_contact(page: Page):
    UserFactory.create(username="sam", password="pw")
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@northwind.example"])
    bob = make_contact(first_name="Bob", last_name="Brown", emails=["bob@else.test"])
    log_in(page, "sam", "pw")

    page.goto(f"/meetings/new/?contact={jane.pk}")
    chosen = page.get_by_role("list", name="Chosen contacts")
    expect(chosen).to_contain_text("Jane Doe")  # prefilled from the card it was started from
    search = page.get_by_role("searchbox", name="Contacts", exact=True)
    search.fill("bob")
    search.press("Enter")  # picks the first match, does not submit the half-filled form
    expect(chosen).to_contain_text("Bob Brown")
    expect(page).to_have_url(re.compile(r"/meetings/new/"))
    page.get_by_role("button", name="Remove Jane Doe").click()
    expect(chosen).not_to_contain_text("Jane Doe")

    page.locator("#id_title").fill("Intro")
    for part, value in (("Starts: date", "2030-03-04"), ("Starts: time, 24-hour", "14:00")):
        page.get_by_label(part).fill(value)
    for part, value in (("Ends: date", "2030-03-04"), ("Ends: time, 24-hour", "15:00")):
        page.get_by_label(part).fill(value)
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/meetings/\d+/$"))
    assert list(Meeting.objects.get(title="Intro").contacts.all()) == [bob]
