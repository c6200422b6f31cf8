"""Any IMAP server, through imapclient.

Change detection per folder: the folder's state first (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ; with
CONDSTORE, nothing new costs nothing more), from a NOOP for the folder a kept session has selected
(imap_sessions.py) and from STATUS for the others; with QRESYNC, UID FETCH ... (CHANGEDSINCE m
VANISHED) returns only what changed (RFC 7162); otherwise the live UID list (UID SEARCH UNDELETED)
is compared with what the CRM holds. A message flagged \\Deleted counts as gone, as it is in
every mail client.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.response_parser import parse_fetch_response

from mailsync.providers.base import (
    AuthenticationFailed,
    FolderDelta,
    KnownIds,
    MessageKey,
    OneFolderAtATime,
    ProviderError,
    RawMessage,
    RemoteFolder,
    TemporaryFailure,
)
from mailsync.providers.imap_sessions import ImapCursor, ImapSession, SessionPool, session_key

CHUNK = 500  # UIDs per FETCH: large enough to stream, small enough to bound memory
TIMEOUT = 30.0

SKIPPED_ROLES = {"trash", "junk", "drafts", "flagged", "important"}
SPECIAL_USE = {
    b"\\Sent": "sent",
    b"\\Archive": "archive",
    b"\\All": "all",
    b"\\Trash": "trash",
    b"\\Junk": "junk",
    b"\\Drafts": "drafts",
    b"\\Flagged": "flagged",
    b"\\Important": "important",
}
# Servers without SPECIAL-USE: the usual names (Outlook, Apple Mail, Thunderbird, Courier).
NAME_ROLES = {
    "sent": "sent",
    "sent items": "sent",
    "sent messages": "sent",
    "sent mail": "sent",
    "archive": "archive",
    "archives": "archive",
    "trash": "trash",
    "deleted items": "trash",
    "deleted messages": "trash",
    "bin": "trash",
    "junk": "junk",
    "spam": "junk",
    "junk e-mail": "junk",
    "junk email": "junk",
    "drafts": "drafts",
    "draft": "drafts",
}


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str  # "ssl", "starttls" or "plain" (plain only to loopback)
    username: str
    password: str


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@functools.cache
def tls_context() -> ssl.SSLContext:
    """Certificate-verifying TLS settings, made once: loading the system's CA certificates takes
    about 30 ms, more than the rest of a quiet sync."""
    return ssl.create_default_context()


def connect(settings: ImapSettings, *, timeout: float = TIMEOUT) -> IMAPClient:
    """A logged-in client, or a ProviderError saying exactly what failed."""
    if settings.security == "plain" and not is_loopback(settings.host):
        raise AuthenticationFailed(
            "Unencrypted IMAP is only allowed to this machine; choose SSL/TLS or STARTTLS."
        )
    where = f"{settings.host}:{settings.port}"
    try:
        client = IMAPClient(
            settings.host,
            port=settings.port,
            ssl=settings.security == "ssl",
            ssl_context=tls_context(),
            timeout=timeout,
        )
        if settings.security == "starttls":
            client.starttls(tls_context())
    except socket.gaierror:
        raise TemporaryFailure(f"The IMAP server {settings.host} was not found (DNS).") from None
    except ConnectionRefusedError:
        raise TemporaryFailure(f"The IMAP server {where} refused the connection.") from None
    except ssl.SSLError as error:
        raise TemporaryFailure(f"TLS with {where} failed: {error.reason or error}.") from None
    except TimeoutError:
        raise TemporaryFailure(f"The IMAP server {where} did not answer in time.") from None
    except (OSError, IMAPClientError) as error:
        raise TemporaryFailure(f"Could not talk to the IMAP server {where}: {error}.") from None
    try:
        client.login(settings.username, settings.password)
    except LoginError:
        _close_quietly(client)
        raise AuthenticationFailed(
            f"The IMAP server refused the login for {settings.username}: "
            "wrong password, or an app password is required."
        ) from None
    except (OSError, IMAPClientError) as error:
        _close_quietly(client)
        raise TemporaryFailure(f"Login to {where} failed: {error}.") from None
    return client


def _close_quietly(client: IMAPClient) -> None:
    # Closing a connection that may already be broken: there is nothing left to report.
    with contextlib.suppress(Exception):
        client.logout()


class ImapProvider(OneFolderAtATime):
    """One sync's view of an IMAP account, on a fresh session or one kept from the last sync
    (imap_sessions.py: a parked session answers "has the largest folder changed?" with a NOOP)."""

    def __init__(
        self,
        settings: ImapSettings,
        *,
        timeout: float = TIMEOUT,
        max_message_bytes: int = 25 * 1024 * 1024,
        sessions: SessionPool | None = None,
    ) -> None:
        self.max_message_bytes = max_message_bytes
        self._sessions = sessions if sessions is not None and sessions.capacity > 0 else None
        self._key = session_key(
            settings.host, settings.port, settings.security, settings.username, settings.password
        )
        reused = self._reused_session()
        self.session = reused or _open_session(settings, timeout)
        self.client = self.session.client
        # Whether session.parked still describes the selected folder, but for the changes the
        # server reported since and imaplib filed (read at the next NOOP). False once the NOOP
        # reported a change, or a command's answer carried one and took it away for good.
        self._parked_current = (
            reused is not None and reused.parked is not None and not _changes_reported(self.client)
        )
        self.client._imap.untagged_responses.clear()
        self._broken = False
        self._seen: set[str] = set()  # folders whose state this sync read: where it may park

    @property
    def condstore(self) -> bool:
        return self.session.condstore

    @property
    def qresync(self) -> bool:
        return self.session.qresync

    def _reused_session(self) -> ImapSession | None:
        session = self._sessions.take(self._key) if self._sessions else None
        if session is None:
            return None
        try:
            session.client.noop()  # also how the server reports changes to the parked folder
        except Exception:  # dropped by the server, timed out...: a new login will tell
            session.shut()
            return None
        return session

    # --- folders ------------------------------------------------------------------------

    def folders(self) -> list[RemoteFolder]:
        found = []
        with self._errors("listing folders"):
            listing = self.client.list_folders()
        for flags, _delimiter, name in listing:
            if {b"\\Noselect", b"\\NonExistent"} & set(flags):
                continue
            found.append(RemoteFolder(name=name, role=folder_role(flags, name)))
        # Gmail-like servers: "All Mail" holds every message once; other folders are labels.
        everything = [f for f in found if f.role == "all"]
        if everything:
            return everything
        return [f for f in found if f.role not in SKIPPED_ROLES]

    # --- changes ------------------------------------------------------------------------

    def folder_delta(
        self,
        folder: RemoteFolder,
        cursor: str,
        *,
        known_ids: KnownIds,
        since: date | None,
    ) -> FolderDelta:
        start = ImapCursor.decode(cursor)
        now = self._state(folder)
        if now.validity != start.validity:
            reset = start.validity is not None
            return self._from_scratch(folder, start, now, since=since, reset=reset)
        if (
            self.condstore
            and now.highest_modseq == start.highest_modseq
            and (now.next_uid == start.next_uid)
        ):
            return _delta(start, now)  # nothing moved: no SELECT, no SEARCH
        self._select(folder)
        if self.qresync and start.highest_modseq:
            return self._qresync_delta(now, start, known_ids, since)
        return self._uid_list_delta(now, start, known_ids())

    def all_ids(self, folder: RemoteFolder, cursor: str, *, since: date | None) -> FolderDelta:
        start = ImapCursor.decode(cursor)
        now = self._state(folder)
        reset = start.validity is not None and now.validity != start.validity
        return self._from_scratch(folder, start, now, since=since, reset=reset)

    def _state(self, folder: RemoteFolder) -> ImapCursor:
        """The folder's UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ now.

        STATUS must not be used to check the selected folder for changes (RFC 3501 6.3.10): a
        parked folder the NOOP found unchanged is as it was parked, otherwise it is re-opened.
        A new session that will be kept opens its Inbox at once rather than asking STATUS and
        opening it again to park: on a large folder each costs the server an index read.
        """
        self._seen.add(folder.name)
        if folder.name == self.session.selected:
            if self._parked_current and self.session.parked:
                return self.session.parked
            return self._examine(folder) or self._status(folder)
        new_session = self._sessions is not None and self.session.selected is None
        if new_session and folder.role in ("inbox", "all"):
            return self._examine(folder) or self._status(folder)
        return self._status(folder)

    def _status(self, folder: RemoteFolder) -> ImapCursor:
        items = [b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES"]
        if self.condstore:
            items.append(b"HIGHESTMODSEQ")
        with self._errors(f"reading the state of {folder.name}"):
            status = self.client.folder_status(folder.name, items)
        self.session.sizes[folder.name] = int(status.get(b"MESSAGES", 0))
        return _cursor_of(status)

    def _from_scratch(
        self,
        folder: RemoteFolder,
        start: ImapCursor,
        now: ImapCursor,
        *,
        since: date | None,
        reset: bool,
    ) -> FolderDelta:
        self._select(folder)
        criteria: list[Any] = ["UNDELETED"]
        if since is not None:
            criteria += ["SINCE", since]
        with self._errors(f"listing messages of {folder.name}"):
            uids = sorted(self.client.search(criteria))
        return _delta(start, now, new_ids=[str(u) for u in uids], reset=reset)

    def _uid_list_delta(
        self, now: ImapCursor, cursor: ImapCursor, known_ids: frozenset[str]
    ) -> FolderDelta:
        with self._errors("listing messages"):
            live = {str(u) for u in self.client.search(["UNDELETED"])}
        # New: above the cursor, or below it but unknown (un-deleted again; a crash between
        # download and save is covered by the cursor moving only with the saved rows).
        new = sorted((u for u in live - known_ids if int(u) > cursor.last_uid), key=int)
        return _delta(cursor, now, new_ids=new, removed_ids=sorted(known_ids - live, key=int))

    def _qresync_delta(
        self, now: ImapCursor, cursor: ImapCursor, known_ids: KnownIds, since: date | None
    ) -> FolderDelta:
        """Only what changed is listed, so only those ids are looked up among the held ones."""
        changed: dict[str, tuple[bytes, ...]] = {}
        vanished: set[str] = set()
        if cursor.last_uid > 0:
            changed, vanished = self._changed_since(cursor.last_uid, cursor.highest_modseq or 0)
        with self._errors("listing new messages"):
            fresh = self.client.search(["UID", f"{cursor.last_uid + 1}:*", "UNDELETED"])
        arrived = {str(u) for u in fresh if u > cursor.last_uid}
        known = known_ids(vanished | set(changed) | arrived)
        deleted = {uid for uid, flags in changed.items() if b"\\Deleted" in flags}
        undeleted = set(changed) - deleted - known  # \\Deleted taken off again: back
        if undeleted and since is not None:  # not old mail whose flags changed (read, starred)
            undeleted = self._since(undeleted, since)
        return _delta(
            cursor,
            now,
            new_ids=sorted((arrived | undeleted) - known, key=int),
            removed_ids=sorted((vanished | deleted) & known, key=int),
        )

    def _since(self, uids: set[str], since: date) -> set[str]:
        """Those of these messages received on or after `since`."""
        kept: set[str] = set()
        for chunk in _chunks(sorted(map(int, uids)), CHUNK * 4):  # lines stay well under 64 KB
            with self._errors("listing changed messages"):
                found = self.client.search(["UID", _uid_set(chunk), "SINCE", since])
            kept |= {str(uid) for uid in found}
        return kept

    def _changed_since(
        self, last_uid: int, modseq: int
    ) -> tuple[dict[str, tuple[bytes, ...]], set[str]]:
        """Flags changed and UIDs expunged since `modseq` among UIDs up to `last_uid`."""
        fetched = self._uid_fetch(
            f"1:{last_uid}", f"(UID FLAGS) (CHANGEDSINCE {modseq} VANISHED)", "reading changes"
        )
        vanished_lines = self.client._imap.untagged_responses.pop("VANISHED", [])
        if any(b"EARLIER" not in line for line in vanished_lines):  # imaplib files bytes
            self._parked_current = False  # an expunge reported as it happened, taken here
        changed = {str(uid): tuple(item.get(b"FLAGS", ())) for uid, item in fetched.items()}
        vanished = {uid for line in vanished_lines for uid in _uids_in_vanished(line, last_uid)}
        return changed, vanished

    def _uid_fetch(self, uids: str, items: str, doing: str) -> dict[int, dict[bytes, Any]]:
        """UID FETCH through imaplib, every answer kept: imapclient's fetch() drops the FETCH
        responses the server sends unasked about other messages, which tell that the parked
        state went stale (_note_change_reports)."""
        with self._errors(doing):
            typ, data = self.client._imap.uid("FETCH", uids, items)
            if typ != "OK":
                raise TemporaryFailure(f"The IMAP server refused a FETCH while {doing}: {data!r}")
            # Keyed by sequence number: a report without a UID (no CONDSTORE) cannot pass for
            # the answer about another message.
            by_seq = parse_fetch_response([d for d in data if d is not None], False, False)
        self._note_change_reports(by_seq.values())
        return {int(item[b"UID"]): item for item in by_seq.values() if b"UID" in item}

    def _note_change_reports(self, items: Iterable[dict[bytes, Any]]) -> None:
        """If a FETCH response is newer than the parked state (a higher MODSEQ, or flags we did
        not ask for without one), that state is stale: the server will not report it again."""
        parked = self.session.parked
        parked_modseq = parked.highest_modseq if parked else None
        for item in items:
            modseq = item.get(b"MODSEQ")
            if modseq and parked_modseq is not None:
                newer = int(modseq[0]) > parked_modseq
            else:
                newer = b"FLAGS" in item
            if newer:
                self._parked_current = False
                return

    # --- downloads ----------------------------------------------------------------------

    def fetch_keys(self, folder: RemoteFolder, remote_ids: Sequence[str]) -> list[MessageKey]:
        self._select(folder)
        keys: list[MessageKey] = []
        for chunk in _chunks([int(u) for u in remote_ids], CHUNK * 4):
            response = self._uid_fetch(
                _uid_set(chunk),
                "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
                f"reading headers in {folder.name}",
            )
            for uid in chunk:  # not response's keys: it may hold unasked flag changes
                if uid not in response:  # expunged meanwhile
                    continue
                header = response[uid].get(b"BODY[HEADER.FIELDS (MESSAGE-ID)]", b"") or b""
                keys.append(MessageKey(remote_id=str(uid), message_id=_message_id(header)))
        keys.sort(key=lambda k: int(k.remote_id))
        return keys

    def fetch_raw(self, folder: RemoteFolder, remote_ids: Sequence[str]) -> Iterator[RawMessage]:
        """Each message whole, or its first max_message_bytes when larger (its text comes
        first; the attachments that make it huge are never kept): one FETCH per chunk."""
        self._select(folder)
        body = f"BODY.PEEK[]<0.{self.max_message_bytes}>"
        for chunk in _chunks([int(u) for u in remote_ids], CHUNK):
            response = self._uid_fetch(
                _uid_set(chunk), f"({body} RFC822.SIZE INTERNALDATE)", "downloading messages"
            )
            for uid in chunk:
                data = response.get(uid)
                if data is None:  # expunged between listing and download
                    continue
                yield RawMessage(
                    remote_id=str(uid),
                    raw=data.get(b"BODY[]<0>") or b"",
                    received_at=data.get(b"INTERNALDATE"),
                    truncated=int(data.get(b"RFC822.SIZE", 0)) > self.max_message_bytes,
                )

    # --- plumbing -----------------------------------------------------------------------

    def _select(self, folder: RemoteFolder) -> None:
        if self.session.selected != folder.name:
            self._examine(folder)

    def _examine(self, folder: RemoteFolder) -> ImapCursor | None:
        """Select the folder read-only; its state from the answer, if the server gave it all."""
        self.session.selected, self.session.parked = None, None
        with self._errors(f"opening {folder.name}"):
            response = self.client.select_folder(folder.name, readonly=True)
        self.client._imap.untagged_responses.clear()  # from here on, only changes accumulate
        self.session.selected = folder.name
        self.session.sizes[folder.name] = int(response.get(b"EXISTS", 0))
        wanted = {b"UIDNEXT", b"UIDVALIDITY"} | ({b"HIGHESTMODSEQ"} if self.condstore else set())
        if wanted <= set(response):  # not every server sends them all: then STATUS will tell
            self.session.parked = _cursor_of(response)
        self._parked_current = self.session.parked is not None
        return self.session.parked

    def close(self) -> None:
        """Park the session for the next sync, or log out if it cannot be trusted."""
        if self._sessions is None or self._broken:
            _close_quietly(self.client)
            return
        try:
            self._park()
        except Exception:
            self.session.shut()
            return
        self._sessions.give_back(self._key, self.session)

    def _park(self) -> None:
        """Leave the largest folder selected, with its state as of its selection."""
        sizes = {name: self.session.sizes.get(name, 0) for name in self._seen}
        if not sizes:  # the sync stopped early: trust the parked state only if still current
            if not self._parked_current:
                self.session.parked = None
            return
        largest = max(sizes, key=lambda name: (sizes[name], name == "INBOX"))
        if largest == self.session.selected and self._parked_current:
            return  # no change report was taken away since the selection or the NOOP
        self._examine(RemoteFolder(name=largest, role=""))

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Socket and protocol errors become a TemporaryFailure saying what we were doing."""
        try:
            yield
        except ProviderError:
            self._broken = True
            raise
        except (OSError, IMAPClientError, EOFError) as error:
            self._broken = True
            raise TemporaryFailure(f"The IMAP connection failed while {doing}: {error}.") from None


