"""Tests of the fake Google OAuth server and the fake Gmail API (tests/servers/google.py).

Everything goes through the real client libraries, changed only in their base URLs:
google-auth-oauthlib's `Flow` (with PKCE) for sign-in, google-auth's `Credentials` for refresh,
google-api-python-client's `build()` on its packaged discovery document (no network) and its
`BatchHttpRequest` for Gmail. The sign-in page is followed with requests, as a browser would.

Every JSON body the Gmail fake served in a test (`gmail_checked`) is then checked against the
schemas of that same discovery document: a key the schema lacks, or a value of the wrong JSON
type, fails the test that caused it. Error bodies are checked against Google's error format.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httplib2
import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2.credentials import Credentials
from google_auth_httplib2 import AuthorizedHttp  # type: ignore[import-untyped]
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from tests.servers import conftest_fixtures
from tests.servers.gmail import ROUTES, discovery_document, discovery_methods
from tests.servers.gmail_state import SYSTEM_LABELS, ServedBody
from tests.servers.google import GoogleCloud
from tests.servers.google_calendar import api_methods
from tests.servers.google_calendar_state import api_document
from tests.servers.google_identity import form_fields

# The fixture, bound by name for pytest (an import would be shadowed by each test's argument).
google = conftest_fixtures.google

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
MODIFY = "https://www.googleapis.com/auth/gmail.modify"
METADATA = "https://www.googleapis.com/auth/gmail.metadata"
USERINFO_EMAIL = "https://www.googleapis.com/auth/userinfo.email"
ALICE = "alice@acme.test"
BOB = "bob@gmail.com"
CAROL = "carol@blocked.test"

# --- the schema check ------------------------------------------------------------------------

SCHEMAS: dict[str, Any] = discovery_document()["schemas"]
GLOBAL_PARAMETERS: dict[str, Any] = discovery_document()["parameters"]
# The discovery documents served_problems() knows, by the first part of a method id.
DOCUMENT_NAMES = {
    "gmail": "gmail.v1.json",
    "calendar": "calendar.v3.json",
    "tasks": "tasks.v1.json",
}
# Google's error body (developers.google.com/gmail/api/guides/handle-errors, and
# cloud.google.com/apis/design/errors#http_mapping for "status"), written as a discovery schema.
ERROR_SCHEMA: dict[str, Any] = {
    "id": "Error",
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "integer", "format": "int32"},
                "message": {"type": "string"},
                "status": {"type": "string"},
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "message": {"type": "string"},
                            "domain": {"type": "string"},
                            "reason": {"type": "string"},
                            "location": {"type": "string"},
                            "locationType": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_INT_RANGES = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}


def schema_problems(
    value: Any,
    schema: dict[str, Any],
    where: str = "$",
    *,
    schemas: dict[str, Any] | None = None,
) -> list[str]:
    """Where `value` strays from a discovery-document schema: keys the schema does not declare,
    values of the wrong JSON type or format, enum values it does not list. `schemas` are the
    document's named schemas that "$ref" points into (default: gmail.v1.json's)."""
    schemas = SCHEMAS if schemas is None else schemas
    name = schema.get("id", "")
    if "$ref" in schema:
        name = schema["$ref"]
        schema = schemas[name]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: {type(value).__name__}, not an object ({name or 'object'})"]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        problems: list[str] = []
        for key, item in value.items():
            if key in properties:
                problems += schema_problems(
                    item, properties[key], f"{where}.{key}", schemas=schemas
                )
            elif extra is not None:
                problems += schema_problems(item, extra, f"{where}.{key}", schemas=schemas)
            else:
                problems.append(f"{where}.{key}: not a property of {name or 'the object'}")
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: {type(value).__name__}, not an array"]
        return [
            problem
            for index, item in enumerate(value)
            for problem in schema_problems(
                item, schema["items"], f"{where}[{index}]", schemas=schemas
            )
        ]
    return _scalar_problems(value, schema, where)


def _scalar_problems(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "string":
        if not isinstance(value, str):
            return [f"{where}: {value!r} is not a string"]
        if fmt in {"int64", "uint64"} and not re.fullmatch(r"-?\d+", value):
            return [f"{where}: {value!r} is not a {fmt} string"]
        if fmt == "byte" and not _BASE64URL.fullmatch(value):
            return [f"{where}: not base64url"]
        if fmt == "date-time" and not _RFC3339.fullmatch(value):
            return [f"{where}: {value!r} is not an RFC 3339 date-time"]
        if fmt == "date" and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return [f"{where}: {value!r} is not a yyyy-mm-dd date"]
        if "enum" in schema and value not in schema["enum"]:
            return [f"{where}: {value!r} not in {schema['enum']}"]
        return []
    if kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{where}: {value!r} is not an integer"]
        low, high = _INT_RANGES.get(fmt or "", (-(2**63), 2**63))
        return [] if low <= value <= high else [f"{where}: {value} out of {fmt} range"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: {value!r} is not a boolean"]
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: {value!r} is not a number"]
    return [f"{where}: no type in the schema"]


def served_problems(served: ServedBody) -> list[str]:
    """One served body against its method in its API's discovery document (gmail.v1.json,
    calendar.v3.json or tasks.v1.json, by the method id's first part): the path fits the
    servicePath and the method's flatPath with every required path parameter, every query
    parameter is declared, and the body fits the response schema (or Google's error format)."""
    api = served.method_id.split(".")[0]
    if api not in DOCUMENT_NAMES:
        return [f"{served.method_id}: no discovery document for {api!r}"]
    document = api_document(api)
    method = api_methods(api).get(served.method_id)
    if method is None:
        return [f"{served.method_id}: no such method in {DOCUMENT_NAMES[api]}"]
    problems = []
    path_template = document["servicePath"] + method.get("flatPath", method["path"])
    parts = re.split(r"\{\+?(\w+)\}", path_template)
    template = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
        for index, part in enumerate(parts)
    )
    match = re.fullmatch(template, served.path.lstrip("/"))
    if match is None:
        problems.append(f"{served.path} does not fit {path_template}")
    else:
        for parameter, spec in method.get("parameters", {}).items():
            if spec.get("required") and spec["location"] == "path" and not match[parameter]:
                problems.append(f"{served.path}: required {parameter} is empty")
    declared = {**document["parameters"], **method.get("parameters", {})}
    problems += [
        f"query parameter {q} is not declared" for q in served.query_names if q not in declared
    ]
    schema = ERROR_SCHEMA if served.status >= 400 else method.get("response")
    if schema is None:
        return [*problems, f"{served.method_id} answers no body, yet one was served"]
    return problems + schema_problems(served.body, schema, schemas=document["schemas"])


