"""Writes of the mirror: messages, their locations, and their removal. Idempotent by design:
(mailbox, dedupe_key) and (folder, remote_id) are unique, so storing a batch twice (a retried
or resumed sync) adds nothing. Callers run these inside one transaction with the folder cursor.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone

from mailsync.card_links import card_links_add_messages
from mailsync.matching import MatchContext, direction, is_internal
from mailsync.models import (
    Folder,
    Mailbox,
    Message,
    MessageLocation,
    OutgoingMessage,
    Participant,
    SkippedMessage,
)
from mailsync.parsing import ParsedMessage

# How long a message sent from the CRM stays on the cards without a copy in a synced folder:
# long enough for any sync to bring its Sent copy; after that the mirror rule applies (no copy in
# the mailbox, no message in the CRM).
SENT_COPY_GRACE = timedelta(days=1)


@dataclass(frozen=True)
class Incoming:
    remote_id: str
    parsed: ParsedMessage
    received_at: datetime | None


def held_keys(mailbox: Mailbox, dedupe_keys: Iterable[str]) -> dict[str, int]:
    """dedupe_key -> message pk for the keys this mailbox already holds."""
    rows = Message.objects.filter(mailbox=mailbox, dedupe_key__in=set(dedupe_keys))
    return dict(rows.values_list("dedupe_key", "pk"))


def locations_add(folder: Folder, pairs: Iterable[tuple[str, int]]) -> None:
    """Point (remote_id -> message pk) in this folder; existing ones are left alone."""
    MessageLocation.objects.bulk_create(
        [MessageLocation(folder=folder, remote_id=rid, message_id=pk) for rid, pk in pairs],
        ignore_conflicts=True,
    )


def messages_store(
    mailbox: Mailbox, folder: Folder, incoming: list[Incoming], context: MatchContext
) -> int:
    """Store new messages with participants and locations; returns how many were new."""
    held = held_keys(mailbox, (i.parsed.dedupe_key for i in incoming))
    fresh: dict[str, Incoming] = {}
    for item in incoming:
        if item.parsed.dedupe_key not in held:
            fresh.setdefault(item.parsed.dedupe_key, item)
    created = Message.objects.bulk_create(_message_row(mailbox, i, context) for i in fresh.values())
    held.update({m.dedupe_key: m.pk for m in created})
    Participant.objects.bulk_create(
        Participant(message=message, role=role, address=address.address, name=address.name[:300])
        for message, item in zip(created, fresh.values(), strict=True)
        for role, address in item.parsed.participants
    )
    card_links_add_messages([m.pk for m in created if not m.is_internal])
    locations_add(folder, ((i.remote_id, held[i.parsed.dedupe_key]) for i in incoming))
    return len(created)


def message_store_sent(mailbox: Mailbox, parsed: ParsedMessage, context: MatchContext) -> int:
    """A message just sent through the mailbox, on the cards at once (no folder location yet):
    the sync's Sent copy has the same Message-ID, so it only adds the location. Returns the
    message's pk (the one already held, if the sync was quicker)."""
    held = held_keys(mailbox, [parsed.dedupe_key])
    if parsed.dedupe_key in held:
        return held[parsed.dedupe_key]
    item = Incoming(remote_id="", parsed=parsed, received_at=timezone.now())
    message = _message_row(mailbox, item, context)
    message.save()
    Participant.objects.bulk_create(
        Participant(message=message, role=role, address=address.address, name=address.name[:300])
        for role, address in parsed.participants
    )
    if not message.is_internal:
        card_links_add_messages([message.pk])
    return message.pk


def _message_row(mailbox: Mailbox, item: Incoming, context: MatchContext) -> Message:
    parsed = item.parsed
    return Message(
        mailbox=mailbox,
        dedupe_key=parsed.dedupe_key,
        message_id=parsed.message_id[:998],
        thread_key=parsed.thread_key,
        subject=parsed.subject,
        sent_at=parsed.sent_at or item.received_at or timezone.now(),
        received_at=item.received_at,
        direction=direction(parsed, context),
        body_text=parsed.body_text,
        body_truncated=parsed.body_truncated,
        body_truncated_from=parsed.body_truncated_from,
        attachment_names=list(parsed.attachment_names),
        is_internal=is_internal(parsed, context),
    )


def skipped_add(folder: Folder, remote_id: str, reason: str) -> None:
    SkippedMessage.objects.get_or_create(
        folder=folder, remote_id=remote_id, defaults={"reason": reason[:500]}
    )


def locations_remove(folder: Folder, remote_ids: Iterable[str]) -> set[int]:
    """Forget these ids in the folder; the messages they pointed to (maybe orphans now)."""
    ids = list(remote_ids)
    SkippedMessage.objects.filter(folder=folder, remote_id__in=ids).delete()
    locations = MessageLocation.objects.filter(folder=folder, remote_id__in=ids)
    messages = set(locations.values_list("message_id", flat=True))
    locations.delete()
    _orphans_pending(folder.mailbox_id)
    return messages


def locations_forget(folder: Folder) -> None:
    """The folder's ids changed meaning (UIDVALIDITY): its messages are re-linked by key."""
    MessageLocation.objects.filter(folder=folder).delete()
    SkippedMessage.objects.filter(folder=folder).delete()
    _orphans_pending(folder.mailbox_id)


def folders_delete(mailbox: Mailbox, keep: Iterable[str]) -> bool:
    """Delete the folders not named in `keep`, with their locations; whether any went."""
    gone, _ = Folder.objects.filter(mailbox=mailbox).exclude(name__in=list(keep)).delete()
    if gone:
        _orphans_pending(mailbox.pk)
    return bool(gone)


def _orphans_pending(mailbox_id: int) -> None:
    Mailbox.objects.filter(pk=mailbox_id).update(orphans_pending=True)


def orphans_delete(mailbox: Mailbox, among: Collection[int] | None = None) -> int:
    """Messages no longer in any synced folder are gone from the mailbox: mirror that.
    `among`: only these messages can have lost their last location (all if None)."""
    candidates = Message.objects.filter(mailbox=mailbox)
    if among is not None:
        candidates = candidates.filter(pk__in=list(among))
    orphans = candidates.exclude(
        Exists(MessageLocation.objects.filter(message=OuterRef("pk")))
    ).exclude(
        # Sent from the CRM a moment ago: the sync has not brought its Sent copy yet.
        Exists(
            OutgoingMessage.objects.filter(
                stored_message=OuterRef("pk"), sent_at__gte=timezone.now() - SENT_COPY_GRACE
            )
        )
    )
    _, by_model = orphans.delete()
    Mailbox.objects.filter(pk=mailbox.pk).update(orphans_pending=False)
    return by_model.get(Message._meta.label, 0)
