"""A throwaway Dovecot 2.3 IMAP server in a temporary directory, for tests and benchmarks.

    with Dovecot(users={"alice": "secret"}) as server:
        uid = server.append("alice", "INBOX", raw)
        with server.client("alice") as imap:   # a logged-in imapclient.IMAPClient
            ...

`dovecot -F -c CONF` runs as a child process on a free 127.0.0.1 port, plaintext (ssl = no), with
Maildir storage and a passwd-file of {PLAIN} passwords. Run as root, the mail belongs to `nobody`;
run as anyone else, every Dovecot process runs as that user. The helper methods are synchronous
and talk IMAP (imapclient) or run `doveadm`, so a test sees exactly what a client would.

Dovecot's master needs about a second to stop (it polls its children once a second), so fixtures
use `close(background=True)`: the SIGTERM is sent at once and a thread waits and cleans up.
"""

from __future__ import annotations

import atexit
import contextlib
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from imapclient import IMAPClient

DOVECOT = os.environ.get("POSTCARD_DOVECOT", "/usr/sbin/dovecot")
DOVEADM = os.environ.get("POSTCARD_DOVEADM", "/usr/bin/doveadm")
HOST = "127.0.0.1"

START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0

# Dovecot 2.3.19's CAPABILITY after login (imap_capability unset). Hiding a capability means
# writing the whole list without it: imap_capability replaces the list, it cannot subtract.
DEFAULT_CAPABILITIES = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
    "WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW "
    "STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"
)

# Special-use folders every account gets (RFC 6154), created and subscribed on first login.
SPECIAL_FOLDERS = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}

# Appends are sent in batches of at most this many messages / bytes per MULTIAPPEND command.
APPEND_BATCH_MESSAGES = 500
APPEND_BATCH_BYTES = 16 * 1024 * 1024

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]")
_COPYUID = re.compile(rb"(\d+) ([0-9:,]+) ([0-9:,]+)")
_RAWLOG_STAMP = re.compile(r"(\d+\.\d+) ")


# Every started instance, so that a script dying of an exception does not leave Dovecot running.
_RUNNING: weakref.WeakSet[Dovecot] = weakref.WeakSet()


@atexit.register
def _close_leftovers() -> None:
    for server in list(_RUNNING):
        server.close()


class DovecotError(RuntimeError):
    """Dovecot did not start or stop, or a helper got an answer it did not expect."""