@pytest.fixture
def gmail_checked(google: GoogleCloud) -> Iterator[GoogleCloud]:
    """`google`, and afterwards every JSON body its Gmail served checked against gmail.v1.json."""
    yield google
    with google.accounts.lock:
        served = list(google.accounts.served)
    assert served, "no JSON body was served"
    problems = [
        f"{record.method_id} ({record.status}): {problem}"
        for record in served
        for problem in served_problems(record)
    ]
    assert not problems, "\n".join(problems)


# --- helpers: sign-in through google-auth-oauthlib ---------------------------------------------


def _flow(google: GoogleCloud, scopes: list[str]) -> Flow:
    return Flow.from_client_config(
        google.client_config(), scopes=scopes, redirect_uri=google.redirect_uri
    )


def _authorize(
    google: GoogleCloud,
    flow: Flow,
    address: str,
    *,
    password: str = "secret",  # noqa: S107
    action: str = "allow",
    **params: str,
) -> requests.Response:
    """Open the authorization URL and submit the sign-in page as a browser would."""
    params = {"access_type": "offline", "include_granted_scopes": "true", **params}
    url, _ = flow.authorization_url(login_hint=address, **params)
    page = requests.get(url, timeout=10)
    assert page.status_code == 200, page.text
    fields = form_fields(page.text)
    assert fields["email"] == address
    fields.update(password=password, action=action)
    return requests.post(google.auth_uri, data=fields, allow_redirects=False, timeout=10)


def _redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _sign_in(
    google: GoogleCloud, address: str = ALICE, scopes: list[str] | None = None
) -> Credentials:
    flow = _flow(google, scopes or [MODIFY])
    params = _redirect_params(_authorize(google, flow, address, include_granted_scopes="false"))
    flow.fetch_token(code=params["code"])
    credentials: Credentials = flow.credentials
    return credentials


def _gmail(google: GoogleCloud, credentials: Credentials) -> Any:
    return build(
        "gmail",
        "v1",
        credentials=credentials,
        client_options={"api_endpoint": google.gmail_url},
        cache_discovery=False,
    )


