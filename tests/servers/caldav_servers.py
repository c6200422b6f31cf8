"""Throwaway CalDAV servers for tests: Radicale and Xandikos as child processes.

    with Radicale() as server:                  # users alice/secret and bob/secret
        url = server.make_calendar("alice", "Work", color="#FF0000")
        ...the code under test pushes to server.url as alice/secret...
        [calendar] = server.events("alice", url)     # icalendar.Calendar, one per object
        server.stop()                           # "server down": connections are refused
        server.start()                          # back on the same port, with the same data

Each runs as `sys.executable -m ...` over plain HTTP on a free 127.0.0.1 port, its storage in a
temporary directory that close() deletes. start() returns once the server answers OPTIONS with a
CalDAV `DAV:` header (polled every 5 ms: Radicale is up in about 0.15 s, Xandikos in 0.3 s);
stop() sends SIGTERM and waits (about 50 ms). The helper methods talk CalDAV through the `caldav`
1.x client, never through the server's files, so a test sees what any client would.

Radicale 3.9 (`Radicale`): htpasswd authentication with plain-text passwords; a wrong password
answers 401 at once (`[auth] delay = 0`). Rights `owner_only`: a user reaches only /<user>/. The
principal /<user>/ is also the calendar home, so calendars are /<user>/<id>/; the principal is
made on the user's first request and has no calendar until one is made. Any `/.well-known/caldav`
request answers 301 Moved Permanently to "/" before authentication; a PROPFIND of "/" then names
the principal (current-user-principal). A PUT whose UID another object of the calendar already has
answers 409 with <C:no-uid-conflict/>; a VTODO goes into a calendar made for VEVENT only (201).

Xandikos 0.4.10 (`Xandikos`), `python -m xandikos.web`: no authentication at all, and exactly one
user. It serves one principal (`--current-user-principal /<user>/`) to every request, whatever
credentials come with it or none: caldav never even sends them, as no 401 asks for them. (0.4.10
does have `--htpasswd`, but only with `--autocert`, HTTPS with a self-signed certificate, and
several users only in the experimental `python -m xandikos multi-user`; neither is used here.)
`--defaults` makes the calendar /<user>/calendars/calendar/ (display name "calendar"), an address
book and the scheduling inbox/outbox; the calendar home is /<user>/calendars/. `/.well-known/caldav`
answers 302 Found to "/". requests turns a PROPFIND that gets a 302 into a GET, so a caldav 1.6
DAVClient given the well-known URL fails (406, PropfindError): send the PROPFIND with redirects off
and use the Location. Xandikos is the stricter server: a UID already in the calendar under another
name answers 412 with <C:no-uid-conflict/>, a component the calendar was not made for answers 403
(caldav raises AuthorizationError for it), a second MKCALENDAR of one URL 403 (Radicale 409).
"""

from __future__ import annotations

import atexit
import http.client
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

import caldav
import icalendar
from caldav.elements import ical

from tests.servers.dovecot import free_port

HOST = "127.0.0.1"
DEFAULT_USERS = {"alice": "secret", "bob": "secret"}

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
CLIENT_TIMEOUT = 10  # seconds, for every request the helpers send

# Every started instance, so that a test run dying of an exception leaves no server running.
_RUNNING: weakref.WeakSet[CalDAVServer] = weakref.WeakSet()


@atexit.register
def _close_leftovers() -> None:
    for server in list(_RUNNING):
        server.close()


class CalDAVServerError(RuntimeError):
    """The server did not start, or a helper got an answer it did not expect."""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "calendar"


def _expect(response: caldav.davclient.DAVResponse, what: str, *statuses: int) -> None:
    if response.status not in statuses:
        raise CalDAVServerError(f"{what}: {response.status} {response.reason}\n{response.raw}")


