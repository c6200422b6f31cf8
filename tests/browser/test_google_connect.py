"""Connecting Google, clicked through in Chromium: Postcard's pages, the (fake) Google sign-in
and consent page, Google's redirect back, and the answer on Postcard's page.

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
from tests.servers.conftest_fixtures import google  # noqa: F401
from tests.servers.google import point_postcard_at

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.django_db(transaction=True)]

ALICE = "alice@acme.test"


@pytest.fixture
def gcloud(google, settings, live_server):  # noqa: F811
    callback = live_server.url + reverse("mailbox-oauth-callback", args=["google"])
    point_postcard_at(google, settings, callback)
    return google


@pytest.fixture
def page(sign_in_page: Page) -> Page:
    return sign_in_page


def make_user(address: str):
    return UserFactory(username="someone", email=address)


def start(page: Page, live_server, address: str) -> None:
    sign_in(page, make_user(address), live_server.url)
    page.goto(f"/settings/mailbox/connect/provider/?address={address}")
    page.get_by_role("link", name="Connect Google").click()
    expect(page.get_by_role("heading", name="Connect Google")).to_be_visible()
    page.get_by_label("Everything").check()
    page.get_by_role("button", name="Sign in with Google").click()
    expect(page.get_by_label("Email")).to_have_value(address)  # Google's page, the login hint


def google_sign_in(page: Page, address: str, *, allow: bool = True) -> None:
    page.get_by_label("Email").fill(address)
    page.get_by_label("Password").fill("secret")
    page.get_by_role("button", name="Allow" if allow else "Cancel").click()


def test_connecting_google_end_to_end(page: Page, live_server, gcloud) -> None:
    gcloud.accounts.deliver(ALICE, email(1, sender="jane@customer.test", to=ALICE))
    start(page, live_server, ALICE)

    google_sign_in(page, ALICE)

    expect(
        page.get_by_text("Mailbox connected. The first import starts in a moment.")
    ).to_be_visible()
    assert page.url.endswith(reverse("mailbox-settings"))
    mailbox = Mailbox.objects.get(address=ALICE)
    assert (mailbox.provider, mailbox.state) == (Provider.GOOGLE, MailboxState.ACTIVE)
    assert "refresh_token" not in page.content()


def test_a_send_as_alias_is_refused_in_plain_words(page: Page, live_server, gcloud) -> None:
    start(page, live_server, "sales@acme.test")

    google_sign_in(page, ALICE)

    expect(page.get_by_text("sales@acme.test is an alias of the Google mailbox")).to_be_visible()
    expect(page.get_by_role("heading", name="Connect Google")).to_be_visible()
    assert not Mailbox.objects.exists()


def test_an_organisation_blocking_the_app_finds_the_admin_hint_on_the_way_back(
    page: Page, live_server, gcloud, settings
) -> None:
    """Google shows "Error 400: admin_policy_enforced" on its own page and does not come back
    (developers.google.com/identity/protocols/oauth2/web-server#authorization-errors): the
    user's way back is the browser's Back button, to a page that says what the admin does."""
    start(page, live_server, "carol@blocked.test")

    google_sign_in(page, "carol@blocked.test")
    expect(page.get_by_text("admin_policy_enforced")).to_be_visible()  # Google's page
    page.go_back()
    page.go_back()

    hint = page.locator("#workspace-hint")
    expect(hint).to_contain_text("admin_policy_enforced")
    expect(hint).to_contain_text(settings.GOOGLE_CLIENT_ID)
    assert not Mailbox.objects.exists()


def test_an_admin_block_answered_to_postcard_is_explained(
    page: Page, live_server, gcloud, settings
) -> None:
    gcloud.accounts.block_app("blocked.test", sign_in="redirect")
    start(page, live_server, "carol@blocked.test")

    google_sign_in(page, "carol@blocked.test")

    expect(page.get_by_text("Google Workspace administrator restricts access")).to_be_visible()
    expect(page.get_by_text(f"OAuth client ID {settings.GOOGLE_CLIENT_ID}").first).to_be_visible()
    assert not Mailbox.objects.exists()


def test_using_the_google_calendar_asks_google_once_more_then_lists_its_calendars(
    page: Page, live_server, gcloud
) -> None:
    start(page, live_server, ALICE)
    google_sign_in(page, ALICE)
    expect(page.get_by_text("Mailbox connected.")).to_be_visible()

    page.goto(live_server.url + "/settings/calendar/")
    page.get_by_role("button", name="Use my Google calendar").click()
    expect(page.get_by_label("Email")).to_have_value(ALICE)  # Google's page again
    google_sign_in(page, ALICE)
    expect(page.get_by_role("heading", name="Choose the calendar")).to_be_visible()
    expect(page.get_by_text("(main calendar)")).to_be_visible()
    page.get_by_role("button", name="Use this calendar").click()

    expect(page.get_by_text("Meetings and tasks you flag now go to")).to_be_visible()
    connection = CalendarConnection.objects.get()
    assert (connection.provider, connection.calendar_key) == ("google", ALICE)
