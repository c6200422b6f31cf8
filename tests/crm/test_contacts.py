import pytest
from django.urls import reverse

from crm.contacts.models import Contact, ContactEmail
from tests.factories import UserFactory, make_account, make_contact, make_mailbox, make_message

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get(reverse("contact-list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_create_contact_with_two_addresses_shows_both_primary_first(logged_in_client):
    account = make_account(name="Acme Corp")
    response = logged_in_client.post(
        reverse("contact-create"),
        {
            "first_name": "Jane",
            "last_name": "Doe",
            "account": account.pk,
            "emails": " Jane@ACME.test \njane.doe@gmail.com",
        },
        follow=True,
    )
    contact = Contact.objects.get(last_name="Doe")
    assert response.redirect_chain[-1][0] == contact.get_absolute_url()
    assert [(e.address, e.is_primary) for e in contact.emails.all()] == [
        ("jane@acme.test", True),
        ("jane.doe@gmail.com", False),
    ]
    page = response.content.decode()
    assert "jane@acme.test" in page
    assert "jane.doe@gmail.com" in page
    assert page.index("jane@acme.test") < page.index("jane.doe@gmail.com")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"last_name": "Doe", "emails": "jane@"}, "emails", "“jane@” is not a valid email"),
        (
            {"last_name": "Doe", "emails": "a@x.test\nA@X.test"},
            "emails",
            "a@x.test is listed twice",
        ),
        ({"last_name": "D" * 101}, "last_name", "at most 100 characters"),
        ({"last_name": ""}, "last_name", "This field is required"),
        ({"last_name": "Doe", "account": "999999"}, "account", "Select a valid choice"),
    ],
)
def test_bad_contact_data_gets_a_field_error_and_saves_nothing(
    logged_in_client, data, field, message
):
    response = logged_in_client.post(reverse("contact-create"), data)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not Contact.objects.exists()
    assert not ContactEmail.objects.exists()


def test_failed_edit_keeps_the_previous_addresses(logged_in_client):
    contact = make_contact(emails=["jane@acme.test", "jd@acme.test"])
    response = logged_in_client.post(
        reverse("contact-edit", args=[contact.pk]),
        {"last_name": "Renamed", "emails": "new@acme.test\nbroken@"},
    )
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.last_name == "Doe"
    assert sorted(contact.emails.values_list("address", flat=True)) == [
        "jane@acme.test",
        "jd@acme.test",
    ]


def test_contact_list_searches_by_email_and_account_and_paginates(logged_in_client):
    acme = make_account(name="Acme Corp", domains=["acme.test"])
    for n in range(30):
        make_contact(last_name=f"Person{n:02}", emails=[f"p{n}@other.test"])
    make_contact(last_name="Target", emails=["needle@acme.test"], account=acme)

    by_email = logged_in_client.get(reverse("contact-list"), {"q": "needle"})
    assert [c.last_name for c in by_email.context["page"].object_list] == ["Target"]
    by_account = logged_in_client.get(reverse("contact-list"), {"q": "acme"})
    assert [c.last_name for c in by_account.context["page"].object_list] == ["Target"]

    first = logged_in_client.get(reverse("contact-list"), {"sort": "-name"})
    assert first.context["page"].paginator.count == 31
    assert len(first.context["page"].object_list) == 25
    assert first.context["page"].object_list[0].last_name == "Target"
    second = logged_in_client.get(reverse("contact-list"), {"sort": "-name", "page": 2})
    assert len(second.context["page"].object_list) == 6


def test_deleting_a_contact_keeps_the_mailbox_messages(logged_in_client, user):
    contact = make_contact(emails=["jane@acme.test"])
    mailbox = make_mailbox(user)
    make_message(mailbox, sender="jane@acme.test", to=(mailbox.address,))
    response = logged_in_client.post(reverse("contact-delete", args=[contact.pk]))
    assert response.status_code == 302
    assert not Contact.objects.exists()
    assert mailbox.messages.count() == 1


def test_unknown_contact_is_404(logged_in_client):
    assert logged_in_client.get(reverse("contact-card", args=[424242])).status_code == 404
    assert logged_in_client.get(reverse("contact-edit", args=[424242])).status_code == 404


def test_contact_owner_defaults_to_the_creator(logged_in_client, user):
    logged_in_client.post(reverse("contact-create"), {"last_name": "Doe", "owner": user.pk})
    assert Contact.objects.get().owner == user
    other = UserFactory()
    assert other != user
