"""Settings > Mailbox sync says one true thing per state: one headline, one primary action, the
last problem in plain words, and nothing that contradicts them (no "Disconnect…" on a
disconnected mailbox, no "Sync now" on one that cannot sync, no "queued" that never moves).

The failures are real: a wrong password against Dovecot, a closed port; the sync that follows a
"Sync now" is the real service against Dovecot. Only the clock-dependent states (waiting for a
worker) are set up by writing the row as the worker would have left it.
"""

from __future__ import annotations

import json
import re
import socket
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.core.demo import create_mailbox
from mailsync.connections import ImapAccount
from mailsync.models import Mailbox, MailboxState, Message
from mailsync.services import (
    mailbox_connect_imap,
    mailbox_disconnect,
    mailbox_sync,
    mailboxes_claim_due,
)
from tests.factories import UserFactory, make_message

pytestmark = [pytest.mark.django_db]

ALICE = "alice@example.test"
PASSWORD = "secret"  # alice's password on the test Dovecot
SETTINGS = reverse("mailbox-settings")
SYNC_NOW = reverse("mailbox-sync-now")
DISCONNECT = reverse("mailbox-disconnect")


# --- reading the page as a person does ---------------------------------------------------


class _Page(HTMLParser):
    """The visible text, and the primary buttons and links, of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.primary: list[str] = []
        self._hidden = 0  # inside <script>, <style>, <noscript>, <details> (collapsed)
        self._in_primary = 0
        self._label: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "noscript", "details", "title"):
            self._hidden += 1
        classes = (dict(attrs).get("class") or "").split()
        if tag in ("a", "button") and "primary" in classes:
            self._in_primary += 1
            self._label = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "noscript", "details", "title"):
            self._hidden -= 1
        if tag in ("a", "button") and self._in_primary:
            self._in_primary -= 1
            self.primary.append(" ".join("".join(self._label).split()))

    def handle_data(self, data: str) -> None:
        if self._in_primary:
            self._label.append(data)
        if not self._hidden:
            self.text.append(data)


def read(response, only: str = "") -> tuple[str, list[str]]:
    """(visible text with whitespace collapsed, labels of the primary buttons and links), of the
    whole page or `only` its section of that class."""
    assert response.status_code == 200
    html = response.content.decode()
    if only:
        html = html[html.index(f'<section class="panel {only}') :]
        html = html[: html.index("</section>")]
    page = _Page()
    page.feed(html)
    return " ".join(" ".join(page.text).split()), page.primary


def headline(response) -> str:
    match = re.search(r'id="state-title"[^>]*>(.*?)</h2>', response.content.decode(), re.S)
    assert match, "the page has no state headline"
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


# --- mailboxes in each state ---------------------------------------------------------------


@pytest.fixture
def alice(client):
    user = UserFactory(username="alice", email=ALICE)
    client.force_login(user)
    return user


def account(host: str = "imap.example.com", port: int = 993, password: str = PASSWORD):
    plain = host == "127.0.0.1"
    return ImapAccount(
        address=ALICE,
        username="alice",
        password=password,
        imap_host=host,
        imap_port=port,
        imap_security="plain" if plain else "ssl",
        smtp_host=host,
        smtp_port=587,
        smtp_security="plain" if plain else "starttls",
    )


def connect(owner, **settings) -> Mailbox:
    """Saved as the connect form saves it (the login check is the form tests' business)."""
    mailbox = mailbox_connect_imap(owner=owner, account=account(**settings), check=False)
    mailbox.folders.create(name="INBOX", role="inbox")
    return mailbox


def set_row(mailbox: Mailbox, **fields) -> None:
    Mailbox.objects.filter(pk=mailbox.pk).update(**fields)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def queued_syncs(callbacks) -> list[object]:
    return [c for c in callbacks if "_sync_soon" in c.__qualname__]


# --- one test per state --------------------------------------------------------------------


def test_never_connected_invites_to_connect_and_says_why_smtp_is_asked(client, alice):
    response = client.get(SETTINGS)
    text, primary = read(response)

    assert headline(response) == "Your mailbox is not connected yet"
    assert primary == ["Connect your mailbox"]  # not "Synchronize now": nothing to sync yet
    assert f'href="{reverse("mailbox-connect")}"' in response.content.decode()
    assert "never sends" not in text  # and then asks for SMTP: it said so before
    assert "sending from the CRM comes next" in text

    imap_step = read(client.get(reverse("mailbox-connect-imap"), {"address": ALICE}))[0]
    assert "Sending from the CRM comes next: the SMTP login is checked now" in imap_step


def test_first_import_shows_the_import_and_no_sync_button(client, alice):
    mailbox = connect(alice)  # just saved: due now, never synchronized
    waiting = client.get(SETTINGS)
    text, primary = read(waiting)

    assert headline(waiting) == "Importing your email"
    assert primary == ["Open contacts"]
    assert "Sync now" not in text
    assert "the last 90 days of email" in text
    assert f'data-poll-url="{reverse("mailbox-status-json")}"' in waiting.content.decode()

    set_row(mailbox, state=MailboxState.SYNCING, progress_done=412, progress_total=1650)
    running = client.get(SETTINGS)

    assert headline(running) == "Importing your email"
    assert "412 of 1,650 messages" in read(running)[0]
    assert '<progress max="1650" value="412"' in running.content.decode()


def test_active_offers_sync_now_and_says_when(client, alice):
    mailbox = connect(alice)
    now = timezone.now()
    set_row(
        mailbox, last_synced_at=now - timedelta(minutes=3), next_sync_at=now + timedelta(seconds=30)
    )
    response = client.get(SETTINGS)
    text, primary = read(response)

    assert headline(response) == "Up to date"
    assert primary == ["Sync now"]
    assert "Last synchronized 3 minutes ago" in text
    assert "Disconnect…" in text
    assert "Stored encrypted" in text
    assert "Reconnect" not in text


def test_backing_off_says_in_plain_words_that_the_server_cannot_be_reached(client, alice):
    port = closed_port()
    mailbox = connect(alice, host="127.0.0.1", port=port)

    outcome = mailbox_sync(mailbox_id=mailbox.pk)  # a real attempt on a closed port

    assert outcome.ran
    assert outcome.error
    response = client.get(SETTINGS)
    text, primary = read(response, only="mailbox-state")
    assert headline(response).startswith("Temporary problem, retrying at ")
    assert "Could not reach 127.0.0.1: it refused the connection." in text
    assert primary == ["Try again now"]
    assert "No sync has succeeded yet." in text
    assert "Disconnect…" in read(response)[0]
    # The provider's own sentence stays one click away, for whoever helps the user.
    assert f"127.0.0.1:{port}" not in text
    assert f"127.0.0.1:{port} refused the connection" in response.content.decode()


def test_a_raw_exception_never_is_the_error_shown(client, alice):
    mailbox = connect(alice)
    now = timezone.now()
    set_row(
        mailbox,
        failures=3,
        last_synced_at=now - timedelta(hours=2),
        next_sync_at=now + timedelta(minutes=8),
        state_reason="Could not talk to the IMAP server imap.example.com:993: "
        "[Errno 113] No route to host.",
    )
    response = client.get(SETTINGS)
    text, _ = read(response)

    assert "The connection to imap.example.com broke off." in text
    assert "Errno" not in text
    assert "3 failed attempts so far" in text


@pytest.mark.server
def test_a_refused_password_disconnects_and_the_page_says_it_once(client, alice, dovecot):
    mailbox = connect(alice, host=dovecot.host, port=dovecot.port, password="wrong-password")
    make_message(mailbox, sender="jane@customer.test", to=(ALICE,))

    mailbox_sync(mailbox_id=mailbox.pk)  # Dovecot refuses the login: a permanent error

    response = client.get(SETTINGS)
    text, primary = read(response)
    assert headline(response) == "Disconnected"
    assert text.lower().count("disconnected") == 1  # the headline, and nowhere else
    assert "The server refused the password." in text
    assert primary == ["Reconnect"]
    assert "Disconnect…" not in text  # already done
    assert "Connected" not in text.replace("Disconnected", "")  # no "Connected" date
    assert "Stored encrypted" not in text
    assert "Not stored" not in text
    assert "Remove mailbox and emails…" in text
    assert "Your settings and the 1 synchronized email are kept." in text


def test_disconnected_by_the_user_is_no_error_and_can_only_be_removed(client, alice):
    mailbox = connect(alice)
    make_message(mailbox, sender="jane@customer.test", to=(ALICE,))
    mailbox_disconnect(mailbox=mailbox, keep_emails=True)

    response = client.get(SETTINGS)
    text, primary = read(response)
    assert headline(response) == "Disconnected"
    assert f"You stopped the sync of {ALICE}." in text
    assert 'class="notice' not in response.content.decode()  # nothing went wrong
    assert primary == ["Reconnect"]

    removal = client.get(DISCONNECT)
    assert "Keep the synchronized emails" not in read(removal)[0]  # kept already
    assert client.post(DISCONNECT, {"emails": "keep"}).status_code == 200  # not a choice now
    assert Mailbox.objects.exists()
    client.post(DISCONNECT, {"emails": "delete"})
    assert not Mailbox.objects.exists()
    assert not Message.objects.exists()


def test_demo_mailbox_says_it_is_demo_data_and_cannot_sync(
    client, alice, django_capture_on_commit_callbacks
):
    demo = create_mailbox(alice, now=timezone.now()).mailbox  # as seed_demo makes them
    make_message(demo, sender="jane@customer.test", to=(ALICE,))

    response = client.get(SETTINGS)
    text, primary = read(response)
    assert headline(response) == "Demo mailbox: it does not sync"
    assert "demo data" in text
    assert primary == ["Replace with my own mailbox"]
    for contradiction in ("Up to date", "Active", "Not stored", "Sync now", "Sync log"):
        assert contradiction not in text

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        refused = client.post(SYNC_NOW, follow=True)
    assert "This is a demo mailbox" in read(refused)[0]
    assert "queued" not in read(refused)[0]
    assert queued_syncs(callbacks) == []

    replaced = client.post(DISCONNECT, {"emails": "delete"})
    assert replaced.url == reverse("mailbox-connect")  # straight to connecting a real one
    assert not Mailbox.objects.exists()


def test_the_beat_never_queues_a_demo_mailbox_even_with_a_password(alice):
    demo = create_mailbox(alice, now=timezone.now() - timedelta(hours=1)).mailbox
    set_row(demo, credentials=json.dumps({"password": "typed in the admin"}), next_sync_at=None)

    assert mailboxes_claim_due() == []
    assert mailbox_sync(mailbox_id=demo.pk).ran is False


def test_a_worker_that_never_comes_is_said_plainly(client, alice):
    mailbox = connect(alice)
    set_row(mailbox, next_sync_at=timezone.now() - timedelta(minutes=20))  # due, nothing ran

    response = client.get(SETTINGS)
    text, primary = read(response)
    assert headline(response) == "Waiting for the sync worker"
    assert "The first import has not started." in text
    assert "ask your administrator" in text
    assert primary == ["Check again"]
    assert "Sync now" not in text


# --- "Sync now" is honest ------------------------------------------------------------------


@pytest.mark.server
def test_sync_now_shows_the_sync_starting_then_its_result(
    client, alice, dovecot, django_capture_on_commit_callbacks
):
    mailbox = connect(alice, host=dovecot.host, port=dovecot.port)
    now = timezone.now()
    set_row(
        mailbox, last_synced_at=now - timedelta(minutes=2), next_sync_at=now + timedelta(seconds=30)
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queued = client.post(SYNC_NOW, follow=True)

    assert len(queued_syncs(callbacks)) == 1
    assert headline(queued) == "Sync starting"
    assert "Sync now" not in read(queued)[0]  # pressed once is enough
    assert "data-poll-url" in queued.content.decode()  # and the page follows it
    status = client.get(reverse("mailbox-status-json")).json()
    assert (status["state"], status["headline"]) == ("queued", "Sync starting")

    mailbox_sync(mailbox_id=mailbox.pk)  # what the worker runs for the queued task

    done = client.get(SETTINGS)
    assert headline(done) == "Up to date"
    assert "Last synchronized just now" in read(done)[0]
    assert client.get(reverse("mailbox-status-json")).json()["state"] == "active"


def test_a_mailbox_without_a_password_offers_no_sync_that_would_never_run(
    client, alice, django_capture_on_commit_callbacks
):
    mailbox = connect(alice)
    set_row(mailbox, credentials="")  # saved by hand (admin) or by an old import

    page = client.get(SETTINGS)
    text, primary = read(page)
    assert headline(page) == "Disconnected"
    assert "No password is stored for this mailbox." in text
    assert primary == ["Reconnect"]
    assert "Sync now" not in text

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(SYNC_NOW, follow=True)

    assert "Reconnect the mailbox first" in read(response)[0]
    assert "queued" not in read(response)[0]
    assert queued_syncs(callbacks) == []
