"""No way around visibility: every page and endpoint that reaches mail answers 404 or nothing."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from hierarchy.models import VisibilityLevel
from mailsync.models import BodyAccess
from tests.factories import UserFactory, make_account, make_contact, make_mailbox, make_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    """A viewer at level 1 with one employee, and a stranger outside their view."""
    viewer = UserFactory(visibility_level=VisibilityLevel.EMPLOYEES)
    employee = UserFactory(parent=viewer)
    stranger = UserFactory()
    account = make_account()
    contact = make_contact(emails=["jane@acme.test"], account=account)
    visible = make_message(
        make_mailbox(employee),
        sender="jane@acme.test",
        to=("e@x.test",),
        subject="employee mail",
        body="visible body",
    )
    hidden = make_message(
        make_mailbox(stranger),
        sender="jane@acme.test",
        to=("s@x.test",),
        subject="stranger mail",
        body="SECRET body",
    )
    return viewer, contact, account, visible, hidden


def test_pages_hide_the_strangers_mail(client, world):
    viewer, contact, account, visible, hidden = world
    client.force_login(viewer)
    for url in (
        reverse("contact-card", args=[contact.pk]),
        reverse("account-card", args=[account.pk]),
    ):
        page = client.get(url).content.decode()
        assert "employee mail" in page
        assert "stranger mail" not in page
    assert client.get(reverse("message", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("message-body", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("message-body", args=[visible.pk])).status_code == 200


def test_api_hides_the_strangers_mail(world):
    viewer, contact, account, visible, hidden = world
    api = APIClient()
    api.force_authenticate(viewer)
    for url in (f"/api/contacts/{contact.pk}/emails/", f"/api/accounts/{account.pk}/emails/"):
        for params in ({}, {"page": 2}, {"page_size": 500}, {"mailbox": hidden.mailbox_id}):
            body = api.get(url, params).json()
            assert [r["subject"] for r in body["results"]] == ["employee mail"]
    assert api.get(f"/api/emails/{hidden.pk}/").status_code == 404
    assert api.get(f"/api/emails/{visible.pk}/").json()["body_text"] == "visible body"
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "SECRET" not in schema


def test_opening_a_colleagues_body_is_audited_and_own_is_not(client, world):
    viewer, _contact, _account, visible, hidden = world
    own = make_message(make_mailbox(viewer), sender="jane@acme.test", to=("v@x.test",))
    client.force_login(viewer)
    client.get(reverse("message-body", args=[own.pk]))
    assert not BodyAccess.objects.exists()
    client.get(reverse("message-body", args=[visible.pk]))
    client.get(reverse("message", args=[visible.pk]))
    api = APIClient()
    api.force_authenticate(viewer)
    api.get(f"/api/emails/{visible.pk}/")
    assert BodyAccess.objects.filter(viewer=viewer, message=visible).count() == 3
    client.get(reverse("message-body", args=[hidden.pk]))  # refused: nothing opened
    assert BodyAccess.objects.count() == 3


def _card_queries(client, url):
    cache.clear()  # cold: the visibility is computed, not read from the cache
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_card_queries_do_not_grow_with_the_tree(client):
    viewer = UserFactory(visibility_level=VisibilityLevel.EVERYONE)
    contact = make_contact(emails=["jane@acme.test"])
    make_message(make_mailbox(viewer), sender="jane@acme.test", to=("v@x.test",))
    client.force_login(viewer)
    url = reverse("contact-card", args=[contact.pk])
    small = _card_queries(client, url)
    boss = viewer
    for n in range(40):
        boss = UserFactory(parent=boss if n % 3 else viewer)
        make_message(make_mailbox(boss), sender="jane@acme.test", to=(f"u{n}@x.test",))
    assert _card_queries(client, url) == small
