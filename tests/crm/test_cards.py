import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.contacts.services import contact_update
from hierarchy.models import VisibilityLevel
from tests.factories import UserFactory, make_account, make_contact, make_mailbox, make_message
from tests.pages import follow, link_href, opened_conversations

pytestmark = pytest.mark.django_db


def card_emails(response):
    """The card's emails in the order shown: each conversation's, newest first."""
    return [email for emails in opened_conversations(response) for email in emails]


def card_subjects(client, contact, **params):
    response = client.get(reverse("contact-card", args=[contact.pk]), params)
    assert response.status_code == 200
    return [item.message.subject for item in card_emails(response)]


def test_card_shows_mail_from_every_role_and_not_unrelated_mail(logged_in_client, user):
    contact = make_contact(emails=["jane@acme.test"])
    mailbox = make_mailbox(user)
    make_message(mailbox, sender="jane@acme.test", to=(mailbox.address,), subject="from her")
    make_message(mailbox, sender=mailbox.address, to=("jane@acme.test",), subject="to her")
    make_message(
        mailbox, sender=mailbox.address, to=("x@y.test",), cc=("jane@acme.test",), subject="cc her"
    )
    make_message(
        mailbox,
        sender=mailbox.address,
        to=("x@y.test",),
        bcc=("jane@acme.test",),
        subject="bcc her",
    )
    make_message(mailbox, sender="other@y.test", to=(mailbox.address,), subject="unrelated")
    assert sorted(card_subjects(logged_in_client, contact)) == [
        "bcc her",
        "cc her",
        "from her",
        "to her",
    ]


def test_contact_added_later_sees_past_mail_and_loses_it_when_address_removed(
    logged_in_client, user
):
    mailbox = make_mailbox(user)
    make_message(mailbox, sender="late@acme.test", to=(mailbox.address,), subject="before")
    contact = make_contact(emails=["Late@Acme.test"])
    assert card_subjects(logged_in_client, contact) == ["before"]
    contact_update(contact=contact, last_name="Doe", emails=["other@acme.test"])
    assert card_subjects(logged_in_client, contact) == []


def test_account_card_gathers_mail_of_all_its_contacts(logged_in_client, user):
    account = make_account()
    make_contact(last_name="A", emails=["a@acme.test"], account=account)
    make_contact(last_name="B", emails=["b@acme.test"], account=account)
    mailbox = make_mailbox(user)
    make_message(mailbox, sender="a@acme.test", to=(mailbox.address,), subject="from a")
    make_message(mailbox, sender=mailbox.address, to=("b@acme.test",), subject="to b")
    make_message(mailbox, sender="c@elsewhere.test", to=(mailbox.address,), subject="not acme")
    response = logged_in_client.get(reverse("account-card", args=[account.pk]))
    subjects = [i.message.subject for i in card_emails(response)]
    assert sorted(subjects) == ["from a", "to b"]


def test_colleague_mail_is_hidden_at_level_0_and_shown_once_with_holders_at_level_1(
    logged_in_client, user
):
    contact = make_contact(emails=["jane@acme.test"])
    employee = UserFactory(parent=user, first_name="Bob", last_name="Baker")
    mine, theirs = make_mailbox(user), make_mailbox(employee)
    shared = "<shared@acme.test>"
    make_message(
        mine,
        sender="jane@acme.test",
        to=(mine.address, theirs.address),
        message_id=shared,
        subject="to both of us",
    )
    make_message(
        theirs,
        sender="jane@acme.test",
        to=(theirs.address, mine.address),
        message_id=shared,
        subject="to both of us",
    )
    make_message(theirs, sender="jane@acme.test", to=(theirs.address,), subject="only Bob's")

    assert card_subjects(logged_in_client, contact) == ["to both of us"]

    user.visibility_level = VisibilityLevel.EMPLOYEES
    user.save(update_fields=["visibility_level"])
    response = logged_in_client.get(reverse("contact-card", args=[contact.pk]))
    items = card_emails(response)
    assert sorted(i.message.subject for i in items) == ["only Bob's", "to both of us"]
    both = next(i for i in items if i.message.subject == "to both of us")
    assert [(h.name, h.reason.label) for h in both.holders] == [
        (user.display_name, "own mailbox"),
        ("Bob Baker", "employee"),
    ]
    assert both.message.mailbox == mine  # the viewer's own copy is the one shown
    assert "<bdi>Bob Baker</bdi> · employee" in response.content.decode()