class CalDAVServer:
    """One server process; its data survives stop()/start() and is deleted by close()."""

    host = HOST
    kind: ClassVar[str]
    # Whether a wrong password is refused (401), and whether more than one user can log in.
    authenticates: ClassVar[bool]
    multi_user: ClassVar[bool]

    def __init__(self, users: Mapping[str, str], *, port: int | None = None) -> None:
        self.users: dict[str, str] = dict(users)
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.root = Path(tempfile.mkdtemp(prefix=f"postcard-{self.kind}-"))
        self.log_path = self.root / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._started_once = False
        self._closed = False

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server root, e.g. http://127.0.0.1:PORT/ (what a user types in)."""
        return f"http://{self.host}:{self.port}/"

    @property
    def well_known_url(self) -> str:
        """RFC 6764 discovery: both servers redirect it to the root (see the module doc)."""
        return f"{self.url}.well-known/caldav"

    def principal_url(self, user: str) -> str:
        self._check_user(user)
        return f"{self.url}{user}/"

    def calendar_home_url(self, user: str) -> str:
        """Where the user's calendars are made (calendar-home-set)."""
        raise NotImplementedError

    def _check_user(self, user: str) -> None:
        if user not in self.users:
            raise KeyError(f"{self.kind} serves {sorted(self.users)}, not {user!r}")

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server (again) and return once it answers CalDAV requests.

        The first start moves to another free port if the chosen one was taken meanwhile; a
        restart keeps the port (clients configured with `url` must find it again) or fails."""
        if self._closed:
            raise CalDAVServerError(f"this {self.kind} was closed")
        if self.running:
            return
        for _attempt in range(5):
            log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._write_config()
            if self._launch():
                self._started_once = True
                _RUNNING.add(self)
                return
            taken = "address already in use" in self.log_tail(offset=log_offset).lower()
            if self._fixed_port or self._started_once or not taken:
                break
            self.port = free_port()
        raise CalDAVServerError(
            f"{self.kind} did not start on port {self.port}:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """SIGTERM, and wait until the process is gone (its port then refuses connections)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop and delete every file."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            _RUNNING.discard(self)
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def log_tail(self, lines: int = 40, *, offset: int = 0) -> str:
        """The end of the server's output (its log and any traceback)."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _write_config(self) -> None:
        """Write whatever the command reads (called before every launch, with the port set)."""

    def _launch(self) -> bool:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.root,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            if self._answers():
                return True
            time.sleep(0.005)
        self.stop()
        return False

    def _answers(self) -> bool:
        # An OPTIONS answered with calendar-access in DAV: this server, ready (not just a port
        # somebody else holds). Both answer OPTIONS without authentication.
        connection = http.client.HTTPConnection(self.host, self.port, timeout=1.0)
        try:
            connection.request("OPTIONS", "/")
            response = connection.getresponse()
            response.read()
            return "calendar-access" in (response.getheader("DAV") or "")
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    # -- CalDAV helpers ----------------------------------------------------------------------

    def client(
        self, user: str, password: str | None = None, *, url: str | None = None
    ) -> caldav.DAVClient:
        """A caldav 1.x client for `user` (their password unless given) at `url` (the root)."""
        self._check_user(user)
        return caldav.DAVClient(
            url or self.url,
            username=user,
            password=self.users[user] if password is None else password,
            timeout=CLIENT_TIMEOUT,
        )

    def make_calendar(
        self,
        user: str,
        name: str,
        *,
        color: str | None = None,
        components: Sequence[str] = ("VEVENT", "VTODO"),
        cal_id: str | None = None,
    ) -> str:
        """MKCALENDAR in the user's calendar home; returns the calendar's URL.

        `name` is the display name; the URL ends in `cal_id`, by default the name as a slug plus
        8 random hex digits (no clash with Xandikos's "calendar"). `color` (e.g. "#FF0000" or
        "#FF0000FF") is set by PROPPATCH as Apple's calendar-color (http://apple.com/ns/ical/)."""
        with self.client(user) as client:
            calendar = client.principal().make_calendar(
                name=name,
                cal_id=cal_id or f"{_slug(name)}-{uuid.uuid4().hex[:8]}",
                supported_calendar_component_set=list(components),
            )
            if color is not None:
                calendar.set_properties([ical.CalendarColor(color)])
            return str(calendar.url)

    def calendars(self, user: str) -> list[tuple[str, str]]:
        """(display name, URL) of each calendar the principal's calendar home lists, by URL.

        The name is "" for a calendar without a display name."""
        with self.client(user) as client:
            found = client.principal().calendars()
            pairs = [(calendar.name or "", str(calendar.url)) for calendar in found]
            return sorted(pairs, key=lambda pair: pair[1])

    def events(self, user: str, calendar_url: str) -> list[icalendar.Calendar]:
        """Every object in the calendar (VEVENT, VTODO, ...), parsed, ordered by URL.

        One calendar-query REPORT with no filter (caldav's search()), not caldav's objects():
        Radicale's first sync-collection answer still lists deleted objects (as 404s), and
        objects(load_objects=True) keeps them, without data."""
        with self.client(user) as client:
            found = client.calendar(url=calendar_url).search()
            return [
                icalendar.Calendar.from_ical(item.data)
                for item in sorted(found, key=lambda item: str(item.url))
            ]

    def delete_object(self, user: str, calendar_url: str, uid: str) -> None:
        """DELETE the calendar's object with this UID (found by a UID calendar-query).

        Raises caldav.lib.error.NotFoundError if there is none."""
        with self.client(user) as client:
            found = client.calendar(url=calendar_url).object_by_uid(uid)
            _expect(client.delete(str(found.url)), f"DELETE {found.url}", 200, 204)

    def delete_calendar(self, user: str, calendar_url: str) -> None:
        """DELETE the calendar collection and everything in it."""
        with self.client(user) as client:
            _expect(client.delete(calendar_url), f"DELETE {calendar_url}", 200, 204)


