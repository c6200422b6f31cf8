"""Pytest fixtures for tests against real servers: a fresh Dovecot, SMTP or CalDAV server per test.

Use them from a conftest.py or test module:

    from tests.servers.conftest_fixtures import dovecot, dovecot_plain, smtp_server  # noqa: F401

(or `pytest_plugins = ["tests.servers.conftest_fixtures"]` in the root tests/conftest.py), and mark
such tests `@pytest.mark.server`. A missing Dovecot, aiosmtpd, Radicale or Xandikos skips the
test, and POSTCARD_REQUIRE_SERVERS=1 (CI) turns that skip into a failure.

- `dovecot`: users alice/secret and bob/secret, every capability Dovecot 2.3 has (CONDSTORE,
  QRESYNC, MOVE, UIDPLUS, SPECIAL-USE, ...). Starts in about 20-40 ms.
- `dovecot_plain`: the same without CONDSTORE and QRESYNC in CAPABILITY (like Exchange Online),
  recording what clients send (`dovecot_plain.client_commands("alice")`). Dovecot still
  executes ENABLE QRESYNC or CHANGEDSINCE if a client sends them anyway: assert on the recorded
  commands to prove a client did not.
- `dovecot_recorded`: `dovecot`, recording what clients send, one file per session.
- `smtp_server`: alice/secret, AUTH PLAIN/LOGIN without TLS, messages in `.messages`;
  `.users` may change while it runs, `.on_accept` runs before each 250 to DATA (smtp.py).
- `microsoft`: a fake Microsoft 365 (tests/servers/microsoft.py): the identity platform over HTTPS
  for MSAL (`.authority`) and Graph (`.graph_url`) around one fresh tenant (`.tenant`, the control
  API) with a registered app (`.client_id`, `.client_secret`, `.redirect_uri`,
  `.add_redirect_uri(uri)`) and users alice and bob (password "secret"). REQUESTS_CA_BUNDLE
  points at `.ca_pem_path` during the test. Pure Python: never skipped, no `server` mark needed.
  Graph also takes change-notification subscriptions on messages and POSTs the notifications
  (http to 127.0.0.1/localhost allowed) from a background thread: `.tenant.notifications_sent`,
  `.tenant.wait_for_notifications(n)`, `.tenant.send_lifecycle(id, event)` (graph_subscriptions.py).
- `google`: a fake Google (tests/servers/google.py): the OAuth server over HTTPS (`.auth_uri`,
  `.token_uri`, `.revoke_uri`, `.client_config()` for google-auth-oauthlib's Flow) and the Gmail
  API (`.gmail_url`, the api_endpoint for googleapiclient's `build`) around fresh
  `GoogleAccounts` (`.accounts`, the control API) with a registered client (`.client_id`,
  `.client_secret`, `.redirect_uri`, `.add_redirect_uri(uri)`) and the users alice@acme.test
  (Workspace), bob@gmail.com and carol@blocked.test (Workspace, app blocked by its admin),
  password "secret". REQUESTS_CA_BUNDLE points at `.ca_pem_path` during the test. Pure Python.
- `radicale`: Radicale 3.9 over plain HTTP (tests/servers/caldav_servers.py), users alice/secret
  and bob/secret (htpasswd; a wrong password gets 401), each reaching only their own /<user>/
  (principal and calendar home); no calendar until one is made. Up in about 0.15 s.
- `xandikos`: Xandikos 0.4.10 over plain HTTP: one user, alice, and no authentication (any
  password, or none, gets in). Its principal /alice/ starts with the calendar
  /alice/calendars/calendar/ (display name "calendar"). A UID already in the calendar under
  another name answers 412 (Radicale 409), a component the calendar was not made for 403
  (Radicale stores it). Up in about 0.3 s.
  Both: `.url` (the root), `.well_known_url`, `.principal_url(user)`, `.calendar_home_url(user)`,
  `.users`, `.client(user)` (a caldav.DAVClient), `.make_calendar(user, name, color=...,
  components=...)` -> URL, `.calendars(user)`, `.events(user, url)` (icalendar.Calendar objects),
  `.delete_object(user, url, uid)`, `.delete_calendar(user, url)`, `.stop()`/`.start()` (down and
  back on the same port with the same data). `.authenticates` and `.multi_user` say which
  server refuses wrong passwords and serves bob too. Tests using them are `@pytest.mark.server`.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.servers.dovecot import DOVEADM, DOVECOT, Dovecot

if TYPE_CHECKING:
    from tests.servers.caldav_servers import Radicale, Xandikos
    from tests.servers.google import GoogleCloud
    from tests.servers.microsoft import MicrosoftCloud
    from tests.servers.smtp import SmtpServer

DOVECOT_USERS = {"alice": "secret", "bob": "secret"}
SMTP_USERS = {"alice": "secret", "bob": "secret"}


def _require_dovecot() -> None:
    for binary in (DOVECOT, DOVEADM):
        if not (Path(binary).is_file() and os.access(binary, os.X_OK)):
            pytest.skip(f"dovecot not installed ({binary} missing): apt-get install dovecot-imapd")


def _require_modules(*modules: str) -> None:
    """Skip unless the modules are installed (in this interpreter, which also runs the servers)."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} not installed: pip install -e '.[dev]'")


