"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, AUTH PLAIN/LOGIN without TLS.

    with SmtpServer(users={"alice": "secret"}) as smtp:
        ...send with smtplib or the code under test to smtp.host, smtp.port...
        smtp.wait_for_messages(1)
        assert smtp.messages[0].rcpt_tos == ["bob@example.com"]

MAIL FROM is refused (530) until the client authenticated, like a submission server. The listening
socket is bound before the server starts, so the port is never raced for.

`users` (login -> password) is read at every AUTH, so a test may change it while the server runs
(replace it or edit it in place): a removed user or a changed password is refused (535) from the
next login on. `on_accept`, if set, is called with each message after it is recorded in
`messages` and before the server answers 250 to its DATA, so a test can kill the client "after
the server accepted". It runs on the server's event loop: while it runs, the server answers no
one. If it raises, the client gets 451 (RFC 5321 section 4.2.3: "local error in processing")
though the message stays recorded.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message: the envelope as given and the DATA bytes as received."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    auth_user: str | None


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_MAIL(
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._server.auth_required and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        auth = session.auth_data
        user = auth.login.decode() if isinstance(auth, LoginPassword) else None
        content = envelope.original_content or b""
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=content,
            auth_user=user,
        )
        self._server._receive(message)
        hook = self._server.on_accept
        if hook is not None:
            try:
                hook(message)
            except Exception:
                return "451 4.3.0 Local error in processing"
        return "250 2.0.0 Message accepted"


class _Session(Session):
    # aiosmtpd sets this legacy attribute itself after every AUTH and logs a deprecation
    # warning each time; nothing here reads it.
    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _SMTP(SMTP):
    def _create_session(self) -> Session:
        return _Session(self.loop)


class _PreboundController(Controller):
    """aiosmtpd's Controller, serving on a socket we already bound (no port race)."""

    def __init__(self, handler: Any, sock: socket.socket, **smtp_kwargs: Any) -> None:
        host, port = sock.getsockname()
        super().__init__(handler, hostname=host, port=port, **smtp_kwargs)
        self._sock = sock

    def factory(self) -> SMTP:
        return _SMTP(self.handler, **self.SMTP_kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock)


class SmtpServer:
    host = HOST

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        auth_required: bool = True,
        on_accept: Callable[[ReceivedMessage], None] | None = None,
    ) -> None:
        self.users = dict(users if users is not None else {"alice": "secret"})
        self.auth_required = auth_required
        self.on_accept = on_accept
        self.messages: list[ReceivedMessage] = []
        self._arrived = threading.Condition()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, 0))
        self.port: int = sock.getsockname()[1]
        self._controller = _PreboundController(
            _Handler(self),
            sock,
            authenticator=self._authenticate,
            # Loopback tests: offer and accept AUTH without STARTTLS.
            auth_require_tls=False,
            # "Authentication required" is enforced in handle_MAIL: aiosmtpd's own
            # auth_required flag warns on every connection when TLS is not required.
            auth_required=False,
        )
        self._started = False

    def _authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if mechanism in ("PLAIN", "LOGIN") and isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode("utf-8", "replace")
            password = auth_data.password.decode("utf-8", "replace")
            if login in self.users and self.users[login] == password:
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    def _receive(self, message: ReceivedMessage) -> None:
        with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until at least `count` messages arrived (code under test may send later)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self.messages)} of {count} messages arrived")
                self._arrived.wait(remaining)
            return list(self.messages)

    def start(self) -> None:
        if not self._started:
            self._controller.start()
            self._started = True

    def stop(self) -> None:
        """Stop serving and close the socket (final: a stopped server does not start again)."""
        if self._started:
            self._controller.stop()
            self._started = False

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
