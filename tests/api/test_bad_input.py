"""Absurd input is a clear 4xx, never a 500: ids past any integer column, bodies nested 100,000
deep or larger than the upload limit, NUL characters (PostgreSQL cannot store them), page
numbers, sizes and dates out of range. The HTML pages that take the same ids are checked too."""

import json

import pytest
from django.test import override_settings

from crm.contacts.models import Contact
from tests.api import client_for
from tests.factories import make_account, make_contact

pytestmark = pytest.mark.django_db

TOO_BIG = "99999999999999999999"  # past 2**64
OUT_OF_RANGE = [TOO_BIG, str(2**63), "0", "-1"]  # ids are 1 .. 2**63-1


@pytest.fixture
def api(user):
    make_contact(owner=user, account=make_account())
    return client_for(user)


def _assert_json_error(response, status, mentioning):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    assert mentioning in response.content.decode()


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/contacts/", "account"),
        ("/api/meetings/", "contact"),
        ("/api/meetings/", "account"),
        ("/api/tasks/", "contact"),
        ("/api/tasks/", "account"),
    ],
)
def test_an_id_filter_out_of_range_is_a_400_naming_it(api, path, parameter, value):
    response = api.get(path, {parameter: value})

    _assert_json_error(response, 400, parameter)


@pytest.mark.parametrize(
    "path",
    [
        f"/api/contacts/{TOO_BIG}/",
        f"/api/contacts/{TOO_BIG}/emails/",
        f"/api/accounts/{TOO_BIG}/",
        f"/api/accounts/{TOO_BIG}/emails/",
        f"/api/meetings/{TOO_BIG}/",
        f"/api/tasks/{TOO_BIG}/",
        f"/api/emails/{TOO_BIG}/",
        "/api/contacts/-1/",
        "/api/contacts/%00/",
    ],
)
def test_an_id_out_of_range_in_the_path_is_a_404(api, path):
    assert api.get(path).status_code == 404
    if "/emails/" not in path:
        assert api.patch(path, {}, format="json").status_code == 404
        assert api.delete(path).status_code == 404


@pytest.mark.parametrize("path", ["/api/contacts/", "/api/meetings/", "/api/auth/token/"])
def test_json_nested_100000_deep_is_a_400(api, path):
    body = "[" * 100_000 + "]" * 100_000

    response = api.post(path, body, content_type="application/json")

    _assert_json_error(response, 400, "nested deeper than 32 levels")


def test_json_nested_past_the_limit_inside_a_field_is_a_400_and_saves_nothing(api):
    deep = json.dumps({"last_name": "Doe", "title": json.loads("[" * 40 + "]" * 40)})

    response = api.post("/api/contacts/", deep, content_type="application/json")

    _assert_json_error(response, 400, "nested deeper")
    assert Contact.objects.count() == 1


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps({"last_name": "x" * 20_000}).encode()),
        ("application/x-www-form-urlencoded", b"last_name=" + b"x" * 20_000),
    ],
)
def test_a_body_over_the_upload_limit_is_a_413(api, content_type, body):
    response = api.post("/api/contacts/", body, content_type=content_type)

    _assert_json_error(response, 413, "larger than 10,000 bytes")
    assert Contact.objects.count() == 1


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=10_000)
def test_a_multipart_body_over_the_upload_limit_is_a_json_413(api):
    # Django's own multipart parser refuses it with RequestDataTooBig (an HTML 400 before).
    response = api.post("/api/contacts/", {"last_name": "x" * 20_000}, format="multipart")

    _assert_json_error(response, 413, "larger than 10,000 bytes")


@pytest.mark.parametrize(
    "body",
    [
        {"last_name": "Doe\x00"},
        {"last_name": "Doe", "emails": ["jane\x00@acme.test"]},
        {"last_name": "Doe", "title": "\x00"},
    ],
)
def test_nul_characters_in_a_body_are_a_400(api, body):
    response = api.post("/api/contacts/", body, format="json")

    _assert_json_error(response, 400, "Null characters are not allowed")
    assert Contact.objects.count() == 1


def test_nul_characters_in_a_search_are_a_400(api):
    _assert_json_error(api.get("/api/contacts/", {"search": "a\x00"}), 400, "search")
    _assert_json_error(api.get("/api/accounts/", {"search": "a\x00"}), 400, "search")


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("page", "0"),
        ("page", "-3"),
        ("page", "abc"),
        ("page", "9" * 5000),  # more digits than int() reads
        ("page_size", "0"),
        ("page_size", "201"),
        ("page_size", TOO_BIG),
        ("page_size", "abc"),
        ("ordering", "password"),
        ("search", "x" * 201),
    ],
)
def test_absurd_list_parameters_are_a_400_naming_them(api, parameter, value):
    _assert_json_error(api.get("/api/contacts/", {parameter: value}), 400, parameter)


def test_a_page_past_the_last_is_a_404_saying_so(api):
    response = api.get("/api/contacts/", {"page": TOO_BIG})

    _assert_json_error(response, 404, "past the last page")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("before", "0"),
        ("before", "abc"),
        ("after", f"1_{TOO_BIG}"),
        ("before", f"{TOO_BIG}_1"),
        ("after", "1_0"),
        ("before", "x" * 500),
    ],
)
def test_a_bad_position_in_card_emails_is_a_400(api, name, value):
    contact = Contact.objects.get()

    response = api.get(f"/api/contacts/{contact.pk}/emails/", {name: value})

    _assert_json_error(response, 400, name)


@pytest.mark.parametrize(
    "starts_at", ["0001-01-01T00:00:00Z", "1899-12-31T23:59:00Z", "9999-12-31T22:00:00Z"]
)
def test_a_meeting_date_out_of_range_is_a_400(api, starts_at):
    response = api.post(
        "/api/meetings/",
        {"title": "Kick-off", "starts_at": starts_at, "ends_at": "9999-12-31T23:00:00Z"},
        format="json",
    )

    _assert_json_error(response, 400, "between the years 1900 and 2199")


# --- The HTML pages that take the same parameters ----------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/contacts/?q=a%00b",  # PostgreSQL: "cannot contain NUL (0x00) bytes"
        "/accounts/?q=a%00b",
        "/contacts/?q=" + "+".join(["jane"] * 70),  # SQLite: "at most 64 tables in a join"
    ],
)
def test_html_lists_answer_absurd_searches_without_an_error(client, user, path):
    make_contact(owner=user, emails=["jane@acme.test"])
    client.force_login(user)
    client.raise_request_exception = False

    response = client.get(path)

    assert response.status_code == 200
    assert ("Doe" in response.content.decode()) == path.startswith("/contacts/?q=jane")
