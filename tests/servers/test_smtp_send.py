"""The SMTP test server's hooks for sending tests (tests/servers/smtp.py): `on_accept`, called
after a message is recorded and before the 250 to its DATA, and `users`, read at every login."""

from __future__ import annotations

import smtplib
import threading

import pytest

from tests.servers import conftest_fixtures
from tests.servers.smtp import ReceivedMessage, SmtpServer

# The fixture, bound by name for pytest (an import would be shadowed by each test's argument).
smtp_server = conftest_fixtures.smtp_server

MESSAGE = b"From: alice@postcard.example\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nHello Bob\r\n"


def _send(
    server: SmtpServer,
    login: str = "alice",
    password: str = "secret",  # noqa: S107 (a test account)
) -> None:
    with smtplib.SMTP(server.host, server.port, timeout=10) as client:
        client.login(login, password)
        client.sendmail("alice@postcard.example", ["bob@example.com"], MESSAGE)


@pytest.mark.server
def test_on_accept_runs_after_recording_and_before_the_250(smtp_server: SmtpServer) -> None:
    in_hook, release = threading.Event(), threading.Event()
    seen: list[tuple[ReceivedMessage, int]] = []
    done: list[bool] = []

    def hook(message: ReceivedMessage) -> None:
        seen.append((message, len(smtp_server.messages)))
        in_hook.set()
        assert release.wait(10)

    def send() -> None:
        _send(smtp_server)
        done.append(True)

    smtp_server.on_accept = hook
    client = threading.Thread(target=send)
    client.start()
    assert in_hook.wait(10)
    assert done == []  # the client still waits for the answer to its DATA
    [(message, recorded)] = seen
    assert (message.data, message.rcpt_tos, recorded) == (MESSAGE, ["bob@example.com"], 1)
    release.set()
    client.join(10)
    assert done == [True]

    # A hook that fails: the client hears 451, the message stays recorded.
    def broken(message: ReceivedMessage) -> None:
        raise RuntimeError("the test's own failure")

    smtp_server.on_accept = broken
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send(smtp_server)
    assert refused.value.smtp_code == 451
    assert len(smtp_server.messages) == 2


@pytest.mark.server
def test_on_accept_as_a_constructor_argument() -> None:
    pytest.importorskip("aiosmtpd")
    accepted: list[ReceivedMessage] = []
    with SmtpServer(users={"alice": "secret"}, on_accept=accepted.append) as server:
        _send(server)
        assert accepted == server.messages
        assert server.on_accept is not None


@pytest.mark.server
def test_users_changed_while_running_take_effect(smtp_server: SmtpServer) -> None:
    smtp_server.users["carol"] = "pw"  # edited in place
    _send(smtp_server, "carol", "pw")
    smtp_server.users = {"carol": "new"}  # replaced
    for login, password in (("alice", "secret"), ("carol", "pw")):
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            _send(smtp_server, login, password)
        assert refused.value.smtp_code == 535
    _send(smtp_server, "carol", "new")
    assert [m.auth_user for m in smtp_server.messages] == ["carol", "carol"]