class Radicale(CalDAVServer):
    """Radicale: users alice/secret and bob/secret unless given, htpasswd auth (plain text)."""

    kind = "radicale"
    authenticates = True
    multi_user = True

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        log_requests: bool = False,
    ) -> None:
        super().__init__(DEFAULT_USERS if users is None else users, port=port)
        # Radicale logs one "... request for ..." line per request at info level (benchmarks).
        self.log_level = "info" if log_requests else "warning"
        for name, password in self.users.items():
            if not name or not password or any(char in name + password for char in ":\n\r"):
                raise ValueError(f"{name!r}/{password!r} cannot go into an htpasswd file")
        self.config_path = self.root / "config"
        self.htpasswd_path = self.root / "users"
        self.storage_dir = self.root / "collections"
        self.htpasswd_path.write_text(
            "".join(f"{name}:{password}\n" for name, password in self.users.items())
        )

    def calendar_home_url(self, user: str) -> str:
        return self.principal_url(user)

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "radicale", "--config", str(self.config_path)]

    def _write_config(self) -> None:
        # --config replaces the default files (/etc/radicale/config, ~/.config/radicale/config).
        self.config_path.write_text(
            "# Written by tests/servers/caldav_servers.py for one test.\n"
            "[server]\n"
            f"hosts = {self.host}:{self.port}\n"
            "[auth]\n"
            "type = htpasswd\n"
            f"htpasswd_filename = {self.htpasswd_path}\n"
            "htpasswd_encryption = plain\n"
            # Tests try wrong passwords on purpose: answer 401 at once, not after 1 s.
            "delay = 0\n"
            "[rights]\n"
            "type = owner_only\n"
            "[storage]\n"
            f"filesystem_folder = {self.storage_dir}\n"
            "[web]\n"
            "type = none\n"
            "[logging]\n"
            f"level = {self.log_level}\n"
        )


class Xandikos(CalDAVServer):
    """Xandikos: one user (alice unless given), no authentication: any password works."""

    kind = "xandikos"
    authenticates = False
    multi_user = False

    def __init__(
        self, user: str = "alice", password: str | None = None, *, port: int | None = None
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9._-]+", user) or user in (".", ".."):
            raise ValueError(f"{user!r} cannot be a principal path segment")
        # The password only goes to clients (default "secret"): Xandikos accepts any.
        super().__init__({user: "secret" if password is None else password}, port=port)
        self.user = user
        self.storage_dir = self.root / "data"
        self.state_dir = self.root / "state"

    def calendar_home_url(self, user: str) -> str:
        return f"{self.principal_url(user)}calendars/"

    def _command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "xandikos.web",
            "--directory",
            str(self.storage_dir),
            # Creates the principal with a calendar and an address book (again: a no-op).
            "--defaults",
            "--current-user-principal",
            f"/{self.user}/",
            "--listen-address",
            self.host,
            "--port",
            str(self.port),
            "--no-detect-systemd",
            # Else $XDG_DATA_HOME/xandikos (used only for TLS and WebDAV-Push keys anyway).
            "--state-dir",
            str(self.state_dir),
        ]
