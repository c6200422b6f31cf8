"""An address another contact already has is refused with 409 Conflict naming that contact, unless
the client sends `"force": true`: a shared address shows its mail on both contacts' cards."""

import pytest

from crm.contacts.models import Contact, ContactEmail
from tests.api import client_for
from tests.factories import make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(user):
    return client_for(user)


@pytest.fixture
def jane():
    return make_contact(first_name="Jane", last_name="Doe", emails=["jane@acme.test"])


def test_creating_a_contact_with_another_contacts_address_is_a_409_naming_them(api, jane):
    response = api.post(
        "/api/contacts/",
        {"last_name": "Roe", "emails": ["sam@acme.test", " JANE@Acme.TEST "]},
        format="json",
    )

    assert response.status_code == 409
    body = response.json()
    assert body["conflicts"] == [
        {"address": "jane@acme.test", "contact": jane.pk, "name": "Jane Doe"}
    ]
    assert "jane@acme.test is already the address of Jane Doe" in body["detail"]
    assert '"force": true' in body["detail"]
    assert not Contact.objects.filter(last_name="Roe").exists()


def test_force_adds_the_shared_address(api, jane):
    body = {"last_name": "Roe", "emails": ["jane@acme.test"]}
    assert api.post("/api/contacts/", body, format="json").status_code == 409

    response = api.post("/api/contacts/", {**body, "force": True}, format="json")

    assert response.status_code == 201
    assert "force" not in response.json()
    assert ContactEmail.objects.filter(address="jane@acme.test").count() == 2


@pytest.mark.parametrize("method", ["put", "patch"])
def test_adding_another_contacts_address_on_update_is_a_409(api, jane, method):
    sam = make_contact(last_name="Roe", emails=["sam@acme.test"])

    response = getattr(api, method)(
        f"/api/contacts/{sam.pk}/",
        {"last_name": "Roe", "emails": ["sam@acme.test", "jane@acme.test"]},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["conflicts"][0]["contact"] == jane.pk
    assert list(sam.emails.values_list("address", flat=True)) == ["sam@acme.test"]


def test_only_newly_added_shared_addresses_are_asked_about(api, jane):
    sam = make_contact(last_name="Roe", emails=["sam@acme.test", "jane@acme.test"])
    make_contact(first_name="Max", last_name="Poe", emails=["max@acme.test"])
    url = f"/api/contacts/{sam.pk}/"

    kept = api.patch(url, {"title": "Buyer", "emails": ["jane@acme.test"]}, format="json")
    added = api.patch(url, {"emails": ["jane@acme.test", "max@acme.test"]}, format="json")

    assert kept.status_code == 200
    assert kept.json()["primary_email"] == "jane@acme.test"
    assert added.status_code == 409
    assert [c["name"] for c in added.json()["conflicts"]] == ["Max Poe"]


def test_the_conflict_and_force_are_documented_in_the_schema(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()

    create = schema["paths"]["/api/contacts/"]["post"]
    assert "409" in create["responses"]
    force = schema["components"]["schemas"]["ContactInput"]["properties"]["force"]
    assert "409 Conflict" in force["description"]
