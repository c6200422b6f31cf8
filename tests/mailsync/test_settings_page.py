"""Settings > Mailbox sync, through Django's test client against a real Dovecot and SMTP server.

The first import is queued with transaction.on_commit: the tests capture those callbacks without
running them (no worker here) and assert that one was registered.
"""

import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from mailsync.connections import ImapAccount
from mailsync.forms import ImapForm
from mailsync.known_hosts import known_host
from mailsync.models import Folder, Mailbox, MailboxState, Message
from mailsync.services import mailbox_connect_imap, mailbox_disconnect
from tests.factories import UserFactory, make_message
from tests.servers.conftest_fixtures import dovecot, smtp_server  # noqa: F401

pytestmark = [pytest.mark.django_db]

ALICE = "alice@example.test"
PASSWORD = "secret"  # alice's password on the test Dovecot and SMTP servers
SETTINGS = reverse("mailbox-settings")
CONNECT = reverse("mailbox-connect-imap")


@dataclass(frozen=True)
class Servers:
    imap: Any  # tests.servers.dovecot.Dovecot
    smtp: Any  # tests.servers.smtp.SmtpServer


@pytest.fixture
def servers(request) -> Servers:
    """The real Dovecot and SMTP servers (fixtures looked up by name: no shadowed imports)."""
    return Servers(request.getfixturevalue("dovecot"), request.getfixturevalue("smtp_server"))


def form_data(servers: Servers, **changes):
    data = {
        "address": ALICE,
        "username": "alice",
        "password": PASSWORD,
        "imap_host": servers.imap.host,
        "imap_port": servers.imap.port,
        "imap_security": "plain",
        "smtp_host": servers.smtp.host,
        "smtp_port": servers.smtp.port,
        "smtp_security": "plain",
        "sync_since": "90",
    }
    return {**data, **changes}


