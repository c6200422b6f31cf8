"""Test data built through the real services where one exists (zulip style)."""

import hashlib
import itertools
from datetime import timedelta

import factory
from django.utils import timezone
from factory.declarations import LazyAttribute, Sequence

from crm.accounts.services import account_create
from crm.contacts.services import contact_create
from hierarchy.models import User
from mailsync.card_links import card_links_add_messages
from mailsync.models import (
    CardLink,
    Direction,
    Folder,
    Mailbox,
    Message,
    MessageLocation,
    Participant,
    ParticipantRole,
    Provider,
)

_seq = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = Sequence(lambda n: f"user{n}")
    first_name = Sequence(lambda n: f"First{n}")
    last_name = "Tester"
    email = LazyAttribute(lambda u: f"{u.username}@postcard.test")
    password = "pw"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return User.objects.create_user(*args, **kwargs)


def make_account(name="Acme Corp", domains=("acme.test",), **kwargs):
    return account_create(name=name, domains=list(domains), **kwargs)


def make_contact(last_name="Doe", emails=("jane@acme.test",), **kwargs):
    return contact_create(last_name=last_name, emails=list(emails), **kwargs)


def make_mailbox(owner: User, address: str | None = None) -> Mailbox:
    mailbox = Mailbox.objects.create(
        owner=owner, address=address or f"{owner.username}@postcard.test", provider=Provider.IMAP
    )
    Folder.objects.create(mailbox=mailbox, name="INBOX", role="inbox")
    return mailbox


def make_message(
    mailbox: Mailbox,
    *,
    sender: str,
    to: tuple[str, ...] = (),
    cc: tuple[str, ...] = (),
    bcc: tuple[str, ...] = (),
    subject: str = "Hello",
    body: str = "Body text",
    message_id: str | None = None,
    thread_key: str | None = None,
    sent_at=None,
    is_internal: bool = False,
) -> Message:
    """A stored message, as the sync stores one (participants, location, card links)."""
    n = next(_seq)
    message_id = message_id or f"<m{n}@test>"
    message = Message.objects.create(
        mailbox=mailbox,
        dedupe_key=hashlib.sha256(message_id.encode()).hexdigest(),
        message_id=message_id,
        thread_key=thread_key or hashlib.sha256(message_id.encode()).hexdigest(),
        is_internal=is_internal,
        subject=subject,
        body_text=body,
        sent_at=sent_at or timezone.now() - timedelta(minutes=n),
        direction=Direction.OUTGOING if sender == mailbox.address else Direction.INCOMING,
    )
    folder = mailbox.folders.earliest("pk")
    MessageLocation.objects.create(message=message, folder=folder, remote_id=str(n))
    roles = [(ParticipantRole.FROM, sender)]
    roles += [(ParticipantRole.TO, a) for a in to]
    roles += [(ParticipantRole.CC, a) for a in cc]
    roles += [(ParticipantRole.BCC, a) for a in bcc]
    Participant.objects.bulk_create(
        Participant(message=message, role=role, address=address) for role, address in roles
    )
    if not is_internal:
        card_links_add_messages([message.pk])
    return message


def put_in_thread(root: Message, *replies: Message) -> None:
    """Make `replies` part of `root`'s conversation, as if the sync had stored them so."""
    ids = [reply.pk for reply in replies]
    Message.objects.filter(pk__in=ids).update(thread_key=root.thread_key)
    CardLink.objects.filter(message_id__in=ids).update(thread_key=root.thread_key)
    for reply in replies:
        reply.thread_key = root.thread_key
