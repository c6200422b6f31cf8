import pytest
from drf_spectacular.validation import validate_schema

from tests.api import client_for

pytestmark = pytest.mark.django_db


def test_schema_is_valid_openapi_listing_the_endpoints(user):
    response = client_for(user).get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    assert {
        "/api/contacts/",
        "/api/contacts/{id}/",
        "/api/contacts/{id}/emails/",
        "/api/accounts/",
        "/api/accounts/{id}/",
        "/api/accounts/{id}/emails/",
        "/api/meetings/",
        "/api/tasks/",
        "/api/emails/{id}/",
        "/api/auth/token/",
    } <= set(schema["paths"])


def test_docs_page_loads_for_a_logged_in_user(user):
    assert client_for(user).get("/api/docs/").status_code == 200


def test_schema_needs_a_login(client):
    assert client.get("/api/schema/").status_code in (401, 403)
