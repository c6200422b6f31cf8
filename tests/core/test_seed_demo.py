"""`manage.py seed_demo`: a whole believable company, and --if-empty leaves a seeded one alone."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Exists, OuterRef, Q

from crm.accounts.models import Account
from crm.activities.models import Meeting, Task
from crm.contacts.models import Contact, ContactEmail
from crm.core.addresses import normalize_address
from hierarchy.models import User
from hierarchy.selectors import mailbox_visibility
from mailsync.card_pages import CardOf, card_emails
from mailsync.models import (
    Direction,
    Mailbox,
    Message,
    MessageLocation,
    Participant,
    ParticipantRole,
)
from tests.factories import UserFactory


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = (User, Mailbox, Account, Contact, ContactEmail, Message, Participant, Meeting, Task)
    return {model.__name__: model.objects.count() for model in models}


@pytest.mark.django_db
def test_seed_demo_builds_a_company_and_if_empty_adds_nothing() -> None:
    output = seed("--seed", "7")

    assert "manager" in output
    assert "postcard-demo" in output
    assert_team()
    assert_crm()
    assert_mail()
    assert_manager_sees_mail_on_a_card()
    before = counts()

    again = seed("--if-empty")

    assert "nothing loaded" in again
    assert counts() == before


def assert_team() -> None:
    users = User.objects.all()
    assert 18 <= users.count() <= 22
    assert users.filter(parent=None).count() == 1
    assert users.values("tree_id").distinct().count() == 1
    assert not users.filter(mailbox=None).exists()
    assert set(users.values_list("visibility_level", flat=True)) == {0, 1, 2, 3, 4}
    manager = users.get(username="manager")
    assert manager.visibility_level == 3
    assert manager.check_password("postcard-demo")
    assert manager.get_descendant_count() >= 9
    admin = users.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password("postcard-demo")


def assert_crm() -> None:
    assert Account.objects.count() == 40
    assert not Account.objects.annotate(n=Count("domains")).exclude(n=1).exists()
    assert Contact.objects.count() == 200
    primaries = Contact.objects.annotate(n=Count("emails", filter=Q(emails__is_primary=True)))
    assert not primaries.exclude(n=1).exists()
    addresses = ContactEmail.objects.values_list("address", flat=True)
    assert all(address == normalize_address(address) for address in addresses)
    assert Meeting.objects.count() >= 100
    assert Task.objects.count() >= 100
    assert Task.objects.filter(done_at__isnull=False).exists()
    assert Meeting.objects.filter(show_in_external_calendar=True).exists()


def assert_mail() -> None:
    messages = Message.objects.all()
    assert messages.count() >= 2000
    owner_took_part = Participant.objects.filter(
        message=OuterRef("pk"), address=OuterRef("mailbox__address")
    )
    assert not messages.exclude(Exists(owner_took_part)).exists()
    owner_sent = owner_took_part.filter(role=ParticipantRole.FROM)
    assert not messages.filter(direction=Direction.OUTGOING).exclude(Exists(owner_sent)).exists()
    assert not messages.filter(Exists(owner_sent), direction=Direction.INCOMING).exists()
    # One location each: Sent for outgoing mail, INBOX for incoming.
    locations = MessageLocation.objects.all()
    assert locations.count() == messages.count()
    sent = locations.filter(message__direction=Direction.OUTGOING)
    received = locations.filter(message__direction=Direction.INCOMING)
    assert not sent.exclude(folder__role="sent").exists()
    assert not received.exclude(folder__role="inbox").exists()
    shared = messages.values("dedupe_key").annotate(n=Count("id")).filter(n__gt=1)
    assert shared.exists()
    assert messages.values("thread_key").distinct().count() < messages.count()


def assert_manager_sees_mail_on_a_card() -> None:
    manager = User.objects.get(username="manager")
    for contact in Contact.objects.all():
        page = card_emails(CardOf.contact(contact.pk), mailbox_visibility(manager))
        if page.items:
            return
    pytest.fail("the manager sees no synchronized email on any contact card")


@pytest.mark.django_db
def test_if_empty_leaves_a_database_with_users_alone() -> None:
    UserFactory(username="someone")

    output = seed("--if-empty")

    assert "nothing loaded" in output
    assert User.objects.count() == 1
    assert not Account.objects.exists()
    with pytest.raises(CommandError, match="empty"):
        seed()
