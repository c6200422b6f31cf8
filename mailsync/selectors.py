"""Reads of synchronized mail, always through the viewer's mailbox visibility."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Max, QuerySet

from hierarchy.models import User
from hierarchy.selectors import Reason, Visibility, mailbox_visibility
from mailsync.models import (
    Mailbox,
    MailboxState,
    Message,
    Participant,
    ParticipantRole,
    SyncRun,
)

EMAILS_PER_PAGE = 25


@dataclass(frozen=True)
class Holder:
    """A visible mailbox that holds the email, and why the viewer may see it."""

    user_id: int
    name: str
    reason: Reason


@dataclass(frozen=True)
class CardEmail:
    message: Message  # the copy shown: the viewer's own if they hold one, else the closest
    holders: list[Holder]

    @property
    def sender(self) -> Participant | None:
        return next(
            (p for p in self.message.participants.all() if p.role == ParticipantRole.FROM), None
        )

    @property
    def recipients(self) -> list[Participant]:
        shown = (ParticipantRole.TO, ParticipantRole.CC, ParticipantRole.BCC)
        return [p for p in self.message.participants.all() if p.role in shown]


def visible_messages(visibility: Visibility) -> QuerySet[Message]:
    """Every message the viewer may read, internal-only mail excluded."""
    return Message.objects.filter(mailbox__owner_id__in=visibility.owner_ids, is_internal=False)


def messages_with_addresses(
    visibility: Visibility, addresses: QuerySet[Any, str] | list[str]
) -> QuerySet[Message]:
    return visible_messages(visibility).filter(participants__address__in=addresses)


def card_emails_page(
    *,
    viewer: User,
    addresses: QuerySet[Any, str] | list[str],
    page_number: int | str | None,
    per_page: int = EMAILS_PER_PAGE,
) -> tuple[Page[CardEmail], Visibility]:
    """One page of the emails exchanged with these addresses, one entry per email.

    Four queries whatever the number of messages or mailboxes: count, page of keys,
    the copies on the page, their participants.
    """
    visibility = mailbox_visibility(viewer)
    keys = (
        messages_with_addresses(visibility, addresses)
        .values("dedupe_key")
        .annotate(latest=Max("sent_at"))
        .order_by("-latest", "dedupe_key")
    )
    key_page = Paginator(keys, per_page).get_page(page_number)
    emails = _card_emails(visibility, [row["dedupe_key"] for row in key_page.object_list])
    # The page of keys becomes a page of emails: same number, same paginator (count, links).
    return Page(emails, key_page.number, key_page.paginator), visibility  # type: ignore[arg-type]


def _card_emails(visibility: Visibility, keys: list[str]) -> list[CardEmail]:
    copies = (
        visible_messages(visibility)
        .filter(dedupe_key__in=keys)
        .select_related("mailbox__owner")
        .prefetch_related("participants")
        .defer("body_text")
    )
    by_key: dict[str, list[Message]] = defaultdict(list)
    for message in copies:
        by_key[message.dedupe_key].append(message)
    return [_card_email(visibility, by_key[key]) for key in keys if by_key[key]]


def _card_email(visibility: Visibility, copies: list[Message]) -> CardEmail:
    def reason(message: Message) -> Reason:
        found = visibility.reason_for(message.mailbox.owner_id)
        return Reason.EVERYONE if found is None else found  # Reason.OWN is 0: no `or` here

    copies.sort(key=lambda m: (reason(m), m.pk))
    holders = [
        Holder(user_id=m.mailbox.owner_id, name=m.mailbox.owner.display_name, reason=reason(m))
        for m in copies
    ]
    return CardEmail(message=copies[0], holders=holders)


def visible_message(*, viewer: User, message_id: int) -> Message | None:
    """A single message by id, or None when the viewer may not see it (callers answer 404)."""
    visibility = mailbox_visibility(viewer)
    return (
        visible_messages(visibility)
        .select_related("mailbox__owner")
        .prefetch_related("participants")
        .filter(pk=message_id)
        .first()
    )


@dataclass(frozen=True)
class MailboxStatus:
    mailbox: Mailbox
    recent_runs: list[SyncRun]
    message_count: int

    @property
    def progress_percent(self) -> int:
        total = self.mailbox.progress_total
        return min(100, self.mailbox.progress_done * 100 // total) if total else 0

    @property
    def is_retrying(self) -> bool:
        return self.mailbox.state == MailboxState.ACTIVE and self.mailbox.failures > 0


def mailbox_of(user: User) -> Mailbox | None:
    return Mailbox.objects.filter(owner=user).first()


def mailbox_status(mailbox: Mailbox, *, runs: int = 10) -> MailboxStatus:
    return MailboxStatus(
        mailbox=mailbox,
        recent_runs=list(mailbox.sync_runs.all()[:runs]),
        message_count=mailbox.messages.count(),
    )
