"""The synchronized emails of a card: one row per conversation, mailbox chips that never crowd out
the subject. The browser side (widths, expanding): tests/browser/test_email_rows_in_browser.py."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from hierarchy.models import VisibilityLevel
from mailsync import card_pages
from mailsync.models import Message
from tests.factories import (
    UserFactory,
    make_account,
    make_contact,
    make_mailbox,
    make_message,
    put_in_thread,
)
from tests.pages import follow, link_href, opened_conversations

pytestmark = pytest.mark.django_db

JANE = "jane@acme.test"
HOLDER = r'<span class="holder(?: more)?"[^>]*>(.*?)</span>'


def in_thread(root: Message, *replies: Message) -> None:
    put_in_thread(root, *replies)


def conversations(response):
    return [
        [email.message.subject for email in emails] for emails in opened_conversations(response)
    ]


def card(client, contact, **params):
    response = client.get(reverse("contact-card", args=[contact.pk]), params)
    assert response.status_code == 200
    return response


def test_a_thread_is_one_row_newest_first_with_its_count(logged_in_client, user):
    contact = make_contact(emails=[JANE])
    box = make_mailbox(user)
    now = timezone.now()
    ask = make_message(
        box, sender=JANE, to=(box.address,), subject="Quote", sent_at=now - timedelta(days=3)
    )
    answer = make_message(
        box, sender=box.address, to=(JANE,), subject="Re: Quote", sent_at=now - timedelta(days=2)
    )
    thanks = make_message(
        box,
        sender=JANE,
        to=(box.address,),
        subject="Re: Re: Quote",
        sent_at=now - timedelta(hours=1),
    )
    make_message(
        box, sender=JANE, to=(box.address,), subject="Lunch?", sent_at=now - timedelta(days=1)
    )
    in_thread(ask, answer, thanks)
    # In the thread, but between colleagues only: not an email with Jane, not on her card.
    aside = make_message(
        box, sender=box.address, to=("boss@us.test",), subject="Re: Quote (internal)", sent_at=now
    )
    in_thread(ask, aside)

    response = card(logged_in_client, contact)

    assert conversations(response) == [["Re: Re: Quote", "Re: Quote", "Quote"], ["Lunch?"]]
    html = response.content.decode()
    summary = html.split('<details class="thread"')[1].split('<ul class="emails thread-emails"')[0]
    assert ">3 emails</span>" in summary
    assert '<span class="subject"><bdi>Re: Re: Quote</bdi></span>' in summary  # the newest
    # The conversation's emails are fetched when it is opened; each then opens on its own.
    assert html.count('<details class="email"') == 1  # "Lunch?"
    thread_url = re.search(r'<details class="thread" data-fragment-url="([^"]*)"', html)[1]
    rows = logged_in_client.get(thread_url.replace("&amp;", "&")).content.decode()
    assert rows.count('<details class="email"') == 3
    assert str(response.context["activity"].email_count) == "4"  # the tab counts emails


def test_pages_hold_whole_conversations_in_a_fixed_number_of_queries(logged_in_client, user):
    contact = make_contact(emails=[JANE])
    box = make_mailbox(user)
    now = timezone.now()
    for n in range(30):  # thread 0 is the newest
        root = make_message(
            box,
            sender=JANE,
            to=(box.address,),
            subject=f"t{n:02}",
            sent_at=now - timedelta(hours=2 * n + 1),
        )
        reply = make_message(
            box,
            sender=box.address,
            to=(JANE,),
            subject=f"Re: t{n:02}",
            sent_at=now - timedelta(hours=2 * n),
        )
        in_thread(root, reply)

    first = card(logged_in_client, contact)
    second = follow(logged_in_client, first, "next")
    with CaptureQueriesContext(connection) as queries:
        card(logged_in_client, contact)
    single = make_contact(last_name="Single", emails=["single@acme.test"])
    make_message(box, sender="single@acme.test", to=(box.address,))
    with CaptureQueriesContext(connection) as single_queries:
        card(logged_in_client, single)

    assert conversations(first) == [[f"Re: t{n:02}", f"t{n:02}"] for n in range(25)]
    assert conversations(second) == [[f"Re: t{n:02}", f"t{n:02}"] for n in range(25, 30)]
    assert str(first.context["activity"].email_count) == "60"
    assert link_href(second, "next") is None
    assert len(queries) == len(single_queries)  # as many as for a card with one email


def held_in_four_mailboxes(user):
    """An email to Jane copied to three colleagues, every mailbox visible to the viewer."""
    user.visibility_level = VisibilityLevel.EVERYONE
    user.save(update_fields=["visibility_level"])
    colleagues = [
        UserFactory(first_name=first, last_name=last)
        for first, last in [("Laura", "Novak"), ("Omar", "Haddad"), ("Sofia", "Alvarez")]
    ]
    boxes = [make_mailbox(u) for u in (user, *colleagues)]
    for box in boxes:
        make_message(
            box,
            sender=JANE,
            to=tuple(b.address for b in boxes),
            subject="Renewal of the warehouse contract",
            message_id="<renewal@acme.test>",
        )
    return colleagues


def test_more_than_two_mailboxes_fold_into_plus_n_and_are_listed_when_open(logged_in_client, user):
    contact = make_contact(emails=[JANE])
    held_in_four_mailboxes(user)

    html = card(logged_in_client, contact).content.decode()

    chips = re.findall(HOLDER, html)
    assert chips == [f"<bdi>{user.display_name}</bdi> · you", "+3"]
    more = re.search(r'<span class="holder more" title="([^"]*)"', html)
    assert more is not None
    for name in ("Laura Novak", "Omar Haddad", "Sofia Alvarez"):
        assert f"\u2068{name}\u2069" in more.group(1)
        assert f"<bdi>{name}</bdi>" in html.split('<p class="held-by">')[1].split("</p>")[0]


def test_two_mailboxes_show_both_chips(logged_in_client, user):
    contact = make_contact(emails=[JANE])
    colleague = UserFactory(parent=user, first_name="Bob", last_name="Baker")
    user.visibility_level = VisibilityLevel.EMPLOYEES
    user.save(update_fields=["visibility_level"])
    for box in (make_mailbox(user), make_mailbox(colleague)):
        make_message(box, sender=JANE, to=(box.address,), message_id="<both@acme.test>")

    html = card(logged_in_client, contact).content.decode()

    chips = re.findall(HOLDER, html)
    assert chips == [f"<bdi>{user.display_name}</bdi> · you", "<bdi>Bob Baker</bdi> · employee"]
    assert 'class="held-by"' not in html


def test_open_the_full_message_link_says_which_card_it_came_from(logged_in_client, user):
    contact = make_contact(emails=[JANE])
    box = make_mailbox(user)
    message = make_message(box, sender=JANE, to=(box.address,))

    html = card(logged_in_client, contact, tab="emails").content.decode()

    path = reverse("contact-card", args=[contact.pk])
    assert f'href="/emails/{message.pk}/?from={path}%3Ftab%3Demails"' in html


# --- a conversation opened: its rows for the card, or a page of its own ----------------------


def test_a_conversation_opens_with_only_the_emails_the_viewer_may_see(logged_in_client, user):
    contact = make_contact(emails=[JANE])
    stranger = UserFactory(first_name="Sam", last_name="Stranger")  # not below the viewer
    mine, theirs = make_mailbox(user), make_mailbox(stranger)
    now = timezone.now()
    ask = make_message(mine, sender=JANE, to=(mine.address,), subject="Quote", sent_at=now)
    answer = make_message(
        mine, sender=mine.address, to=(JANE,), subject="Re: Quote", sent_at=now + timedelta(1)
    )
    hidden = make_message(
        theirs, sender=JANE, to=(theirs.address,), subject="Re: Quote (Sam)", sent_at=now
    )
    in_thread(ask, answer, hidden)
    url = reverse("contact-conversation", args=[contact.pk, ask.thread_key])

    page = logged_in_client.get(url)
    rows = logged_in_client.get(url, {"rows": "1"})

    assert [e.message.subject for e in page.context["conversation"].emails] == [
        "Re: Quote",
        "Quote",
    ]
    assert "Sam" not in page.content.decode()
    assert "Sam" not in rows.content.decode()
    assert f'href="{reverse("contact-card", args=[contact.pk])}"' in page.content.decode()
    assert "<!doctype html>" not in rows.content.decode()  # rows only, for the card to insert
    # "Open the full message" from a row comes back to the card, not to the rows.
    assert f"?from=/contacts/{contact.pk}/" in rows.content.decode()


def test_a_conversation_no_visible_email_of_belongs_to_is_not_found(logged_in_client, user):
    contact, other = make_contact(emails=[JANE]), make_contact(emails=["joe@acme.test"])
    stranger = UserFactory()
    box, theirs = make_mailbox(user), make_mailbox(stranger)
    mine = make_message(box, sender="joe@acme.test", to=(box.address,))
    secret = make_message(theirs, sender=JANE, to=(theirs.address,))
    cases = [
        (contact.pk, secret.thread_key),  # in a mailbox the viewer may not see
        (contact.pk, mine.thread_key),  # the viewer's, but not with this contact
        (contact.pk, "0" * 64),
        (contact.pk, "not-a-key"),
        (contact.pk, "A" * 64),
        (999_999, mine.thread_key),
    ]
    for contact_id, key in cases:
        response = logged_in_client.get(reverse("contact-conversation", args=[contact_id, key]))
        assert response.status_code == 404, (contact_id, key)
    assert (
        logged_in_client.get(
            reverse("contact-conversation", args=[other.pk, mine.thread_key])
        ).status_code
        == 200
    )


def test_an_account_card_opens_a_conversation_with_any_of_its_contacts(logged_in_client, user):
    account = make_account(name="Acme", domains=["acme.test"])
    make_contact(emails=[JANE], account=account)
    make_contact(emails=["joe@acme.test"], account=account)
    box = make_mailbox(user)
    now = timezone.now()
    ask = make_message(box, sender=JANE, to=(box.address,), subject="Plan", sent_at=now)
    reply = make_message(
        box,
        sender=box.address,
        to=("joe@acme.test",),
        subject="Re: Plan",
        sent_at=now + timedelta(1),
    )
    in_thread(ask, reply)
    card_page = logged_in_client.get(reverse("account-card", args=[account.pk]))
    assert [[e.message.subject for e in c] for c in opened_conversations(card_page)] == [
        ["Re: Plan", "Plan"]
    ]


def test_a_conversation_asks_who_you_are_first(client, user):
    contact = make_contact(emails=[JANE])
    box = make_mailbox(user)
    message = make_message(box, sender=JANE, to=(box.address,))
    response = client.get(reverse("contact-conversation", args=[contact.pk, message.thread_key]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_very_long_conversation_opens_on_its_newest_emails_and_says_so(
    logged_in_client, user, monkeypatch
):
    monkeypatch.setattr(card_pages, "CONVERSATION_EMAILS_SHOWN", 3)
    contact = make_contact(emails=[JANE])
    box = make_mailbox(user)
    now = timezone.now()
    emails = [
        make_message(
            box,
            sender=JANE,
            to=(box.address,),
            subject=f"Alert {n}",
            sent_at=now + timedelta(minutes=n),
        )
        for n in range(5)
    ]
    in_thread(emails[0], *emails[1:])
    url = reverse("contact-conversation", args=[contact.pk, emails[0].thread_key])

    rows = logged_in_client.get(url, {"rows": "1"})
    page = logged_in_client.get(url)

    assert [e.message.subject for e in rows.context["conversation"].emails] == [
        "Alert 4",
        "Alert 3",
        "Alert 2",
    ]
    assert "Showing the newest 3 of 5 emails in this conversation." in rows.content.decode()
    assert "5 emails with" in page.content.decode()
    assert "Showing the newest 3." in page.content.decode()
