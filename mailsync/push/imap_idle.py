"""The IMAP listener: IDLE (RFC 2177) on each active IMAP mailbox's Inbox, and NOTIFY (RFC 5465)
for its other folders where the server offers it, a sync queued when the server reports a change
(`manage.py mailbox_listen`, a process next to the Celery worker).

One thread per watched mailbox holds its IDLE session (imapclient is synchronous; a thread blocked
in a socket read costs a stack and a socket, measured in benchmarks/latency.py). The threads never
touch the database: they put mailbox ids on a queue, and the process's main thread turns them into
wake-ups (mailsync/push/wakeups.py), refreshes the list of mailboxes to watch, and writes the
listener's health (MailboxWatch) for `mailbox_status` and the admin.

- EXISTS, EXPUNGE and FETCH (new mail, deleted mail, flags) wake the mailbox; the sync reads it.
- IDLE is ended and started again every IDLE_RESTART seconds: servers may drop an IDLE after 30
  minutes (RFC 2177: "re-issue it at least every 29 minutes").
- A dropped connection reconnects with exponential backoff (1 s to 2 minutes), and the mailbox is
  woken once after reconnecting: a change may have come while nobody listened.
- Mailboxes are sharded across listener processes by a stable hash of their id (`--shard`,
  `--shards`), so two processes never watch the same one; a mailbox connected, disconnected or
  removed is picked up or dropped at the next refresh (every REFRESH seconds).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from imapclient import IMAPClient

from mailsync.providers.base import AuthenticationFailed, ProviderError
from mailsync.providers.imap import ImapSettings, connect

logger = logging.getLogger(__name__)

IDLE_RESTART = 25 * 60  # seconds: well before the 29 minutes RFC 2177 allows
CHECK_EVERY = 5.0  # seconds an idle_check waits: how soon a stopped watcher notices
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 120.0
REFUSED_WAIT = 300.0  # a refused login: the sync will disconnect the mailbox; try again rarely
# In the selected Inbox: new, deleted, changed mail; elsewhere (NOTIFY): a folder's new STATUS.
WAKING = (b"EXISTS", b"EXPUNGE", b"FETCH", b"RECENT")
NOTIFY_SET = [
    b"SET",
    b"(selected (MessageNew MessageExpunge FlagChange))",
    b"(personal (MessageNew MessageExpunge))",
]


def shard_of(mailbox_id: int, shards: int) -> int:
    """A stable shard for a mailbox: the same in every process and after every restart."""
    digest = hashlib.sha256(str(mailbox_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") % max(shards, 1)


@dataclass(frozen=True)
class WatchTarget:
    mailbox_id: int
    settings: ImapSettings

    @property
    def fingerprint(self) -> str:
        """Changes when the login does (a reconnect with a new password): watch again."""
        s = self.settings
        return hashlib.sha256(
            repr((s.host, s.port, s.security, s.username, s.password)).encode()
        ).hexdigest()


@dataclass(frozen=True)
class Event:
    mailbox_id: int
    kind: str  # "change", "connected", "disconnected"
    detail: str = ""


class Watcher(threading.Thread):
    """One mailbox's IDLE session, for as long as it is watched."""

    def __init__(
        self,
        target: WatchTarget,
        events: queue.Queue[Event],
        *,
        idle_restart: float = IDLE_RESTART,
        check_every: float = CHECK_EVERY,
    ) -> None:
        super().__init__(name=f"idle-{target.mailbox_id}", daemon=True)
        self.target = target
        self._events = events
        self._stop_event = threading.Event()
        self._idle_restart = idle_restart
        self._check_every = check_every
        self._client: IMAPClient | None = None
        self._watched_before = False

    def stop(self) -> None:
        self._stop_event.set()

    @property
    def stopping(self) -> bool:
        return self._stop_event.is_set()

    def run(self) -> None:
        backoff = BACKOFF_FIRST
        while not self.stopping:
            try:
                self._watch()
                backoff = BACKOFF_FIRST
            except AuthenticationFailed as error:
                self._said("disconnected", error.message)
                self._stop_event.wait(REFUSED_WAIT)
            except (ProviderError, OSError, Exception) as error:
                if self.stopping:
                    break
                self._said("disconnected", _reason(error))
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            finally:
                self._close()

    def _watch(self) -> None:
        client = connect(self.target.settings, timeout=60)
        self._client = client
        if b"IDLE" not in client.capabilities():
            # Nothing to listen with: the minute poll alone, said in the health row.
            raise AuthenticationFailed("The server does not offer IDLE: synced every minute.")
        client.select_folder("INBOX", readonly=True)
        _notify_other_folders(client)
        client.idle()  # from here on the server reports every change (RFC 2177)
        self._said("connected")
        if self._watched_before:
            # A change may have come while the connection was down. (Not on the first watch:
            # the minute poll covers the time before the listener, and a listener starting
            # with thousands of mailboxes would queue as many syncs at once.)
            self._said("change", "watching again")
        self._watched_before = True
        while not self.stopping:
            self._one_idle(client)
            if not self.stopping:
                client.idle()

    def _one_idle(self, client: IMAPClient) -> None:
        """Wait for changes in the IDLE already started, up to the restart time; end it."""
        started = time.monotonic()
        while not self.stopping and time.monotonic() - started < self._idle_restart:
            asked = time.monotonic()
            responses = client.idle_check(timeout=self._check_every)
            if any(_wakes(response) for response in responses):
                self._said("change")
            elif not responses and time.monotonic() - asked < self._check_every / 2:
                # imapclient swallows EOF: the socket was readable and said nothing, so the
                # server closed the connection (a restart, its own timeout).
                raise ConnectionError("the server closed the connection")
        if not self.stopping:
            client.idle_done()

    def _said(self, kind: str, detail: str = "") -> None:
        self._events.put(Event(self.target.mailbox_id, kind, detail[:500]))

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.shutdown()


