"""IMAP sessions kept open between syncs, so a quiet mailbox costs a NOOP instead of a login.

A worker process keeps at most `capacity` logged-in sessions, one per account: a sync takes the
session out of the pool, uses it alone (the mailbox lease guarantees one sync at a time) and gives
it back. Between syncs a session stays "parked" with the mailbox's largest folder selected
read-only. The next sync's NOOP then says whether that folder changed at all: the server reports
every change to the selected folder as an unsolicited response (RFC 3501 section 7: EXISTS,
EXPUNGE, FETCH; RFC 7162: VANISHED). On a large mailbox that is far cheaper than STATUS, for which
a server such as Dovecot opens the folder's index (130 ms at 100,000 messages here, against 0.6 ms
for the NOOP; see benchmarks/README.md).

Sessions older than `max_age` are logged out rather than reused, so a changed or revoked password
is noticed by a fresh login even on a server that keeps existing sessions open; sessions unused for
`max_idle` are closed. The same limit bounds a rare server quirk: one that keeps a renamed selected
folder open, while a new folder takes its name, would have the old folder's state trusted until
then (Dovecot ends such sessions instead).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from imapclient import IMAPClient


@dataclass(frozen=True)
class ImapCursor:
    """Where the CRM stands in an IMAP folder; the engine keeps it as an opaque string."""

    validity: int | None = None  # UIDVALIDITY; None before the first complete sync
    last_uid: int = 0  # every UID up to here is held (or was skipped for good)
    highest_modseq: int | None = None
    next_uid: int | None = None

    def encode(self) -> str:
        return json.dumps([self.validity, self.last_uid, self.highest_modseq, self.next_uid])

    @classmethod
    def decode(cls, text: str) -> ImapCursor:
        """The cursor saved as `text`; a fresh one for "" or anything unreadable (the folder is
        then listed again and what is held is re-linked, never fetched twice)."""
        if not text:
            return cls()
        try:
            validity, last_uid, modseq, next_uid = json.loads(text)
            return cls(
                validity=_int_or_none(validity),
                last_uid=int(last_uid),
                highest_modseq=_int_or_none(modseq),
                next_uid=_int_or_none(next_uid),
            )
        except (TypeError, ValueError):
            return cls()


def _int_or_none(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not an integer")
    return value


@dataclass
class ImapSession:
    """One logged-in connection and what is known about its state."""

    client: IMAPClient
    condstore: bool
    qresync: bool  # enabled: ENABLE is only allowed once, before the first SELECT
    opened_at: float
    selected: str | None = None
    parked: ImapCursor | None = None  # the selected folder's state when the session was parked
    sizes: dict[str, int] = field(default_factory=dict)  # messages per folder, last seen

    def shut(self) -> None:
        # A session dropped from the pool may be broken already: nothing left to report. (Through
        # imaplib: imapclient's shutdown() logs, which fails once logging is torn down at exit.)
        with contextlib.suppress(Exception):
            self.client._imap.shutdown()


def session_key(*parts: object) -> str:
    """A pool key for an account: host, port, security, login and password, hashed, so a new
    password never gets the session the old one opened."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()


class SessionPool:
    def __init__(
        self,
        *,
        capacity: int,
        max_idle: float,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity, self.max_idle, self.max_age, self.clock = capacity, max_idle, max_age, clock
        self._idle: OrderedDict[str, tuple[ImapSession, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> ImapSession | None:
        """The account's parked session, or None (then the caller logs in)."""
        with self._lock:
            entry = self._idle.pop(key, None)
            dropped = self._sweep()
        for old in dropped:
            old.shut()
        if entry is None:
            return None
        session, parked_at = entry
        if self._expired(session, parked_at):
            session.shut()
            return None
        return session

    def give_back(self, key: str, session: ImapSession) -> None:
        now = self.clock()
        if self.capacity <= 0 or self._expired(session, now):
            session.shut()
            return
        with self._lock:
            previous = self._idle.pop(key, None)
            self._idle[key] = (session, now)
            dropped = self._sweep()
        if previous is not None and previous[0] is not session:
            dropped.append(previous[0])
        for old in dropped:
            old.shut()

    def _sweep(self) -> list[ImapSession]:
        """Expired sessions, then the least recently parked beyond capacity (lock held)."""
        dropped = []
        for key, (session, parked_at) in list(self._idle.items()):
            if self._expired(session, parked_at):
                dropped.append(session)
                del self._idle[key]
        while len(self._idle) > self.capacity:
            dropped.append(self._idle.popitem(last=False)[1][0])
        return dropped

    def close_all(self) -> None:
        with self._lock:
            sessions = [s for s, _ in self._idle.values()]
            self._idle.clear()
        for session in sessions:
            session.shut()

    def __len__(self) -> int:
        return len(self._idle)

    def _expired(self, session: ImapSession, parked_at: float) -> bool:
        now = self.clock()
        return now - session.opened_at >= self.max_age or now - parked_at >= self.max_idle
