"""Cards read their mail from the CardLink index, a page at a time (issue 9).

What a user notices: every email with a contact is on the card exactly once, whichever page it
falls on and however many colleagues hold it; a contact made later, an address added, removed
or moved, an account changed: the cards follow at once; counts say when they stopped counting;
and a card keeps working when the mailbox credentials cannot be decrypted.
"""

from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.contrib.admin.sites import site
from django.test import RequestFactory, override_settings
from django.urls import reverse
from django.utils import timezone

from crm.accounts.services import account_delete
from crm.contacts.admin import ContactEmailAdmin
from crm.contacts.models import ContactEmail
from crm.contacts.services import contact_update
from hierarchy.models import VisibilityLevel
from mailsync import card_pages
from mailsync.card_links import card_links_rebuild
from mailsync.models import CardLink, Message
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
NOW = timezone.now()


def card(client, kind, pk, **params):
    response = client.get(reverse(f"{kind}-card", args=[pk]), params)
    assert response.status_code == 200
    return response


def subjects(response):
    """Each conversation on the page as the subjects of its emails, newest first."""
    return [
        [email.message.subject for email in emails] for emails in opened_conversations(response)
    ]


def every_page(client, first):
    pages = [first]
    while link_href(pages[-1], "next"):
        pages.append(follow(client, pages[-1], "next"))
    return pages


def mail(box, n, *, to=JANE, subject=None, hours_ago=None, **kwargs):
    return make_message(
        box,
        sender=box.address,
        to=(to,),
        subject=subject or f"m{n:03}",
        sent_at=NOW - timedelta(hours=n if hours_ago is None else hours_ago),
        **kwargs,
    )


def test_walking_the_pages_shows_each_conversation_once_in_order(logged_in_client, user):
    """Threads whose emails straddle page boundaries sit where their newest email puts them."""
    jane = make_contact(emails=[JANE])
    box = make_mailbox(user)
    roots = [mail(box, n) for n in range(60)]
    # Old threads answered recently: each jumps to where its reply puts it.
    for n in (3, 30, 55):
        put_in_thread(roots[n], mail(box, n, subject=f"Re: m{n:03}", hours_ago=n - 2.5))

    pages = every_page(logged_in_client, card(logged_in_client, "contact", jane.pk))
    shown = [conversation for page in pages for conversation in subjects(page)]

    assert [len(subjects(page)) for page in pages] == [25, 25, 10]
    assert [c[0] for c in shown] == sorted((c[0] for c in shown), key=_newest_first(box))
    assert sorted(c[-1] for c in shown) == [f"m{n:03}" for n in range(60)]  # all, once
    assert ["Re: m030", "m030"] in shown
    # And back up: the previous page of the last is the middle one.
    assert subjects(follow(logged_in_client, pages[2], "prev")) == subjects(pages[1])


def test_a_long_thread_does_not_hide_the_conversations_behind_it(logged_in_client, user):
    """Pages are read a batch of rows at a time: a thread longer than many batches (automated
    notifications) is one conversation, and every older conversation still follows it."""
    jane = make_contact(emails=[JANE])
    box = make_mailbox(user)
    thread = [mail(box, n, subject="Build failed", hours_ago=n / 100) for n in range(300)]
    put_in_thread(thread[0], *thread[1:])
    for n in range(30):
        mail(box, n + 10)

    pages = every_page(logged_in_client, card(logged_in_client, "contact", jane.pk))
    shown = [conversation for page in pages for conversation in subjects(page)]

    first = pages[0].context["activity"].conversations.items[0]
    assert first.latest.message.subject == "Build failed"
    assert first.email_count == 300
    assert [len(c) for c in shown] == [card_pages.CONVERSATION_EMAILS_SHOWN] + [1] * 30
    assert [c[0] for c in shown[1:]] == [f"m{n + 10:03}" for n in range(30)]
    emails, url = [], f"/api/contacts/{jane.pk}/emails/"
    while url:
        page = logged_in_client.get(url).json()
        emails += page["results"]
        url = page["next"]
    assert len({e["id"] for e in emails}) == len(emails) == 330
    assert [e["subject"] for e in emails[300:]] == [f"m{n + 10:03}" for n in range(30)]


def _newest_first(box):
    dates = dict(Message.objects.filter(mailbox=box).values_list("subject", "sent_at"))
    return lambda subject: -dates[subject].timestamp()


def test_an_email_held_by_colleagues_shows_once_with_its_holders(client, user):
    boss = UserFactory(visibility_level=VisibilityLevel.EMPLOYEES)
    user.move_to(boss)
    boxes = [make_mailbox(boss), make_mailbox(user)]
    jane = make_contact(emails=[JANE])
    for box in boxes:
        make_message(box, sender=JANE, to=tuple(b.address for b in boxes), message_id="<one@x>")
    for n in range(30):
        mail(boxes[n % 2], n + 1)
    client.force_login(boss)

    pages = every_page(client, card(client, "contact", jane.pk))
    conversations = [c for page in pages for c in page.context["activity"].conversations.items]

    assert len(conversations) == 31
    shared = next(c for c in conversations if c.latest.message.message_id == "<one@x>")
    assert [h.user_id for h in shared.holders] == [boss.pk, user.pk]
    assert str(pages[0].context["activity"].email_count) == "31"