def _open_session(settings: ImapSettings, timeout: float) -> ImapSession:
    client = connect(settings, timeout=timeout)
    client.normalise_times = False  # aware INTERNALDATEs, not naive local time
    try:
        capabilities = set(client.capabilities())
        enabled: set[bytes] = set()
        # QRESYNC implies CONDSTORE; either makes SELECT answer with HIGHESTMODSEQ (RFC 7162).
        if b"QRESYNC" in capabilities:
            enabled = {c.upper() for c in client.enable("QRESYNC")}
        elif {b"CONDSTORE", b"ENABLE"} <= capabilities:
            enabled = {c.upper() for c in client.enable("CONDSTORE")}
    except (OSError, IMAPClientError, EOFError) as error:
        _close_quietly(client)
        raise TemporaryFailure(f"The IMAP server failed after login: {error}.") from None
    return ImapSession(
        client=client,
        condstore=b"CONDSTORE" in capabilities,
        qresync=b"QRESYNC" in enabled,
        opened_at=time.monotonic(),
    )


def _changes_reported(client: IMAPClient) -> bool:
    """Whether the server sent anything about the selected folder since the last clear:
    new mail (EXISTS, RECENT), expunges (EXPUNGE, VANISHED), flags (FETCH), a new HIGHESTMODSEQ.
    imaplib files every unsolicited response here by name; OK/NO/BAD it clears by itself."""
    return bool(set(client._imap.untagged_responses) - {"OK", "NO", "BAD", "CAPABILITY"})


