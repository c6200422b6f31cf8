"""The outbox API: the composer's send and draft with the same checks, over the real test
SMTP server and Dovecot."""

from __future__ import annotations

import base64

import pytest

from mailsync.models import CompanyAddress, OutgoingMessage, OutgoingState
from mailsync.sending.outbox import outgoing_deliver
from tests.api import client_for
from tests.factories import UserFactory, make_mailbox, make_message
from tests.mailsync.send_helpers import connect_with_smtp, parsed, sent_folder

pytestmark = pytest.mark.django_db

URL = "/api/outbox/"


@pytest.fixture
def alice(dovecot, smtp_server):
    return connect_with_smtp(dovecot, smtp_server).owner


@pytest.fixture
def api(alice):
    return client_for(alice)


def test_send_over_the_api_reaches_the_server_and_the_sent_folder(api, smtp_server, dovecot):
    attachment = base64.b64encode(b"%PDF-1.4 offer").decode()
    response = api.post(
        URL,
        {
            "to": ['"Jane Doe" <jane@customer.test>'],
            "subject": "Offer",
            "body": "See the offer.",
            "attachments": [
                {
                    "filename": "offer.pdf",
                    "content_type": "application/pdf",
                    "content_base64": attachment,
                }
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    [row] = response.json()["outgoing"]
    assert row["state"] == "queued"
    assert row["attachment_names"] == ["offer.pdf"]
    outgoing_deliver(outgoing_id=row["id"])
    message = parsed(smtp_server.messages[0].data)
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "offer.pdf"
    assert part.get_content() == b"%PDF-1.4 offer"
    assert len(sent_folder(dovecot)) == 1
    assert api.get(f"{URL}{row['id']}/").json()["state"] == "sent"


@pytest.mark.parametrize(
    "body",
    [
        {"to": ["jane@customer.test"], "subject": "Hi\r\nBcc: victim@evil.test"},
        {"to": ["jane@customer.test\r\nBcc: victim@evil.test"]},
        {"to": ['"Jane\nBcc: x@evil.test" <jane@customer.test>']},
        {"to": ["not an address"]},
        {"to": []},
        {"to": ["jane@customer.test"], "from_choice": "company:999999"},
        {"to": ["jane@customer.test"], "from_choice": "company:" + "9" * 40},
        {"to": ["jane@customer.test"], "attachments": [{"filename": "a", "content_base64": "%%"}]},
        {"to": ["jane@customer.test"], "body": "Hi {contact.nickname}"},
        {"to": "jane@customer.test"},
        {"to": [f"p{n}@x.test" for n in range(51)]},
    ],
)
def test_bad_input_is_a_400_and_nothing_is_queued(api, body):
    response = api.post(URL, body, format="json")
    assert response.status_code == 400, response.content
    assert not OutgoingMessage.objects.exists()


def test_replying_needs_a_message_the_user_may_see(api, alice):
    hidden = make_message(make_mailbox(UserFactory(username="bob")), sender="x@y.test")
    response = api.post(URL, {"to": ["x@y.test"], "reply_to_email": hidden.pk}, format="json")
    assert response.status_code == 404
    assert api.get(f"{URL}99999999999999999999/").status_code == 404
    assert api.get(f"{URL}abc/").status_code == 404
    assert api.get(f"{URL}\u00b3/").status_code == 404  # a digit to isdigit(), not to int()


def test_the_outbox_lists_only_the_users_own_mail(api, alice):
    api.post(URL, {"to": ["jane@customer.test"], "draft": True}, format="json")
    other = client_for(UserFactory(username="mallory"))
    assert other.get(URL).json()["results"] == []
    [mine] = api.get(URL).json()["results"]
    assert mine["state"] == "draft"
    assert other.post(f"{URL}{mine['id']}/send/").status_code == 404
    sent = api.post(f"{URL}{mine['id']}/send/")
    assert sent.status_code == 200
    assert OutgoingMessage.objects.get().state == OutgoingState.QUEUED


def test_routes_name_the_company_addresses_the_user_may_use(api, alice):
    sales = CompanyAddress.objects.create(address="sales@example.test")
    routes = api.get(f"{URL}routes/").json()["routes"]
    assert [r["address"] for r in routes] == ["alice@example.test"]
    sales.senders.add(alice)
    routes = api.get(f"{URL}routes/").json()["routes"]
    assert routes[1]["from_choice"] == f"company:{sales.pk}"
    assert "the CRM's mailer" in routes[1]["route"]
