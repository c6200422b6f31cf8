"""The sync engine: mirror one mailbox into the CRM, whatever the provider.

    fetched  providers/<kind>.py   folders, what changed, keys, raw bytes
    parsed   parsing/              raw bytes -> ParsedMessage (or a reason to skip it)
    matched  matching.py           direction, internal-only mail
    stored   storage.py            idempotent upserts, removals, orphans
    shown    selectors.py          cards read it through the visibility selector

Crash-proof: work is committed in batches together with the folder cursor, so a killed worker's
successor resumes where it stopped; unique keys make a replayed batch add nothing. No network call
runs inside a transaction. One sync per mailbox at a time (services.lease_*).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from collections.abc import Callable, Collection, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mailsync.matching import MatchContext, match_context
from mailsync.models import Folder, Mailbox, MessageLocation, SkippedMessage
from mailsync.parse_pool import ParsePool
from mailsync.parsing import ParsedMessage, message_id_key
from mailsync.providers.base import (
    DeltaRequest,
    FolderDelta,
    MailProvider,
    RawMessage,
    RemoteFolder,
)
from mailsync.storage import (
    Incoming,
    folders_delete,
    held_keys,
    locations_add,
    locations_forget,
    locations_remove,
    messages_store,
    orphans_delete,
    skipped_add,
)

logger = logging.getLogger(__name__)


@dataclass
class SyncCounts:
    added: int = 0
    linked: int = 0  # already held (moved between folders, "All Mail"): no download
    removed: int = 0
    skipped: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class _Work:
    """What every batch of one sync needs."""

    mailbox: Mailbox
    provider: MailProvider
    context: MatchContext
    counts: SyncCounts
    pool: ParsePool | None
    holds_mail: bool  # False for a first import: nothing can be held already
    maybe_orphaned: set[int] = field(default_factory=set)  # messages that lost a location
    # Folders where nothing changed but the provider's cursor moved (Graph hands out a new
    # delta link every time): saved together at the end, one statement for all of them.
    quiet: list[Folder] = field(default_factory=list)


@dataclass
class FolderPlan:
    folder: Folder
    remote: RemoteFolder
    delta: FolderDelta
    reconciling: bool = False
    stale: list[str] = field(default_factory=list)  # reconciliation: held but gone remotely


ProgressCallback = Callable[[int, int], None]


def sync_mailbox(
    mailbox: Mailbox,
    provider: MailProvider,
    *,
    reconcile: bool = False,
    on_progress: ProgressCallback | None = None,
    on_batch: Callable[[], None] | None = None,
) -> SyncCounts:
    """One sync: plan every folder's changes, then apply them batch by batch."""
    counts = SyncCounts()
    leftover = mailbox.orphans_pending  # an earlier sync failed before its orphan sweep
    with closing(provider):
        plans, folders_gone = _plan(mailbox, provider, reconcile=reconcile)
        total = sum(len(p.delta.new_ids) for p in plans)
        done = 0
        work = _Work(
            mailbox=mailbox,
            provider=provider,
            context=match_context(mailbox) if total else MatchContext(frozenset(), frozenset()),
            counts=counts,
            pool=ParsePool() if total else None,
            holds_mail=bool(total) and mailbox.messages.exists(),
        )
        with work.pool or contextlib.nullcontext():
            for plan in plans:
                for added in _apply(work, plan):
                    done += added
                    if on_progress and total:
                        on_progress(done, total)
                    if on_batch:
                        on_batch()
        if work.quiet:
            Folder.objects.bulk_update(work.quiet, ["cursor"])
    # Only a removal can orphan a message (swept after every folder: a move adds the new
    # location later in the same sync). Known candidates are checked alone; otherwise, or after
    # a sync that failed before its sweep, every message is.
    if reconcile or leftover or folders_gone or any(p.delta.reset for p in plans):
        with transaction.atomic():
            counts.removed += orphans_delete(mailbox)
    elif work.maybe_orphaned:
        with transaction.atomic():
            counts.removed += orphans_delete(mailbox, among=work.maybe_orphaned)
    return counts


# --- plan: ask the provider what changed (network, no transaction) ---------------------