def _dovecot(
    *,
    capabilities_hidden: tuple[str, ...] = (),
    rawlog: bool = False,
    special_folders: dict[str, str] | None = None,
) -> Iterator[Dovecot]:
    _require_dovecot()
    server = Dovecot(
        users=DOVECOT_USERS,
        capabilities_hidden=capabilities_hidden,
        rawlog=rawlog,
        special_folders=special_folders,
    )
    try:
        server.start()
        yield server
    finally:
        # Stopping takes Dovecot about a second; let that happen while the next test runs.
        server.close(background=True)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    yield from _dovecot()


@pytest.fixture
def dovecot_plain() -> Iterator[Dovecot]:
    yield from _dovecot(capabilities_hidden=("CONDSTORE", "QRESYNC"), rawlog=True)


@pytest.fixture
def dovecot_recorded() -> Iterator[Dovecot]:
    """`dovecot` recording what clients send (`dovecot_recorded.client_commands("alice")`)."""
    yield from _dovecot(rawlog=True)


@pytest.fixture
def dovecot_all_mail() -> Iterator[Dovecot]:
    """A Gmail-like server: an "All Mail" folder (\\All) holding every message once more."""
    yield from _dovecot(special_folders={"All Mail": "\\All"})


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    pytest.importorskip("aiosmtpd", reason="aiosmtpd not installed: pip install -e '.[dev]'")
    from tests.servers.smtp import SmtpServer

    with SmtpServer(users=SMTP_USERS) as server:
        yield server


@pytest.fixture
def microsoft(monkeypatch: pytest.MonkeyPatch) -> Iterator[MicrosoftCloud]:
    """Fresh servers per test: starting both takes a few milliseconds (the CA and the signing
    key are made once per process). requests takes REQUESTS_CA_BUNDLE over `verify=`, so the
    test CA goes into the environment, for MSAL and for the code under test alike; CURL_CA_BUNDLE
    is cleared because requests would otherwise fall back to it."""
    from tests.servers.microsoft import MicrosoftCloud

    with MicrosoftCloud() as cloud:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", cloud.ca_pem_path)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        yield cloud


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[GoogleCloud]:
    """Fresh servers and accounts per test (a few milliseconds; the CA and the id-token signing
    key are made once per process). The test CA goes into REQUESTS_CA_BUNDLE, for
    google-auth-oauthlib, google-auth and the code under test alike (requests takes it over
    `verify=`); CURL_CA_BUNDLE is cleared because requests would otherwise fall back to it."""
    from tests.servers.google import GoogleCloud

    with GoogleCloud() as cloud:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", cloud.ca_pem_path)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        yield cloud


@pytest.fixture
def radicale() -> Iterator[Radicale]:
    """A fresh Radicale per test (about 0.15 s to start, 50 ms to stop): users alice and bob."""
    _require_modules("radicale", "caldav", "icalendar")
    from tests.servers.caldav_servers import Radicale

    with Radicale() as server:
        yield server


@pytest.fixture
def xandikos() -> Iterator[Xandikos]:
    """A fresh Xandikos per test (about 0.3 s to start): alice only, any password accepted."""
    _require_modules("xandikos", "caldav", "icalendar")
    from tests.servers.caldav_servers import Xandikos

    with Xandikos() as server:
        yield server
