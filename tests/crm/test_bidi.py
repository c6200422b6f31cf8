"""Bidirectional control characters in user-supplied text cannot reorder the page around them.

A contact named "Eve" + U+202E RIGHT-TO-LEFT OVERRIDE would reverse the rest of its line ("Eve
→ Bob" shows "Eve boB →"). Every such value must reach the page isolated: inside <bdi>, inside
an element with a dir attribute, or between FSI and PDI where no markup is allowed (<title>,
attributes, headings composed in code). In a browser: tests/browser/test_bidi_in_browser.py.
"""

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.activities.services import meeting_create, task_create
from crm.core.bidi import contained, isolated
from crm.core.templatetags.postcard import isolate
from mailsync.models import Participant
from tests.factories import make_account, make_contact, make_mailbox, make_message, put_in_thread

pytestmark = pytest.mark.django_db

RLO = "\u202e"
PDI = "\u2069"
CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
INITIATORS = frozenset("\u2066\u2067\u2068")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
# Form controls are boxes of their own: what they hold cannot reorder the page around them.
OWN_BOX = {"textarea", "option", "script", "style"}
# Attributes a person reads (tooltips, confirmation dialogs), unlike href or an input's value.
SHOWN_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label", "label", "data-confirm"}


def isolated_in_text(text: str) -> bool:
    """Every bidi control in `text` sits between an isolate initiator and its PDI."""
    depth = 0
    for char in text:
        if char in INITIATORS:
            depth += 1
        elif char == PDI:
            if not depth:
                return False
            depth -= 1
        elif char in CONTROLS and not depth:
            return False
    return depth == 0