def free_port(host: str = HOST) -> int:
    """A port nobody listens on right now (the OS picks it; a race is possible, see start())."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def parse_uid_set(text: bytes | str) -> list[int]:
    """`1:3,7` -> [1, 2, 3, 7] (an IMAP sequence set of UIDs, as in APPENDUID/COPYUID)."""
    raw = text.decode("ascii") if isinstance(text, bytes) else text
    uids: list[int] = []
    for part in raw.split(","):
        first, _, last = part.partition(":")
        low, high = int(first), int(last or first)
        step = 1 if high >= low else -1
        uids.extend(range(low, high + step, step))
    return uids


def uid_set(uids: Iterable[int]) -> str:
    """[1, 2, 3, 7] -> `1:3,7`: short commands even for thousands of UIDs."""
    ordered = sorted(set(uids))
    if not ordered:
        raise ValueError("empty UID set")
    ranges: list[str] = []
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid != prev + 1:
            ranges.append(f"{start}:{prev}" if prev != start else str(start))
            start = uid
        prev = uid
    ranges.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(ranges)


def _appenduids(response: bytes | str) -> list[int]:
    text = response.encode() if isinstance(response, str) else response
    match = _APPENDUID.search(text)
    if match is None:
        raise DovecotError(f"no APPENDUID in {text!r}")
    return parse_uid_set(match.group(2))


def _batches(raws: Iterable[bytes]) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    size = 0
    for raw in raws:
        if batch and (len(batch) >= APPEND_BATCH_MESSAGES or size + len(raw) > APPEND_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(raw)
        size += len(raw)
    if batch:
        yield batch


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Dovecot:
    """One Dovecot instance; its mail survives stop()/start() and is deleted by close()."""

    host = HOST

    def __init__(
        self,
        users: Mapping[str, str] | None = None,
        capabilities_hidden: Iterable[str] = (),
        *,
        port: int | None = None,
        separator: str = "/",
        rawlog: bool = False,
        special_folders: Mapping[str, str] | None = None,
        extra_config: str = "",
    ) -> None:
        # Settings appended to the generated configuration (benchmarks: process limits).
        self.extra_config = extra_config
        # Folder name -> SPECIAL-USE flag, e.g. {"All Mail": "\\All"} for a Gmail-like server.
        self.special_folders = {**SPECIAL_FOLDERS, **(special_folders or {})}
        self.users: dict[str, str] = dict(users if users is not None else {"alice": "secret"})
        for name, password in self.users.items():
            _check_passwd_field(name)
            _check_passwd_field(password)
        self.capabilities_hidden = frozenset(c.upper() for c in capabilities_hidden)
        self.separator = separator
        self.rawlog = rawlog
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.root = Path(tempfile.mkdtemp(prefix="postcard-dovecot-"))
        self.conf_path = self.root / "dovecot.conf"
        self.passwd_path = self.root / "passwd"
        self.log_path = self.root / "dovecot.log"
        self.mail_dir = self.root / "mail"
        self.rawlog_dir = self.root / "rawlog"
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False
        self._mail_uid, self._mail_gid = self._prepare_dirs()
        self._write_passwd()

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"imap://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start Dovecot and return once it greets IMAP clients (the auth process is ready)."""
        if self._closed:
            raise DovecotError("this Dovecot was closed")
        if self.running:
            return
        for _attempt in range(5):
            self.conf_path.write_text(self._config())
            if self._launch():
                _RUNNING.add(self)
                return
            if self._fixed_port or "Address already in use" not in self.log_tail():
                break
            # Someone took the port between free_port() and Dovecot's bind: pick another.
            self.port = free_port()
        raise DovecotError(f"dovecot did not start on port {self.port}:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM and wait until the process is gone and the port refuses connections."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        self._wait_stopped()

    def _wait_stopped(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        # Children inherit the listening socket; wait until none of them holds it any more.
        deadline = time.monotonic() + STOP_TIMEOUT
        while _port_open(self.host, self.port):
            if time.monotonic() > deadline:
                raise DovecotError(f"port {self.port} still open after dovecot stopped")
            time.sleep(0.01)

    def close(self, *, background: bool = False) -> None:
        """Stop and delete every file. background=True returns at once (see the module doc)."""
        if self._closed:
            return
        self._closed = True
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        if not background:
            self._finish_close()
            return
        # Not a daemon thread: the interpreter waits for it, so no Dovecot outlives pytest.
        threading.Thread(target=self._finish_close, name="dovecot-close").start()

    def _finish_close(self) -> None:
        try:
            self._wait_stopped()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Dovecot:
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

    def log_tail(self, lines: int = 40) -> str:
        """The end of Dovecot's log (and of its stderr, where errors before logging go)."""
        text = ""
        for path in (self.root / "dovecot.stderr", self.log_path):
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _launch(self) -> bool:
        stderr_path = self.root / "dovecot.stderr"
        with stderr_path.open("ab") as stderr:
            self._process = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False
            if self._greets():
                return True
            time.sleep(0.005)
        self.stop()
        return False

    def _greets(self) -> bool:
        # imap-login sends its greeting only once the auth process answers, so a greeting means
        # a LOGIN will work. The timeout is short because if another program holds the port,
        # Dovecot exits (the caller checks) and the greeting would never come.
        try:
            with socket.create_connection((self.host, self.port), timeout=1.0) as sock:
                return sock.makefile("rb").readline().startswith(b"* OK")
        except OSError:
            return False

    # -- configuration -----------------------------------------------------------------------

    def _prepare_dirs(self) -> tuple[int, int]:
        self.mail_dir.mkdir()
        if os.geteuid() != 0:
            return os.getuid(), os.getgid()
        # Dovecot will not store mail as root: the mail belongs to nobody, who must be able to
        # reach it through the (root-owned, 0700 by default) temporary directory.
        nobody = pwd.getpwnam("nobody")
        self.root.chmod(0o755)
        os.chown(self.mail_dir, nobody.pw_uid, nobody.pw_gid)
        return nobody.pw_uid, nobody.pw_gid

    def _write_passwd(self) -> None:
        if self.rawlog:
            for name in self.users:
                directory = self.rawlog_dir / name
                directory.mkdir(parents=True, exist_ok=True)
                os.chown(directory, self._mail_uid, self._mail_gid)
        lines = [
            f"{name}:{{PLAIN}}{password}:{self._mail_uid}:{self._mail_gid}::"
            f"{self.mail_dir / name}::\n"
            for name, password in self.users.items()
        ]
        tmp = self.passwd_path.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        old_mtime = self.passwd_path.stat().st_mtime if self.passwd_path.exists() else 0.0
        # The auth process re-reads the file when its mtime (whole seconds) or size changes:
        # make sure the mtime moves even for two rewrites within one second.
        new_mtime = max(time.time(), int(old_mtime) + 1.0)
        os.utime(tmp, (new_mtime, new_mtime))
        tmp.replace(self.passwd_path)

    def _capability_setting(self) -> str:
        if not self.capabilities_hidden:
            return ""
        kept = [
            c for c in DEFAULT_CAPABILITIES.split() if c.upper() not in self.capabilities_hidden
        ]
        return f"imap_capability = {' '.join(kept)}\n"

    def _rawlog_setting(self) -> str:
        if not self.rawlog:
            return ""
        return f"protocol imap {{\n  rawlog_dir = {self.rawlog_dir}/%u\n}}\n"

    def _config(self) -> str:
        mailboxes = "".join(
            f'  mailbox "{name}" {{\n    special_use = {flag}\n    auto = subscribe\n  }}\n'
            for name, flag in self.special_folders.items()
        )
        unprivileged = ""
        login_chroot = ""
        anvil_chroot = ""
        if os.geteuid() != 0:
            user = pwd.getpwuid(os.getuid()).pw_name
            group = grp.getgrgid(os.getgid()).gr_name
            unprivileged = (
                f"default_internal_user = {user}\n"
                f"default_internal_group = {group}\n"
                f"default_login_user = {user}\n"
                "service auth-worker {\n  user = $default_internal_user\n}\n"
            )
            login_chroot = anvil_chroot = "  chroot =\n"
        return (
            "# Written by tests/servers/dovecot.py for one test run.\n"
            f"base_dir = {self.root}/run\n"
            f"state_dir = {self.root}/state\n"
            f"log_path = {self.log_path}\n"
            "instance_name = postcard-test-dovecot\n"
            "protocols = imap\n"
            f"listen = {self.host}\n"
            "ssl = no\n"
            "disable_plaintext_auth = no\n"
            "auth_mechanisms = plain login\n"
            # Tests try wrong passwords on purpose: answer a failure at once (Dovecot still
            # batches failures every 0.5 s), not after 2 s.
            "auth_failure_delay = 0\n"
            "mail_location = maildir:~/Maildir\n"
            "mail_fsync = never\n"
            "first_valid_uid = 1\n"
            f"{unprivileged}"
            f"{self._capability_setting()}"
            f"{self._rawlog_setting()}"
            "passdb {\n  driver = passwd-file\n"
            f"  args = {self.passwd_path}\n}}\n"
            "userdb {\n  driver = passwd-file\n"
            f"  args = {self.passwd_path}\n}}\n"
            # Without its anvil socket the auth process disables the penalty that delays every
            # login from an IP by 2-15 s after a failed one (auth-penalty.c); tests log in from
            # 127.0.0.1 right after trying a wrong password.
            "service anvil {\n"
            f"{anvil_chroot}"
            "  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n"
            "}\n"
            "service imap-login {\n"
            f"{login_chroot}"
            f"  inet_listener imap {{\n    address = {self.host}\n    port = {self.port}\n  }}\n"
            "  inet_listener imaps {\n    port = 0\n  }\n"
            "}\n"
            "namespace inbox {\n  inbox = yes\n"
            f"  separator = {self.separator}\n"
            f"{mailboxes}"
            "}\n"
            f"{self.extra_config}"
        )

    # -- users -------------------------------------------------------------------------------

    def set_password(self, user: str, new: str) -> None:
        """Change a password; the next LOGIN sees it (sessions already open stay open)."""
        if user not in self.users:
            raise KeyError(user)
        self.add_user(user, new)

    def kick(self, user: str) -> None:
        """End every open session of `user`, as providers do when a password changes."""
        self.doveadm("kick", user)

    def add_user(self, user: str, password: str) -> None:
        _check_passwd_field(user)
        _check_passwd_field(password)
        self.users[user] = password
        self._write_passwd()
        # The auth process stat()s the passwd-file at most once per second of its clock
        # (db-passwd-file.c: `last_sync_time == ioloop_time` skips the check), so a login in the
        # second of an earlier lookup could still see the old password. Wait for the next second.
        written = int(time.time())
        while int(time.time()) == written:
            time.sleep(0.01)

    # -- IMAP helpers --------------------------------------------------------------------------

    @contextlib.contextmanager
    def client(self, user: str, password: str | None = None) -> Iterator[Any]:
        """A logged-in imapclient.IMAPClient (plaintext); logged out afterwards."""
        imap = IMAPClient(self.host, port=self.port, ssl=False, timeout=60)
        try:
            imap.login(user, self.users[user] if password is None else password)
            yield imap
        except BaseException:
            imap.shutdown()
            raise
        else:
            imap.logout()

    def append(
        self,
        user: str,
        folder: str,
        raw: bytes,
        flags: Sequence[bytes | str] = (),
        internal_date: datetime | None = None,
    ) -> int:
        """APPEND one message; returns its UID (UIDPLUS APPENDUID)."""
        with self.client(user) as imap:
            response = imap.append(folder, raw, flags=flags, msg_time=internal_date)
        return _appenduids(response)[0]

    def append_many(self, user: str, folder: str, raws: Iterable[bytes]) -> list[int]:
        """Bulk load: MULTIAPPEND in batches (single APPENDs if it is hidden); the new UIDs."""
        uids: list[int] = []
        with self.client(user) as imap:
            multi = imap.has_capability("MULTIAPPEND")
            for batch in _batches(raws):
                if not multi:
                    uids.extend(_appenduids(imap.append(folder, raw))[0] for raw in batch)
                    continue
                typ, data = imap.multiappend(folder, batch)
                if typ != "OK":
                    raise DovecotError(f"MULTIAPPEND to {folder} failed: {typ} {data!r}")
                uids.extend(_appenduids(data[-1]))
        return uids

    def uids(self, user: str, folder: str) -> list[int]:
        with self.client(user) as imap:
            imap.select_folder(folder, readonly=True)
            return sorted(int(uid) for uid in imap.search(["ALL"]))

    def status(self, user: str, folder: str) -> dict[str, int]:
        """MESSAGES, UIDNEXT, UIDVALIDITY and UNSEEN of a folder."""
        with self.client(user) as imap:
            raw = imap.folder_status(folder, ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"])
        return {key.decode(): int(value) for key, value in raw.items()}

    def flag_deleted(self, user: str, folder: str, uids: Iterable[int]) -> None:
        """Set \\Deleted without expunging (the message stays, marked for deletion)."""
        with self.client(user) as imap:
            imap.select_folder(folder)
            imap.add_flags(uid_set(uids), [b"\\Deleted"], silent=True)

    def set_flags(self, user: str, folder: str, uids: Iterable[int], flags: Sequence[str]) -> None:
        """Replace the flags of messages (e.g. ["\\Seen", "\\Flagged"])."""
        with self.client(user) as imap:
            imap.select_folder(folder)
            imap.set_flags(uid_set(uids), list(flags), silent=True)

    def expunge(self, user: str, folder: str, uids: Iterable[int]) -> None:
        """Delete exactly these messages (\\Deleted, then UID EXPUNGE of just these UIDs)."""
        targets = uid_set(uids)
        with self.client(user) as imap:
            imap.select_folder(folder)
            imap.add_flags(targets, [b"\\Deleted"], silent=True)
            imap.uid_expunge(targets)

    def move(self, user: str, src: str, dst: str, uids: Sequence[int]) -> list[int]:
        """UID MOVE; returns the new UIDs in dst, in the order of `uids`."""
        with self.client(user) as imap:
            imap.select_folder(src)
            # A MOVE reports its COPYUID in an untagged OK, which imaplib files under COPYUID.
            imap._imap.untagged_responses.pop("COPYUID", None)
            imap.move(uid_set(uids), dst)
            codes = imap._imap.untagged_responses.pop("COPYUID", [])
        mapping: dict[int, int] = {}
        for code in codes:
            match = _COPYUID.match(code)
            if match is None:
                raise DovecotError(f"unexpected COPYUID {code!r}")
            mapping.update(
                zip(parse_uid_set(match.group(2)), parse_uid_set(match.group(3)), strict=True)
            )
        missing = [uid for uid in uids if uid not in mapping]
        if missing:
            raise DovecotError(f"MOVE did not report UIDs {missing} (no such messages?)")
        return [mapping[uid] for uid in uids]

    def create_folder(self, user: str, folder: str) -> None:
        with self.client(user) as imap:
            imap.create_folder(folder)
            imap.subscribe_folder(folder)

    def delete_folder(self, user: str, folder: str) -> None:
        with self.client(user) as imap:
            imap.delete_folder(folder)

    def folders(self, user: str) -> list[str]:
        with self.client(user) as imap:
            return [name for _flags, _sep, name in imap.list_folders()]

    def reset_uidvalidity(self, user: str, folder: str) -> int:
        """Give a folder a new UIDVALIDITY, keeping its messages (and flags, internal dates).

        The messages also get new, higher UIDs, as after a real server's rebuild: a client that
        ignored UIDVALIDITY would see every known UID vanish and unknown ones appear.
        Returns the new UIDVALIDITY.
        """
        before = self.status(user, folder)
        parking = f"postcard-uidvalidity-{before['UIDVALIDITY']}-{time.monotonic_ns()}"
        uids = self.uids(user, folder)
        if uids:
            self.create_folder(user, parking)
            self.move(user, folder, parking, uids)
        new_validity = before["UIDVALIDITY"] + 1
        self.doveadm("mailbox", "update", "-u", user, "--uid-validity", str(new_validity), folder)
        if uids:
            self.move(user, parking, folder, self.uids(user, parking))
            self.delete_folder(user, parking)
        after = self.status(user, folder)
        if after["UIDVALIDITY"] == before["UIDVALIDITY"] or after["MESSAGES"] != len(uids):
            raise DovecotError(f"UIDVALIDITY reset of {folder} failed: {before} -> {after}")
        return after["UIDVALIDITY"]

    def client_commands(self, user: str) -> list[str]:
        """Every line `user`'s IMAP clients sent after LOGIN (needs rawlog=True), oldest first.

        Proves what a client did *not* send: e.g. no ENABLE QRESYNC to a server that hides it.
        Lines of APPEND literals (message bodies) are included as sent.
        """
        if not self.rawlog:
            raise DovecotError("start Dovecot with rawlog=True to record client commands")
        # Each line starts with the time it arrived; one file per session.
        stamped: list[tuple[float, int, str]] = []
        for path in (self.rawlog_dir / user).glob("*.in"):
            stamp = 0.0
            for line in path.read_bytes().decode("latin-1").splitlines():
                match = _RAWLOG_STAMP.match(line)
                if match is not None:
                    stamp = float(match.group(1))
                    line = line[match.end() :]
                stamped.append((stamp, len(stamped), line))
        return [line for _stamp, _order, line in sorted(stamped)]

    def doveadm(self, *args: str) -> str:
        """Run `doveadm -c CONF ARGS...` against this instance; its stdout."""
        result = subprocess.run(
            [DOVEADM, "-c", str(self.conf_path), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.returncode != 0:
            raise DovecotError(f"doveadm {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout


def _check_passwd_field(value: str) -> None:
    if not value or any(char in value for char in ":\n\r"):
        raise ValueError(f"{value!r} cannot go into a passwd-file (empty, ':' or newline)")
