"""Connecting Microsoft 365, clicked through in Chromium: Postcard's pages, the (fake) Microsoft
sign-in and consent page, Microsoft's form_post answer, and back.

The fake sign-in service serves HTTPS with a test CA that Chromium does not know: the browser
context ignores certificate errors for it (Postcard's own calls verify it, through the CA file).
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from calendars.models import CalendarConnection
from mailsync.models import Mailbox, MailboxState, Provider
from tests.browser.signin import sign_in
from tests.factories import UserFactory
from tests.mailsync.sync_helpers import email
from tests.servers.conftest_fixtures import microsoft  # noqa: F401
from tests.servers.microsoft import point_postcard_at


def ms_url(name: str, *args: object) -> str:
    """A sign-in page's URL for Microsoft 365 (mailsync/views_oauth.py)."""
    return reverse(name, args=["microsoft", *args])


pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.django_db(transaction=True)]

ALICE = "alice@contoso.com"


@pytest.fixture
def m365(microsoft, settings, live_server):  # noqa: F811
    point_postcard_at(microsoft, settings, live_server.url + ms_url("mailbox-oauth-callback"))
    return microsoft


@pytest.fixture
def page(sign_in_page: Page) -> Page:
    return sign_in_page


def make_alice():
    return UserFactory(username="alice", email=ALICE)


def start(page: Page, live_server, address: str) -> None:
    sign_in(page, make_alice(), live_server.url)
    page.goto(f"/settings/mailbox/connect/provider/?address={address}")
    page.get_by_role("link", name="Connect Microsoft 365").click()
    expect(page.get_by_role("heading", name="Connect Microsoft 365")).to_be_visible()
    page.get_by_label("Everything").check()
    page.get_by_role("button", name="Sign in with Microsoft").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # Microsoft's page
    expect(page.get_by_label("Email or phone")).to_have_value(address)  # the login hint


def microsoft_sign_in(page: Page, username: str, *, accept: bool = True) -> None:
    page.get_by_label("Email or phone").fill(username)
    page.get_by_label("Password").fill("secret")
    page.get_by_role("button", name="Sign in and accept" if accept else "Cancel").click()
    # Microsoft's answer page posts itself back to Postcard by script. Chromium refuses a
    # script's submission from an https page to plain http (the test's live server; Postcard
    # is served over https in production), so the test clicks the page's no-script button.
    page.get_by_role("button", name="Submit").click()


def test_connecting_microsoft_365_end_to_end(page: Page, live_server, m365) -> None:
    m365.tenant.deliver(ALICE, email(1, sender="jane@customer.test", to=ALICE))
    start(page, live_server, ALICE)

    microsoft_sign_in(page, "alice@contoso.onmicrosoft.com")

    expect(
        page.get_by_text("Mailbox connected. The first import starts in a moment.")
    ).to_be_visible()
    assert page.url.endswith(reverse("mailbox-settings"))
    mailbox = Mailbox.objects.get(address=ALICE)
    assert (mailbox.provider, mailbox.state) != (Provider.IMAP, MailboxState.DISCONNECTED)
    assert mailbox.provider == Provider.MICROSOFT
    assert "RefreshToken" not in page.content()


def test_an_alias_is_refused_in_plain_words(page: Page, live_server, m365) -> None:
    start(page, live_server, "a.archer@contoso.com")

    microsoft_sign_in(page, "alice@contoso.onmicrosoft.com")

    expect(
        page.get_by_text("a.archer@contoso.com is an alias of the Microsoft 365 mailbox")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="Connect Microsoft 365")).to_be_visible()
    assert not Mailbox.objects.exists()


def test_declining_consent_comes_back_with_what_to_do(page: Page, live_server, m365) -> None:
    start(page, live_server, ALICE)

    microsoft_sign_in(page, "alice@contoso.onmicrosoft.com", accept=False)

    expect(page.get_by_text("You declined to give Postcard access.")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in with Microsoft")).to_be_visible()
    assert not Mailbox.objects.exists()


def test_using_the_outlook_calendar_asks_microsoft_once_more_then_lists_its_calendars(
    page: Page, live_server, m365
) -> None:
    start(page, live_server, ALICE)
    microsoft_sign_in(page, "alice@contoso.onmicrosoft.com")
    expect(page.get_by_text("Mailbox connected.")).to_be_visible()

    page.goto(live_server.url + "/settings/calendar/")
    page.get_by_role("button", name="Use my Microsoft calendar").click()
    microsoft_sign_in(page, "alice@contoso.onmicrosoft.com")
    expect(page.get_by_role("heading", name="Choose the calendar")).to_be_visible()
    expect(page.get_by_text("Calendar (main calendar)")).to_be_visible()
    page.get_by_role("button", name="Use this calendar").click()

    expect(page.get_by_text("Meetings and tasks you flag now go to “Calendar”")).to_be_visible()
    connection = CalendarConnection.objects.get()
    assert (connection.provider, connection.calendar_name) == ("microsoft", "Calendar")
