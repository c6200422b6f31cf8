"""/api/docs/ with the network cut: Swagger UI comes from our own static files, not a CDN, so the
page still lists the API's operations and asks no other host for anything."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from hierarchy.models import User
from tests.browser.signin import sign_in

pytestmark = pytest.mark.browser


def test_api_docs_list_the_operations_with_only_this_server_reachable(page: Page, live_server):
    sign_in(page, User.objects.create_user(username="reader"), live_server.url)
    server = urlsplit(live_server.url).netloc
    elsewhere: list[str] = []

    def offline(route: Route) -> None:
        if urlsplit(route.request.url).netloc == server:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", offline)

    page.goto("/api/docs/")

    contacts = page.locator(".opblock-tag-section").filter(
        has=page.get_by_role("heading", name="contacts")
    )
    list_contacts = contacts.locator(".opblock-get").filter(
        has=page.locator(".opblock-summary-path", has_text="/api/contacts/")
    )
    expect(list_contacts.first).to_be_visible()
    list_contacts.first.locator(".opblock-summary").click()
    expect(contacts.get_by_text("Only contacts of this account.")).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/emails/{id}/")).to_be_visible()
    assert elsewhere == []


def test_api_docs_lead_back_to_postcard(page: Page, live_server):
    sign_in(page, User.objects.create_user(username="reader"), live_server.url)
    page.goto("/api/docs/")
    page.get_by_role("link", name="← Back to Postcard").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("link", name="Contacts").first).to_be_visible()