def _plan(
    mailbox: Mailbox, provider: MailProvider, *, reconcile: bool
) -> tuple[list[FolderPlan], bool]:
    """Each folder's changes, and whether folders gone remotely were deleted."""
    remote = provider.folders()
    folders, folders_gone = _folders_upsert(mailbox, remote)
    first_sync = not any(f.cursor for f in folders.values())
    since = _window_start(mailbox)
    if reconcile:
        plans = [
            _reconcile_plan(
                provider, folders[r.name], r, frozenset(_known_ids(folders[r.name])), since
            )
            for r in remote
        ]
        return plans, folders_gone
    wanted = [
        DeltaRequest(
            folder=r,
            cursor=folders[r.name].cursor,
            known_ids=functools.partial(_known_id_set, folders[r.name]),
        )
        for r in remote
    ]
    plans = []
    for r, delta in zip(remote, provider.folder_deltas(wanted, since=since), strict=True):
        if first_sync and mailbox.sync_since_days == 0:
            delta.new_ids = []  # "new mail only": start from the current state
        plans.append(FolderPlan(folder=folders[r.name], remote=r, delta=delta))
    return plans, folders_gone


def _reconcile_plan(
    provider: MailProvider,
    folder: Folder,
    remote: RemoteFolder,
    known: frozenset[str],
    since: date | None,
) -> FolderPlan:
    """Compare the full remote id set with what the CRM holds; repair both ways."""
    everything = provider.all_ids(remote, folder.cursor, since=None)
    live = set(everything.new_ids)
    wanted = set(provider.all_ids(remote, folder.cursor, since=since).new_ids) if since else live
    missing = sorted(wanted - known, key=_id_order)
    stale = sorted(known - live, key=_id_order)
    if everything.reset:  # the held ids mean nothing now: every message is re-linked
        missing, stale = sorted(wanted, key=_id_order), []
    delta = dataclasses.replace(everything, new_ids=missing, removed_ids=[])
    return FolderPlan(folder=folder, remote=remote, delta=delta, reconciling=True, stale=stale)


def _folders_upsert(mailbox: Mailbox, remote: list[RemoteFolder]) -> tuple[dict[str, Folder], bool]:
    """Folder rows for the remote folders; folders gone remotely take their locations along.
    A folder renamed where its key stays (Graph) keeps its row and gets its new label."""
    names = [f.name for f in remote]
    with transaction.atomic():
        gone = folders_delete(mailbox, keep=names)
        existing = {f.name: f for f in Folder.objects.filter(mailbox=mailbox, name__in=names)}
        for remote_folder in remote:
            folder = existing.get(remote_folder.name)
            if folder is None:
                existing[remote_folder.name] = Folder.objects.create(
                    mailbox=mailbox,
                    name=remote_folder.name,
                    label=remote_folder.label,
                    role=remote_folder.role,
                )
            elif (folder.label, folder.role) != (remote_folder.label, remote_folder.role):
                folder.label, folder.role = remote_folder.label, remote_folder.role
                folder.save(update_fields=["label", "role"])
    return existing, gone


def _known_id_set(folder: Folder, among: Collection[str] | None = None) -> frozenset[str]:
    if among is None:
        return frozenset(_known_ids(folder))
    wanted, found = list(among), set[str]()
    for start in range(0, len(wanted), 5000):  # bounded IN lists
        chunk = wanted[start : start + 5000]
        for model in (MessageLocation, SkippedMessage):
            rows = model.objects.filter(folder=folder, remote_id__in=chunk)
            found.update(rows.values_list("remote_id", flat=True))
    return frozenset(found)


def _known_ids(folder: Folder) -> Iterator[str]:
    yield from MessageLocation.objects.filter(folder=folder).values_list("remote_id", flat=True)
    yield from SkippedMessage.objects.filter(folder=folder).values_list("remote_id", flat=True)


def _window_start(mailbox: Mailbox) -> date | None:
    """The oldest day mirrored: None for everything; "new mail only" starts on the day the
    mailbox was connected (IMAP's SINCE counts whole days)."""
    if mailbox.sync_since_days is None:
        return None
    if mailbox.sync_since_days == 0:
        return timezone.localdate(mailbox.created_at)
    return timezone.localdate() - timedelta(days=mailbox.sync_since_days)


def _id_order(remote_id: str) -> tuple[int, str]:
    return (int(remote_id), "") if remote_id.isdigit() else (0, remote_id)


# --- apply: download, parse, store, batch by batch -------------------------------------