def _profile(google: GoogleCloud, token: str | None) -> requests.Response:
    """getProfile with plain requests: google-auth-httplib2 would try to refresh on a 401,
    through httplib2, which does not trust the test CA."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(google.gmail_url + "gmail/v1/users/me/profile", headers=headers, timeout=10)


def _mime(subject: str, *, body: str = "Hello.\n", **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = headers.pop("sender", "Dora <dora@example.com>")
    message["To"] = headers.pop("to", ALICE)
    message["Subject"] = subject
    message["Date"] = headers.pop("date", "Mon, 05 Jan 2026 10:00:00 +0000")
    message["Message-ID"] = headers.pop("message_id", f"<{subject.replace(' ', '-')}@example.com>")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def _http_error(error: HttpError) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.content)["error"]
    return body


def _ids(response: dict[str, Any]) -> list[str]:
    return [m["id"] for m in response.get("messages", [])]


# --- sign-in and tokens ----------------------------------------------------------------------


def test_code_flow_with_pkce_then_refresh(google: GoogleCloud) -> None:
    flow = _flow(google, [READONLY])
    response = _authorize(google, flow, ALICE)
    params = _redirect_params(response)
    assert response.headers["Location"].startswith(google.redirect_uri + "?state=")
    assert params["scope"] == READONLY
    assert params["hd"] == "acme.test"

    token = flow.fetch_token(code=params["code"])
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3599
    assert token["scope"] == [READONLY]
    assert token["refresh_token"].startswith("1//")
    credentials = flow.credentials
    assert credentials.token_uri == google.token_uri
    assert google.accounts.grant_active(ALICE)

    old = credentials.token
    credentials.refresh(GoogleRequest())
    assert credentials.token != old
    assert credentials.refresh_token == token["refresh_token"]  # Google keeps it
    assert [r["grant_type"] for r in google.accounts.token_requests] == [
        "authorization_code",
        "refresh_token",
    ]
    # requests-oauthlib authenticates with HTTP Basic, google-auth in the body; secrets and
    # verifiers never reach the log.
    assert [r["client_auth"] for r in google.accounts.token_requests] == ["basic", "body"]
    assert all("client_secret" not in r for r in google.accounts.token_requests)
    assert all("code_verifier" not in r for r in google.accounts.token_requests)


def test_openid_scopes_come_back_as_google_names_them(google: GoogleCloud) -> None:
    # Google answers "email" with the userinfo URL and adds "openid"; oauthlib calls that a
    # scope change and raises, unless OAUTHLIB_RELAX_TOKEN_SCOPE is set.
    flow = _flow(google, ["email", READONLY])
    params = _redirect_params(_authorize(google, flow, ALICE))
    assert set(params["scope"].split()) == {USERINFO_EMAIL, READONLY, "openid"}
    with pytest.raises(Warning, match="Scope has changed"):
        flow.fetch_token(code=params["code"])

    flow = _flow(google, [USERINFO_EMAIL, "openid", READONLY])
    token = flow.fetch_token(code=_redirect_params(_authorize(google, flow, ALICE))["code"])
    claims = json.loads(base64.urlsafe_b64decode(token["id_token"].split(".")[1] + "=="))
    assert claims["email"] == ALICE
    assert claims["hd"] == "acme.test"
    assert claims["aud"] == google.client_id


def test_incremental_consent_and_refresh_token_only_the_first_time(
    google: GoogleCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sign_in(google, ALICE, [READONLY])
    # include_granted_scopes=true: the answer holds every scope granted so far.
    monkeypatch.setenv("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")
    flow = _flow(google, [MODIFY])
    token = flow.fetch_token(code=_redirect_params(_authorize(google, flow, ALICE))["code"])
    assert set(token["scope"]) == {READONLY, MODIFY}
    # access_type=offline hands out a refresh token the first time only...
    assert "refresh_token" not in token
    # ...and again with prompt=consent.
    flow = _flow(google, [MODIFY])
    params = _redirect_params(_authorize(google, flow, ALICE, prompt="consent"))
    assert "refresh_token" in flow.fetch_token(code=params["code"])


def test_wrong_password_unknown_account_and_cancel(google: GoogleCloud) -> None:
    flow = _flow(google, [READONLY])
    again = _authorize(google, flow, ALICE, password="wrong")
    assert again.status_code == 200
    assert "Wrong password" in again.text
    assert form_fields(again.text)["email"] == ALICE  # the page keeps what was typed

    unknown = _authorize(google, flow, "nobody@acme.test")
    assert "find your Google Account" in unknown.text

    cancelled = _redirect_params(_authorize(google, flow, ALICE, action="cancel", state="s1"))
    assert cancelled == {"error": "access_denied", "state": "s1"}
    assert not google.accounts.grant_active(ALICE)


def test_unknown_client_or_redirect_uri_never_redirects(google: GoogleCloud) -> None:
    flow = _flow(google, [READONLY])
    url, _ = flow.authorization_url()
    unknown_client = requests.get(url.replace(google.client_id, "nope"), timeout=10)
    assert unknown_client.status_code == 401
    assert "Error 401: invalid_client" in unknown_client.text

    flow.redirect_uri = "http://evil.test/callback"
    url, _ = flow.authorization_url()
    mismatch = requests.get(url, timeout=10, allow_redirects=False)
    assert mismatch.status_code == 400
    assert "Error 400: redirect_uri_mismatch" in mismatch.text
    assert "Location" not in mismatch.headers


def test_pkce_and_single_use_codes(google: GoogleCloud) -> None:
    flow = _flow(google, [READONLY])
    code = _redirect_params(_authorize(google, flow, ALICE))["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": google.redirect_uri,
        "client_id": google.client_id,
        "client_secret": google.client_secret,
    }

    def post(**changes: str) -> requests.Response:
        return requests.post(google.token_uri, data={**form, **changes}, timeout=10)

    missing = post()
    assert missing.status_code == 400
    assert missing.json() == {
        "error": "invalid_grant",
        "error_description": "Missing code verifier.",
    }
    assert post(code_verifier="x" * 43).json()["error_description"] == "Invalid code verifier."
    verifier = flow.code_verifier
    assert post(code_verifier=verifier, redirect_uri="http://other.test/").json()["error"] == (
        "redirect_uri_mismatch"
    )
    wrong_secret = post(code_verifier=verifier, client_secret="nope")
    assert (wrong_secret.status_code, wrong_secret.json()["error"]) == (401, "invalid_client")
    assert post(code_verifier=verifier).status_code == 200
    reused = post(code_verifier=verifier)
    assert (reused.status_code, reused.json()["error_description"]) == (400, "Bad Request")


def test_admin_policy_enforced(google: GoogleCloud) -> None:
    # carol's admin has blocked the app: Google shows its own error page, no redirect.
    flow = _flow(google, [READONLY])
    blocked = _authorize(google, flow, CAROL)
    assert blocked.status_code == 400
    assert "Error 400: admin_policy_enforced" in blocked.text
    assert "Location" not in blocked.headers

    google.accounts.block_app("blocked.test", sign_in="redirect")
    params = _redirect_params(_authorize(google, flow, CAROL, state="s2"))
    assert params == {"error": "admin_policy_enforced", "state": "s2"}

    # Blocked after she connected: refresh answers admin_policy_enforced, Gmail 401.
    google.accounts.unblock_app("blocked.test")
    credentials = _sign_in(google, CAROL, [READONLY])
    google.accounts.block_app("blocked.test")
    assert not google.accounts.grant_active(CAROL)
    with pytest.raises(RefreshError, match="admin_policy_enforced"):
        credentials.refresh(GoogleRequest())
    assert _profile(google, credentials.token).status_code == 401


@pytest.mark.parametrize("how", ["revoke_grants", "change_password"])
def test_revoked_grant(google: GoogleCloud, how: str) -> None:
    credentials = _sign_in(google, BOB, [READONLY])
    profile_only = _sign_in(google, ALICE, [USERINFO_EMAIL, "openid"])
    getattr(google.accounts, how)(BOB)
    getattr(google.accounts, how)(ALICE)
    assert not google.accounts.grant_active(BOB)
    with pytest.raises(RefreshError, match=r"invalid_grant: Token has been expired or revoked\."):
        credentials.refresh(GoogleRequest())
    assert _profile(google, credentials.token).status_code == 401
    # A password change only ends grants with Gmail scopes.
    if how == "change_password":
        profile_only.refresh(GoogleRequest())
    else:
        with pytest.raises(RefreshError):
            profile_only.refresh(GoogleRequest())


def test_revoke_endpoint_ends_the_grant(google: GoogleCloud) -> None:
    credentials = _sign_in(google, ALICE, [READONLY])
    revoked = requests.post(
        google.revoke_uri, data={"token": credentials.refresh_token}, timeout=10
    )
    assert (revoked.status_code, revoked.json()) == (200, {})
    assert not google.accounts.grant_active(ALICE)
    with pytest.raises(RefreshError, match="invalid_grant"):
        credentials.refresh(GoogleRequest())
    again = requests.post(google.revoke_uri, data={"token": credentials.refresh_token}, timeout=10)
    assert again.status_code == 400
    assert again.json() == {
        "error": "invalid_token",
        "error_description": "Token expired or revoked",
    }

    # The access token in the query string (web-server#tokenrevoke's curl example) works too.
    bob = _sign_in(google, BOB, [READONLY])
    by_query = requests.post(
        google.revoke_uri,
        params={"token": bob.token},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert by_query.status_code == 200
    assert not google.accounts.grant_active(BOB)
    assert google.accounts.revoked_tokens == [
        credentials.refresh_token,
        credentials.refresh_token,
        bob.token,
    ]


def test_expired_access_tokens_answer_401(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    credentials = _sign_in(google)
    google.accounts.expire_access_tokens()

    expired = _profile(google, credentials.token)
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    assert expired.json()["error"]["errors"][0]["reason"] == "authError"
    anonymous = _profile(google, None)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["errors"][0]["reason"] == "required"

    # google-auth-httplib2 refreshes on a 401 and retries, if its httplib2 trusts the test CA.
    http = AuthorizedHttp(credentials, http=httplib2.Http(ca_certs=google.ca_pem_path))
    service = build(
        "gmail",
        "v1",
        http=http,
        client_options={"api_endpoint": google.gmail_url},
        cache_discovery=False,
    )
    assert service.users().getProfile(userId="me").execute()["emailAddress"] == ALICE
    assert google.accounts.token_requests[-1]["grant_type"] == "refresh_token"


def test_scopes_and_other_mailboxes(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    message_id = google.accounts.deliver(ALICE, _mime("Scoped"))
    profile_only = _gmail(google, _sign_in(google, ALICE, [USERINFO_EMAIL, "openid"]))
    with pytest.raises(HttpError) as refused:
        profile_only.users().getProfile(userId="me").execute()
    assert refused.value.status_code == 403
    assert _http_error(refused.value)["errors"][0]["reason"] == "insufficientPermissions"

    metadata = _gmail(google, _sign_in(google, BOB, [METADATA]))
    bob_id = google.accounts.deliver(BOB, _mime("Metadata", to=BOB))
    assert metadata.users().messages().get(userId="me", id=bob_id, format="metadata").execute()
    with pytest.raises(HttpError, match="Metadata scope doesn't allow format RAW"):
        metadata.users().messages().get(userId="me", id=bob_id, format="raw").execute()

    # Holding gmail.metadata restricts the token even alongside gmail.readonly.
    both = _gmail(google, _sign_in(google, BOB, [READONLY, METADATA]))
    with pytest.raises(HttpError, match="Metadata scope does not support 'q' parameter"):
        both.users().messages().list(userId="me", q="after:1").execute()

    alice = _gmail(google, _sign_in(google, ALICE))
    assert alice.users().messages().get(userId=ALICE, id=message_id).execute()["id"] == message_id
    with pytest.raises(HttpError, match="Delegation denied"):
        alice.users().getProfile(userId=BOB).execute()


# --- Gmail: reading --------------------------------------------------------------------------


def test_raw_round_trip_keeps_every_byte(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    raw = (
        b"From: =?utf-8?q?J=C3=B6rg?= <joerg@example.com>\r\nTo: alice@acme.test\r\n"
        b"Subject: 8bit\r\nDate: Tue, 06 Jan 2026 08:30:00 +0100\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b'Gr\xc3\xbc\xc3\x9fe, it\'s "quoted" & <b>.\r\n\r\n-- \r\nJ\xc3\xb6rg\r\n'
    )
    message_id = google.accounts.deliver(ALICE, raw)
    assert re.fullmatch(r"[0-9a-f]{16}", message_id)
    service = _gmail(google, _sign_in(google))

    listed = service.users().messages().list(userId="me").execute()
    assert listed == {
        "messages": [{"id": message_id, "threadId": message_id}],
        "resultSizeEstimate": 1,
    }
    got = service.users().messages().get(userId="me", id=message_id, format="raw").execute()
    assert base64.urlsafe_b64decode(got["raw"]) == raw
    assert got["labelIds"] == ["INBOX"]
    assert got["sizeEstimate"] == len(raw)
    # internalDate: epoch milliseconds of the Date header, as a string.
    assert got["internalDate"] == str(
        int(datetime(2026, 1, 6, 7, 30, tzinfo=UTC).timestamp()) * 1000
    )
    assert got["snippet"] == "Grüße, it&#39;s &quot;quoted&quot; &amp; &lt;b&gt;. -- Jörg"
    assert got["historyId"] == google.accounts.history_id(ALICE)


def test_label_filters_spam_trash_and_time_window(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    accounts = google.accounts
    clients = accounts.create_label(ALICE, "Clients")
    inbox = accounts.deliver(ALICE, _mime("Inbox", date="Mon, 05 Jan 2026 10:00:00 +0000"))
    client = accounts.deliver(
        ALICE, _mime("Client"), labels=["INBOX", clients, "UNREAD"],
        internal_date=datetime(2026, 1, 7, tzinfo=UTC),
    )  # fmt: skip
    spam = accounts.deliver(ALICE, _mime("Spam"), internal_date=datetime(2026, 1, 8, tzinfo=UTC))
    accounts.mark_spam(ALICE, spam)
    trashed = accounts.deliver(
        ALICE, _mime("Trash"), internal_date=datetime(2026, 1, 9, tzinfo=UTC)
    )
    accounts.trash(ALICE, trashed)
    archived = accounts.deliver(ALICE, _mime("Archived"), labels=[])
    service = _gmail(google, _sign_in(google))
    messages = service.users().messages()

    assert _ids(messages.list(userId="me").execute()) == [client, archived, inbox]
    assert _ids(messages.list(userId="me", labelIds=["INBOX"]).execute()) == [client, inbox]
    assert _ids(messages.list(userId="me", labelIds=["INBOX", clients]).execute()) == [client]
    assert _ids(messages.list(userId="me", labelIds=["SPAM"]).execute()) == [spam]
    assert _ids(messages.list(userId="me", includeSpamTrash=True).execute()) == [
        trashed, spam, client, archived, inbox,
    ]  # fmt: skip
    # The trashed message keeps INBOX; only includeSpamTrash or asking for TRASH shows it.
    assert _ids(messages.list(userId="me", labelIds=["TRASH"]).execute()) == [trashed]

    jan6 = int(datetime(2026, 1, 6, tzinfo=UTC).timestamp())
    jan8 = int(datetime(2026, 1, 8, tzinfo=UTC).timestamp())
    window = messages.list(userId="me", q=f"after:{jan6} before:{jan8}", includeSpamTrash=True)
    assert _ids(window.execute()) == [client]
    assert _ids(messages.list(userId="me", q=f"after:{jan8}").execute()) == []
    with pytest.raises(HttpError) as unsupported:
        messages.list(userId="me", q="from:dora@example.com").execute()
    assert unsupported.value.status_code == 400
    with pytest.raises(HttpError, match="Invalid label"):
        messages.list(userId="me", labelIds=["Label_999"]).execute()


def test_message_list_pages_newest_first(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    ids = [
        google.accounts.deliver(
            ALICE, _mime(f"Number {n}"), internal_date=datetime(2026, 1, 1 + n, tzinfo=UTC)
        )
        for n in range(7)
    ]
    messages = _gmail(google, _sign_in(google)).users().messages()
    seen: list[str] = []
    request = messages.list(userId="me", maxResults=3)
    pages = 0
    while request is not None:
        page = request.execute()
        assert page["resultSizeEstimate"] == 7
        seen += _ids(page)
        pages += 1
        request = messages.list_next(request, page)
    assert (pages, seen) == (3, ids[::-1])
    # The partial-response `fields` parameter.
    assert messages.list(userId="me", maxResults=2, fields="messages(id)").execute() == {
        "messages": [{"id": ids[6]}, {"id": ids[5]}]
    }


def test_message_formats_and_404(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    mail = EmailMessage()
    mail["From"] = "Dora <dora@example.com>"
    mail["To"] = ALICE
    mail["Subject"] = "Report"
    mail["Message-ID"] = "<report@example.com>"
    mail.set_content("See attached.\n")
    mail.add_alternative("<p>See <b>attached</b>.</p>\n", subtype="html")
    mail.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="r.pdf")
    message_id = google.accounts.deliver(ALICE, mail.as_bytes())
    messages = _gmail(google, _sign_in(google)).users().messages()

    minimal = messages.get(userId="me", id=message_id, format="minimal").execute()
    assert set(minimal) == {
        "id", "threadId", "labelIds", "snippet", "sizeEstimate", "historyId", "internalDate",
    }  # fmt: skip
    metadata = messages.get(
        userId="me", id=message_id, format="metadata", metadataHeaders=["subject", "From"]
    ).execute()
    assert metadata["payload"]["headers"] == [
        {"name": "From", "value": "Dora <dora@example.com>"},
        {"name": "Subject", "value": "Report"},
    ]
    full = messages.get(userId="me", id=message_id).execute()["payload"]
    assert full["mimeType"] == "multipart/mixed"
    alternative, attachment = full["parts"]
    assert [p["partId"] for p in alternative["parts"]] == ["0.0", "0.1"]
    text = base64.urlsafe_b64decode(alternative["parts"][0]["body"]["data"])
    assert text == b"See attached.\n"
    assert attachment["filename"] == "r.pdf"
    assert "attachmentId" in attachment["body"]
    assert "data" not in attachment["body"]

    google.accounts.delete_forever(ALICE, message_id)
    for missing in (message_id, "0123456789abcdef"):
        with pytest.raises(HttpError) as error:
            messages.get(userId="me", id=missing).execute()
        assert error.value.status_code == 404
        assert _http_error(error.value)["errors"][0]["reason"] == "notFound"


# --- Gmail: history --------------------------------------------------------------------------


def _history(service: Any, start: str, **params: Any) -> tuple[list[dict[str, Any]], str, int]:
    """Every record after `start`, following nextPageToken: (records, historyId, pages)."""
    records: list[dict[str, Any]] = []
    request = service.users().history().list(userId="me", startHistoryId=start, **params)
    pages = 0
    while request is not None:
        page = request.execute()
        records += page.get("history", [])
        history_id = page["historyId"]
        pages += 1
        request = service.users().history().list_next(request, page)
    return records, history_id, pages


def _kinds(record: dict[str, Any]) -> list[str]:
    keys = ("messagesAdded", "messagesDeleted", "labelsAdded", "labelsRemoved")
    return [key for key in keys if key in record]


def test_history_reports_every_change_in_order(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    accounts = google.accounts
    service = _gmail(google, _sign_in(google))
    start = service.users().getProfile(userId="me").execute()["historyId"]

    first = accounts.deliver(ALICE, _mime("First"))
    second = accounts.deliver(ALICE, _mime("Second"), labels=["INBOX", "UNREAD"])
    accounts.remove_labels(ALICE, second, ["UNREAD"])  # read
    accounts.add_labels(ALICE, first, ["STARRED"])
    accounts.trash(ALICE, first)
    accounts.untrash(ALICE, first)
    accounts.mark_spam(ALICE, second)
    accounts.not_spam(ALICE, second)
    label = accounts.create_label(ALICE, "Clients")
    accounts.add_labels(ALICE, first, [label])
    accounts.delete_label(ALICE, label)
    accounts.delete_forever(ALICE, second)

    records, history_id, pages = _history(service, start, maxResults=4)
    assert pages == 3
    assert history_id == accounts.history_id(ALICE)
    assert [_kinds(r) for r in records] == [
        ["messagesAdded"],
        ["messagesAdded"],
        ["labelsRemoved"],
        ["labelsAdded"],
        ["labelsAdded"],
        ["labelsRemoved"],
        ["labelsAdded", "labelsRemoved"],  # spam: SPAM added, INBOX removed, one record
        ["labelsAdded", "labelsRemoved"],
        ["labelsAdded"],
        ["labelsRemoved"],  # the deleted label leaves the message
        ["messagesDeleted"],
    ]
    ids = [int(r["id"]) for r in records]
    assert ids == sorted(set(ids))
    assert ids[0] > int(start)
    assert any(b - a > 1 for a, b in itertools.pairwise(ids))  # gaps between ids
    assert records[1]["messagesAdded"] == [
        {"message": {"id": second, "threadId": second, "labelIds": ["INBOX", "UNREAD"]}}
    ]
    assert records[2]["labelsRemoved"] == [
        {"message": {"id": second, "threadId": second, "labelIds": ["INBOX"]},
         "labelIds": ["UNREAD"]}
    ]  # fmt: skip
    assert records[6]["labelsAdded"][0]["labelIds"] == ["SPAM"]
    assert records[6]["labelsRemoved"][0]["message"]["labelIds"] == ["SPAM"]
    assert records[-1]["messagesDeleted"] == [{"message": {"id": second, "threadId": second}}]
    assert all(r["messages"] for r in records)
    # A message's historyId is that of its last change.
    got = service.users().messages().get(userId="me", id=first, format="minimal").execute()
    assert got["historyId"] == records[-2]["id"]

    # From the last historyId on, nothing new: no "history" key at all.
    assert _history(service, history_id) == ([], history_id, 1)


def test_history_filters(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    accounts = google.accounts
    start = accounts.history_id(ALICE)
    kept = accounts.deliver(ALICE, _mime("Kept"))
    archived = accounts.deliver(ALICE, _mime("Archived"))
    accounts.remove_labels(ALICE, archived, ["INBOX"])
    accounts.add_labels(ALICE, kept, ["STARRED"])
    service = _gmail(google, _sign_in(google))

    added, _, _ = _history(service, start, historyTypes=["labelAdded"])
    assert [_kinds(r) for r in added] == [["labelsAdded"]]
    both, _, _ = _history(service, start, historyTypes=["messageAdded", "labelRemoved"])
    assert [_kinds(r) for r in both] == [["messagesAdded"], ["messagesAdded"], ["labelsRemoved"]]
    starred, _, _ = _history(service, start, labelId="STARRED")
    assert [r["messages"][0]["id"] for r in starred] == [kept]


def test_expired_history_answers_404(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    accounts = google.accounts
    service = _gmail(google, _sign_in(google))
    start = accounts.history_id(ALICE)
    with pytest.raises(HttpError) as too_old:
        _history(service, str(int(start) - 1))  # before the mailbox's first id
    assert too_old.value.status_code == 404

    accounts.deliver(ALICE, _mime("New"))
    assert len(_history(service, start)[0]) == 1
    accounts.expire_history(ALICE)
    with pytest.raises(HttpError) as expired:
        _history(service, start)
    assert expired.value.status_code == 404
    assert _http_error(expired.value)["errors"][0]["reason"] == "notFound"
    # The way back: a full sync, then history from the current id.
    current = service.users().getProfile(userId="me").execute()["historyId"]
    assert _history(service, current)[0] == []


def test_forgotten_history_stays_silent(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    accounts = google.accounts
    start = accounts.history_id(ALICE)
    gone = accounts.deliver(ALICE, _mime("Gone"))
    kept = accounts.deliver(ALICE, _mime("Kept"))
    accounts.delete_forever(ALICE, gone)
    accounts.forget_history(ALICE)
    service = _gmail(google, _sign_in(google))
    # The old start id still answers, but says nothing of what happened.
    assert _history(service, start) == ([], accounts.history_id(ALICE), 1)
    assert [m.id for m in accounts.messages(ALICE)] == [kept]
    assert accounts.messages(ALICE)[0].message_id == "<Kept@example.com>"


# --- Gmail: batches, quota, throttling -------------------------------------------------------


def _batch(google: GoogleCloud) -> BatchHttpRequest:
    # new_batch_http_request() would post to https://gmail.googleapis.com/batch whatever the
    # api_endpoint: build the batch from the configured endpoint.
    return BatchHttpRequest(batch_uri=google.gmail_url + "batch/gmail/v1")


def test_batch_of_100_answers_each_and_101_is_refused(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    ids = [google.accounts.deliver(ALICE, _mime(f"Batch {n}")) for n in range(3)]
    service = _gmail(google, _sign_in(google))
    results: dict[str, Any] = {}

    def collect(request_id: str, response: Any, exception: HttpError | None) -> None:
        results[request_id] = exception or response

    batch = _batch(google)
    for n in range(100):
        message_id = ids[n % 3] if n < 99 else "0123456789abcdef"
        batch.add(
            service.users().messages().get(userId="me", id=message_id, format="minimal"),
            callback=collect,
        )
    batch.execute()
    assert len(results) == 100
    assert [results[str(n)]["id"] for n in range(1, 100)] == [ids[n % 3] for n in range(99)]
    assert isinstance(results["100"], HttpError)
    assert results["100"].status_code == 404
    assert google.accounts.calls(ALICE).count("gmail.users.messages.get") == 100
    assert google.accounts.peak_units_per_minute(ALICE) == 500

    google.accounts.reset_calls(ALICE)
    too_big = _batch(google)
    for _ in range(101):
        too_big.add(service.users().getProfile(userId="me"), callback=collect)
    with pytest.raises(HttpError) as refused:
        too_big.execute()
    assert refused.value.status_code == 400
    assert google.accounts.calls(ALICE) == []


def test_batch_parts_carry_their_own_authorization(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    alice = _gmail(google, _sign_in(google, ALICE))
    bob = _gmail(google, _sign_in(google, BOB))
    results: dict[str, Any] = {}
    # The discovery document's batchPath, "batch", answers as /batch/gmail/v1 does.
    batch = BatchHttpRequest(batch_uri=google.gmail_url + "batch")
    batch.add(
        alice.users().getProfile(userId="me"), callback=lambda i, r, e: results.update({i: r})
    )
    batch.add(bob.users().getProfile(userId="me"), callback=lambda i, r, e: results.update({i: r}))
    batch.execute()
    assert [results[i]["emailAddress"] for i in ("1", "2")] == [ALICE, BOB]


def test_quota_exceeded_answers_429_and_is_not_spent(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    accounts = google.accounts
    message_id = accounts.deliver(ALICE, _mime("Quota"))
    service = _gmail(google, _sign_in(google))
    now = 1_800_000_000.0
    accounts.clock = lambda: now
    accounts.set_quota(12)
    get = service.users().messages().get(userId="me", id=message_id, format="minimal")

    get.execute()  # 5
    get.execute()  # 10
    service.users().getProfile(userId="me").execute()  # 11
    with pytest.raises(HttpError) as refused:
        get.execute()  # 16 > 12
    error = _http_error(refused.value)
    assert refused.value.status_code == 429
    assert error["errors"][0]["reason"] == "rateLimitExceeded"
    assert error["message"] == "User-rate limit exceeded.  Retry after 2027-01-15T08:01:00.000Z"
    assert accounts.peak_units_per_minute(ALICE) == 11  # the refused call cost nothing
    assert accounts.refused(ALICE) == 1
    service.users().getProfile(userId="me").execute()  # 12 still fits
    assert accounts.peak_units_per_minute(ALICE) == 12

    now += 61  # the window rolls on
    get.execute()
    assert accounts.calls(ALICE) == [
        "gmail.users.messages.get",
        "gmail.users.messages.get",
        "gmail.users.getProfile",
        "gmail.users.messages.get",
        "gmail.users.getProfile",
        "gmail.users.messages.get",
    ]


def test_throttle_switch(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    service = _gmail(google, _sign_in(google))
    google.accounts.throttle(ALICE, 2, status=403, reason="userRateLimitExceeded")
    for _ in range(2):
        with pytest.raises(HttpError) as refused:
            service.users().labels().list(userId="me").execute()
        assert refused.value.status_code == 403
        assert _http_error(refused.value)["errors"][0] == {
            "message": "User Rate Limit Exceeded",
            "domain": "usageLimits",
            "reason": "userRateLimitExceeded",
        }
    service.users().labels().list(userId="me").execute()

    # Each inner call of a batch counts.
    google.accounts.throttle(ALICE, 1)
    statuses: list[int] = []
    batch = _batch(google)
    for _ in range(3):
        batch.add(
            service.users().getProfile(userId="me"),
            callback=lambda i, r, e: statuses.append(e.status_code if e else 200),
        )
    batch.execute()
    assert statuses == [429, 200, 200]
    assert google.accounts.refused(ALICE) == 3

    # With retry_after the message names the time, as Gmail's own quota answer does.
    google.accounts.clock = lambda: 1_800_000_000.0
    google.accounts.throttle(ALICE, 1, retry_after=120)
    with pytest.raises(HttpError) as told:
        service.users().getProfile(userId="me").execute()
    assert _http_error(told.value)["message"] == (
        "User-rate limit exceeded.  Retry after 2027-01-15T08:02:00.000Z"
    )


# --- Gmail: profile, labels, aliases, sending --------------------------------------------------


def test_profile_labels_and_send_as(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    google.accounts.deliver(ALICE, _mime("One"))
    label = google.accounts.create_label(ALICE, "Clients")
    users = _gmail(google, _sign_in(google)).users()

    profile = users.getProfile(userId="me").execute()
    assert profile == {
        "emailAddress": ALICE,
        "messagesTotal": 1,
        "threadsTotal": 1,
        "historyId": google.accounts.history_id(ALICE),
    }
    labels = {item["id"]: item for item in users.labels().list(userId="me").execute()["labels"]}
    assert set(labels) == {*SYSTEM_LABELS, label}
    assert labels["INBOX"]["type"] == "system"
    assert (labels[label]["type"], labels[label]["name"]) == ("user", "Clients")
    send_as = users.settings().sendAs().list(userId="me").execute()["sendAs"]
    assert [(s["sendAsEmail"], s.get("isPrimary", False)) for s in send_as] == [
        (ALICE, True),
        ("sales@acme.test", False),
    ]
    assert send_as[1]["verificationStatus"] == "accepted"


def test_send_joins_a_thread_only_when_it_replies(gmail_checked: GoogleCloud) -> None:
    google = gmail_checked
    original = google.accounts.deliver(ALICE, _mime("Offer", message_id="<offer@example.com>"))
    messages = _gmail(google, _sign_in(google)).users().messages()

    def send(raw: bytes, thread_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"raw": base64.urlsafe_b64encode(raw).decode().rstrip("=")}
        if thread_id:
            body["threadId"] = thread_id
        sent: dict[str, Any] = messages.send(userId="me", body=body).execute()
        return sent

    reply = _mime(
        "Re: Offer", sender=ALICE, to="dora@example.com",
        in_reply_to="<offer@example.com>", references="<offer@example.com>",
    )  # fmt: skip
    sent = send(reply, thread_id=original)
    assert sent["threadId"] == original
    assert sent["labelIds"] == ["SENT"]
    assert send(reply)["threadId"] != original  # no threadId: a thread of its own
    unrelated = send(_mime("Something else", sender=ALICE), thread_id=original)
    assert unrelated["threadId"] != original  # the subject must match
    got = messages.get(userId="me", id=sent["id"], format="raw").execute()
    assert base64.urlsafe_b64decode(got["raw"]) == reply
    assert google.accounts.peak_units_per_minute(ALICE) >= 300
    with pytest.raises(HttpError) as bad:
        messages.send(userId="me", body={}).execute()
    assert bad.value.status_code == 400


# --- the schema check itself -------------------------------------------------------------------


def test_every_method_is_served_by_the_document(gmail_checked: GoogleCloud) -> None:
    """One call of every faked method, and an error, all checked by `gmail_checked`."""
    google = gmail_checked
    message_id = google.accounts.deliver(ALICE, _mime("Schema"))
    start = google.accounts.history_id(ALICE)
    google.accounts.add_labels(ALICE, message_id, ["STARRED"])
    users = _gmail(google, _sign_in(google)).users()
    users.getProfile(userId="me").execute()
    users.labels().list(userId="me").execute()
    users.settings().sendAs().list(userId="me").execute()
    users.messages().list(userId="me", labelIds=["INBOX"], maxResults=10).execute()
    for message_format in ("minimal", "full", "raw", "metadata"):
        users.messages().get(userId="me", id=message_id, format=message_format).execute()
    users.messages().send(
        userId="me", body={"raw": base64.urlsafe_b64encode(_mime("Out")).decode()}
    ).execute()
    users.history().list(userId="me", startHistoryId=start, historyTypes=["labelAdded"]).execute()
    topic = google.pubsub.create_topic("schema")
    google.pubsub.grant_gmail_publisher(topic)
    users.watch(userId="me", body={"topicName": topic, "labelIds": ["INBOX"]}).execute()
    users.stop(userId="me").execute()
    with pytest.raises(HttpError):
        users.messages().get(userId="me", id="0123456789abcdef").execute()
    served = {record.method_id for record in google.accounts.served}
    # users.stop answers 204 without a body (gmail.v1.json declares no response): nothing to
    # check, and nothing recorded.
    with_body = {m for _, _, m in ROUTES if "response" in discovery_methods()[m]}
    assert served == with_body
    assert "gmail.users.stop" in google.accounts.calls(ALICE)
    assert any(record.status == 404 for record in google.accounts.served)


def test_schema_check_catches_invented_or_mistyped_keys() -> None:
    message = {"$ref": "Message"}
    good = {"id": "18c2f3a4b5000000", "labelIds": ["INBOX"], "historyId": "1031"}
    assert schema_problems(good, message) == []
    assert schema_problems({"id": "x", "labelIDs": []}, message) == [
        "$.labelIDs: not a property of Message"
    ]
    assert schema_problems({"historyId": 1031}, message) == ["$.historyId: 1031 is not a string"]
    assert schema_problems({"internalDate": "yesterday"}, message) == [
        "$.internalDate: 'yesterday' is not a int64 string"
    ]
    assert schema_problems({"sizeEstimate": "12"}, message) == [
        "$.sizeEstimate: '12' is not an integer"
    ]
    nested = {"payload": {"headers": [{"name": "To", "valeu": "a@b"}]}}
    assert schema_problems(nested, message) == [
        "$.payload.headers[0].valeu: not a property of MessagePartHeader"
    ]
    assert schema_problems({"labels": [{"type": "custom"}]}, {"$ref": "ListLabelsResponse"}) == [
        "$.labels[0].type: 'custom' not in ['system', 'user']"
    ]
    bad_error = {"error": {"code": "404", "message": "x", "errors": [], "detail": 1}}
    assert schema_problems(bad_error, ERROR_SCHEMA) == [
        "$.error.code: '404' is not an integer",
        "$.error.detail: not a property of the object",
    ]
    stray = ServedBody("gmail.users.getProfile", 200, {}, ("q",), "/gmail/v1/users/me/profile")
    assert served_problems(stray) == ["query parameter q is not declared"]
    wrong_path = ServedBody("gmail.users.messages.get", 200, {}, (), "/gmail/v1/users/me/messages")
    assert served_problems(wrong_path) == [
        "/gmail/v1/users/me/messages does not fit gmail/v1/users/{userId}/messages/{id}"
    ]
