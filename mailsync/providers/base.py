"""The one small interface every mail provider implements (IMAP now; Graph, Gmail, EWS later).

Providers speak only in these dataclasses and errors: no Django models, no third-party types.
The engine (mailsync/sync.py) asks a provider for folders, for what changed in a folder since a
cursor, for cheap keys of new messages and then for the raw bytes of the ones it does not hold.

Cursors are opaque: a string only the provider that made it reads ("" before a folder's first
sync), kept on the folder and saved in the same transaction as the changes it covers. IMAP's is
its UIDVALIDITY, last UID, HIGHESTMODSEQ and UIDNEXT; Graph's a folder's delta link. A provider
whose changes come for the whole account (Gmail's history id) shows the account as one folder.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol


class ProviderError(Exception):
    """A provider failure with a sentence fit for the user.

    `permanent` errors (credentials refused, access revoked) disconnect the mailbox and need the
    user; temporary ones (unreachable, timeout, throttled) are retried with backoff.
    """

    permanent = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthenticationFailed(ProviderError):
    permanent = True


class TemporaryFailure(ProviderError):
    permanent = False


class Throttled(TemporaryFailure):
    """The provider asked to wait (HTTP 429/503 Retry-After) longer than a sync waits: the
    mailbox is paused until then, for every worker (Mailbox.paused_until)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RemoteFolder:
    name: str  # the provider's key for the folder: IMAP's path, Graph's immutable folder id
    role: str  # mailsync.models.FolderRole value
    label: str = ""  # what a person calls it ("Inbox/Projects"), when the key is not that

    @property
    def shown_as(self) -> str:
        return self.label or self.name


@dataclass
class FolderDelta:
    """What changed in a folder since the cursor."""

    cursor: str  # the folder as seen now: saved once every change is applied
    new_ids: list[str] = field(default_factory=list)  # in the order to fetch them
    removed_ids: list[str] = field(default_factory=list)
    reset: bool = False  # the ids changed meaning (UIDVALIDITY): forget every stored location
    # The cursor to save with a stored batch of `new_ids` (and, given none, right after a
    # reset), so that a sync killed half-way resumes after the last batch. None: the folder's
    # cursor stays as it was until the end, and a resumed sync skips what it holds already.
    resume_cursor: Callable[[Sequence[str]], str] | None = None

    @property
    def unchanged(self) -> bool:
        return not (self.new_ids or self.removed_ids or self.reset)


@dataclass(frozen=True)
class MessageKey:
    """Cheap facts fetched before a download, to skip messages already held."""

    remote_id: str
    message_id: str  # the raw Message-ID header value, "" if none


@dataclass(frozen=True)
class RawMessage:
    remote_id: str
    raw: bytes
    received_at: datetime | None
    truncated: bool  # only the start was fetched (message over the size limit)


class KnownIds(Protocol):
    """The remote ids the CRM holds in a folder: all of them (a read of the whole folder), or
    only those among `among` (a cheap lookup, when the provider knows what changed)."""

    def __call__(self, among: Collection[str] | None = None) -> frozenset[str]: ...


@dataclass(frozen=True)
class DeltaRequest:
    folder: RemoteFolder
    cursor: str
    known_ids: KnownIds  # read only if needed


class MailProvider(Protocol):
    def folders(self) -> list[RemoteFolder]: ...

    def folder_deltas(
        self, wanted: Sequence[DeltaRequest], *, since: date | None
    ) -> list[FolderDelta]:
        """What changed in each folder, in the order asked. A provider that can ask about
        many folders in one round trip (Graph's $batch) does so here."""
        ...

    def all_ids(self, folder: RemoteFolder, cursor: str, *, since: date | None) -> FolderDelta:
        """Every live id (for reconciliation), as new_ids, with the current cursor; `reset` if
        the ids no longer mean what they meant at `cursor`."""
        ...

    def fetch_keys(self, folder: RemoteFolder, remote_ids: Sequence[str]) -> list[MessageKey]: ...

    def fetch_raw(self, folder: RemoteFolder, remote_ids: Sequence[str]) -> Iterator[RawMessage]:
        """The messages' bytes, at most a size limit each (RawMessage.truncated beyond it)."""
        ...

    def close(self) -> None: ...


class OneFolderAtATime:
    """`folder_deltas` for a provider that asks folder by folder (`folder_delta`)."""

    def folder_delta(
        self, folder: RemoteFolder, cursor: str, *, known_ids: KnownIds, since: date | None
    ) -> FolderDelta:
        raise NotImplementedError

    def folder_deltas(
        self, wanted: Sequence[DeltaRequest], *, since: date | None
    ) -> list[FolderDelta]:
        return [
            self.folder_delta(w.folder, w.cursor, known_ids=w.known_ids, since=since)
            for w in wanted
        ]