def test_an_email_to_two_contacts_of_an_account_is_on_its_card_once(logged_in_client, user):
    account = make_account()
    make_contact(last_name="Doe", emails=[JANE], account=account)
    make_contact(last_name="Roe", emails=["rich@acme.test"], account=account)
    box = make_mailbox(user)
    for n in range(30):
        make_message(box, sender=box.address, to=(JANE, "rich@acme.test"), subject=f"both {n}")

    pages = every_page(logged_in_client, card(logged_in_client, "account", account.pk))

    shown = [c[0] for page in pages for c in subjects(page)]
    assert sorted(shown) == sorted(f"both {n}" for n in range(30))
    assert str(pages[0].context["activity"].email_count) == "30"


def test_cards_follow_contact_changes_at_once(logged_in_client, user):
    box = make_mailbox(user)
    mail(box, 1, to=JANE, subject="to the old address")
    mail(box, 2, to="jane@new.test", subject="to the new address")
    acme, globex = make_account(), make_account(name="Globex", domains=["globex.test"])

    # A contact made after the mail arrived sees it at once.
    jane = make_contact(emails=[JANE], account=acme)
    assert subjects(card(logged_in_client, "contact", jane.pk)) == [["to the old address"]]
    assert subjects(card(logged_in_client, "account", acme.pk)) == [["to the old address"]]

    # Another address, and another account.
    contact_update(contact=jane, last_name="Doe", emails=["jane@new.test"], account=globex)
    assert subjects(card(logged_in_client, "contact", jane.pk)) == [["to the new address"]]
    assert subjects(card(logged_in_client, "account", acme.pk)) == []
    assert subjects(card(logged_in_client, "account", globex.pk)) == [["to the new address"]]

    # Admin edits addresses without the services: the card follows too.
    address = ContactEmail.objects.get(contact=jane)
    address.address = JANE
    request = RequestFactory().post("/")
    ContactEmailAdmin(ContactEmail, site).save_model(request, address, None, change=True)
    assert subjects(card(logged_in_client, "contact", jane.pk)) == [["to the old address"]]

    # The account deleted: the contact keeps its mail, no account card holds it.
    account_delete(account=globex)
    assert CardLink.objects.filter(contact=jane, account__isnull=False).count() == 0
    assert subjects(card(logged_in_client, "contact", jane.pk)) == [["to the old address"]]


def test_mail_deleted_in_the_mailbox_leaves_the_card(logged_in_client, user):
    jane = make_contact(emails=[JANE])
    box = make_mailbox(user)
    kept, gone = mail(box, 1, subject="kept"), mail(box, 2, subject="gone")
    gone.delete()  # as the mirror's orphan sweep does
    assert subjects(card(logged_in_client, "contact", jane.pk)) == [["kept"]]
    assert CardLink.objects.filter(message=kept).exists()


def test_the_index_rebuilt_from_scratch_is_the_one_kept_by_every_write(user):
    jane = make_contact(emails=[JANE])
    box = make_mailbox(user)
    for n in range(5):
        mail(box, n)
    make_message(box, sender=box.address, to=("bob@colleague.test",), is_internal=True)
    contact_update(contact=jane, last_name="Doe", emails=[JANE, "other@acme.test"])
    kept = set(CardLink.objects.values_list("contact", "message", "account", "thread_key"))

    assert card_links_rebuild() == len(kept)
    assert set(CardLink.objects.values_list("contact", "message", "account", "thread_key")) == kept


def test_a_count_past_the_cap_says_it_stopped_counting(logged_in_client, user, monkeypatch):
    monkeypatch.setattr(card_pages, "COUNT_CAP", 5)
    jane = make_contact(emails=[JANE])
    box = make_mailbox(user)
    for n in range(8):
        mail(box, n)

    page = card(logged_in_client, "contact", jane.pk).content.decode()

    tab = '<span class="count" title="At least 5 emails: Postcard stops counting there">5+</span>'
    assert tab in page


@pytest.mark.parametrize("position", ["before=garbage", "after=1_0", "before=" + "9" * 40])
def test_a_mangled_page_link_shows_the_newest_page(logged_in_client, user, position):
    jane = make_contact(emails=[JANE])
    box = make_mailbox(user)
    mail(box, 1, subject="newest")
    url = reverse("contact-card", args=[jane.pk]) + "?" + position
    response = logged_in_client.get(url)
    assert response.status_code == 200
    assert subjects(response) == [["newest"]]


def test_cards_work_when_the_mailbox_credentials_cannot_be_decrypted(logged_in_client, user):
    box = make_mailbox(user)
    box.credentials = '{"password": "secret"}'
    box.save(update_fields=["credentials"])
    jane = make_contact(emails=[JANE])
    message = mail(box, 1, subject="still here")

    with override_settings(FIELD_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        assert subjects(card(logged_in_client, "contact", jane.pk)) == [["still here"]]
        assert logged_in_client.get(reverse("message", args=[message.pk])).status_code == 200
        api = logged_in_client.get(f"/api/contacts/{jane.pk}/emails/")
        assert [e["subject"] for e in api.json()["results"]] == ["still here"]
        assert logged_in_client.get(reverse("home")).status_code == 200


def test_an_account_card_names_its_first_contacts_and_links_to_all(logged_in_client):
    account = make_account(name="Big Customer")
    for n in range(23):
        make_contact(last_name=f"Person {n:02}", emails=[f"p{n}@acme.test"], account=account)

    page = card(logged_in_client, "account", account.pk).content.decode()

    assert '<span class="count">23</span>' in page
    assert page.count('class="person"') == 20
    assert f'href="{reverse("contact-list")}?q=Big%20Customer">All 23 contacts</a>' in page
