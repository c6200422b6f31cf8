"""What the home page shows: the signed-in user's next meetings, open tasks, recent email from
contacts (through mail visibility, like every page) and the state of their mailbox."""

from __future__ import annotations

from dataclasses import dataclass

from crm.activities.models import Meeting, Task
from crm.activities.selectors import meeting_list, task_list
from crm.contacts.models import Contact
from hierarchy.models import User
from hierarchy.selectors import mailbox_visibility
from mailsync.card_pages import latest_from_contacts
from mailsync.models import Message, Participant, ParticipantRole
from mailsync.selectors import (
    MailboxStatus,
    mailbox_of,
    mailbox_status_view,
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
        mailbox=mailbox_status_view(mailbox_of(viewer), runs=0, count_messages=False),
    )


def recent_mail_from_contacts(viewer: User, *, limit: int) -> list[ContactMail]:
    """The latest emails a contact sent, in the mailboxes the viewer may see, each email once.

    Read from the cards' index (mailsync/card_pages.py), a short range per visible mailbox: the
    page every login lands on must not group the whole company's mail.
    """
    latest = latest_from_contacts(mailbox_visibility(viewer), limit)
    messages = Message.objects.defer("body_text").in_bulk([row.message_id for row in latest])
    senders = {
        p.message_id: p
        for p in Participant.objects.filter(
            message_id__in=messages, role=ParticipantRole.FROM
        ).order_by("-pk")
    }
    contacts = Contact.objects.in_bulk([row.contact_id for row in latest])
    return [
        ContactMail(
            message=messages[row.message_id],
            sender=senders.get(row.message_id),
            contact=contacts.get(row.contact_id),
        )
        for row in latest
        if row.message_id in messages
    ]
