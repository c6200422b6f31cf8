"""The one small interface every mail provider implements (IMAP now; Graph, Gmail, EWS later).

Providers speak only in these dataclasses and errors: no Django models, no third-party types.
The engine (mailsync/sync.py) asks a provider for folders, for what changed in a folder since a
cursor, for cheap keys of new messages and then for the raw bytes of the ones it does not hold.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
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


@dataclass(frozen=True)
class RemoteFolder:
    name: str
    role: str  # mailsync.models.FolderRole value


@dataclass(frozen=True)
class FolderCursor:
    """Where the CRM stands in a folder: saved with the rows it covers."""

    validity: int | None = None  # IMAP UIDVALIDITY; None before the first sync
    last_uid: int = 0
    highest_modseq: int | None = None
    next_uid: int | None = None


@dataclass
class FolderDelta:
    """What changed in a folder since the cursor."""

    cursor: FolderCursor  # the folder as seen now: save once the changes are applied
    new_ids: list[str] = field(default_factory=list)  # ascending, to resume after a crash
    removed_ids: list[str] = field(default_factory=list)
    reset: bool = False  # the ids changed meaning (UIDVALIDITY): forget every stored location

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


class MailProvider(Protocol):
    def folders(self) -> list[RemoteFolder]: ...

    def folder_delta(
        self,
        folder: RemoteFolder,
        cursor: FolderCursor,
        *,
        known_ids: KnownIds,  # read only if needed
        since: date | None,
    ) -> FolderDelta: ...

    def all_ids(self, folder: RemoteFolder, *, since: date | None) -> FolderDelta:
        """Every live id (for reconciliation), as new_ids, with the current cursor."""
        ...

    def fetch_keys(self, folder: RemoteFolder, remote_ids: Sequence[str]) -> list[MessageKey]: ...

    def fetch_raw(self, folder: RemoteFolder, remote_ids: Sequence[str]) -> Iterator[RawMessage]:
        """The messages' bytes, at most a size limit each (RawMessage.truncated beyond it)."""
        ...

    def close(self) -> None: ...
