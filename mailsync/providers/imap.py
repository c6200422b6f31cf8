"""Any IMAP server, through imapclient.

Change detection per folder: STATUS first (one round trip: nothing new costs nothing more);
with QRESYNC, UID FETCH ... (CHANGEDSINCE m VANISHED) returns only what changed (RFC 7162);
otherwise the live UID list (UID SEARCH UNDELETED) is compared with what the CRM holds.
A message flagged \\Deleted counts as gone, as it is in every mail client.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.response_parser import parse_fetch_response

from mailsync.providers.base import (
    AuthenticationFailed,
    FolderCursor,
    FolderDelta,
    MessageKey,
    ProviderError,
    RawMessage,
    RemoteFolder,
    TemporaryFailure,
)

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
            ssl_context=ssl.create_default_context(),
            timeout=timeout,
        )
        if settings.security == "starttls":
            client.starttls(ssl.create_default_context())
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


class ImapProvider:
    def __init__(
        self,
        settings: ImapSettings,
        *,
        timeout: float = TIMEOUT,
        max_message_bytes: int = 25 * 1024 * 1024,
    ) -> None:
        self.max_message_bytes = max_message_bytes
        self.client = connect(settings, timeout=timeout)
        self.client.normalise_times = False  # aware INTERNALDATEs, not naive local time
        capabilities = set(self.client.capabilities())
        self.condstore = b"CONDSTORE" in capabilities
        self.qresync = False
        if b"QRESYNC" in capabilities:
            enabled = self.client.enable("QRESYNC")
            self.qresync = b"QRESYNC" in {c.upper() for c in enabled}
        self._selected: str | None = None

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
        cursor: FolderCursor,
        *,
        known_ids: Callable[[], frozenset[str]],
        since: date | None,
    ) -> FolderDelta:
        now = self._status(folder)
        if now.validity != cursor.validity:
            return self._from_scratch(folder, now, since=since, reset=cursor.validity is not None)
        if (
            self.condstore
            and now.highest_modseq == cursor.highest_modseq
            and (now.next_uid == cursor.next_uid)
        ):
            return FolderDelta(cursor=now)  # nothing moved: no SELECT, no SEARCH
        self._select(folder)
        if self.qresync and cursor.highest_modseq:
            return self._qresync_delta(now, cursor, known_ids())
        return self._uid_list_delta(now, cursor, known_ids())

    def all_ids(self, folder: RemoteFolder, *, since: date | None) -> FolderDelta:
        return self._from_scratch(folder, self._status(folder), since=since, reset=False)

    def _status(self, folder: RemoteFolder) -> FolderCursor:
        items = [b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES"]
        if self.condstore:
            items.append(b"HIGHESTMODSEQ")
        with self._errors(f"reading the state of {folder.name}"):
            status = self.client.folder_status(folder.name, items)
        modseq = status.get(b"HIGHESTMODSEQ")
        next_uid = int(status[b"UIDNEXT"])
        return FolderCursor(
            validity=int(status[b"UIDVALIDITY"]),
            last_uid=next_uid - 1,
            highest_modseq=int(modseq) if modseq is not None else None,
            next_uid=next_uid,
        )

    def _from_scratch(
        self, folder: RemoteFolder, now: FolderCursor, *, since: date | None, reset: bool
    ) -> FolderDelta:
        self._select(folder)
        criteria: list[Any] = ["UNDELETED"]
        if since is not None:
            criteria += ["SINCE", since]
        with self._errors(f"listing messages of {folder.name}"):
            uids = sorted(self.client.search(criteria))
        return FolderDelta(cursor=now, new_ids=[str(u) for u in uids], reset=reset)

    def _uid_list_delta(
        self, now: FolderCursor, cursor: FolderCursor, known_ids: frozenset[str]
    ) -> FolderDelta:
        with self._errors("listing messages"):
            live = {str(u) for u in self.client.search(["UNDELETED"])}
        # New: above the cursor, or below it but unknown (un-deleted again; a crash between
        # download and save is covered by the cursor moving only with the saved rows).
        new = sorted((u for u in live - known_ids if int(u) > cursor.last_uid), key=int)
        return FolderDelta(cursor=now, new_ids=new, removed_ids=sorted(known_ids - live, key=int))

    def _qresync_delta(
        self, now: FolderCursor, cursor: FolderCursor, known_ids: frozenset[str]
    ) -> FolderDelta:
        removed: set[str] = set()
        undeleted: set[str] = set()
        if cursor.last_uid > 0:
            changed, vanished = self._changed_since(cursor.last_uid, cursor.highest_modseq or 0)
            removed |= {u for u in vanished if u in known_ids}
            for uid, flags in changed.items():
                if b"\\Deleted" not in flags and uid not in known_ids:
                    undeleted.add(uid)
            removed |= {u for u, flags in changed.items() if b"\\Deleted" in flags} & known_ids
        with self._errors("listing new messages"):
            fresh = self.client.search(["UID", f"{cursor.last_uid + 1}:*", "UNDELETED"])
        new = {str(u) for u in fresh if u > cursor.last_uid} | undeleted
        return FolderDelta(
            cursor=now,
            new_ids=sorted(new - known_ids, key=int),
            removed_ids=sorted(removed, key=int),
        )

    def _changed_since(
        self, last_uid: int, modseq: int
    ) -> tuple[dict[str, tuple[bytes, ...]], set[str]]:
        """Flags changed and UIDs expunged since `modseq` among UIDs up to `last_uid`.

        imapclient's fetch() cannot send a range or return VANISHED (EARLIER) responses, so
        this one command goes through imaplib directly.
        """
        imap = self.client._imap
        with self._errors("reading changes"):
            typ, data = imap.uid(
                "FETCH", f"1:{last_uid}", f"(UID FLAGS) (CHANGEDSINCE {modseq} VANISHED)"
            )
            if typ != "OK":
                raise TemporaryFailure(f"The server refused CHANGEDSINCE: {data!r}")
            vanished_lines = imap.untagged_responses.pop("VANISHED", [])
        fetched = parse_fetch_response([d for d in data if d is not None], True, True)
        changed = {str(uid): tuple(item.get(b"FLAGS", ())) for uid, item in fetched.items()}
        vanished = {uid for line in vanished_lines for uid in _uids_in_vanished(line, last_uid)}
        return changed, vanished

    # --- downloads ----------------------------------------------------------------------

    def fetch_keys(self, folder: RemoteFolder, remote_ids: Sequence[str]) -> list[MessageKey]:
        self._select(folder)
        keys: list[MessageKey] = []
        for chunk in _chunks(remote_ids, CHUNK * 4):
            with self._errors(f"reading headers in {folder.name}"):
                response = self.client.fetch(
                    [int(u) for u in chunk], ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"]
                )
            for uid, item in response.items():
                header = item.get(b"BODY[HEADER.FIELDS (MESSAGE-ID)]", b"") or b""
                keys.append(MessageKey(remote_id=str(uid), message_id=_message_id(header)))
        keys.sort(key=lambda k: int(k.remote_id))
        return keys

    def fetch_raw(self, folder: RemoteFolder, remote_ids: Sequence[str]) -> Iterator[RawMessage]:
        """Each message whole, or its first max_message_bytes when larger (its text comes
        first; the attachments that make it huge are never kept): one FETCH per chunk."""
        self._select(folder)
        body = f"BODY.PEEK[]<0.{self.max_message_bytes}>"
        for chunk in _chunks([int(u) for u in remote_ids], CHUNK):
            with self._errors("downloading messages"):
                response = self.client.fetch(list(chunk), [body, "RFC822.SIZE", "INTERNALDATE"])
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
        if self._selected != folder.name:
            with self._errors(f"opening {folder.name}"):
                self.client.select_folder(folder.name, readonly=True)
            self._selected = folder.name

    def close(self) -> None:
        _close_quietly(self.client)

    @staticmethod
    @contextlib.contextmanager
    def _errors(doing: str) -> Iterator[None]:
        """Socket and protocol errors become a TemporaryFailure saying what we were doing."""
        try:
            yield
        except ProviderError:
            raise
        except (OSError, IMAPClientError, EOFError) as error:
            raise TemporaryFailure(f"The IMAP connection failed while {doing}: {error}.") from None


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
