"""Reads for the composer, the outbox page and the cards' not-yet-synchronized sent mail."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone

from hierarchy.models import User
from hierarchy.selectors import Visibility
from mailsync.card_pages import CardOf
from mailsync.models import MessageTemplate, OutgoingMessage, OutgoingState, SenderSettings
from mailsync.sending import pace
from mailsync.sending.routes import route_for

OUTBOX_PAGE = 100
ON_CARD = 10


def sender_settings_of(user: User) -> SenderSettings:
    return SenderSettings.objects.filter(user=user).first() or SenderSettings(user=user)


def templates_for(user: User) -> QuerySet[MessageTemplate]:
    """The user's own templates and the company's."""
    return MessageTemplate.objects.filter(Q(owner=user) | Q(owner__isnull=True))


def own_outgoing(user: User) -> QuerySet[OutgoingMessage]:
    return OutgoingMessage.objects.filter(sender=user)


def outbox_of(user: User) -> list[OutgoingMessage]:
    """Drafts, what waits or was not sent, and the latest sent, newest first."""
    return list(
        own_outgoing(user)
        .exclude(state=OutgoingState.CANCELLED)
        .defer("raw")
        .order_by("-created_at", "-pk")[:OUTBOX_PAGE]
    )


def waiting_count(user: User) -> int:
    return (
        own_outgoing(user)
        .filter(state__in=[OutgoingState.QUEUED, OutgoingState.SENDING, OutgoingState.HELD])
        .count()
    )


def card_outbox(visibility: Visibility, card: CardOf) -> list[OutgoingMessage]:
    """Mail written in the CRM to this card's people that is not on the card as a synchronized
    message: waiting, not sent, or sent through the CRM's mailer. Filtered by visibility like
    every email: the sender's mailbox must be one the viewer may see."""
    owners = visibility.owner_ids
    rows = OutgoingMessage.objects.filter(
        sender_id__in=owners,
        stored_message__isnull=True,
        state__in=[
            OutgoingState.QUEUED,
            OutgoingState.SENDING,
            OutgoingState.HELD,
            OutgoingState.SENT,
        ],
    )
    if card.column == "contact_id":
        rows = rows.filter(contacts=card.pk)
    else:
        rows = rows.filter(contacts__account_id=card.pk)
    return list(rows.defer("raw", "body_text").distinct().order_by("-created_at")[:ON_CARD])


def pace_warning(user: User, choice: str) -> str:
    """Said before sending when the provider's minute or day is full: when this one leaves."""
    try:
        plan = route_for(user, choice)
    except ValidationError:
        return ""
    now = timezone.now()
    slot = pace.slots(plan.mailbox, 1, now)[0]
    if slot <= now + timedelta(seconds=5):
        return ""
    limits = pace.pace_of(plan.mailbox)
    return (
        f"{limits.name.capitalize()} takes {limits.per_minute} emails a minute and "
        f"{limits.per_day:,} a day: this one will wait its turn and leave at "
        f"{timezone.localtime(slot):%H:%M} (the outbox shows the queue)."
    )
