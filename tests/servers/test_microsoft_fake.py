"""Tests of the fake Microsoft identity platform and the fake Graph (tests/servers/microsoft.py).

The identity side is driven by the real MSAL, as the product drives it; Graph by plain requests
with the tokens MSAL got. Every JSON body Graph served in a test is then parsed with the
msgraph-sdk models (generated from Graph's own OpenAPI description): a property the real schema
lacks, or a value of the wrong type, fails the test that caused it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal
import pytest
import requests
from kiota_abstractions.serialization import Parsable, ParsableFactory
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from kiota_serialization_json.json_serialization_writer import JsonSerializationWriter
from msgraph.generated.models.attachment import Attachment
from msgraph.generated.models.mail_folder import MailFolder
from msgraph.generated.models.mail_folder_collection_response import (
    MailFolderCollectionResponse,
)
from msgraph.generated.models.message import Message
from msgraph.generated.models.message_collection_response import MessageCollectionResponse
from msgraph.generated.models.o_data_errors.inner_error import InnerError
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.models.subscription_collection_response import (
    SubscriptionCollectionResponse,
)
from msgraph.generated.models.user import User as GraphUser
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_get_response import (
    DeltaGetResponse,
)

from tests.servers import conftest_fixtures
from tests.servers.microsoft import MicrosoftCloud
from tests.servers.microsoft_identity import form_fields
from tests.servers.microsoft_tenant import User

# The fixture, bound by name for pytest (an import would be shadowed by each test's argument).
microsoft = conftest_fixtures.microsoft

SCOPES = ["User.Read", "Mail.Read"]
IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}

# The msgraph-sdk model for each kind of body the fake serves ("route" in its request log).
MODELS: dict[str, ParsableFactory[Any]] = {
    "user": GraphUser,
    "mailFolder": MailFolder,
    "mailFolders": MailFolderCollectionResponse,
    "message": Message,
    "messages": MessageCollectionResponse,
    "delta": DeltaGetResponse,
    "error": ODataError,
    # POST .../attachments answers one attachment; the SDK picks FileAttachment by @odata.type.
    "attachment": Attachment,
    # Change notifications: POST, GET and PATCH /subscriptions[/{id}] answer one subscription,
    # GET /subscriptions a list (test_graph_subscriptions_fake.py; the notifications themselves
    # are checked there, against a model of changeNotificationCollection).
    "subscription": Subscription,
    "subscriptions": SubscriptionCollectionResponse,
}
# learn.microsoft.com/graph/errors#innererror-resource-type documents request-id and
# client-request-id; the throttling sample (learn.microsoft.com/graph/throttling) adds code,
# message and status. The SDK's InnerError model declares only date.
INNER_ERROR_EXTRAS = frozenset({"request-id", "client-request-id", "code", "message", "status"})


# --- helpers: MSAL and the sign-in page -----------------------------------------------------


def _msal_app(microsoft: MicrosoftCloud) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        microsoft.client_id,
        client_credential=microsoft.client_secret,
        authority=microsoft.authority,
        instance_discovery=False,
        token_cache=msal.SerializableTokenCache(),
    )


def _submit_sign_in(
    flow: dict[str, Any],
    username: str,
    password: str = "secret",  # noqa: S107
    consent: str = "accept",
) -> requests.Response:
    page = requests.get(flow["auth_uri"], timeout=10)
    assert page.status_code == 200, page.text
    assert 'id="username"' in page.text
    assert "Sign in and accept" in page.text
    return requests.post(
        flow["auth_uri"],
        data={"username": username, "password": password, "consent": consent},
        allow_redirects=False,
        timeout=10,
    )


def _flow(
    microsoft: MicrosoftCloud,
    app: msal.ConfidentialClientApplication,
    scopes: list[str] = SCOPES,
    **kwargs: Any,
) -> dict[str, Any]:
    # form_post: the mode MSAL recommends (it warns about any other) and the product uses.
    kwargs.setdefault("redirect_uri", microsoft.redirect_uri)
    kwargs.setdefault("response_mode", "form_post")
    flow: dict[str, Any] = app.initiate_auth_code_flow(scopes=scopes, **kwargs)
    return flow


def _redirect_params(response: requests.Response) -> dict[str, str]:
    """What the browser would bring to the redirect URI: the query of a 302, or the fields of
    the auto-submitting form_post page."""
    if response.status_code == 200 and 'name="hiddenform"' in response.text:
        return form_fields(response.text)
    assert response.status_code == 302, response.text
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return {k: v[0] for k, v in query.items()}


def _sign_in(
    microsoft: MicrosoftCloud,
    app: msal.ConfidentialClientApplication,
    user: User,
    scopes: list[str] = SCOPES,
) -> dict[str, Any]:
    flow = _flow(microsoft, app, scopes)
    params = _redirect_params(_submit_sign_in(flow, user.upn))
    result: dict[str, Any] = app.acquire_token_by_auth_code_flow(flow, params)
    assert "access_token" in result, result
    return result


def _token(microsoft: MicrosoftCloud, user: User, scopes: list[str] = SCOPES) -> str:
    return str(_sign_in(microsoft, _msal_app(microsoft), user, scopes)["access_token"])


# --- helpers: Graph and the schema check ------------------------------------------------------


class Graph:
    """requests against the fake Graph with one bearer token."""

    def __init__(self, microsoft: MicrosoftCloud, token: str) -> None:
        self.base = microsoft.graph_url
        self.token = token

    def get(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        return requests.get(url, headers=self._headers(headers), timeout=10)

    def post(
        self, path: str, body: Any, headers: dict[str, str] | None = None
    ) -> requests.Response:
        return requests.post(
            self.base + path, json=body, headers=self._headers(headers), timeout=10
        )

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    def delta_round(
        self, first_url: str, headers: dict[str, str]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
        """Follow nextLinks to the deltaLink: (pages, all items, deltaLink)."""
        pages, url = [], first_url
        while True:
            response = self.get(url, headers)
            assert response.status_code == 200, response.text
            page = response.json()
            pages.append(page)
            if "@odata.deltaLink" in page:
                items = [item for p in pages for item in p["value"]]
                return pages, items, page["@odata.deltaLink"]
            url = page["@odata.nextLink"]


def _parse(model: ParsableFactory[Any], body: bytes) -> Parsable:
    node = JsonParseNodeFactory().get_root_parse_node("application/json", body)
    parsed: Parsable = node.get_object_value(model)
    return parsed


def _unknown_properties(parsed: Any, where: str = "$") -> list[str]:
    """Keys that fell into additional_data (not in the schema), OData annotations aside."""
    found: list[str] = []
    extras = getattr(parsed, "additional_data", None) or {}
    allowed = INNER_ERROR_EXTRAS if isinstance(parsed, InnerError) else frozenset()
    for key in extras:
        if not key.startswith(("@odata.", "@removed")) and key not in allowed:
            found.append(f"{where}.{key}")
    for name, value in vars(parsed).items():
        if isinstance(value, Parsable):
            found += _unknown_properties(value, f"{where}.{name}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Parsable):
                    found += _unknown_properties(item, f"{where}.{name}[{index}]")
    return found


def _dropped_properties(sent: Any, reserialized: Any, where: str = "$") -> list[str]:
    """Keys the model could not read back (a value of the wrong type is silently dropped)."""
    if isinstance(sent, list) and isinstance(reserialized, list):
        return [
            missing
            for index, (a, b) in enumerate(zip(sent, reserialized, strict=False))
            for missing in _dropped_properties(a, b, f"{where}[{index}]")
        ]
    if not isinstance(sent, dict) or not isinstance(reserialized, dict):
        return []
    found = []
    for key, value in sent.items():
        if value is None:
            continue
        if key not in reserialized:
            found.append(f"{where}.{key}")
        else:
            found += _dropped_properties(value, reserialized[key], f"{where}.{key}")
    return found


def schema_problems(model: ParsableFactory[Any], body: bytes) -> list[str]:
    parsed = _parse(model, body)
    writer = JsonSerializationWriter()
    writer.write_object_value(None, parsed)
    reserialized = json.loads(writer.get_serialized_content())
    return _unknown_properties(parsed) + _dropped_properties(json.loads(body), reserialized)


@pytest.fixture
def graph_checked(microsoft: MicrosoftCloud) -> Iterator[MicrosoftCloud]:
    """`microsoft`, and afterwards every JSON body its Graph served checked against the SDK."""
    yield microsoft
    problems = []
    checked = 0
    for record in microsoft.tenant.graph_requests:
        if record.body is None or record.route not in MODELS:
            continue
        checked += 1
        for problem in schema_problems(MODELS[record.route], record.body):
            problems.append(f"{record.method} {record.path} ({record.route}): {problem}")
    assert checked, "no JSON body was checked"
    assert not problems, "\n".join(problems)


def _mime(
    subject: str, *, sender: str = "carol@example.com", to: str = "alice@contoso.com"
) -> bytes:
    message = EmailMessage()
    message["From"] = f"Carol <{sender}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Mon, 05 Jan 2026 10:00:00 +0000"
    message["Message-ID"] = f"<{subject.replace(' ', '-')}@example.com>"
    message.set_content(f"Body of {subject}.\n")
    return message.as_bytes()


# --- identity: the authorization-code flow through MSAL ---------------------------------------


def test_msal_auth_code_flow_then_silent_refresh(microsoft: MicrosoftCloud) -> None:
    app = _msal_app(microsoft)
    result = _sign_in(microsoft, app, microsoft.alice)

    claims = result["id_token_claims"]
    assert claims["preferred_username"] == "alice@contoso.onmicrosoft.com"
    assert claims["oid"] == microsoft.alice.oid
    assert claims["tid"] == microsoft.tenant.tenant_id
    assert claims["aud"] == microsoft.client_id
    assert claims["iss"] == f"{microsoft.authority}/v2.0"
    assert set(result["scope"].split()) >= {"User.Read", "Mail.Read"}
    assert "refresh_token" in result
    [account] = app.get_accounts()
    assert account["username"] == "alice@contoso.onmicrosoft.com"
    assert account["home_account_id"] == f"{microsoft.alice.oid}.{microsoft.tenant.tenant_id}"

    cached = app.acquire_token_silent(SCOPES, account=account)
    assert cached is not None
    assert cached["access_token"] == result["access_token"]

    # Graph stops accepting the token; MSAL only learns by a forced refresh.
    microsoft.tenant.expire_access_tokens(microsoft.alice)
    assert Graph(microsoft, result["access_token"]).get("/me").status_code == 401
    refreshed = app.acquire_token_silent(SCOPES, account=account, force_refresh=True)
    assert refreshed is not None
    assert refreshed["access_token"] != result["access_token"]
    assert Graph(microsoft, refreshed["access_token"]).get("/me").status_code == 200

    token_calls = [r for r in microsoft.tenant.identity_requests if r.path.endswith("/token")]
    assert [r.form["grant_type"] for r in token_calls] == ["authorization_code", "refresh_token"]
    assert token_calls[0].form["client_info"] == "1"
    # Refresh tokens rotate; secrets never reach the log.
    assert token_calls[1].form["refresh_token"] == result["refresh_token"]
    rt_in_cache = json.loads(app.token_cache.serialize())["RefreshToken"]
    assert [rt["secret"] for rt in rt_in_cache.values()] != [result["refresh_token"]]
    assert all("client_secret" not in r.form for r in microsoft.tenant.identity_requests)
    assert all("password" not in r.form for r in microsoft.tenant.identity_requests)


def test_form_post_response_mode(microsoft: MicrosoftCloud) -> None:
    app = _msal_app(microsoft)
    flow = _flow(microsoft, app)
    page = _submit_sign_in(flow, "alice@contoso.com")  # the primary address works as a login

    assert page.status_code == 200
    assert f'action="{microsoft.redirect_uri}"' in page.text
    assert "document.forms.hiddenform.submit()" in page.text
    assert 'type="submit"' in page.text
    result = app.acquire_token_by_auth_code_flow(flow, form_fields(page.text))
    assert result["id_token_claims"]["oid"] == microsoft.alice.oid


@pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")
def test_query_response_mode_redirects(microsoft: MicrosoftCloud) -> None:
    app = _msal_app(microsoft)
    flow = _flow(microsoft, app, response_mode=None)
    response = _submit_sign_in(flow, microsoft.alice.upn)

    assert response.headers["Location"].startswith(microsoft.redirect_uri + "?")
    params = _redirect_params(response)
    assert {"code", "state", "session_state", "client_info"} <= params.keys()
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, params)


@pytest.mark.parametrize(
    ("kind", "error_code", "suberror"),
    [
        ("expired", 700082, None),
        ("revoked", 50173, None),
        ("consent_withdrawn", 65001, "consent_required"),
    ],
)
def test_refresh_failures(
    microsoft: MicrosoftCloud,
    kind: Any,
    error_code: int,
    suberror: str | None,
) -> None:
    app = _msal_app(microsoft)
    _sign_in(microsoft, app, microsoft.alice)
    [account] = app.get_accounts()
    microsoft.tenant.fail_refresh(microsoft.alice, kind)

    result = app.acquire_token_silent_with_error(SCOPES, account=account, force_refresh=True)

    assert result is not None
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [error_code]
    assert result["error_description"].startswith(f"AADSTS{error_code}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= result.keys()
    assert result.get("suberror") == suberror
    # A fresh sign-in (with consent again, for consent_withdrawn) works.
    assert _sign_in(microsoft, _msal_app(microsoft), microsoft.alice)["access_token"]


def test_cancel_declines_consent(microsoft: MicrosoftCloud) -> None:
    app = _msal_app(microsoft)
    flow = _flow(microsoft, app)
    params = _redirect_params(_submit_sign_in(flow, "", "", consent="cancel"))

    assert params["error"] == "access_denied"
    assert params["error_description"] == "AADSTS65004: User declined to consent to access the app."
    assert params["state"] == flow["state"]
    assert app.acquire_token_by_auth_code_flow(flow, params)["error"] == "access_denied"


def test_admin_approval_required(microsoft: MicrosoftCloud) -> None:
    microsoft.tenant.require_admin_approval(True)
    app = _msal_app(microsoft)
    flow = _flow(microsoft, app)
    params = _redirect_params(_submit_sign_in(flow, microsoft.alice.upn))

    assert params["error"] == "access_denied"
    assert params["error_description"].startswith("AADSTS90094:")
    assert "code" not in params


def test_disabled_app_and_user(microsoft: MicrosoftCloud) -> None:
    app = _msal_app(microsoft)
    microsoft.tenant.disable_tenant()
    flow = _flow(microsoft, app)
    params = _redirect_params(_submit_sign_in(flow, microsoft.alice.upn))
    assert params["error"] == "unauthorized_client"
    assert params["error_description"].startswith("AADSTS7000112:")

    microsoft.tenant.disable_tenant(False)
    microsoft.tenant.disable_user(microsoft.bob)
    flow = _flow(microsoft, app)
    page = _submit_sign_in(flow, microsoft.bob.upn)
    assert page.status_code == 400
    assert "AADSTS50057" in page.text
    assert "Location" not in page.headers


def test_wrong_password_shows_the_page_again(microsoft: MicrosoftCloud) -> None:
    app = _msal_app(microsoft)
    flow = _flow(microsoft, app)
    page = _submit_sign_in(flow, microsoft.alice.upn, "wrong")
    assert page.status_code == 200
    assert "Your account or password is incorrect." in page.text
    assert 'id="password"' in page.text


def test_unknown_client_or_redirect_uri_never_redirects(microsoft: MicrosoftCloud) -> None:
    app = _msal_app(microsoft)
    flow = _flow(microsoft, app, redirect_uri="https://evil.example/cb")
    page = requests.get(flow["auth_uri"], allow_redirects=False, timeout=10)
    assert page.status_code == 400
    assert "AADSTS50011" in page.text

    unknown = flow["auth_uri"].replace(microsoft.client_id, "00000000-0000-0000-0000-000000000000")
    page = requests.get(unknown, allow_redirects=False, timeout=10)
    assert page.status_code == 400
    assert "AADSTS700016" in page.text

    microsoft.add_redirect_uri("https://evil.example/cb")
    assert requests.get(flow["auth_uri"], timeout=10).status_code == 200


def test_codes_are_single_use_and_bound_to_pkce(microsoft: MicrosoftCloud) -> None:
    app = _msal_app(microsoft)
    flow = _flow(microsoft, app)
    params = _redirect_params(_submit_sign_in(flow, microsoft.alice.upn))
    tampered = dict(flow, code_verifier="x" * 43)
    result = app.acquire_token_by_auth_code_flow(tampered, params)
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [501481]

    flow = _flow(microsoft, app)
    params = _redirect_params(_submit_sign_in(flow, microsoft.alice.upn))
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, params)
    again = app.acquire_token_by_auth_code_flow(flow, params)
    assert again["error"] == "invalid_grant"
    assert again["error_codes"] == [54005]


@pytest.mark.parametrize("mode", ["reset", "503"])
def test_login_service_unreachable(microsoft: MicrosoftCloud, mode: Any) -> None:
    microsoft.tenant.set_unreachable(True, mode=mode)
    error = requests.ConnectionError if mode == "reset" else msal.exceptions.MsalServiceError
    with pytest.raises(error):
        _msal_app(microsoft)
    microsoft.tenant.set_unreachable(False)
    assert _msal_app(microsoft).authority.tenant == microsoft.tenant.tenant_id


# --- Graph ------------------------------------------------------------------------------------


def test_me_and_select(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    graph = Graph(microsoft, _token(microsoft, microsoft.alice))

    me = graph.get("/me").json()
    assert me["id"] == microsoft.alice.oid
    assert me["mail"] == "alice@contoso.com"
    assert me["userPrincipalName"] == "alice@contoso.onmicrosoft.com"
    assert "proxyAddresses" not in me

    selected = graph.get("/me?$select=mail,userPrincipalName,proxyAddresses").json()
    assert selected["proxyAddresses"] == ["SMTP:alice@contoso.com", "smtp:a.archer@contoso.com"]
    assert set(selected) == {"@odata.context", "mail", "userPrincipalName", "proxyAddresses", "id"}

    bad = graph.get("/me?$select=nonsense")
    assert bad.status_code == 400


def test_unknown_or_expired_token_is_401(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    response = Graph(microsoft, "not-a-token").get("/me/mailFolders")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "innerError" in response.json()["error"]


def test_mail_folders(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant = microsoft.tenant
    graph = Graph(microsoft, _token(microsoft, microsoft.alice))
    projects = tenant.create_folder(microsoft.alice, "Projects", "inbox")
    tenant.create_folder(microsoft.alice, "Secret", hidden=True)
    tenant.deliver(microsoft.alice, _mime("Hello"))

    top = graph.get("/me/mailFolders").json()
    names = [f["displayName"] for f in top["value"]]
    assert "Secret" not in names
    assert "Inbox" in names
    assert len(names) == 8
    assert "@odata.nextLink" not in top
    hidden = graph.get("/me/mailFolders?includeHiddenFolders=true").json()
    assert "Secret" in [f["displayName"] for f in hidden["value"]]

    first = graph.get("/me/mailFolders?$top=5").json()
    assert len(first["value"]) == 5
    rest = graph.get(first["@odata.nextLink"]).json()
    assert len(rest["value"]) == 3
    assert "@odata.nextLink" not in rest

    inbox = graph.get("/me/mailFolders/inbox").json()
    assert (inbox["displayName"], inbox["totalItemCount"], inbox["unreadItemCount"]) == (
        "Inbox",
        1,
        1,
    )
    assert inbox["childFolderCount"] == 1
    assert graph.get(f"/me/mailFolders('{inbox['id']}')").json()["id"] == inbox["id"]
    children = graph.get(f"/me/mailFolders/{inbox['id']}/childFolders").json()
    assert [(f["id"], f["parentFolderId"]) for f in children["value"]] == [(projects, inbox["id"])]

    tenant.rename_folder(microsoft.alice, projects, "Clients")
    assert graph.get(f"/me/mailFolders/{projects}").json()["displayName"] == "Clients"
    tenant.delete_folder(microsoft.alice, projects)
    missing = graph.get(f"/me/mailFolders/{projects}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ErrorItemNotFound"


def test_message_properties_and_mime(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    graph = Graph(microsoft, _token(microsoft, microsoft.alice))
    raw = _mime("Quarterly numbers")
    received = datetime(2026, 1, 5, 10, 0, 5, tzinfo=UTC)
    message_id = microsoft.tenant.deliver(microsoft.alice, raw, received_at=received)

    response = graph.get(f"/me/messages/{message_id}", IMMUTABLE)
    assert response.headers["Preference-Applied"] == 'IdType="ImmutableId"'
    message = response.json()
    assert message["id"] == message_id
    assert message["subject"] == "Quarterly numbers"
    assert message["internetMessageId"] == "<Quarterly-numbers@example.com>"
    assert message["from"] == {"emailAddress": {"name": "Carol", "address": "carol@example.com"}}
    assert message["toRecipients"][0]["emailAddress"]["address"] == "alice@contoso.com"
    assert message["receivedDateTime"] == "2026-01-05T10:00:05Z"
    assert message["sentDateTime"] == "2026-01-05T10:00:00Z"
    assert message["bodyPreview"] == "Body of Quarterly numbers."
    assert message["parentFolderId"] == microsoft.tenant.folder(microsoft.alice, "inbox").id
    assert message["isRead"] is False
    assert message["hasAttachments"] is False

    mime = graph.get(f"/me/messages/{message_id}/$value", IMMUTABLE)
    assert mime.headers["Content-Type"].startswith("text/plain")
    assert mime.content == raw

    listed = graph.get("/me/mailFolders/inbox/messages?$select=subject,isRead", IMMUTABLE).json()
    assert listed["value"] == [
        {
            "@odata.etag": message["@odata.etag"],
            "id": message_id,
            "subject": "Quarterly numbers",
            "isRead": False,
        }
    ]


def test_delta_rounds_report_exactly_the_changes(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, _token(microsoft, alice, ["User.Read", "Mail.ReadWrite"]))
    headers = {"Prefer": 'odata.maxpagesize=10, IdType="ImmutableId"'}
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [
        tenant.deliver(alice, _mime(f"Message {n}"), received_at=start + timedelta(minutes=n))
        for n in range(25)
    ]
    inbox = tenant.folder(alice, "inbox").id

    pages, items, delta_link = graph.delta_round("/me/mailFolders/inbox/messages/delta", headers)
    assert [len(p["value"]) for p in pages] == [10, 10, 5]
    assert sorted(item["id"] for item in items) == sorted(ids)
    for page in pages[:-1]:
        assert page["@odata.nextLink"].startswith(
            f"{microsoft.graph_url}/me/mailfolders('{inbox}')/messages/delta?$skiptoken="
        )
    assert delta_link.startswith(
        f"{microsoft.graph_url}/me/mailfolders('{inbox}')/messages/delta?$deltatoken="
    )
    _, nothing, delta_link = graph.delta_round(delta_link, headers)
    assert nothing == []

    new = tenant.deliver(alice, _mime("Late arrival"))
    tenant.move(alice, ids[0], "archive")
    moved = graph.post(f"/me/messages/{ids[1]}/move", {"destinationId": "deleteditems"}, IMMUTABLE)
    assert moved.status_code == 201
    assert moved.json()["id"] == ids[1]
    tenant.delete(alice, ids[2])
    tenant.set_read(alice, ids[3])

    _, changes, delta_link = graph.delta_round(delta_link, headers)
    removed = {item["id"] for item in changes if "@removed" in item}
    current = {item["id"]: item for item in changes if "@removed" not in item}
    assert removed == {ids[0], ids[1], ids[2]}
    assert all(item["@removed"] == {"reason": "deleted"} for item in changes if "@removed" in item)
    assert set(current) == {new, ids[3]}
    assert current[ids[3]]["isRead"] is True

    _, archive, _ = graph.delta_round("/me/mailFolders/archive/messages/delta", headers)
    assert [item["id"] for item in archive] == [ids[0]]
    assert archive[0]["parentFolderId"] == tenant.folder(alice, "archive").id


def test_delta_without_immutable_ids_sees_new_ids_after_a_move(
    graph_checked: MicrosoftCloud,
) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, _token(microsoft, alice, ["User.Read", "Mail.ReadWrite"]))
    tenant.deliver(alice, _mime("Wanderer"))
    _, [seen], delta_link = graph.delta_round("/me/mailFolders/inbox/messages/delta", {})
    assert seen["id"].startswith("AAMkAG")

    moved = graph.post(f"/me/messages/{seen['id']}/move", {"destinationId": "archive"}).json()
    assert moved["id"] != seen["id"]
    assert graph.get(f"/me/messages/{seen['id']}").status_code == 404
    _, [gone], _ = graph.delta_round(delta_link, {})
    assert gone == {
        "@odata.type": "#microsoft.graph.message",
        "id": seen["id"],
        "@removed": {"reason": "deleted"},
    }


def test_delta_filter_select_and_change_type(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, _token(microsoft, alice))
    old = tenant.deliver(alice, _mime("Old"), received_at=datetime(2025, 12, 1, tzinfo=UTC))
    recent = tenant.deliver(alice, _mime("Recent"), received_at=datetime(2026, 2, 1, tzinfo=UTC))
    query = (
        "$filter=receivedDateTime ge 2026-01-01T00:00:00Z&$select=subject,isRead&changeType=created"
    )

    _, items, delta_link = graph.delta_round(
        f"/me/mailFolders/inbox/messages/delta?{query}", IMMUTABLE
    )
    assert [(i["id"], set(i)) for i in items] == [
        (recent, {"@odata.type", "@odata.etag", "id", "subject", "isRead"})
    ]
    tenant.set_read(alice, recent)  # an update: not asked for
    tenant.delete(alice, old)  # outside the filter: never seen
    newer = tenant.deliver(alice, _mime("Newer"), received_at=datetime(2026, 3, 1, tzinfo=UTC))
    _, items, _ = graph.delta_round(delta_link, IMMUTABLE)
    assert [i["id"] for i in items] == [newer]

    bad = graph.get("/me/mailFolders/inbox/messages/delta?$filter=subject eq 'x'")
    assert bad.status_code == 400


@pytest.mark.parametrize("mode", ["410", "syncStateNotFound"])
def test_expired_delta_token(graph_checked: MicrosoftCloud, mode: Any) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, _token(microsoft, alice))
    message_id = tenant.deliver(alice, _mime("Kept"))
    _, _, delta_link = graph.delta_round("/me/mailFolders/inbox/messages/delta", IMMUTABLE)
    tenant.expire_delta(alice, "inbox", mode)

    response = graph.get(delta_link, IMMUTABLE)
    assert response.status_code == 410
    code = response.json()["error"]["code"]
    if mode == "410":
        assert code == "resyncRequired"
        location = response.headers["Location"]
        assert location.endswith("/messages/delta?$deltatoken=")
        _, items, _ = graph.delta_round(location, IMMUTABLE)  # a full resync from scratch
        assert [i["id"] for i in items] == [message_id]
    else:
        assert code.lower() == "syncstatenotfound"
        assert "Location" not in response.headers
    assert graph.get(delta_link, IMMUTABLE).status_code == 410  # gone for good


def test_batch_of_three_deltas(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, _token(microsoft, alice))
    tenant.deliver(alice, _mime("In"))
    tenant.deliver(alice, _mime("Sent"), folder="sentitems")
    folders = ["inbox", "sentitems", "archive"]
    requests_ = [
        {
            "id": str(n),
            "method": "GET",
            "url": f"/me/mailFolders/{f}/messages/delta",
            "headers": IMMUTABLE,
        }
        for n, f in enumerate(folders, 1)
    ]
    tenant.reset_counts()

    response = graph.post("/$batch", {"requests": requests_})

    assert response.status_code == 200
    answers = {r["id"]: r for r in response.json()["responses"]}
    assert {k: r["status"] for k, r in answers.items()} == {"1": 200, "2": 200, "3": 200}
    assert [len(answers[k]["body"]["value"]) for k in "123"] == [1, 1, 0]
    assert all("@odata.deltaLink" in r["body"] for r in answers.values())
    assert answers["1"]["headers"]["Preference-Applied"].endswith('IdType="ImmutableId"')
    assert tenant.requests_count(alice) == 1  # one round trip

    too_many = [dict(requests_[0], id=str(n)) for n in range(21)]
    assert graph.post("/$batch", {"requests": too_many}).status_code == 400

    chained = [
        {"id": "1", "method": "GET", "url": "/me/mailFolders/nonexistent"},
        {"id": "2", "method": "GET", "url": "me/mailFolders/inbox", "dependsOn": ["1"]},
    ]
    answers = {r["id"]: r for r in graph.post("/$batch", {"requests": chained}).json()["responses"]}
    assert (answers["1"]["status"], answers["2"]["status"]) == (404, 424)


def test_throttling_answers_429_with_retry_after(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, _token(microsoft, alice))
    tenant.throttle(alice, 2)

    for _ in range(2):
        response = graph.get("/me/mailFolders/inbox")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "2.128"
        assert response.json()["error"]["code"] == "TooManyRequests"
    assert graph.get("/me/mailFolders/inbox").status_code == 200

    tenant.throttle(alice, 1, retry_after="7")
    parts = [{"id": str(n), "method": "GET", "url": "/me/mailFolders/inbox"} for n in (1, 2)]
    answers = {r["id"]: r for r in graph.post("/$batch", {"requests": parts}).json()["responses"]}
    assert answers["1"]["status"] == 429
    assert answers["1"]["headers"]["Retry-After"] == "7"
    assert answers["2"]["status"] == 200

    tenant.fail_next(alice, 503)
    failed = graph.get("/me/mailFolders/inbox")
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == "serviceNotAvailable"


def test_fifth_concurrent_request_is_throttled(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice = microsoft.tenant, microsoft.alice
    graph = Graph(microsoft, _token(microsoft, alice))
    statuses: list[int] = []

    def fetch() -> None:
        statuses.append(graph.get("/me/mailFolders/inbox").status_code)

    with tenant.hold_requests(alice):
        threads = [threading.Thread(target=fetch) for _ in range(4)]
        for thread in threads:
            thread.start()
        tenant.wait_in_flight(alice, 4)
        fifth = graph.get("/me/mailFolders/inbox")
    for thread in threads:
        thread.join(timeout=10)

    assert fifth.status_code == 429
    assert "Retry-After" in fifth.headers
    assert statuses == [200] * 4
    assert tenant.max_concurrency(alice) == 5
    tenant.reset_counts()
    assert graph.get("/me/mailFolders/inbox").status_code == 200
    assert tenant.max_concurrency(alice) == 1


def test_other_mailboxes_need_a_grant_and_a_shared_scope(graph_checked: MicrosoftCloud) -> None:
    microsoft = graph_checked
    tenant, alice, bob = microsoft.tenant, microsoft.alice, microsoft.bob
    tenant.deliver(bob, _mime("For Bob", to="bob@contoso.com"))
    shared = Graph(
        microsoft, _token(microsoft, alice, ["User.Read", "Mail.Read", "Mail.Read.Shared"])
    )
    plain = Graph(microsoft, _token(microsoft, alice))
    path = "/users/bob@contoso.com/mailFolders/inbox/messages"

    denied = shared.get(path)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "ErrorAccessDenied"
    tenant.grant_mailbox_access(bob, alice)
    assert [m["subject"] for m in shared.get(path).json()["value"]] == ["For Bob"]
    assert shared.get(f"/users/{bob.oid}/mailFolders/inbox").status_code == 200
    assert plain.get(path).status_code == 403
    assert tenant.request_paths(alice)[path] == 3


def test_schema_check_catches_invented_or_mistyped_properties() -> None:
    good = json.dumps({"id": "x", "subject": "s", "isRead": True, "@odata.etag": "e"}).encode()
    assert schema_problems(Message, good) == []

    misspelt = json.dumps({"id": "x", "isRaed": True}).encode()
    assert schema_problems(Message, misspelt) == ["$.isRaed"]
    mistyped = json.dumps({"id": "x", "isRead": "true"}).encode()
    assert schema_problems(Message, mistyped) == ["$.isRead"]
    nested = json.dumps({"id": "x", "from": {"emailAddress": {"adress": "a@b"}}}).encode()
    assert schema_problems(Message, nested) == ["$.from_.email_address.adress"]