class LeakFinder(HTMLParser):
    """Collects the bidi controls of a page that are not isolated from what surrounds them."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, bool]] = []  # (tag, isolates its content)
        self.leaks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in SHOWN_ATTRIBUTES and value and not isolated_in_text(value):
                self.leaks.append(f"<{tag} {name}={value!r}>")
        if tag not in VOID:
            isolating = tag in {"bdi", *OWN_BOX} or any(name == "dir" for name, _ in attrs)
            self.open.append((tag, isolating))

    def handle_endtag(self, tag: str) -> None:
        while self.open:
            if self.open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        isolating = any(isolating for _, isolating in self.open)
        if CONTROLS & set(data) and not isolating and not isolated_in_text(data):
            tags = "/".join(tag for tag, _ in self.open)
            self.leaks.append(f"{tags}: {data!r}")


def leaks(client, url: str) -> list[str]:
    response = client.get(url)
    assert response.status_code == 200, url
    finder = LeakFinder()
    finder.feed(response.content.decode())
    return finder.leaks


@pytest.fixture
def eve(user):
    """A contact, her account, her mail and her activities, every name ending in U+202E."""
    account = make_account(name=f"Acme{RLO}", domains=["acme.test"])
    contact = make_contact(
        first_name=f"Eve{RLO}",
        last_name=f"Evans{PDI}{RLO}",  # a stray PDI would end an isolate early: still contained
        title=f"CEO{RLO}",
        phone=f"+1 555{RLO}",
        emails=["eve@acme.test"],
        account=account,
    )
    mailbox = make_mailbox(user)
    first = make_message(
        mailbox,
        sender="eve@acme.test",
        to=(mailbox.address, "bob@acme.test"),
        subject=f"Quote{RLO} for you",
        body=f"Hello{RLO} there",
    )
    Participant.objects.filter(message=first, address="eve@acme.test").update(name=f"Eve{RLO}")
    Participant.objects.filter(message=first, address="bob@acme.test").update(name=f"Bob{RLO}")
    reply = make_message(
        mailbox,
        sender=mailbox.address,
        to=("eve@acme.test",),
        subject=f"Re: Quote{RLO} for you",
        sent_at=first.sent_at + timedelta(hours=1),
    )
    put_in_thread(first, reply)
    start = timezone.now() + timedelta(days=1)
    meeting_create(
        owner=user,
        title=f"Review{RLO}",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        location=f"Room{RLO}",
        contacts=[contact],
    )
    task_create(owner=user, title=f"Call{RLO}", due_at=start, contacts=[contact])
    return contact, first


def test_contact_and_account_pages_isolate_every_name(logged_in_client, eve):
    contact, _message = eve
    account = contact.account
    urls = [
        reverse("contact-list"),
        reverse("contact-list") + "?q=Eve",
        reverse("account-list"),
        reverse("contact-card", args=[contact.pk]),
        reverse("contact-card", args=[contact.pk]) + "?tab=meetings",
        reverse("contact-card", args=[contact.pk]) + "?tab=tasks",
        reverse("account-card", args=[account.pk]),
        reverse("contact-edit", args=[contact.pk]),
        reverse("account-edit", args=[account.pk]),
    ]
    assert {url: leaks(logged_in_client, url) for url in urls} == {url: [] for url in urls}


def test_home_and_activity_pages_isolate_every_name(logged_in_client, user, eve):
    meeting, task = user.meetings.get(), user.tasks.get()
    urls = [
        reverse("home"),
        reverse("meeting-list"),
        reverse("task-list"),
        reverse("meeting-detail", args=[meeting.pk]),
        reverse("task-detail", args=[task.pk]),
        reverse("meeting-edit", args=[meeting.pk]),
        reverse("task-edit", args=[task.pk]),
    ]
    assert {url: leaks(logged_in_client, url) for url in urls} == {url: [] for url in urls}


def test_the_name_is_in_bdi_on_the_list_and_the_card(logged_in_client, eve):
    contact, _message = eve
    page = logged_in_client.get(reverse("contact-list")).content.decode()
    assert f"<strong><bdi>Eve{RLO} Evans{RLO}</bdi></strong>" in page  # the stray PDI dropped
    card = logged_in_client.get(reverse("contact-card", args=[contact.pk])).content.decode()
    assert f"<h1><bdi>Eve{RLO} Evans{RLO}</bdi></h1>" in card
    assert f"<title>\u2068Eve{RLO} Evans{RLO}{PDI} · Postcard</title>" in card
    assert f'<span class="subject"><bdi>Re: Quote{RLO} for you</bdi></span>' in card
    assert f"<bdi>Acme{RLO}</bdi>" in card
    # The conversation's emails, as the card fetches them when it is opened, and its own page.
    conversation = reverse("contact-conversation", args=[contact.pk, _message.thread_key])
    for url in (f"{conversation}?rows=1", conversation):
        rows = logged_in_client.get(url).content.decode()
        assert f'<span class="subject"><bdi>Quote{RLO} for you</bdi></span>' in rows
        assert f"<bdi>Eve{RLO}</bdi> → <bdi>bob@acme.test</bdi>" not in rows  # names, not addresses
        assert f"<bdi>Eve{RLO}</bdi> → " in rows
    assert leaks(logged_in_client, conversation) == []


def test_message_page_and_body_isolate_subject_names_and_body(logged_in_client, eve):
    _contact, message = eve
    url = reverse("message", args=[message.pk])
    assert leaks(logged_in_client, url) == []
    assert leaks(logged_in_client, reverse("message-body", args=[message.pk])) == []
    page = logged_in_client.get(url).content.decode()
    assert f"<h1><bdi>Quote{RLO} for you</bdi></h1>" in page
    assert f"<bdi>Eve{RLO}</bdi> &lt;<bdi>eve@<wbr>acme.test</bdi>&gt;" in page
    assert f'<pre class="plain-body" dir="auto">Hello{RLO} there</pre>' in page


def test_names_in_headings_and_messages_composed_in_code_are_isolated(logged_in_client, eve):
    contact, _message = eve
    form = logged_in_client.get(reverse("contact-edit", args=[contact.pk])).content.decode()
    assert f"<h1>Edit \u2068Eve{RLO} Evans{RLO}{PDI}</h1>" in form
    response = logged_in_client.post(reverse("contact-delete", args=[contact.pk]), follow=True)
    assert f"\u2068Eve{RLO} Evans{RLO}{PDI} was deleted." in response.content.decode()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        (f"Eve{RLO}", f"Eve{RLO}"),
        (f"Eve{PDI}{RLO}", f"Eve{RLO}"),  # would close the isolate around it: dropped
        ("\u2067abc", f"\u2067abc{PDI}"),  # opens an isolate: closed before ours ends
        (f"\u2066a{PDI}{PDI}b", f"\u2066a{PDI}b"),
    ],
)
def test_contained_text_cannot_close_or_leave_open_an_isolate(text, expected):
    assert contained(text) == expected
    assert isolated_in_text(isolated(text))
    assert isolate(text) == f"<bdi>{expected}</bdi>"
