import pytest

from crm.accounts.models import Account
from tests.api import client_for
from tests.factories import make_account, make_contact

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(user):
    return client_for(user)


def test_create_with_domains_reads_back_canonical(api, user):
    response = api.post(
        "/api/accounts/",
        {
            "name": "Acme",
            "website": "https://acme.test",
            "domains": ["https://www.ACME.test/", "Büro.de"],
        },
        format="json",
    )
    assert response.status_code == 201, response.data

    account = api.get(f"/api/accounts/{response.data['id']}/").data
    assert account["domains"] == ["acme.test", "xn--bro-hoa.de"]
    assert account["owner"] == user.pk
    assert account["contact_count"] == 0


def test_domain_of_another_account_is_refused_and_nothing_created(api):
    make_account(name="Acme Corp", domains=["acme.test"])

    response = api.post(
        "/api/accounts/", {"name": "Copycat", "domains": ["ACME.test"]}, format="json"
    )

    assert response.status_code == 400
    assert response.data["domains"] == ["acme.test already belongs to Acme Corp."]
    assert not Account.objects.filter(name="Copycat").exists()


def test_invalid_website_is_refused(api):
    response = api.post("/api/accounts/", {"name": "Acme", "website": "not a url"}, format="json")
    assert response.status_code == 400
    assert "website" in response.data


def test_contact_count(api):
    account = make_account()
    make_contact(last_name="One", emails=[], account=account)
    make_contact(last_name="Two", emails=[], account=account)

    assert api.get(f"/api/accounts/{account.pk}/").data["contact_count"] == 2


def test_patch_renames_and_keeps_domains(api):
    account = make_account(name="Acme", domains=["acme.test", "acme.example"])

    response = api.patch(f"/api/accounts/{account.pk}/", {"name": "Acme Inc"}, format="json")

    assert response.status_code == 200, response.data
    assert response.data["name"] == "Acme Inc"
    assert response.data["domains"] == ["acme.example", "acme.test"]


def test_search_and_ordering(api):
    make_account(name="Globex", domains=["globex.test"])
    make_account(name="Acme", domains=["acme.test"])
    make_account(name="Initech", domains=["initech.test"])

    by_domain = api.get("/api/accounts/", {"search": "globex.TEST"}).data["results"]
    descending = api.get("/api/accounts/", {"ordering": "-name"}).data["results"]

    assert [a["name"] for a in by_domain] == ["Globex"]
    assert [a["name"] for a in descending] == ["Initech", "Globex", "Acme"]


def test_delete_keeps_its_contacts(api):
    account = make_account()
    contact = make_contact(account=account)

    assert api.delete(f"/api/accounts/{account.pk}/").status_code == 204

    assert api.get(f"/api/accounts/{account.pk}/").status_code == 404
    assert api.get(f"/api/contacts/{contact.pk}/").data["account"] is None
