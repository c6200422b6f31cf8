import pytest

from crm.contacts.models import Contact
from tests.api import client_for
from tests.factories import UserFactory, make_account, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(user):
    return client_for(user)


def test_create_normalizes_addresses_and_keeps_the_first_primary(api, user):
    account = make_account()
    response = api.post(
        "/api/contacts/",
        {
            "first_name": "Jane",
            "last_name": "Doe",
            "account": account.pk,
            "emails": [" Jane@ACME.test ", "j.doe@Example.TEST"],
        },
        format="json",
    )
    assert response.status_code == 201, response.data

    contact = api.get(f"/api/contacts/{response.data['id']}/").data
    assert contact["full_name"] == "Jane Doe"
    assert contact["emails"] == [
        {"address": "jane@acme.test", "is_primary": True},
        {"address": "j.doe@example.test", "is_primary": False},
    ]
    assert contact["primary_email"] == "jane@acme.test"
    assert contact["account"] == account.pk
    assert contact["owner"] == user.pk


def test_invalid_address_is_named_and_nothing_is_created(api):
    response = api.post(
        "/api/contacts/",
        {"last_name": "Doe", "emails": ["jane@acme.test", "not-an-address"]},
        format="json",
    )
    assert response.status_code == 400
    assert "not-an-address" in response.data["emails"][0]
    assert not Contact.objects.exists()


def test_the_same_address_twice_is_refused(api):
    response = api.post(
        "/api/contacts/",
        {"last_name": "Doe", "emails": ["jane@acme.test", "JANE@acme.test"]},
        format="json",
    )
    assert response.status_code == 400
    assert response.data["emails"] == ["jane@acme.test is listed twice."]
    assert not Contact.objects.exists()


def test_over_long_last_name_is_refused(api):
    response = api.post("/api/contacts/", {"last_name": "x" * 101}, format="json")
    assert response.status_code == 400
    assert "at most 100 characters" in response.data["last_name"][0]
    assert not Contact.objects.exists()


def test_unknown_account_is_refused(api):
    response = api.post("/api/contacts/", {"last_name": "Doe", "account": 999}, format="json")
    assert response.status_code == 400
    assert "account" in response.data


@pytest.fixture
def colleague():
    return UserFactory(username="colleague")


def test_patch_changes_one_field_and_keeps_addresses_account_and_owner(api, colleague):
    account = make_account()
    contact = make_contact(
        emails=["b@acme.test", "a@acme.test"], account=account, owner=colleague, title="CEO"
    )

    response = api.patch(f"/api/contacts/{contact.pk}/", {"phone": "+1 555"}, format="json")

    assert response.status_code == 200, response.data
    assert response.data["phone"] == "+1 555"
    assert response.data["title"] == "CEO"
    assert response.data["account"] == account.pk
    assert response.data["owner"] == colleague.pk
    assert response.data["primary_email"] == "b@acme.test"
    assert [e["address"] for e in response.data["emails"]] == ["b@acme.test", "a@acme.test"]


def test_put_replaces_addresses_and_a_bad_one_leaves_the_old_ones(api):
    contact = make_contact(emails=["old@acme.test"])

    bad = api.put(
        f"/api/contacts/{contact.pk}/", {"last_name": "Doe", "emails": ["@@"]}, format="json"
    )
    assert bad.status_code == 400
    assert api.get(f"/api/contacts/{contact.pk}/").data["primary_email"] == "old@acme.test"

    good = api.put(
        f"/api/contacts/{contact.pk}/",
        {"last_name": "Doe", "emails": ["new@acme.test"]},
        format="json",
    )
    assert good.status_code == 200
    assert good.data["emails"] == [{"address": "new@acme.test", "is_primary": True}]


def test_delete_removes_the_contact(api):
    contact = make_contact()
    assert api.delete(f"/api/contacts/{contact.pk}/").status_code == 204
    assert api.get(f"/api/contacts/{contact.pk}/").status_code == 404


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_unknown_id_is_a_json_404(api, method):
    response = getattr(api, method)("/api/contacts/999/", {"last_name": "X"}, format="json")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_non_numeric_id_is_a_json_404(api):
    response = api.get("/api/contacts/abc/")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_search_matches_name_and_address(api):
    make_contact(last_name="Doe", emails=["jane@acme.test"])
    make_contact(last_name="Roe", emails=["rich@globex.test"])

    by_name = api.get("/api/contacts/", {"search": "roe"}).data
    by_address = api.get("/api/contacts/", {"search": "ACME"}).data

    assert [c["last_name"] for c in by_name["results"]] == ["Roe"]
    assert [c["last_name"] for c in by_address["results"]] == ["Doe"]


def test_ordering_by_name_both_ways(api):
    for name in ("Bravo", "Alpha", "Charlie"):
        make_contact(last_name=name, emails=[])

    ascending = api.get("/api/contacts/", {"ordering": "name"}).data["results"]
    descending = api.get("/api/contacts/", {"ordering": "-name"}).data["results"]

    assert [c["last_name"] for c in ascending] == ["Alpha", "Bravo", "Charlie"]
    assert [c["last_name"] for c in descending] == ["Charlie", "Bravo", "Alpha"]


def test_ordering_by_last_update(api):
    first = make_contact(last_name="First", emails=[])
    make_contact(last_name="Second", emails=[])
    api.patch(f"/api/contacts/{first.pk}/", {"title": "Edited"}, format="json")

    newest_first = api.get("/api/contacts/", {"ordering": "-updated"}).data["results"]

    assert [c["last_name"] for c in newest_first] == ["First", "Second"]


def test_unknown_ordering_is_refused(api):
    response = api.get("/api/contacts/", {"ordering": "password"})
    assert response.status_code == 400
    assert "ordering" in response.data


def test_filter_by_account(api):
    acme = make_account()
    make_contact(last_name="AtAcme", emails=[], account=acme)
    make_contact(last_name="Elsewhere", emails=[])

    results = api.get("/api/contacts/", {"account": acme.pk}).data["results"]

    assert [c["last_name"] for c in results] == ["AtAcme"]


def test_pagination(api):
    for n in range(30):
        make_contact(last_name=f"Contact{n:02}", emails=[])

    first = api.get("/api/contacts/").data
    second = api.get(first["next"]).data
    small = api.get("/api/contacts/", {"page_size": 5, "page": 2}).data

    assert first["count"] == 30
    assert len(first["results"]) == 25
    assert first["previous"] is None
    assert len(second["results"]) == 5
    assert second["next"] is None
    assert [c["last_name"] for c in small["results"]] == [f"Contact{n:02}" for n in range(5, 10)]


def test_unauthenticated_requests_are_refused(client, user):
    make_contact()
    response = client.get("/api/contacts/")
    assert response.status_code in (401, 403)
    assert "results" not in response.json()


def test_token_from_username_and_password_authenticates(client):
    UserFactory(username="bob")
    make_contact(last_name="Visible")

    wrong = client.post("/api/auth/token/", {"username": "bob", "password": "nope"})
    assert wrong.status_code == 400

    token = client.post("/api/auth/token/", {"username": "bob", "password": "pw"}).json()["token"]
    response = client.get("/api/contacts/", headers={"authorization": f"Token {token}"})

    assert response.status_code == 200
    assert [c["last_name"] for c in response.json()["results"]] == ["Visible"]


def test_a_wrong_token_is_refused(client):
    response = client.get("/api/contacts/", headers={"authorization": "Token nope"})
    # 403, not 401: SessionAuthentication comes first and offers no WWW-Authenticate challenge.
    assert response.status_code in (401, 403)
    assert response.json() == {"detail": "Invalid token."}
