import pytest

from hierarchy.models import VisibilityLevel
from tests.api import client_for
from tests.factories import UserFactory, make_account, make_contact, make_mailbox, make_message

pytestmark = pytest.mark.django_db

JANE = "jane@acme.test"


@pytest.fixture
def viewer():
    return UserFactory(username="viewer", first_name="Vera", last_name="Viewer")


@pytest.fixture
def api(viewer):
    return client_for(viewer)


@pytest.fixture
def jane():
    return make_contact(last_name="Doe", emails=[JANE])


def employee_of(manager):
    return UserFactory(username="employee", first_name="Eve", last_name="Employee", parent=manager)


def test_contact_emails_list_the_viewers_own_mail_without_body(api, viewer, jane):
    mailbox = make_mailbox(viewer)
    message = make_message(
        mailbox,
        sender=JANE,
        to=(mailbox.address,),
        subject="Offer",
        body="Secret body",
    )
    make_message(mailbox, sender="someone@else.test", to=(mailbox.address,), subject="Unrelated")

    page = api.get(f"/api/contacts/{jane.pk}/emails/").json()

    assert page["count"] == 1
    assert page["next"] is None
    assert page["previous"] is None
    [email] = page["results"]
    assert email["id"] == message.pk
    assert email["subject"] == "Offer"
    assert email["message_id"] == message.message_id
    assert email["direction"] == "in"
    assert {"role": "from", "address": JANE, "name": ""} in email["participants"]
    assert email["holders"] == [{"user_id": viewer.pk, "name": "Vera Viewer", "reason": "own"}]
    assert "body_text" not in email
    assert "Secret body" not in str(page)


def test_a_colleagues_mail_is_hidden_at_level_0(api, viewer, jane):
    colleague_box = make_mailbox(employee_of(viewer))
    hidden = make_message(colleague_box, sender=JANE, to=(colleague_box.address,))

    page = api.get(f"/api/contacts/{jane.pk}/emails/").json()

    assert page["count"] == 0
    assert page["results"] == []
    assert api.get(f"/api/emails/{hidden.pk}/").status_code == 404


def test_an_email_held_by_viewer_and_employee_is_listed_once_with_both_holders(api, viewer, jane):
    viewer.visibility_level = VisibilityLevel.EMPLOYEES
    viewer.save()
    employee = employee_of(viewer)
    own_box, employee_box = make_mailbox(viewer), make_mailbox(employee)
    own_copy = make_message(
        own_box, sender=JANE, to=(own_box.address, employee_box.address), message_id="<deal@x>"
    )
    make_message(
        employee_box,
        sender=JANE,
        to=(own_box.address, employee_box.address),
        message_id="<deal@x>",
    )

    page = api.get(f"/api/contacts/{jane.pk}/emails/").json()

    assert page["count"] == 1
    [email] = page["results"]
    assert email["id"] == own_copy.pk  # the viewer's own copy is the one shown
    assert email["holders"] == [
        {"user_id": viewer.pk, "name": "Vera Viewer", "reason": "own"},
        {"user_id": employee.pk, "name": "Eve Employee", "reason": "employee"},
    ]


def test_account_emails_cover_all_its_contacts(api, viewer):
    account = make_account()
    make_contact(last_name="Doe", emails=[JANE], account=account)
    make_contact(last_name="Roe", emails=["rich@acme.test"], account=account)
    mailbox = make_mailbox(viewer)
    make_message(mailbox, sender=JANE, to=(mailbox.address,), subject="From Jane")
    make_message(mailbox, sender=mailbox.address, to=("rich@acme.test",), subject="To Rich")
    make_message(mailbox, sender="x@globex.test", to=(mailbox.address,), subject="Elsewhere")

    page = api.get(f"/api/accounts/{account.pk}/emails/").json()

    assert sorted(e["subject"] for e in page["results"]) == ["From Jane", "To Rich"]
    outgoing = next(e for e in page["results"] if e["subject"] == "To Rich")
    assert outgoing["direction"] == "out"


def test_emails_are_paginated_with_links(api, viewer, jane):
    mailbox = make_mailbox(viewer)
    for n in range(27):
        make_message(mailbox, sender=JANE, to=(mailbox.address,), subject=f"Mail {n}")

    first = api.get(f"/api/contacts/{jane.pk}/emails/").json()
    second = api.get(first["next"]).json()

    assert first["count"] == 27
    assert len(first["results"]) == 25
    assert first["results"][0]["subject"] == "Mail 0"  # newest first
    assert [e["subject"] for e in second["results"]] == ["Mail 25", "Mail 26"]
    assert second["next"] is None
    assert api.get(second["previous"]).json()["results"] == first["results"]


def test_unknown_contact_or_account_is_a_json_404(api):
    for url in ("/api/contacts/999/emails/", "/api/accounts/999/emails/"):
        response = api.get(url)
        assert response.status_code == 404
        assert "detail" in response.json()


def test_one_email_shows_its_body(api, viewer):
    mailbox = make_mailbox(viewer)
    message = make_message(mailbox, sender=JANE, to=(mailbox.address,), body="Full text here")

    email = api.get(f"/api/emails/{message.pk}/").json()

    assert email["body_text"] == "Full text here"
    assert email["subject"] == message.subject
    assert email["mailbox_owner"] == viewer.pk


@pytest.mark.parametrize("email_id", ["999", "abc"])
def test_missing_email_is_a_json_404(api, email_id):
    response = api.get(f"/api/emails/{email_id}/")
    assert response.status_code == 404
    assert "detail" in response.json()