def account(servers: Servers, password=PASSWORD) -> ImapAccount:
    return ImapAccount(
        address=ALICE,
        username="alice",
        password=password,
        imap_host=servers.imap.host,
        imap_port=servers.imap.port,
        imap_security="plain",
        smtp_host=servers.smtp.host,
        smtp_port=servers.smtp.port,
        smtp_security="plain",
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def raw_row(mailbox_id: int) -> str:
    """The mailbox row as stored, before any field decrypts it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT credentials, connection_settings FROM mailsync_mailbox WHERE id = %s",
            [mailbox_id],
        )
        return " ".join(str(value) for value in cursor.fetchone())


def queued_syncs(callbacks) -> list[Any]:
    """The on-commit callbacks that queue a mailbox sync (other apps register their own)."""
    return [c for c in callbacks if "_sync_soon" in c.__qualname__]


def errors_of(response) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context["form"].errors.items()}


@pytest.fixture
def alice_client(client):
    user = UserFactory(username="alice", email=ALICE)
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def connected(alice_client, servers):
    """Alice's mailbox, connected through the real servers, with an inbox to hold messages."""
    mailbox = mailbox_connect_imap(
        owner=alice_client.user, account=account(servers), sync_since_days=90
    )
    Folder.objects.create(mailbox=mailbox, name="INBOX", role="inbox")
    return mailbox


# --- connecting ---------------------------------------------------------------------------


@pytest.mark.server
def test_connect_with_the_right_password_saves_it_encrypted_and_queues_the_import(
    alice_client, servers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = alice_client.post(CONNECT, form_data(servers, sync_since="all"))

    assert response.status_code == 302
    assert response.url == SETTINGS
    mailbox = Mailbox.objects.get(owner=alice_client.user)
    assert (mailbox.address, mailbox.state) == (ALICE, MailboxState.ACTIVE)
    assert mailbox.sync_since_days is None  # "Everything"
    assert mailbox.connection_settings["imap_port"] == servers.imap.port
    assert PASSWORD not in raw_row(mailbox.pk)  # encrypted at rest, and not in the settings
    assert len(queued_syncs(callbacks)) == 1  # the first import, queued after the commit

    page = alice_client.get(SETTINGS)
    assert "Mailbox connected" in page.content.decode()
    assert ALICE in page.content.decode()


@pytest.mark.server
def test_a_wrong_imap_password_is_shown_next_to_the_password_and_nothing_is_saved(
    alice_client, servers
):
    response = alice_client.post(CONNECT, form_data(servers, password="wrong-pw"))

    assert response.status_code == 200
    assert "IMAP server refused the login" in " ".join(errors_of(response)["password"])
    assert "wrong-pw" not in response.content.decode()
    assert not Mailbox.objects.exists()


@pytest.mark.server
def test_a_wrong_smtp_password_names_the_smtp_server_and_nothing_is_saved(alice_client, servers):
    servers.smtp.users["alice"] = "another-password"  # SMTP users with a different password

    response = alice_client.post(CONNECT, form_data(servers))

    assert response.status_code == 200
    assert "SMTP server refused the login" in " ".join(errors_of(response)["password"])
    assert PASSWORD not in response.content.decode()
    assert not Mailbox.objects.exists()


@pytest.mark.server
def test_a_closed_port_is_reported_as_refused_and_nothing_is_saved(alice_client, servers):
    port = closed_port()

    response = alice_client.post(CONNECT, form_data(servers, imap_port=port))

    assert f"127.0.0.1:{port} refused the connection" in " ".join(errors_of(response)["imap_host"])
    assert not Mailbox.objects.exists()

    response = alice_client.post(CONNECT, form_data(servers, smtp_port=port))

    assert "SMTP server" in " ".join(errors_of(response)["smtp_host"])
    assert "refused" in " ".join(errors_of(response)["smtp_host"])
    assert not Mailbox.objects.exists()


@pytest.mark.server
def test_plain_security_to_another_machine_is_refused_before_any_connection(alice_client, servers):
    response = alice_client.post(CONNECT, form_data(servers, imap_host="imap.example.com"))

    assert "only allowed to this machine" in " ".join(errors_of(response)["imap_security"])
    assert not Mailbox.objects.exists()


@pytest.mark.server
def test_an_address_connected_by_another_user_gets_a_clear_error(connected, client, servers):
    client.force_login(UserFactory(username="bob"))

    response = client.post(CONNECT, form_data(servers))

    assert "is already connected in this CRM by" in " ".join(errors_of(response)["address"])
    assert Mailbox.objects.count() == 1


def test_bad_form_data_shows_field_errors(alice_client):
    response = alice_client.post(
        CONNECT,
        {"address": ALICE, "password": "", "imap_host": "https://imap.x.test/", "imap_port": "0"},
    )

    errors = errors_of(response)
    assert {"password", "imap_host", "imap_port", "smtp_host"} <= set(errors)
    assert not Mailbox.objects.exists()


# --- the steps before the form ------------------------------------------------------------


def test_without_a_mailbox_the_page_invites_to_connect(alice_client):
    page = alice_client.get(SETTINGS).content.decode()
    assert "Connect your mailbox" in page
    assert reverse("mailbox-connect") in page


def test_the_steps_lead_to_prefilled_imap_settings(alice_client):
    step2 = alice_client.get(reverse("mailbox-connect-provider"), {"address": "jane@gmail.com"})
    assert "Coming soon" in step2.content.decode()
    assert "Custom IMAP settings" in step2.content.decode()

    step3 = alice_client.get(CONNECT, {"address": "jane@gmail.com"})
    form = step3.context["form"]
    assert form["imap_host"].value() == "imap.gmail.com"
    assert form["smtp_port"].value() == 465
    assert "myaccount.google.com/apppasswords" in step3.content.decode()

    invalid = alice_client.get(reverse("mailbox-connect-provider"), {"address": "nope"})
    assert invalid.context["form"].errors["address"]


def test_unknown_domains_get_placeholders_only():
    form = ImapForm(address="jane@acme.test")
    assert form["imap_host"].value() is None
    assert form.fields["imap_host"].widget.attrs["placeholder"] == "imap.acme.test"
    assert known_host("bob@gmx.de").imap_host == "imap.gmx.net"
    assert known_host("bob@proton.me").imap_host == "127.0.0.1"


# --- the connected mailbox ----------------------------------------------------------------


@pytest.mark.server
def test_no_page_ever_contains_the_password(connected, alice_client):
    for url in (SETTINGS, reverse("mailbox-disconnect"), reverse("mailbox-status-json")):
        assert PASSWORD not in alice_client.get(url).content.decode()
    Mailbox.objects.filter(pk=connected.pk).update(state=MailboxState.DISCONNECTED)
    assert PASSWORD not in alice_client.get(SETTINGS).content.decode()


@pytest.mark.server
def test_status_json_is_the_users_own_mailbox_only(connected, client, alice_client):
    bob = UserFactory(username="bob")
    mailbox_connect_imap(
        owner=bob,
        account=ImapAccount(**{**connected_account(connected), "address": "bob@example.test"}),
        check=False,
    )
    Mailbox.objects.filter(owner=bob).update(
        state=MailboxState.SYNCING, progress_done=5, progress_total=20
    )
    make_message(connected, sender="jane@customer.test", to=(ALICE,))

    mine = alice_client.get(reverse("mailbox-status-json")).json()

    assert mine == {
        "state": "first_import",
        "headline": "Importing your email",
        "error": "",
        "progress_done": 0,
        "progress_total": 0,
        "percent": 0,
        "last_synced_at": None,
        "message_count": 1,
    }
    client.force_login(bob)
    assert client.get(reverse("mailbox-status-json")).json()["percent"] == 25
    client.logout()
    assert client.get(reverse("mailbox-status-json")).status_code == 302  # to the login page


def connected_account(mailbox: Mailbox) -> dict[str, object]:
    settings = mailbox.connection_settings
    return {"address": mailbox.address, "password": "bobs-password", **settings}


@pytest.mark.server
def test_syncing_shows_progress_and_a_refresh_without_javascript(connected, alice_client):
    Mailbox.objects.filter(pk=connected.pk).update(
        state=MailboxState.SYNCING, progress_done=412, progress_total=1650
    )

    page = alice_client.get(SETTINGS).content.decode()

    assert "412 of 1,650 messages" in page
    assert '<progress max="1650" value="412"' in page
    assert 'http-equiv="refresh"' in page
    assert f'data-poll-url="{reverse("mailbox-status-json")}"' in page


@pytest.mark.server
def test_a_temporary_problem_is_shown_calmly_with_the_next_attempt(connected, alice_client):
    Mailbox.objects.filter(pk=connected.pk).update(
        failures=2,
        state_reason="The IMAP server 127.0.0.1:1 did not answer in time.",
        next_sync_at=timezone.now() + timedelta(minutes=4),
    )

    page = alice_client.get(SETTINGS).content.decode()

    assert "Temporary problem, retrying at " in page
    assert "Could not reach 127.0.0.1: it did not answer in time." in page
    assert "Postcard keeps trying on its own" in page


@pytest.mark.server
def test_sync_now_queues_a_sync(connected, alice_client, django_capture_on_commit_callbacks):
    assert alice_client.get(reverse("mailbox-sync-now")).status_code == 405  # POST only

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = alice_client.post(reverse("mailbox-sync-now"), follow=True)

    assert "Importing your email" in response.content.decode()  # never synced: the first one
    assert len(queued_syncs(callbacks)) == 1


@pytest.mark.server
def test_disconnect_keeping_the_emails_deletes_only_the_credentials(connected, alice_client):
    make_message(connected, sender="jane@customer.test", to=(ALICE,))
    disconnect = reverse("mailbox-disconnect")

    unanswered = alice_client.post(disconnect, {})
    assert unanswered.context["form"].errors["emails"]  # the choice is required

    response = alice_client.post(disconnect, {"emails": "keep"})

    assert response.url == SETTINGS
    connected.refresh_from_db()
    assert connected.state == MailboxState.DISCONNECTED
    assert connected.credentials == ""
    assert Message.objects.filter(mailbox=connected).count() == 1
    assert "Reconnect" in alice_client.get(SETTINGS).content.decode()


@pytest.mark.server
def test_disconnect_deleting_the_emails_removes_the_mailbox(connected, alice_client):
    make_message(connected, sender="jane@customer.test", to=(ALICE,))

    alice_client.post(reverse("mailbox-disconnect"), {"emails": "delete"})

    assert not Mailbox.objects.exists()
    assert not Message.objects.exists()
    assert "Connect your mailbox" in alice_client.get(SETTINGS).content.decode()


@pytest.mark.server
def test_reconnect_checks_the_new_password(
    connected, alice_client, django_capture_on_commit_callbacks
):
    make_message(connected, sender="jane@customer.test", to=(ALICE,))
    mailbox_disconnect(mailbox=connected, keep_emails=True)
    reconnect = reverse("mailbox-reconnect")

    wrong = alice_client.post(reconnect, {"password": "wrong-pw"})

    assert "refused the login" in " ".join(wrong.context["reconnect_form"].errors["password"])
    assert "wrong-pw" not in wrong.content.decode()
    connected.refresh_from_db()
    assert connected.state == MailboxState.DISCONNECTED

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        right = alice_client.post(reconnect, {"password": PASSWORD})

    assert right.url == SETTINGS
    connected.refresh_from_db()
    assert connected.state == MailboxState.ACTIVE
    assert Message.objects.filter(mailbox=connected).count() == 1  # kept, not re-imported
    assert PASSWORD not in raw_row(connected.pk)
    assert len(queued_syncs(callbacks)) == 1


def test_actions_need_the_csrf_token(alice_client):
    alice_client.handler.enforce_csrf_checks = True
    response = alice_client.post(CONNECT, {"address": ALICE})
    assert response.status_code == 403


def test_every_page_needs_a_login(client):
    for name in ("mailbox-settings", "mailbox-connect", "mailbox-status-json"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_actions_without_a_mailbox_go_back_to_the_settings_page(alice_client):
    for name in ("mailbox-sync-now", "mailbox-reconnect", "mailbox-disconnect"):
        assert alice_client.post(reverse(name), {"password": "x"}).url == SETTINGS
    assert alice_client.get(reverse("mailbox-status-json")).status_code == 404
