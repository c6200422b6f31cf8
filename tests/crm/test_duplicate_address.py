"""The contact form warns before giving a contact an address another contact already has (mail
with it would show on both cards): it links to that contact and saves only with "Add it anyway"."""

import re

import pytest
from django.urls import reverse

from crm.contacts.models import Contact, ContactEmail
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def jane():
    return make_contact(first_name="Jane", last_name="Doe", emails=["jane@acme.test"])


def _new_contact(**extra):
    return {
        "first_name": "Sam",
        "last_name": "Roe",
        "emails": "sam@acme.test\nJANE@acme.test",
        **extra,
    }


def test_new_contact_with_another_contacts_address_is_not_saved_and_links_to_them(
    logged_in_client, jane
):
    response = logged_in_client.post(reverse("contact-create"), _new_contact())

    assert response.status_code == 200
    assert not Contact.objects.filter(last_name="Roe").exists()
    page = response.content.decode()
    link = f'<a href="{jane.get_absolute_url()}"><bdi>Jane Doe</bdi></a>'
    assert f"jane@acme.test is already the address of {link}." in page
    assert re.search(
        r'<input type="checkbox" name="add_anyway"[^>]*>\s*<label[^>]*>Add it anyway', page
    )
    # What was typed is kept for the second try.
    assert "sam@acme.test\nJANE@acme.test</textarea>" in page


def test_add_it_anyway_saves_the_shared_address(logged_in_client, jane):
    url = reverse("contact-create")
    assert logged_in_client.post(url, _new_contact()).status_code == 200

    response = logged_in_client.post(url, _new_contact(add_anyway="on"))

    sam = Contact.objects.get(last_name="Roe")
    assert response.status_code == 302
    assert response.url == sam.get_absolute_url()
    assert ContactEmail.objects.filter(address="jane@acme.test").count() == 2


def test_editing_to_add_another_contacts_address_asks_first(logged_in_client, jane):
    sam = make_contact(first_name="Sam", last_name="Roe", emails=["sam@acme.test"])
    url = reverse("contact-edit", args=[sam.pk])

    response = logged_in_client.post(url, _new_contact())

    assert response.status_code == 200
    assert "Jane Doe" in response.context["form"].fields["add_anyway"].help_text
    assert list(sam.emails.values_list("address", flat=True)) == ["sam@acme.test"]


def test_only_newly_added_shared_addresses_are_asked_about(logged_in_client, jane):
    sam = make_contact(
        first_name="Sam", last_name="Roe", emails=["sam@acme.test", "jane@acme.test"]
    )
    make_contact(first_name="Max", last_name="Poe", emails=["max@acme.test"])
    url = reverse("contact-edit", args=[sam.pk])

    added = logged_in_client.post(url, _new_contact(emails="jane@acme.test\nmax@acme.test"))
    kept = logged_in_client.post(url, _new_contact(title="Buyer"))

    assert added.status_code == 200
    warning = added.context["form"].fields["add_anyway"].help_text
    assert "Max Poe" in warning
    assert "Jane Doe" not in warning
    assert kept.status_code == 302
    sam.refresh_from_db()
    assert sam.title == "Buyer"


def test_a_name_is_escaped_in_the_warning(logged_in_client):
    make_contact(first_name="<b>Eve</b>", last_name="Evil", emails=["eve@acme.test"])

    response = logged_in_client.post(
        reverse("contact-create"), {"last_name": "Roe", "emails": "eve@acme.test"}
    )

    assert b"&lt;b&gt;Eve&lt;/b&gt; Evil" in response.content
    assert b"<b>Eve</b>" not in response.content
