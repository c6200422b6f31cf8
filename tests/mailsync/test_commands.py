"""Operator commands against a real Dovecot."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from mailsync.models import Mailbox
from tests.factories import UserFactory, make_mailbox
from tests.mailsync.sync_helpers import email

pytestmark = [pytest.mark.server, pytest.mark.django_db]


def connect(dovecot) -> str:
    out = io.StringIO()
    call_command(
        "mailbox_connect_imap",
        "alice",
        "alice@example.test",
        "--login",
        "alice",
        "--imap-host",
        dovecot.host,
        "--imap-port",
        str(dovecot.port),
        "--imap-security",
        "plain",
        "--since-days",
        "all",
        stdout=out,
    )
    return out.getvalue()


def test_connect_sync_and_status_from_the_command_line(dovecot, monkeypatch):
    UserFactory(username="alice")
    dovecot.append("alice", "INBOX", email(1, sender="jane@customer.test", to="alice@example.test"))
    monkeypatch.setattr("sys.stdin", io.StringIO("secret\n"))
    assert "Connected alice@example.test" in connect(dovecot)
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM mailsync_mailbox")
        assert "secret" not in cursor.fetchone()[0]  # encrypted at rest

    out = io.StringIO()
    call_command("mailbox_sync", "Alice@Example.test", stdout=out)
    assert "alice@example.test: added 1, removed 0" in out.getvalue()
    dovecot.expunge("alice", "INBOX", dovecot.uids("alice", "INBOX"))
    out = io.StringIO()
    call_command("mailbox_sync", "alice@example.test", stdout=out)
    assert "added 0, removed 1" in out.getvalue()

    out = io.StringIO()
    call_command("mailbox_status", stdout=out)
    assert "alice@example.test" in out.getvalue()
    assert "active" in out.getvalue()


def test_connect_with_a_wrong_password_says_why_and_saves_nothing(dovecot, monkeypatch):
    UserFactory(username="alice")
    monkeypatch.setattr("sys.stdin", io.StringIO("wrong\n"))
    with pytest.raises(CommandError, match="refused the login for alice"):
        connect(dovecot)
    assert not Mailbox.objects.exists()


def test_sync_of_an_unknown_address_is_a_clear_error():
    with pytest.raises(CommandError, match=r"No connected mailbox nobody@example\.test"):
        call_command("mailbox_sync", "nobody@example.test")


def test_status_lists_a_demo_mailbox_as_demo_not_active():
    mailbox = make_mailbox(UserFactory(username="demo"))
    Mailbox.objects.filter(pk=mailbox.pk).update(is_demo=True, state="active")
    out = io.StringIO()
    call_command("mailbox_status", stdout=out)
    assert f"{mailbox.address:40} demo " in out.getvalue()
