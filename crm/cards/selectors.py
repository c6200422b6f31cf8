"""What a contact or account card shows (the activity tabs and their counts), and the full
message page opened from one of its emails.

Query count is fixed whatever the number of messages, mailboxes or users (asserted in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.urls import Resolver404, resolve, reverse

from crm.accounts.models import Account
from crm.activities.models import Meeting, Task
from crm.contacts.models import Contact, ContactEmail
from hierarchy.models import User
from hierarchy.selectors import Visibility, mailbox_visibility
from mailsync.card_pages import (
    CardOf,
    EmailCount,
    KeysetPage,
    PagePosition,
    card_conversation,
    card_conversations,
    email_count,
)
from mailsync.models import Message, OutgoingMessage, ParticipantRole
from mailsync.selectors import CardConversation
from mailsync.sending.selectors import card_outbox

TABS = ("emails", "meetings", "tasks")
ACTIVITIES_PER_PAGE = 20
ROLE_ORDER = {role.value: n for n, role in enumerate(ParticipantRole)}


@dataclass
class CardActivity:
    tab: str
    visibility: Visibility
    email_count: EmailCount
    meeting_count: int
    task_count: int
    # The emails tab lists conversations (one row per thread, paginated by thread).
    conversations: KeysetPage[CardConversation] | None = None
    # Mail written in Postcard to the card's people that is not a synchronized email (yet).
    outbox: list[OutgoingMessage] = field(default_factory=list)
    meetings: Page[Meeting] | None = None
    tasks: Page[Task] | None = None


def card_activity(
    *,
    viewer: User,
    card: CardOf,
    tab: str,
    page_number: str | None,
    position: PagePosition,
    meetings: QuerySet[Meeting],
    tasks: QuerySet[Task],
    meeting_count: int,
    task_count: int,
) -> CardActivity:
    """The card's tabs: emails by keyset `position`, meetings and tasks by page number; the
    meetings and tasks counted by the card's own query (crm.activities.selectors.CountOf)."""
    tab = tab if tab in TABS else "emails"
    visibility = mailbox_visibility(viewer)
    activity = CardActivity(
        tab=tab,
        visibility=visibility,
        # The tab counts emails, not conversations.
        email_count=email_count(card, visibility),
        meeting_count=meeting_count,
        task_count=task_count,
    )
    if tab == "emails":
        activity.conversations = card_conversations(card, visibility, position)
        activity.outbox = card_outbox(visibility, card)
    elif tab == "meetings":
        activity.meetings = Paginator(meetings, ACTIVITIES_PER_PAGE).get_page(page_number)
    else:
        activity.tasks = Paginator(tasks, ACTIVITIES_PER_PAGE).get_page(page_number)
    return activity


def conversation_on_card(*, viewer: User, card: CardOf, thread_key: str) -> CardConversation | None:
    """One conversation of the card, every email in it the viewer may see; None if none."""
    return card_conversation(card, mailbox_visibility(viewer), thread_key)


@dataclass(frozen=True)
class MessageParticipant:
    """A From/To/Cc line of the full message page, with the card of the contact it is, if any."""

    role: str
    name: str
    address: str
    contact: Contact | None


@dataclass(frozen=True)
class BackLink:
    url: str
    name: str | None  # of the card it leads to, when known


def message_participants(message: Message) -> list[MessageParticipant]:
    """Participants in header order, each linked to the first contact holding that address.

    One query. Contacts are shared by the whole team, so linking them reveals nothing: the
    mailbox visibility rule already decided that the viewer may read this message.
    """
    participants = sorted(message.participants.all(), key=lambda p: (ROLE_ORDER[p.role], p.pk))
    contacts: dict[str, Contact] = {}
    for email in (
        ContactEmail.objects.filter(address__in={p.address for p in participants})
        .select_related("contact")
        .order_by("-is_primary", "contact_id")
    ):
        contacts.setdefault(email.address, email.contact)
    return [
        MessageParticipant(
            role=p.get_role_display(),
            name=p.name,
            address=p.address,
            contact=contacts.get(p.address),
        )
        for p in participants
    ]


def message_back_link(*, came_from: str | None, participants: list[MessageParticipant]) -> BackLink:
    """Back to the card the reader came from (a checked local URL), else the first contact's."""
    if came_from:
        return BackLink(url=came_from, name=_card_name(came_from))
    contact = next((p.contact for p in participants if p.contact is not None), None)
    if contact is not None:
        return BackLink(url=contact.get_absolute_url(), name=contact.full_name)
    return BackLink(url=reverse("contact-list"), name="Contacts")


def _card_name(url: str) -> str | None:
    """The name on the contact or account card at this URL, to say where "back" goes."""
    try:
        match = resolve(urlsplit(url).path)
    except Resolver404:
        return None
    if match.url_name == "contact-card":
        contact = Contact.objects.filter(pk=match.kwargs["contact_id"]).first()
        return contact.full_name if contact else None
    if match.url_name == "account-card":
        account = Account.objects.filter(pk=match.kwargs["account_id"]).first()
        return account.name if account else None
    return None
