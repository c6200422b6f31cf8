"""A fake Google Calendar API v3 and Google Tasks API v1 with state, over plain HTTP.

    apis = GoogleApisServer(accounts)        # base_url http://127.0.0.1:PORT/
    calendar = googleapiclient.discovery.build(
        "calendar", "v3", credentials=creds, client_options={"api_endpoint": apis.calendar_url})
    tasks = googleapiclient.discovery.build(
        "tasks", "v1", credentials=creds, client_options={"api_endpoint": apis.tasks_url})
    apis.close()

`build()` puts the api_endpoint in place of rootUrl + servicePath, so `calendar_url` ends in
"calendar/v3/" (calendar.v3.json: rootUrl https://www.googleapis.com/, servicePath
"calendar/v3/") and `tasks_url` is the bare root (tasks.v1.json: rootUrl
https://tasks.googleapis.com/, servicePath "", paths "tasks/v1/..."). Both APIs share one port.

Every route of both packaged discovery documents is known; the methods served are in `SERVED`,
the rest answer 501 naming the method, so a test never mistakes a missing feature for Google's
answer. Access tokens are the identity fake's, checked against each method's "scopes" in the
document; the state and the control API are `GoogleAccounts` (`google_calendar_state`). Every
JSON body served is recorded in `accounts.served` (method id, status, body, query names, path),
as the Gmail fake does, for the schema test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from werkzeug.datastructures import MultiDict
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from tests.servers.gmail import (
    HOST,
    JSON_TYPE,
    GmailError,
    _QuietHandler,
    _select_fields,
)
from tests.servers.gmail_state import AccessToken, GoogleAccounts, GoogleUser, ServedBody
from tests.servers.google_calendar_state import Refused, api_document
from tests.servers.microsoft_tenant import ServedInThread

APIS = ("calendar", "tasks")
# The methods the fake implements; every other method of the two documents answers 501.
SERVED = frozenset(
    {
        "calendar.calendarList.list",
        "calendar.calendars.get",
        "calendar.events.insert",
        "calendar.events.get",
        "calendar.events.update",
        "calendar.events.patch",
        "calendar.events.delete",
        "tasks.tasklists.list",
        "tasks.tasklists.get",
        "tasks.tasks.insert",
        "tasks.tasks.list",
        "tasks.tasks.get",
        "tasks.tasks.update",
        "tasks.tasks.patch",
        "tasks.tasks.delete",
    }
)


@dataclass(frozen=True)
class Route:
    verb: str
    pattern: re.Pattern[str]
    method_id: str
    api: str
    placeholders: int


@cache
def api_methods(api: str) -> dict[str, dict[str, Any]]:
    """Every method of a discovery document by id ("calendar.events.get" -> its description)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(resource: dict[str, Any]) -> None:
        for method in resource.get("methods", {}).values():
            found[method["id"]] = method
        for child in resource.get("resources", {}).values():
            walk(child)

    walk(api_document(api))
    return found


@cache
def routes() -> tuple[Route, ...]:
    """One route per method: servicePath + path with each {parameter} one path segment. The
    most literal paths are tried first ("events/import" before "events/{eventId}")."""
    found: list[Route] = []
    for api in APIS:
        service_path = api_document(api)["servicePath"]
        for method_id, method in api_methods(api).items():
            template = "/" + service_path + method.get("flatPath", method["path"])
            parts = re.split(r"\{\+?(\w+)\}", template)
            regex = "".join(
                re.escape(part) if index % 2 == 0 else f"(?P<{part}>[^/]+)"
                for index, part in enumerate(parts)
            )
            placeholders = len(parts) // 2
            found.append(
                Route(method["httpMethod"], re.compile(regex), method_id, api, placeholders)
            )
    return tuple(sorted(found, key=lambda r: (r.placeholders, -len(r.pattern.pattern))))


