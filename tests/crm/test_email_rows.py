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
from mailsync.models import Message
from tests.factories import UserFactory, make_contact, make_mailbox, make_message, put_in_thread
from tests.pages import follow, link_href

pytestmark = pytest.mark.django_db

JANE = "jane@acme.test"
HOLDER = r'<span class="holder(?: more)?"[^>]*>(.*?)</span>'


def in_thread(root: Message, *replies: Message) -> None:
    put_in_thread(root, *replies)


def conversations(response):
    return [
        [email.message.subject for email in conversation.emails]
        for conversation in response.context["activity"].conversations.object_list
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
    summary = html.split('<details class="thread">')[1].split('<ul class="emails thread-emails"')[0]
    assert ">3 emails</span>" in summary
    assert '<span class="subject"><bdi>Re: Re: Quote</bdi></span>' in summary  # the newest
    assert html.count('<details class="email"') == 4  # each email still opens on its own
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
