"""The full message page: a way back to the card it was opened from, links to the cards of the
participants who are contacts, and the body shown whole (in a browser:
tests/browser/test_email_rows_in_browser.py)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailsync.models import Participant
from tests.factories import make_account, make_contact, make_mailbox, make_message

pytestmark = pytest.mark.django_db


def back_link(html: str) -> tuple[str, str]:
    found = re.search(r'<p class="back-link"><a href="([^"]*)">(.*?)</a></p>', html)
    assert found, "no back link"
    return found.group(1), found.group(2)


def header_lines(html: str) -> list[tuple[str, str]]:
    """(role, value) of each From/To/Cc line, the value's markup kept."""
    headers = html.split('<dl class="headers">')[1].split("</dl>")[0]
    return re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", headers)


@pytest.fixture
def exchange(user):
    """Jane (a contact) writes to the viewer and to someone who is no contact, copying Kim."""
    jane = make_contact(first_name="Jane", last_name="Doe", emails=["jane@acme.test"])
    kim = make_contact(first_name="Kim", last_name="Lee", emails=["kim@acme.test"])
    box = make_mailbox(user)
    message = make_message(
        box,
        sender="jane@acme.test",
        to=(box.address, "stranger@else.test"),
        cc=("kim@acme.test",),
        body="Line\n" * 300,
    )
    Participant.objects.filter(message=message, address="jane@acme.test").update(name="Jane D.")
    return message, jane, kim


def test_back_link_returns_to_the_card_the_message_was_opened_from(logged_in_client, exchange):
    message, _jane, kim = exchange
    came_from = reverse("contact-card", args=[kim.pk]) + "?tab=emails&page=2"

    html = logged_in_client.get(reverse("message", args=[message.pk]), {"from": came_from})

    assert back_link(html.content.decode()) == (
        came_from.replace("&", "&amp;"),
        "← Back to <bdi>Kim Lee</bdi>",
    )


def test_back_link_names_an_account_card_too(logged_in_client, exchange):
    message, jane, _kim = exchange
    account = make_account(name="Acme Corp")
    jane.account = account
    jane.save(update_fields=["account"])
    came_from = reverse("account-card", args=[account.pk])

    html = logged_in_client.get(reverse("message", args=[message.pk]), {"from": came_from})

    assert back_link(html.content.decode()) == (came_from, "← Back to <bdi>Acme Corp</bdi>")


@pytest.mark.parametrize(
    "came_from",
    [
        "",
        "https://evil.example/contacts/1/",
        "//evil.example/contacts/1/",
        "/\\evil.example/",
        "javascript:alert(1)",
        "contacts/1/",
    ],
)
def test_without_a_local_origin_back_leads_to_the_first_contacts_card(
    logged_in_client, exchange, came_from
):
    message, jane, _kim = exchange

    html = logged_in_client.get(reverse("message", args=[message.pk]), {"from": came_from})

    assert back_link(html.content.decode()) == (
        reverse("contact-card", args=[jane.pk]),
        "← Back to <bdi>Jane Doe</bdi>",
    )


def test_a_message_with_no_contact_leads_back_to_the_contact_list(logged_in_client, user):
    box = make_mailbox(user)
    message = make_message(box, sender="nobody@else.test", to=(box.address,))

    html = logged_in_client.get(reverse("message", args=[message.pk])).content.decode()

    assert back_link(html) == (reverse("contact-list"), "← Back to <bdi>Contacts</bdi>")


def test_participants_who_are_contacts_link_to_their_cards_and_no_one_else(
    logged_in_client, user, exchange
):
    message, jane, kim = exchange

    html = logged_in_client.get(reverse("message", args=[message.pk])).content.decode()

    jane_card, kim_card = (reverse("contact-card", args=[c.pk]) for c in (jane, kim))
    assert header_lines(html)[:4] == [
        (
            "From",
            f'<a href="{jane_card}" title="Open the card of \u2068Jane Doe\u2069">'
            "<bdi>Jane D.</bdi> &lt;<bdi>jane@<wbr>acme.test</bdi>&gt;</a>",
        ),
        ("To", f"<bdi>{user.username}@<wbr>postcard.test</bdi>"),
        ("To", "<bdi>stranger@<wbr>else.test</bdi>"),
        (
            "Cc",
            f'<a href="{kim_card}" title="Open the card of \u2068Kim Lee\u2069">'
            "<bdi>kim@<wbr>acme.test</bdi></a>",
        ),
    ]


def test_query_count_does_not_grow_with_participants(logged_in_client, user):
    box = make_mailbox(user)
    few = make_message(box, sender="a@acme.test", to=(box.address,))
    many_addresses = tuple(f"p{n}@acme.test" for n in range(20))
    for address in many_addresses:
        make_contact(last_name=address, emails=[address])
    many = make_message(box, sender="a@acme.test", to=many_addresses)
    logged_in_client.get(reverse("message", args=[few.pk]))  # the session's one-off work

    counts = []
    for message in (few, many):
        with CaptureQueriesContext(connection) as queries:
            html = logged_in_client.get(reverse("message", args=[message.pk])).content.decode()
        counts.append(len(queries))
    assert html.count('title="Open the card of') == 20
    assert counts[0] == counts[1]