def _delta(
    start: ImapCursor,
    now: ImapCursor,
    *,
    new_ids: list[str] | None = None,
    removed_ids: list[str] | None = None,
    reset: bool = False,
) -> FolderDelta:
    """The changes from `start` to `now`. New UIDs come in ascending order, so a batch stored
    moves the saved cursor up to its highest UID (after a reset, from the new UIDVALIDITY)."""
    base = ImapCursor(validity=now.validity) if reset else start
    return FolderDelta(
        cursor=now.encode(),
        new_ids=new_ids or [],
        removed_ids=removed_ids or [],
        reset=reset,
        resume_cursor=functools.partial(_resumed, base),
    )


def _resumed(base: ImapCursor, stored: Sequence[str]) -> str:
    """`base` with every UID up to the highest of a stored batch held."""
    highest = max((int(uid) for uid in stored), default=0)
    return dataclasses.replace(base, last_uid=max(base.last_uid, highest)).encode()


def _cursor_of(response: dict[bytes, Any]) -> ImapCursor:
    """A cursor from a STATUS or SELECT response."""
    modseq = response.get(b"HIGHESTMODSEQ")
    next_uid = int(response[b"UIDNEXT"])
    return ImapCursor(
        validity=int(response[b"UIDVALIDITY"]),
        last_uid=next_uid - 1,
        highest_modseq=int(modseq) if modseq is not None else None,
        next_uid=next_uid,
    )


def folder_role(flags: Sequence[bytes], name: str) -> str:
    if name.upper() == "INBOX":
        return "inbox"
    for flag in flags:
        if flag in SPECIAL_USE:
            return SPECIAL_USE[flag]
    leaf = re.split(r"[./]", name)[-1].strip().lower()
    return NAME_ROLES.get(leaf, "other")


def _message_id(header_block: bytes) -> str:
    """The raw Message-ID header value (the parser normalises it)."""
    _, _, value = header_block.partition(b":")
    return value.decode("utf-8", "replace").strip()


def _uid_set(uids: Sequence[int]) -> str:
    """Ascending UIDs as an IMAP set, runs as ranges: 1,2,3,7 -> 1:3,7."""
    runs: list[list[int]] = []
    for uid in uids:
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in runs)


def _uids_in_vanished(line: bytes | str, last_uid: int) -> Iterator[str]:
    text = line.decode() if isinstance(line, bytes) else line
    text = text.replace("(EARLIER)", "").strip()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition(":")
        start, end = int(low), int(high) if high and high != "*" else int(low)
        for uid in range(min(start, end), min(max(start, end), last_uid) + 1):
            yield str(uid)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