class ApiError(GmailError):
    """Google's error body. The Calendar API's own errors carry no "status" (the bodies of
    developers.google.com/calendar/api/guides/errors); the front end's (authentication, scopes)
    and the Tasks API's do (cloud.google.com/apis/design/errors)."""

    def __init__(self, *args: Any, with_status: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.with_status = with_status

    def body(self) -> dict[str, Any]:
        body = super().body()
        if not self.with_status:
            del body["error"]["status"]
        return body


@dataclass
class _Call:
    route: Route
    user: GoogleUser
    token: AccessToken
    params: dict[str, str]
    query: MultiDict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def method_id(self) -> str:
        return self.route.method_id

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            parsed = json.loads(self.body)
        except ValueError:
            raise ApiError(400, "parseError", "Parse Error") from None
        if not isinstance(parsed, dict):
            raise ApiError(400, "parseError", "Parse Error")
        return parsed


class GoogleApisServer:
    """www.googleapis.com/calendar/v3 and tasks.googleapis.com for one `GoogleAccounts`."""

    def __init__(self, accounts: GoogleAccounts) -> None:
        self.accounts = accounts
        self._server: BaseWSGIServer = make_server(
            HOST, 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        self.base_url = f"http://{HOST}:{self.port}/"
        self._serving = ServedInThread(self._server)

    @property
    def calendar_url(self) -> str:
        """The api_endpoint for `build("calendar", "v3", client_options=...)`."""
        return self.base_url + str(api_document("calendar")["servicePath"])

    @property
    def tasks_url(self) -> str:
        """The api_endpoint for `build("tasks", "v1", client_options=...)`."""
        return self.base_url + str(api_document("tasks")["servicePath"])

    def close(self) -> None:
        self._serving.close()

    # --- HTTP plumbing -------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self.serve(
            request.method,
            request.path,
            MultiDict(request.args),
            dict(request.headers.items()),
            request.get_data(),
        )
        return response(environ, start_response)

    def serve(
        self,
        verb: str,
        path: str,
        query: MultiDict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> Response:
        """Answer one call and record its JSON body."""
        found = _route(verb, path)
        if found is None:
            # Google's front end answers an unknown URL with an HTML 404 page.
            return Response(
                "<!DOCTYPE html><title>Error 404 (Not Found)</title>",
                status=404,
                content_type="text/html; charset=UTF-8",
            )
        route, params = found
        extra_headers: dict[str, str] = {}
        try:
            call = self._authorize(route, params, query, headers, body)
            if route.method_id not in SERVED:
                raise ApiError(
                    501,
                    "notImplemented",
                    f"The fake Google APIs do not implement {route.method_id}.",
                )
            self.accounts.spend_calendar_call(call.user.address, route.method_id)
            with self.accounts.lock:
                result = self._handle(call)
            status, answer = (204, None) if result is None else (200, result)
            if answer is not None:
                answer = _select_fields(answer, query.get("fields"))
        except Refused as refused:
            error = ApiError(
                refused.status,
                refused.reason,
                refused.message,
                domain=refused.domain,
                location=refused.location,
                location_type=refused.location_type,
                with_status=route.api != "calendar",
            )
            status, answer = error.status, error.body()
        except GmailError as error:  # ApiError, or a bad "fields" parameter
            status, answer = error.status, error.body()
            extra_headers = dict(error.headers)
        if answer is None:
            return Response(b"", status=status)
        self.accounts.record_served(
            ServedBody(route.method_id, status, answer, tuple(sorted(set(query.keys()))), path)
        )
        return Response(
            json.dumps(answer, indent=2),
            status=status,
            content_type=JSON_TYPE,
            headers=extra_headers,
        )

    def _authorize(
        self,
        route: Route,
        params: dict[str, str],
        query: MultiDict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> _Call:
        # The same front end as Gmail's: developers.google.com/calendar/api/guides/errors
        # "401: Invalid Credentials"; RFC 6750 section 3 for the challenge.
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, value = authorization.partition(" ")
        token_value = value.strip() if scheme.lower() == "bearer" else ""
        token_value = token_value or query.get("access_token", "") or query.get("oauth_token", "")
        if not token_value:
            raise ApiError(
                401,
                "required",
                "Login Required.",
                top_message="Request is missing required authentication credential. Expected "
                "OAuth 2 access token, login cookie or other valid authentication credential. "
                "See https://developers.google.com/identity/sign-in/web/devconsole-project.",
                location="Authorization",
                location_type="header",
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        found = self.accounts.valid_access_token(token_value)
        if found is None:
            raise ApiError(
                401,
                "authError",
                "Invalid Credentials",
                top_message="Request had invalid authentication credentials. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                location="Authorization",
                location_type="header",
                headers={
                    "WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", '
                    'error="invalid_token"'
                },
            )
        token, user = found
        # Each method's "scopes" in its discovery document are the scopes that may call it:
        # e.g. calendar.events reaches events.* but not calendarList.list or calendars.get.
        allowed = set(api_methods(route.api)[route.method_id].get("scopes", []))
        if not allowed & set(token.scopes):
            raise ApiError(
                403,
                "insufficientPermissions",
                "Insufficient Permission",
                top_message="Request had insufficient authentication scopes.",
            )
        return _Call(route, user, token, params, query, headers, body)

    def _handle(self, call: _Call) -> dict[str, Any] | None:
        accounts = self.accounts
        address = call.user.address
        p = call.params
        match call.method_id:
            case "calendar.calendarList.list":
                show = _bool_param(call.query, "showDeleted")
                return accounts.calendar_list(address, show_deleted=show)
            case "calendar.calendars.get":
                return accounts.calendar_resource(address, p["calendarId"])
            case "calendar.events.insert":
                return accounts.insert_event(address, p["calendarId"], call.json())
            case "calendar.events.get":
                return accounts.get_event(address, p["calendarId"], p["eventId"])
            case "calendar.events.update" | "calendar.events.patch":
                return accounts.update_event(
                    address,
                    p["calendarId"],
                    p["eventId"],
                    call.json(),
                    patch=call.method_id.endswith("patch"),
                    if_match=call.header("If-Match"),
                )
            case "calendar.events.delete":
                accounts.delete_event(
                    address, p["calendarId"], p["eventId"], if_match=call.header("If-Match")
                )
                return None
            case "tasks.tasklists.list":
                return accounts.task_list_resources(address)
            case "tasks.tasklists.get":
                return accounts.task_list_resource(address, p["tasklist"])
            case "tasks.tasks.insert":
                return accounts.insert_task(
                    address, p["tasklist"], call.json(), parent=call.query.get("parent")
                )
            case "tasks.tasks.list":
                return accounts.list_tasks(address, p["tasklist"], call.query)
            case "tasks.tasks.get":
                return accounts.get_task(address, p["tasklist"], p["task"])
            case "tasks.tasks.update" | "tasks.tasks.patch":
                return accounts.update_task(
                    address,
                    p["tasklist"],
                    p["task"],
                    call.json(),
                    patch=call.method_id.endswith("patch"),
                )
            case "tasks.tasks.delete":
                accounts.delete_task(address, p["tasklist"], p["task"])
                return None
        raise AssertionError(f"{call.method_id} is in SERVED but has no handler")


def _route(verb: str, path: str) -> tuple[Route, dict[str, str]] | None:
    for route in routes():
        match = route.pattern.fullmatch(path)
        if route.verb == verb and match:
            return route, match.groupdict()
    return None


def _bool_param(query: MultiDict[str, str], name: str) -> bool:
    value = query.get(name)
    if value is None:
        return False
    if value.lower() not in {"true", "false"}:
        raise ApiError(400, "invalidParameter", f"Invalid value for {name}: {value}")
    return value.lower() == "true"
