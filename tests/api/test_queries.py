"""Lists cost the same number of queries for 1 row or 5: no query per row."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.activities.services import meeting_create, task_create
from tests.api import client_for
from tests.factories import make_account, make_contact, make_mailbox, make_message

pytestmark = pytest.mark.django_db

START = datetime(2030, 1, 1, 9, tzinfo=UTC)
END = datetime(2030, 1, 1, 10, tzinfo=UTC)


def add_rows(user, n):
    for _ in range(n):
        account = make_account(name=f"Account {n}", domains=[])
        contact = make_contact(emails=[], account=account, owner=user)
        meeting_create(owner=user, title="M", starts_at=START, ends_at=END, contacts=[contact])
        task_create(owner=user, title="T", due_at=START, contacts=[contact], account=account)


def queries(api, url):
    with CaptureQueriesContext(connection) as captured:
        assert api.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "url", ["/api/contacts/", "/api/accounts/", "/api/meetings/", "/api/tasks/"]
)
def test_crm_lists_do_not_query_per_row(user, url):
    api = client_for(user)
    add_rows(user, 1)
    with_one = queries(api, url)
    add_rows(user, 4)
    assert queries(api, url) == with_one


def test_contact_emails_do_not_query_per_email(user):
    api = client_for(user)
    contact = make_contact(emails=["jane@acme.test"])
    mailbox = make_mailbox(user)
    url = f"/api/contacts/{contact.pk}/emails/"
    make_message(mailbox, sender="jane@acme.test", to=(mailbox.address,))
    queries(api, url)  # warm the viewer's cached mailbox visibility
    with_one = queries(api, url)
    for _ in range(4):
        make_message(mailbox, sender="jane@acme.test", to=(mailbox.address,))
    assert queries(api, url) == with_one
