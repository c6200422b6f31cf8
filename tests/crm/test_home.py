"""`/` is a home page: my next meetings, my open tasks, recent email from contacts in the
mailboxes I may see, and the health of my mailbox."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.activities.services import meeting_create, task_create
from hierarchy.models import VisibilityLevel
from mailsync.connections import ImapAccount
from mailsync.models import Mailbox, MailboxState
from mailsync.services import mailbox_connect_imap
from tests.factories import UserFactory, make_contact, make_mailbox, make_message

pytestmark = pytest.mark.django_db


def home(client):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return response.content.decode()


def section(page: str, heading_id: str) -> str:
    found = re.search(rf'<section[^>]*aria-labelledby="{heading_id}".*?</section>', page, re.S)
    assert found, f"the home page has a {heading_id} section"
    return found.group(0)


def test_home_is_a_page_not_a_redirect(logged_in_client):
    page = home(logged_in_client)
    nav = re.search(r'<nav class="mainnav".*?</nav>', page, re.S)
    assert nav
    assert f'href="{reverse("meeting-list")}"' in nav.group(0)
    assert f'href="{reverse("task-list")}"' in nav.group(0)


def test_home_shows_my_upcoming_meetings_and_open_tasks_only(logged_in_client, user):
    now = timezone.now()
    colleague = UserFactory()
    meeting_create(
        owner=user,
        title="My demo",
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=1),
    )
    meeting_create(
        owner=user,
        title="Old demo",
        starts_at=now - timedelta(days=3),
        ends_at=now - timedelta(days=3, hours=-1),
    )
    meeting_create(
        owner=colleague,
        title="Their demo",
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=1),
    )
    task_create(owner=user, title="Late call", due_at=now - timedelta(days=1))
    task_create(owner=user, title="Finished thing", due_at=now, done=True)
    task_create(owner=colleague, title="Their chore", due_at=now + timedelta(days=1))
    page = home(logged_in_client)

    meetings = section(page, "home-meetings")
    assert "My demo" in meetings
    assert "Old demo" not in meetings
    assert "Their demo" not in meetings
    tasks = section(page, "home-tasks")
    assert "Late call" in tasks
    assert "Overdue" in tasks
    assert "Finished thing" not in tasks
    assert "Their chore" not in tasks


def test_recent_email_from_contacts_respects_visibility(client):
    viewer = UserFactory(visibility_level=VisibilityLevel.EMPLOYEES)
    employee = UserFactory(parent=viewer)
    stranger = UserFactory()
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@acme.test"])
    mine, theirs, hidden = make_mailbox(viewer), make_mailbox(employee), make_mailbox(stranger)
    make_message(mine, sender="jane@acme.test", to=(mine.address,), subject="Quote for Q3")
    # The same email in two visible mailboxes shows once.
    for mailbox in (mine, theirs):
        make_message(
            mailbox,
            sender="jane@acme.test",
            to=(mine.address, theirs.address),
            subject="Board meets Monday",
            message_id="<board@acme.test>",
        )
    make_message(theirs, sender="jane@acme.test", to=(theirs.address,), subject="Employee thread")
    make_message(hidden, sender="jane@acme.test", to=(hidden.address,), subject="Stranger secret")
    make_message(mine, sender="news@elsewhere.test", to=(mine.address,), subject="Weekly digest")
    make_message(mine, sender=mine.address, to=("jane@acme.test",), subject="My own reply")
    client.force_login(viewer)

    mail = section(home(client), "home-mail")
    assert "Quote for Q3" in mail
    assert "Employee thread" in mail
    assert mail.count("Board meets Monday") == 1
    assert "Stranger secret" not in mail
    assert "Weekly digest" not in mail  # not from a contact
    assert "My own reply" not in mail  # from me, not from a contact
    assert f'href="{jane.get_absolute_url()}"' in mail


def test_mailbox_health_without_a_mailbox_links_to_mailbox_sync(logged_in_client):
    box = section(home(logged_in_client), "home-mailbox")
    assert "Your mailbox is not connected yet" in box
    assert f'href="{reverse("mailbox-settings")}"' in box


def connected_mailbox(user):
    account = ImapAccount(
        address=user.email,
        username=user.username,
        password="secret",
        imap_host="imap.example.com",
        imap_port=993,
        imap_security="ssl",
        smtp_host="imap.example.com",
        smtp_port=587,
        smtp_security="starttls",
    )
    return mailbox_connect_imap(owner=user, account=account, check=False)


def set_row(mailbox, **fields):
    Mailbox.objects.filter(pk=mailbox.pk).update(**fields)


def test_mailbox_health_tells_the_same_story_as_the_mailbox_sync_page(logged_in_client, user):
    mailbox = connected_mailbox(user)
    now = timezone.now()
    set_row(mailbox, last_synced_at=now - timedelta(minutes=5), next_sync_at=now + timedelta(1))
    box = section(home(logged_in_client), "home-mailbox")
    assert "Up to date" in box
    assert "Last synchronized 5\xa0minutes ago" in box  # a no-break space, as Django writes it
    assert mailbox.address in box

    # Temporary trouble: the plain sentence, never the server's raw words.
    raw = "imap.example.com refused the connection: [Errno 111] ECONNREFUSED"
    set_row(mailbox, failures=2, state_reason=raw)
    box = section(home(logged_in_client), "home-mailbox")
    assert "Temporary problem, retrying" in box
    assert "Could not reach imap.example.com: it refused the connection." in box
    assert "Errno" not in box

    set_row(mailbox, state=MailboxState.DISCONNECTED, state_reason="imap: refused the login")
    box = section(home(logged_in_client), "home-mailbox")
    assert "Disconnected" in box
    assert "The server refused the password." in box
    assert "Reconnect in Mailbox sync" in box
    assert "Up to date" not in box


def test_a_demo_mailbox_says_it_is_demo_data_not_up_to_date(logged_in_client, user):
    mailbox = make_mailbox(user)
    set_row(mailbox, is_demo=True, last_synced_at=timezone.now())
    box = section(home(logged_in_client), "home-mailbox")
    assert "Demo mailbox: it does not sync" in box
    assert "Up to date" not in box


def test_another_users_mailbox_never_shows_as_mine(client, user):
    colleague = UserFactory()
    make_mailbox(colleague)
    client.force_login(user)
    assert "Your mailbox is not connected yet" in section(home(client), "home-mailbox")


def test_logging_in_lands_on_the_home_page(client):
    UserFactory(username="sam", password="pw")
    response = client.post(reverse("login"), {"username": "sam", "password": "pw"})
    assert response.status_code == 302
    assert response.url == reverse("home")
