"""The Content-Security-Policy in a real browser: the pages, admin and the API docs run without a
single violation (a blocked script or style would silently break them), and the delete
confirmation that used to be an inline onsubmit handler still asks first."""

import re

import pytest
from playwright.sync_api import Dialog, Page, expect

from crm.contacts.models import Contact
from tests.factories import UserFactory, make_contact

pytestmark = pytest.mark.browser

# Runs before any page script (Playwright injects it outside the page's policy).
WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.effectiveDirective} blocked ${e.blockedURI} at ${e.sourceFile}`);
});
"""


def log_in(page: Page) -> None:
    UserFactory(username="casey", password="casey-password", is_staff=True, is_superuser=True)
    page.context.add_init_script(WATCH_VIOLATIONS)
    page.goto("/login/")
    page.locator("#id_username").fill("casey")
    page.locator("#id_password").fill("casey-password")
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/login/"))


def test_pages_admin_and_api_docs_run_without_a_policy_violation(page: Page):
    jane = make_contact(first_name="Jane", last_name="Doe")
    log_in(page)
    for url in (
        "/contacts/",
        f"/contacts/{jane.pk}/",
        f"/contacts/{jane.pk}/edit/",
        "/accounts/",
        "/admin/hierarchy/user/",
        "/admin/axes/accessattempt/",
        "/api/docs/",
    ):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__csp") == [], url
    # Swagger UI ran: its script is a static file, its start-up script a separate URL.
    expect(page.locator(".opblock").first).to_be_visible()


def test_deleting_a_contact_still_asks_first(page: Page):
    jane = make_contact(first_name="Jane", last_name="Doe")
    log_in(page)
    page.goto(f"/contacts/{jane.pk}/edit/")
    asked: list[str] = []

    def dismiss(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Delete contact").click()  # returns once it is answered
    assert len(asked) == 1
    assert "Jane Doe" in asked[0]
    assert "Their synchronized emails stay in the mailboxes." in asked[0]
    assert Contact.objects.filter(pk=jane.pk).exists()

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete contact").click()
    expect(page).to_have_url(re.compile(r"/contacts/$"))
    assert not Contact.objects.filter(pk=jane.pk).exists()
    assert page.evaluate("window.__csp") == []
