"""Settings > Mailbox sync in Chromium, one page per state, on a desktop and a 390 px phone: the
headline is visible, there is one primary action, nothing scrolls sideways. A full-page screenshot
of each goes to POSTCARD_SCREENSHOTS (default: artifacts/screenshots) for people to look at.

The rows are written as the sync would have left them; the services that get them there are
tested against real servers in tests/mailsync/test_settings_states.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from crm.core.demo import create_mailbox
from hierarchy.models import User
from mailsync.models import Mailbox, MailboxState, Provider, SyncRun
from tests.factories import UserFactory, make_message

pytestmark = pytest.mark.browser

SAM = "sam.carter@northwind.example"
WIDTHS = (1400, 390)


def connected(user: User, **fields) -> Mailbox:
    mailbox = Mailbox.objects.create(
        owner=user,
        address=SAM,
        provider=Provider.IMAP,
        connection_settings={
            "username": SAM,
            "imap_host": "imap.northwind.example",
            "imap_port": 993,
            "imap_security": "ssl",
            "smtp_host": "smtp.northwind.example",
            "smtp_port": 587,
            "smtp_security": "starttls",
        },
        credentials=json.dumps({"password": "not-shown"}),
        **fields,
    )
    mailbox.folders.create(name="INBOX", role="inbox")
    return mailbox


def with_history(mailbox: Mailbox, *, failed: str = "") -> Mailbox:
    """Some mail and a sync log, as a week of use leaves them."""
    now = timezone.now()
    for n in range(3):
        make_message(mailbox, sender=f"client{n}@customer.example", to=(SAM,))
    for hours, added in ((30, 1240), (6, 12), (2, 3)):
        start = now - timedelta(hours=hours)
        SyncRun.objects.create(
            mailbox=mailbox,
            started_at=start,
            finished_at=start + timedelta(seconds=4 if added < 100 else 95),
            added=added,
        )
    if failed:
        start = now - timedelta(minutes=9)
        SyncRun.objects.create(
            mailbox=mailbox,
            started_at=start,
            finished_at=start + timedelta(seconds=30),
            errors=1,
            detail=failed,
        )
    return mailbox


def not_connected(user: User) -> None:
    return None


def first_import(user: User) -> None:
    mailbox = connected(user, state=MailboxState.SYNCING, progress_done=412, progress_total=1650)
    SyncRun.objects.create(mailbox=mailbox, started_at=timezone.now() - timedelta(minutes=2))


def active(user: User) -> None:
    now = timezone.now()
    mailbox = connected(user, last_synced_at=now - timedelta(minutes=3))
    with_history(mailbox)
    Mailbox.objects.filter(pk=mailbox.pk).update(next_sync_at=now + timedelta(seconds=50))


def backing_off(user: User) -> None:
    now = timezone.now()
    reason = (
        "Could not talk to the IMAP server imap.northwind.example:993: "
        "[Errno 113] No route to host."
    )
    mailbox = connected(
        user,
        last_synced_at=now - timedelta(hours=2),
        failures=3,
        state_reason=reason,
        next_sync_at=now + timedelta(minutes=8),
    )
    with_history(mailbox, failed=reason)


def disconnected(user: User) -> None:
    reason = (
        f"The IMAP server refused the login for {SAM}: wrong password, or an app password "
        "is required."
    )
    mailbox = connected(
        user,
        state=MailboxState.DISCONNECTED,
        state_reason=reason,
        last_synced_at=timezone.now() - timedelta(days=1),
    )
    Mailbox.objects.filter(pk=mailbox.pk).update(credentials="")
    with_history(mailbox, failed=reason)


def demo(user: User) -> None:
    mailbox = create_mailbox(user, now=timezone.now() - timedelta(days=2)).mailbox
    for n in range(4):
        make_message(mailbox, sender=f"client{n}@customer.example", to=(mailbox.address,))


def stalled(user: User) -> None:
    now = timezone.now()
    mailbox = connected(user, last_synced_at=now - timedelta(hours=5))
    with_history(mailbox)
    Mailbox.objects.filter(pk=mailbox.pk).update(next_sync_at=now - timedelta(hours=5))


STATES: dict[str, tuple[Callable[[User], None], str, str]] = {
    # state: (set-up, headline, the one primary action)
    "not_connected": (not_connected, "Your mailbox is not connected yet", "Connect your mailbox"),
    "first_import": (first_import, "Importing your email", "Open contacts"),
    "active": (active, "Up to date", "Sync now"),
    "backing_off": (backing_off, "Temporary problem, retrying at", "Try again now"),
    "disconnected": (disconnected, "Disconnected", "Reconnect"),
    "demo": (demo, "Demo mailbox: it does not sync", "Replace with my own mailbox"),
    "stalled": (stalled, "Waiting for the sync worker", "Check again"),
}


def make_sam():
    return UserFactory(username="sam", first_name="Sam", last_name="Carter", email=SAM)


@pytest.fixture
def shots(screenshots_dir: Path) -> Path:
    where = Path(os.environ.get("POSTCARD_SCREENSHOTS") or screenshots_dir)
    where.mkdir(parents=True, exist_ok=True)
    return where


def sign_in(page: Page, user: User, base_url: str) -> None:
    """The session of a logged-in user, handed to the browser (the login form has its tests)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": cookie.key, "value": cookie.value, "url": base_url, "httpOnly": True}]
    )


