"""What the home page shows: the signed-in user's next meetings, open tasks, recent email from
contacts (through mail visibility, like every page) and the state of their mailbox."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Max

from crm.activities.models import Meeting, Task
from crm.activities.selectors import meeting_list, task_list
from crm.contacts.models import Contact, ContactEmail
from hierarchy.models import User
from hierarchy.selectors import mailbox_visibility
from mailsync.models import Message, Participant, ParticipantRole
from mailsync.selectors import (
    MAILBOX_SECRETS,
    MailboxStatus,
    mailbox_of,
    mailbox_status_view,
    visible_messages,
)

HOME_MEETINGS = 5
HOME_TASKS = 8
HOME_EMAILS = 8


@dataclass(frozen=True)
class ContactMail:
    message: Message
    sender: Participant | None
    contact: Contact | None  # the sender's contact card


@dataclass(frozen=True)
class Home:
    meetings: list[Meeting]
    meeting_count: int
    tasks: list[Task]
    task_count: int
    emails: list[ContactMail]
    mailbox: MailboxStatus  # the same headline, error and state as the Mailbox sync page


def home_for(viewer: User) -> Home:
    meetings = meeting_list(viewer=viewer)
    tasks = task_list(viewer=viewer)
    return Home(
        meetings=list(meetings[:HOME_MEETINGS]),
        meeting_count=meetings.count(),
        tasks=list(tasks[:HOME_TASKS]),
        task_count=tasks.count(),
        emails=recent_mail_from_contacts(viewer, limit=HOME_EMAILS),
        mailbox=mailbox_status_view(mailbox_of(viewer), runs=0),
    )


def recent_mail_from_contacts(viewer: User, *, limit: int) -> list[ContactMail]:
    """The latest emails a contact sent, in the mailboxes the viewer may see, each email once."""
    visible = visible_messages(mailbox_visibility(viewer))
    latest = (
        visible.filter(
            participants__role=ParticipantRole.FROM,
            participants__address__in=ContactEmail.objects.values("address"),
        )
        .values("dedupe_key")
        .annotate(latest=Max("sent_at"))
        .order_by("-latest", "dedupe_key")[:limit]
    )
    keys = [row["dedupe_key"] for row in latest]
    copies = (
        visible.filter(dedupe_key__in=keys)
        .select_related("mailbox")
        .prefetch_related("participants")
        .defer("body_text", *MAILBOX_SECRETS)
        .order_by("pk")
    )
    # One copy per email: the viewer's own if they hold one (it opens without a holder note).
    shown: dict[str, Message] = {}
    for message in sorted(copies, key=lambda m: m.mailbox.owner_id != viewer.pk):
        shown.setdefault(message.dedupe_key, message)
    senders = {key: _sender(message) for key, message in shown.items()}
    contacts = _contacts_by_address([s.address for s in senders.values() if s is not None])
    mail = []
    for key in keys:
        if key in shown:
            sender = senders[key]
            contact = contacts.get(sender.address) if sender else None
            mail.append(ContactMail(message=shown[key], sender=sender, contact=contact))
    return mail


def _sender(message: Message) -> Participant | None:
    return next((p for p in message.participants.all() if p.role == ParticipantRole.FROM), None)


def _contacts_by_address(addresses: list[str]) -> dict[str, Contact]:
    rows = ContactEmail.objects.filter(address__in=addresses).select_related("contact")
    # An address two contacts share (a known conflict) links to the first one created.
    return {row.address: row.contact for row in rows.order_by("-contact_id")}