def _notify_other_folders(client: IMAPClient) -> None:
    """Where the server offers NOTIFY (RFC 5465), changes in the other folders of the account
    are reported too, as STATUS responses during the IDLE (Dovecot needs mailbox_list_index =
    yes for that). Without it the Inbox alone is watched, the other folders by the minute poll."""
    if b"NOTIFY" not in client.capabilities():
        return
    with contextlib.suppress(Exception):  # refused: IDLE on the Inbox still works
        client._raw_command(b"NOTIFY", NOTIFY_SET, uid=False)


def _wakes(response: object) -> bool:
    """`(3, b'EXISTS')`, `(2, b'EXPUNGE')`, `(5, b'FETCH', (...))`: a change in the Inbox;
    `(b'STATUS', b'Sent', (...))`: one in another folder (NOTIFY)."""
    if not isinstance(response, tuple) or len(response) < 2:
        return False
    return response[1] in WAKING or response[0] == b"STATUS"


def _reason(error: BaseException) -> str:
    if isinstance(error, ProviderError):
        return error.message
    return f"{type(error).__name__}: {error}"[:500]


class Listener:
    """Watches the mailboxes of its shard; `run()` until `stop()`.

    `targets()` gives what should be watched now (the main thread's database read); `on_event`
    is called on the main thread for every event the watchers report."""

    def __init__(
        self,
        *,
        targets: Callable[[], list[WatchTarget]],
        on_event: Callable[[Event], None],
        on_refresh: Callable[[dict[int, Watcher]], None] = lambda watchers: None,
        refresh_every: float = 30.0,
        idle_restart: float = IDLE_RESTART,
        check_every: float = CHECK_EVERY,
    ) -> None:
        self._targets = targets
        self._on_event = on_event
        self._on_refresh = on_refresh
        self._refresh_every = refresh_every
        self._idle_restart = idle_restart
        self._check_every = check_every
        self.events: queue.Queue[Event] = queue.Queue()
        self.watchers: dict[int, Watcher] = {}
        self._stop_event = threading.Event()

    @property
    def name(self) -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        next_refresh = 0.0
        try:
            while not self._stop_event.is_set():
                if time.monotonic() >= next_refresh:
                    try:
                        self.refresh()
                    except Exception:  # the database away a moment: keep watching, try again
                        logger.exception("listener: could not read the mailboxes to watch")
                    next_refresh = time.monotonic() + self._refresh_every
                self._drain(timeout=min(1.0, max(next_refresh - time.monotonic(), 0.01)))
        finally:
            for watcher in self.watchers.values():
                watcher.stop()

    def refresh(self) -> None:
        wanted = {target.mailbox_id: target for target in self._targets()}
        for mailbox_id, watcher in list(self.watchers.items()):
            target = wanted.get(mailbox_id)
            if target is None or target.fingerprint != watcher.target.fingerprint:
                watcher.stop()
                del self.watchers[mailbox_id]
        for mailbox_id, target in wanted.items():
            if mailbox_id not in self.watchers:
                watcher = Watcher(
                    target,
                    self.events,
                    idle_restart=self._idle_restart,
                    check_every=self._check_every,
                )
                watcher.start()
                self.watchers[mailbox_id] = watcher
        self._on_refresh(self.watchers)

    def _drain(self, *, timeout: float) -> None:
        try:
            event = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        batch = [event]
        with contextlib.suppress(queue.Empty):
            while len(batch) < 1000:
                batch.append(self.events.get_nowait())
        for one in batch:
            if one.mailbox_id in self.watchers:  # not one just dropped
                try:
                    self._on_event(one)
                except Exception:
                    logger.exception("listener: event for mailbox %s", one.mailbox_id)