def test_colleague_message_by_id_is_404_when_not_visible(logged_in_client):
    stranger = UserFactory()
    theirs = make_mailbox(stranger)
    message = make_message(theirs, sender="jane@acme.test", to=(theirs.address,))
    assert logged_in_client.get(reverse("message", args=[message.pk])).status_code == 404
    assert logged_in_client.get(reverse("message-body", args=[message.pk])).status_code == 404


def test_internal_only_mail_is_not_on_cards(logged_in_client, user):
    contact = make_contact(emails=["jane@acme.test"])
    mailbox = make_mailbox(user)
    make_message(mailbox, sender="jane@acme.test", to=(mailbox.address,), is_internal=True)
    assert card_subjects(logged_in_client, contact) == []


def test_email_content_is_rendered_as_inert_text(logged_in_client, user):
    contact = make_contact(emails=["jane@acme.test"])
    mailbox = make_mailbox(user)
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    message = make_message(
        mailbox, sender="jane@acme.test", to=(mailbox.address,), subject=evil, body=evil
    )
    for url in (
        reverse("contact-card", args=[contact.pk]),
        reverse("message", args=[message.pk]),
        reverse("message-body", args=[message.pk]),
    ):
        page = logged_in_client.get(url).content.decode()
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;alert" in page


def test_card_pages_through_messages_newest_first(logged_in_client, user):
    contact = make_contact(emails=["jane@acme.test"])
    mailbox = make_mailbox(user)
    for n in range(30):  # factory dates each message a minute before the previous one
        make_message(mailbox, sender="jane@acme.test", to=(mailbox.address,), subject=f"m{n:02}")
    first = logged_in_client.get(reverse("contact-card", args=[contact.pk]))
    second = follow(logged_in_client, first, "next")
    subjects = [[item.message.subject for item in card_emails(page)] for page in (first, second)]
    assert subjects == [[f"m{n:02}" for n in range(25)], [f"m{n:02}" for n in range(25, 30)]]
    assert link_href(second, "next") is None
    back = follow(logged_in_client, second, "prev")  # the first page again
    assert [item.message.subject for item in card_emails(back)] == subjects[0]


def _card_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("tab", ["emails", "meetings", "tasks"])
def test_card_query_count_does_not_grow_with_messages_or_mailboxes(logged_in_client, user, tab):
    account = make_account()
    contact = make_contact(emails=["jane@acme.test", "jd@acme.test"], account=account)
    user.visibility_level = VisibilityLevel.EVERYONE
    user.save(update_fields=["visibility_level"])
    mailbox = make_mailbox(user)
    make_message(mailbox, sender="jane@acme.test", to=(mailbox.address,))
    urls = [
        reverse("contact-card", args=[contact.pk]) + f"?tab={tab}",
        reverse("account-card", args=[account.pk]) + f"?tab={tab}",
    ]
    small = [_card_queries(logged_in_client, url) for url in urls]

    for n in range(6):
        colleague_box = make_mailbox(UserFactory(parent=user))
        for _ in range(8):
            make_message(colleague_box, sender="jd@acme.test", to=(colleague_box.address,))
            make_message(mailbox, sender=mailbox.address, to=("jane@acme.test",), cc=(f"x{n}@q",))
    large = [_card_queries(logged_in_client, url) for url in urls]

    assert large == small
    # The emails tab reads one more: mail written in Postcard not yet synchronized (its outbox).
    assert max(large) <= (10 if tab == "emails" else 9)


def test_card_says_how_many_mailboxes_are_shown_when_the_cap_cuts(logged_in_client, user, settings):
    settings.VISIBILITY_MAILBOX_CAP = 2
    user.visibility_level = VisibilityLevel.EVERYONE
    user.save(update_fields=["visibility_level"])
    contact = make_contact(emails=["jane@acme.test"])
    for _ in range(3):
        make_mailbox(UserFactory())
    make_mailbox(user)
    page = logged_in_client.get(reverse("contact-card", args=[contact.pk])).content.decode()
    assert "Showing 2 of 4 mailboxes you may see." in page