def _apply(work: _Work, plan: FolderPlan) -> Iterator[int]:
    folder, delta, counts = plan.folder, plan.delta, work.counts
    removed_ids = delta.removed_ids + plan.stale
    if delta.unchanged and not removed_ids:
        if folder.cursor != delta.cursor:
            folder.cursor = delta.cursor
            work.quiet.append(folder)
        return  # a quiet folder: nothing else to write
    with transaction.atomic():
        if delta.reset:
            locations_forget(folder)
            _save_cursor(folder, delta.resume_cursor([]) if delta.resume_cursor else "")
            counts.notes.append(f"{folder}: renumbered by the server, re-linked by Message-ID")
        if removed_ids:  # messages left without a location are deleted at the end (orphans)
            work.maybe_orphaned |= locations_remove(folder, removed_ids)
    # Not after a UIDVALIDITY change: every id is new then, and the messages are re-linked.
    if plan.reconciling and not delta.reset and (plan.stale or delta.new_ids):
        counts.notes.append(
            f"{folder}: drift repaired, {len(delta.new_ids)} missing fetched, "
            f"{len(plan.stale)} no longer on the server removed"
        )
    # A pipeline: batch N+1 is downloaded and being parsed while batch N is stored.
    size = settings.MAILBOX_SYNC_BATCH
    pending: _Downloaded | None = None
    for start in range(0, len(delta.new_ids), size):
        downloaded = _download(work, plan, delta.new_ids[start : start + size])
        if pending is not None:
            yield _store(work, plan, pending)
        pending = downloaded
    if pending is not None:
        yield _store(work, plan, pending)
    with transaction.atomic():
        _save_cursor(folder, delta.cursor)


@dataclass
class _Downloaded:
    batch: list[str]
    linked: list[tuple[str, int]]  # already held: (remote id, message pk)
    raws: list[RawMessage]
    results: Callable[[], list[ParsedMessage | str]]  # parsing, under way


def _download(work: _Work, plan: FolderPlan, batch: list[str]) -> _Downloaded:
    linked, wanted = _already_held(work, plan, batch)
    raws = list(work.provider.fetch_raw(plan.remote, wanted))
    assert work.pool is not None  # there is work, so sync_mailbox made a pool
    return _Downloaded(batch, linked, raws, work.pool.parse_later([r.raw for r in raws]))


def _store(work: _Work, plan: FolderPlan, downloaded: _Downloaded) -> int:
    """Store one batch, committed together with the folder's cursor."""
    incoming, rejected = [], []
    for raw, result in zip(downloaded.raws, downloaded.results(), strict=True):
        if isinstance(result, str):  # not an email: remembered, never fetched again
            logger.info(
                "mailbox %s: %s/%s skipped: %s",
                work.mailbox.pk,
                plan.folder.name,
                raw.remote_id,
                result,
            )
            rejected.append((raw.remote_id, result))
            continue
        parsed = _marked_partial(result) if raw.truncated else result
        incoming.append(Incoming(raw.remote_id, parsed, raw.received_at))
    batch = downloaded.batch
    with transaction.atomic():
        locations_add(plan.folder, downloaded.linked)
        added = messages_store(work.mailbox, plan.folder, incoming, work.context)
        for remote_id, reason in rejected:
            skipped_add(plan.folder, remote_id, reason)
        if plan.delta.resume_cursor is not None:  # a killed sync resumes after this batch
            _save_cursor(plan.folder, plan.delta.resume_cursor(batch))
    work.counts.added += added
    work.counts.linked += len(downloaded.linked) + (len(incoming) - added)
    work.counts.skipped += len(rejected)
    return len(batch)


def _already_held(
    work: _Work, plan: FolderPlan, batch: list[str]
) -> tuple[list[tuple[str, int]], list[str]]:
    """(remote id, message pk) of messages held already, and the ids still to download.

    A cheap Message-ID fetch first spares re-downloading moved mail; an empty mailbox (a first
    import) holds nothing yet, so it skips that round trip.
    """
    if not work.holds_mail:
        return [], batch
    keys = work.provider.fetch_keys(plan.remote, batch)
    by_key = {k.remote_id: message_id_key(k.message_id) for k in keys}
    held = held_keys(work.mailbox, filter(None, by_key.values()))
    linked = [(rid, held[key]) for rid, key in by_key.items() if key in held]
    return linked, [k.remote_id for k in keys if by_key[k.remote_id] not in held]


def _marked_partial(parsed: ParsedMessage) -> ParsedMessage:
    marker = "\n\n[… the message was too large: only its beginning was synchronized]"
    return dataclasses.replace(parsed, body_text=parsed.body_text + marker, body_truncated=True)


def _save_cursor(folder: Folder, cursor: str) -> None:
    folder.cursor = cursor
    folder.save(update_fields=["cursor"])
