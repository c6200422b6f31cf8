import pytest
from django.urls import reverse

from crm.accounts.models import Account, AccountDomain
from tests.factories import make_account

pytestmark = pytest.mark.django_db


def test_create_account_normalizes_its_domains(logged_in_client):
    response = logged_in_client.post(
        reverse("account-create"),
        {"name": "Bücher GmbH", "website": "buecher.example", "domains": "www.Bücher.example"},
    )
    account = Account.objects.get()
    assert response.url == account.get_absolute_url()
    assert account.website == "https://buecher.example"
    assert list(account.domains.values_list("domain", flat=True)) == ["xn--bcher-kva.example"]


def test_a_domain_belongs_to_one_account(logged_in_client):
    make_account(name="Acme Corp", domains=["acme.test"])
    response = logged_in_client.post(
        reverse("account-create"), {"name": "Copycat", "domains": "ACME.test"}
    )
    assert "acme.test already belongs to Acme Corp." in response.context["form"].errors["domains"]
    assert Account.objects.count() == 1


def test_edit_account_replaces_domains(logged_in_client):
    account = make_account(domains=["old.test", "keep.test"])
    logged_in_client.post(
        reverse("account-edit", args=[account.pk]),
        {"name": "Acme", "domains": "keep.test, new.test"},
    )
    assert sorted(AccountDomain.objects.values_list("domain", flat=True)) == [
        "keep.test",
        "new.test",
    ]


def test_account_list_sorts_by_contact_count(logged_in_client):
    from tests.factories import make_contact

    big = make_account(name="Big", domains=["big.test"])
    make_account(name="Small", domains=["small.test"])
    for n in range(3):
        make_contact(last_name=f"C{n}", emails=[f"c{n}@big.test"], account=big)
    response = logged_in_client.get(reverse("account-list"), {"sort": "-contacts"})
    assert [a.name for a in response.context["page"].object_list] == ["Big", "Small"]