@pytest.mark.parametrize("state", list(STATES))
def test_each_state_reads_clearly_on_desktop_and_phone(
    page: Page, live_server, shots: Path, state: str
) -> None:
    set_up, headline, action = STATES[state]
    sam = make_sam()
    set_up(sam)
    sign_in(page, sam, live_server.url)

    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto("/settings/mailbox/")
        title = page.locator("#state-title")
        expect(title).to_be_visible()
        expect(title).to_contain_text(headline)
        primary = page.locator("main .primary")
        expect(primary).to_have_count(1)
        expect(primary).to_have_text(action)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{state} at {width} px scrolls sideways by {overflow} px"
        page.screenshot(path=str(shots / f"mailbox-{state}-{width}.png"), full_page=True)


def test_the_connect_form_says_why_it_asks_for_smtp(page: Page, live_server, shots: Path) -> None:
    sam = make_sam()
    sign_in(page, sam, live_server.url)

    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"/settings/mailbox/connect/imap/?address={SAM}")
        why = page.locator(".why-smtp")
        expect(why).to_be_visible()
        expect(why).to_contain_text("Sending from the CRM comes next")
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"the connect form at {width} px scrolls sideways by {overflow} px"
        page.screenshot(path=str(shots / f"mailbox-connect-imap-{width}.png"), full_page=True)


def test_replacing_the_demo_mailbox_leads_to_connecting_a_real_one(
    page: Page, live_server, shots: Path
) -> None:
    sam = make_sam()
    demo(sam)
    sign_in(page, sam, live_server.url)
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto("/settings/mailbox/")

    page.get_by_role("link", name="Replace with my own mailbox").click()
    expect(page.get_by_role("heading", name="Remove the demo mailbox")).to_be_visible()
    page.screenshot(path=str(shots / "mailbox-demo-remove-390.png"), full_page=True)
    page.get_by_role("button", name="Remove demo mailbox").click()

    expect(page.get_by_role("heading", name="Connect your mailbox")).to_be_visible()
    expect(page.get_by_text("The demo mailbox and its emails were removed.")).to_be_visible()
    assert not Mailbox.objects.filter(owner=sam).exists()


def test_the_page_follows_a_sync_from_queued_to_done_by_itself(page: Page, live_server) -> None:
    """What "Sync now" leads to, as the worker moves the row along: the open page follows it
    (mailbox-progress.js), nobody reloads it by hand."""
    sam = make_sam()
    now = timezone.now()
    mailbox = connected(sam, last_synced_at=now - timedelta(minutes=4), next_sync_at=now)
    sign_in(page, sam, live_server.url)
    page.goto("/settings/mailbox/")
    title = page.locator("#state-title")
    expect(title).to_have_text("Sync starting")

    # The worker takes it and finds new mail: the page reloads into the progress.
    lease = timezone.now() + timedelta(minutes=10)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        lease_until=lease, state=MailboxState.SYNCING, progress_done=10, progress_total=40
    )
    expect(title).to_have_text("Syncing new mail")
    # Progress moves the bar in place.
    Mailbox.objects.filter(pk=mailbox.pk).update(progress_done=30)
    expect(page.locator('[data-role="progress-text"]')).to_have_text("30 of 40 messages")

    # Done, as services._succeeded leaves it.
    done = timezone.now()
    Mailbox.objects.filter(pk=mailbox.pk).update(
        lease_until=None,
        state=MailboxState.ACTIVE,
        last_synced_at=done,
        next_sync_at=done + timedelta(minutes=1),
        progress_done=0,
        progress_total=0,
    )
    expect(title).to_have_text("Up to date")
    expect(page.get_by_text("Last synchronized just now.")).to_be_visible()
