"""A fake Microsoft Graph v1.0 (the Outlook mail part) with state, over plain HTTP.

    graph = GraphServer(tenant)      # base URL http://127.0.0.1:PORT/v1.0
    tenant.deliver("alice@contoso.com", raw_mime)
    ...the code under test calls graph.base_url with a token from the identity fake...
    graph.close()

It answers what a mail-sync client needs: /me, mail folders, messages and their MIME
(`$value`), per-folder message delta with paging, removals and expired tokens, move, JSON
batching, throttling (429 with Retry-After, at most 4 concurrent requests per mailbox) and Graph's
error bodies. Access tokens are the opaque ones the identity fake registered in the tenant.

Every response is recorded on the tenant (method, path, status, user, and the JSON body), so
tests can count round trips and check each body against the msgraph-sdk models: the fake must
not invent properties the real schema lacks.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from werkzeug.datastructures import Headers, MultiDict
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.servers.microsoft_tenant import (
    AccessToken,
    Address,
    DeltaParams,
    DeltaState,
    Folder,
    GraphRequest,
    Mailbox,
    MicrosoftTenant,
    ServedInThread,
    StoredMessage,
    User,
    graph_datetime,
    new_guid,
    utcnow,
)

HOST = "127.0.0.1"
# learn.microsoft.com/graph/throttling-limits#outlook-service-limits: 4 concurrent requests per
# app per mailbox.
MAX_CONCURRENT_PER_MAILBOX = 4
# learn.microsoft.com/graph/json-batching#batch-size-limitations
MAX_BATCH_REQUESTS = 20
# learn.microsoft.com/graph/delta-query-messages: the default page size of message delta.
DEFAULT_DELTA_PAGE = 10
# learn.microsoft.com/graph/paging: mail folder and message lists default to 10 a page.
DEFAULT_PAGE = 10
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"  # noqa: E501

MAIL_READ = frozenset({"mail.read", "mail.readwrite"})
MAIL_WRITE = frozenset({"mail.readwrite"})
# learn.microsoft.com/graph/permissions-reference: another user's mailbox needs a .Shared scope
# on top of the mailbox permission Exchange grants.
MAIL_READ_SHARED = frozenset({"mail.read.shared", "mail.readwrite.shared"})
MAIL_WRITE_SHARED = frozenset({"mail.readwrite.shared"})

# learn.microsoft.com/graph/api/resources/message#properties: what GET returns by default.
MESSAGE_PROPERTIES = (
    "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime",
    "sentDateTime", "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance",
    "parentFolderId", "conversationId", "conversationIndex", "isDeliveryReceiptRequested",
    "isReadReceiptRequested", "isRead", "isDraft", "webLink", "inferenceClassification", "body",
    "sender", "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "flag",
)  # fmt: skip
# learn.microsoft.com/graph/api/user-get#response: the default property set of v1.0 users;
# proxyAddresses only with $select.
USER_DEFAULT_PROPERTIES = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
)  # fmt: skip
USER_PROPERTIES = (*USER_DEFAULT_PROPERTIES, "proxyAddresses")


class GraphError(Exception):
    """An error answer in Graph's shape (learn.microsoft.com/graph/errors)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass
class GraphResponse:
    status: int
    body: dict[str, Any] | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON_TYPE
    route: str = ""


@dataclass
class _Call:
    """One request being served: who asks, for which mailbox, with which preferences."""

    token: AccessToken
    caller: User
    owner: User
    mailbox: Mailbox
    base: str  # "/me" or "/users/{id}" as the client wrote it
    query: MultiDict[str, str]
    headers: Headers
    body: bytes

    @property
    def immutable_ids(self) -> bool:
        return "immutableid" in _preferences(self.headers).get("idtype", "").lower()


def _preferences(headers: Headers) -> dict[str, str]:
    """The Prefer header(s) as lower-cased names -> values (RFC 7240)."""
    prefs: dict[str, str] = {}
    for header in headers.getlist("Prefer"):
        for item in header.split(","):
            name, _, value = item.strip().partition("=")
            prefs[name.strip().lower()] = value.strip().strip('"')
    return prefs


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class GraphServer:
    """The Graph endpoint for one `MicrosoftTenant`. See the module docstring."""

    def __init__(self, tenant: MicrosoftTenant) -> None:
        self.tenant = tenant
        self._server: BaseWSGIServer = make_server(
            HOST, 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        self.base_url = f"http://{HOST}:{self.port}/v1.0"
        self._serving = ServedInThread(self._server)

    def close(self) -> None:
        self._serving.close()

    # --- HTTP plumbing -----------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        path = request.path
        if path == "/v1.0" or path.startswith("/v1.0/"):
            answer = self.serve(
                request.method,
                path.removeprefix("/v1.0"),
                request.args,
                Headers(request.headers),
                request.get_data(),
            )
        else:
            answer = _error_response(
                GraphError(400, "BadRequest", "Invalid version."), request.headers
            )
        return _to_werkzeug(answer)(environ, start_response)

    def serve(
        self,
        method: str,
        path: str,
        query: MultiDict[str, str],
        headers: Headers,
        body: bytes,
        *,
        in_batch: bool = False,
    ) -> GraphResponse:
        """Answer one request (or one part of a batch) and record it."""
        user: str | None = None
        try:
            token, caller = self._authenticate(headers)
            user = caller.upn
            if method == "POST" and path.rstrip("/") == "/$batch" and not in_batch:
                answer = self._batch(headers, body)
            else:
                answer = self._serve_user(method, path, query, headers, body, token, caller)
        except GraphError as error:
            answer = _error_response(error, headers)
        answer.headers.setdefault("request-id", new_guid())
        answer.headers.setdefault("client-request-id", headers.get("client-request-id", new_guid()))
        recorded = answer.body if isinstance(answer.body, dict) else None
        self.tenant.record_graph(
            GraphRequest(
                method,
                path,
                answer.status,
                user,
                in_batch,
                answer.route,
                json.dumps(recorded).encode() if recorded is not None else None,
            )
        )
        return answer

    def _authenticate(self, headers: Headers) -> tuple[AccessToken, User]:
        # learn.microsoft.com/graph/auth/auth-concepts#access-tokens and graph/errors: a missing,
        # unknown or expired bearer token is 401 InvalidAuthenticationToken.
        scheme, _, value = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise _unauthenticated("Access token is empty.")
        with self.tenant.lock:
            known = self.tenant.access_tokens.get(value.strip())
            token = self.tenant.valid_access_token(value.strip())
            if token is None:
                raise _unauthenticated(
                    "Lifetime validation failed, the token is expired."
                    if known
                    else "IDX14100: JWT is not well formed, there are no dots (.)."
                )
            return token, self.tenant.users[token.user_oid]

    # --- users and mailboxes -----------------------------------------------------------------

    def _serve_user(
        self,
        method: str,
        path: str,
        query: MultiDict[str, str],
        headers: Headers,
        body: bytes,
        token: AccessToken,
        caller: User,
    ) -> GraphResponse:
        segments = _segments(path)
        if segments[:1] == ["me"]:
            owner, base, rest = caller, "/me", segments[1:]
        elif segments[:1] == ["users"] and len(segments) >= 2:
            found = self.tenant.find_user(segments[1])
            if found is None:
                raise GraphError(
                    404, "ErrorInvalidUser", f"The requested user '{segments[1]}' is invalid."
                )
            owner, base, rest = found, f"/users/{segments[1]}", segments[2:]
        else:
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{path}'.")
        call = _Call(token, caller, owner, self.tenant.mailbox(owner), base, query, headers, body)
        if not rest:
            if method != "GET":
                raise _method_not_allowed()
            return self._user(call)
        self._authorize_mail(call, write=method != "GET")
        return self._limited(call, lambda: self._route_mail(method, rest, call))

    def _user(self, call: _Call) -> GraphResponse:
        # learn.microsoft.com/graph/api/user-get: User.Read for yourself, User.ReadBasic.All
        # (or more) for anyone else.
        scopes = {s.lower() for s in call.token.scopes}
        allowed = {"user.read", "user.readbasic.all", "user.read.all", "user.readwrite"}
        if call.owner is not call.caller:
            allowed -= {"user.read", "user.readwrite"}
        if not scopes & allowed:
            raise GraphError(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        user = call.owner
        values: dict[str, Any] = {
            "businessPhones": [],
            "displayName": user.display_name,
            "givenName": user.display_name.split(" ")[0],
            "jobTitle": None,
            "mail": user.mail,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "surname": user.display_name.split(" ")[-1],
            "userPrincipalName": user.upn,
            "id": user.oid,
            "proxyAddresses": user.proxy_addresses,
        }
        select = _select(call.query, USER_PROPERTIES, "user")
        names = select or list(USER_DEFAULT_PROPERTIES)
        context = f"{self.base_url}/$metadata#users"
        if select:
            context += f"({','.join(select)})"
        body = {"@odata.context": f"{context}/$entity"}
        body.update({name: values[name] for name in names})
        return GraphResponse(200, body, route="user")

    def _authorize_mail(self, call: _Call, *, write: bool) -> None:
        """Scopes and mailbox permissions (learn.microsoft.com/graph/permissions-reference#mail-
        permissions; another mailbox: learn.microsoft.com/graph/outlook-share-messages-folders)."""
        scopes = {s.lower() for s in call.token.scopes}
        own = call.owner is call.caller
        needed = (
            (MAIL_WRITE if write else MAIL_READ)
            if own
            else (MAIL_WRITE_SHARED if write else MAIL_READ_SHARED)
        )
        with self.tenant.lock:
            delegated = call.caller.oid in call.mailbox.delegates
        if not scopes & needed or not (own or delegated):
            raise GraphError(
                403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )

    def _limited(self, call: _Call, handler: Callable[[], GraphResponse]) -> GraphResponse:
        """Outlook's per-mailbox limits (learn.microsoft.com/graph/throttling-limits#outlook-
        service-limits) and the test switches: throttle(), fail_next(), hold_requests()."""
        mailbox = call.mailbox
        in_flight, gate = self.tenant.enter_request(mailbox)
        try:
            over_limit = in_flight > MAX_CONCURRENT_PER_MAILBOX
            if gate is not None and not over_limit:
                gate.wait(timeout=30)
            with self.tenant.lock:
                throttled = not over_limit and mailbox.throttled > 0
                if throttled:
                    mailbox.throttled -= 1
                too_many = over_limit or throttled
                failure = mailbox.failures.pop(0) if mailbox.failures and not too_many else None
                retry_after = mailbox.retry_after
            if too_many:
                return _throttled(retry_after)
            if failure is not None:
                raise _failure(failure)
            with self.tenant.lock:
                return handler()
        finally:
            self.tenant.leave_request(mailbox)

    # --- mail routing ------------------------------------------------------------------------

    def _route_mail(self, method: str, rest: list[str], call: _Call) -> GraphResponse:
        names = [s.lower() for s in rest]
        if names[0] == "mailfolders":
            if len(rest) == 1 and method == "GET":
                return self._folder_list(call, None)
            folder = self._folder(call, rest[1])
            tail = names[2:]
            if not tail and method == "GET":
                return self._folder_get(call, folder)
            if tail == ["childfolders"] and method == "GET":
                return self._folder_list(call, folder)
            if tail == ["messages"] and method == "GET":
                return self._message_list(call, folder)
            if tail == ["messages", "delta"] and method == "GET":
                return self._delta(call, folder)
            if len(tail) >= 2 and tail[0] == "messages":
                return self._route_message(method, rest[3], names[4:], call)
        elif names[0] == "messages" and len(rest) >= 2:
            return self._route_message(method, rest[1], names[2:], call)
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")

    def _route_message(
        self, method: str, message_id: str, tail: list[str], call: _Call
    ) -> GraphResponse:
        message = self.tenant.find_message(call.mailbox, message_id)
        if message is None:
            # learn.microsoft.com/graph/outlook-immutable-id: an old REST id is gone after a
            # move.
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        if not tail and method == "GET":
            body = {"@odata.context": f"{self._context(call)}/messages/$entity"}
            body.update(
                self._message_json(
                    call, message, _select(call.query, MESSAGE_PROPERTIES, "message")
                )
            )
            return self._with_id_preference(call, GraphResponse(200, body, route="message"))
        if tail == ["$value"] and method == "GET":
            # learn.microsoft.com/graph/outlook-get-mime-message: the MIME as stored.
            return GraphResponse(200, message.raw, content_type="text/plain", route="value")
        if tail == ["move"] and method == "POST":
            return self._move(call, message)
        raise _method_not_allowed()

    def _context(self, call: _Call) -> str:
        return f"{self.base_url}/$metadata#users('{call.owner.oid}')"

    def _folder(self, call: _Call, folder_id: str) -> Folder:
        found = self.tenant.find_folder(call.mailbox, folder_id)
        if found is None:
            raise GraphError(
                404, "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return found

    # --- folders -----------------------------------------------------------------------------

    def _folder_json(self, mailbox: Mailbox, folder: Folder) -> dict[str, Any]:
        # learn.microsoft.com/graph/api/resources/mailfolder#properties
        messages = [m for m in mailbox.messages.values() if m.folder_id == folder.id]
        return {
            "id": folder.id,
            "displayName": folder.display_name,
            "parentFolderId": folder.parent_id,
            "childFolderCount": sum(
                1 for f in mailbox.folders.values() if f.parent_id == folder.id
            ),
            "unreadItemCount": sum(1 for m in messages if not m.is_read),
            "totalItemCount": len(messages),
            "isHidden": folder.is_hidden,
        }

    def _folder_get(self, call: _Call, folder: Folder) -> GraphResponse:
        body = {"@odata.context": f"{self._context(call)}/mailFolders/$entity"}
        body.update(self._folder_json(call.mailbox, folder))
        return GraphResponse(200, body, route="mailFolder")

    def _folder_list(self, call: _Call, parent: Folder | None) -> GraphResponse:
        # learn.microsoft.com/graph/api/user-list-mailfolders: the top level (children of
        # msgfolderroot); hidden folders only with includeHiddenFolders=true. childFolders:
        # learn.microsoft.com/graph/api/mailfolder-list-childfolders.
        root = parent or self.tenant.find_folder(call.mailbox, "msgfolderroot")
        assert root is not None
        include_hidden = call.query.get("includeHiddenFolders", "").lower() == "true"
        folders = [
            f
            for f in call.mailbox.folders.values()
            if f.parent_id == root.id and (include_hidden or not f.is_hidden)
        ]
        folders.sort(key=lambda f: f.display_name.lower())
        if parent is None:
            path = f"{call.base}/mailFolders"
            context = f"{self._context(call)}/mailFolders"
        else:
            path = f"{call.base}/mailFolders/{quote(parent.id)}/childFolders"
            context = f"{self._context(call)}/mailFolders('{parent.id}')/childFolders"
        page, next_link = self._page(call, folders, path)
        body: dict[str, Any] = {"@odata.context": context}
        if next_link:
            body["@odata.nextLink"] = next_link
        body["value"] = [self._folder_json(call.mailbox, f) for f in page]
        return GraphResponse(200, body, route="mailFolders")

    def _page(self, call: _Call, items: list[Any], path: str) -> tuple[list[Any], str | None]:
        """$top/$skip paging (learn.microsoft.com/graph/paging): a nextLink while more remain."""
        top = _int_param(call.query, "$top", DEFAULT_PAGE)
        skip = _int_param(call.query, "$skip", 0)
        page = items[skip : skip + top]
        if skip + top >= len(items):
            return page, None
        query = MultiDict(call.query)
        query["$top"] = str(top)
        query["$skip"] = str(skip + top)
        return page, f"{self.base_url}{path}?" + "&".join(
            f"{k}={quote(v, safe=',()')}" for k, v in query.items(multi=True)
        )

    # --- messages ----------------------------------------------------------------------------

    def _message_list(self, call: _Call, folder: Folder) -> GraphResponse:
        # learn.microsoft.com/graph/api/mailfolder-list-messages: newest first by default.
        select = _select(call.query, MESSAGE_PROPERTIES, "message")
        messages = sorted(
            (m for m in call.mailbox.messages.values() if m.folder_id == folder.id),
            key=lambda m: m.received_at,
            reverse=True,
        )
        page, next_link = self._page(
            call, messages, f"{call.base}/mailFolders/{quote(folder.id)}/messages"
        )
        body: dict[str, Any] = {
            "@odata.context": f"{self._context(call)}/mailFolders('{folder.id}')/messages"
        }
        if next_link:
            body["@odata.nextLink"] = next_link
        body["value"] = [self._message_json(call, m, select) for m in page]
        return self._with_id_preference(call, GraphResponse(200, body, route="messages"))

    def _message_json(
        self, call: _Call, message: StoredMessage, select: list[str] | None
    ) -> dict[str, Any]:
        # learn.microsoft.com/graph/api/resources/message#properties; the id in the format
        # the Prefer header asked for (learn.microsoft.com/graph/outlook-immutable-id).
        message_id = message.immutable_id if call.immutable_ids else message.rest_id
        values: dict[str, Any] = {
            "createdDateTime": graph_datetime(message.created_at),
            "lastModifiedDateTime": graph_datetime(message.last_modified_at),
            "changeKey": message.change_key,
            "categories": [],
            "receivedDateTime": graph_datetime(message.received_at),
            "sentDateTime": graph_datetime(message.sent_at or message.received_at),
            "hasAttachments": message.has_attachments,
            "internetMessageId": message.internet_message_id,
            "subject": message.subject,
            "bodyPreview": message.body_preview,
            "importance": "normal",
            "parentFolderId": message.folder_id,
            "conversationId": message.conversation_id,
            "conversationIndex": base64.b64encode(message.conversation_id.encode()[:22]).decode(),
            "isDeliveryReceiptRequested": None,
            "isReadReceiptRequested": False,
            "isRead": message.is_read,
            "isDraft": False,
            "webLink": "https://outlook.office365.com/owa/?ItemID="
            f"{quote(message_id, safe='')}&exvsurl=1&viewmodel=ReadMessageItem",
            "inferenceClassification": "focused",
            "body": {"contentType": message.body_type, "content": message.body_content},
            "sender": _recipient(message.sender),
            "from": _recipient(message.sender),
            "toRecipients": [_recipient(a) for a in message.to],
            "ccRecipients": [_recipient(a) for a in message.cc],
            "bccRecipients": [],
            "replyTo": [_recipient(a) for a in message.reply_to],
            "flag": {"flagStatus": "notFlagged"},
        }
        body: dict[str, Any] = {"@odata.etag": f'W/"{message.change_key}"', "id": message_id}
        body.update({name: values[name] for name in (select or MESSAGE_PROPERTIES)})
        return body

    def _with_id_preference(self, call: _Call, response: GraphResponse) -> GraphResponse:
        if call.immutable_ids:
            # learn.microsoft.com/graph/outlook-immutable-id: the server confirms the header.
            _apply_preference(response, 'IdType="ImmutableId"')
        return response

    def _move(self, call: _Call, message: StoredMessage) -> GraphResponse:
        # learn.microsoft.com/graph/api/message-move: 201 with the moved message, which has a
        # new id unless ids are immutable.
        try:
            destination = json.loads(call.body or b"{}").get("destinationId", "")
        except (ValueError, AttributeError):
            destination = ""
        target = self._folder(call, str(destination))
        moved = self.tenant.move(call.owner, message.immutable_id, target.id)
        body = {
            "@odata.context": f"{self.base_url}/$metadata#message",
            "@odata.type": "#microsoft.graph.message",
        }
        body.update(self._message_json(call, moved, None))
        return self._with_id_preference(call, GraphResponse(201, body, route="message"))

    # --- delta -------------------------------------------------------------------------------

    def _delta(self, call: _Call, folder: Folder) -> GraphResponse:
        """learn.microsoft.com/graph/delta-query-messages: a round is pages linked by
        `$skiptoken` nextLinks and ends with a `$deltatoken` deltaLink; the next round returns
        what changed since. Tokens are server-side state (learn.microsoft.com/graph/delta-query-
        overview#state-tokens) and a nextLink may be fetched again (after a 429, say)."""
        mailbox = call.mailbox
        token = call.query.get("$skiptoken") or call.query.get("$deltatoken")
        if token:
            expired = mailbox.expired_tokens.get(token)
            state = mailbox.delta_tokens.get(token)
            if expired == "410":
                return self._resync_required(call, folder)
            if expired is not None or state is None or state.folder_id != folder.id:
                raise _sync_state_not_found(mailbox)
            if "$skiptoken" in call.query:
                return self._delta_page(call, folder, state)
            return self._delta_page(call, folder, self._start_round(call, folder, state))
        params = DeltaParams(
            select=_select(call.query, MESSAGE_PROPERTIES, "message"),
            received_since=_received_filter(call.query.get("$filter")),
            change_type=_change_type(call.query.get("changeType")),
        )
        initial = DeltaState(folder.id, params, known={}, since_seq=0)
        return self._delta_page(call, folder, self._start_round(call, folder, initial))

    def _start_round(self, call: _Call, folder: Folder, previous: DeltaState) -> DeltaState:
        """Compare the folder now with what the client knows: new messages (or moved in),
        changed ones, and gone ones (moved out or deleted) as removals."""
        params = previous.params
        now = {
            m.immutable_id: m
            for m in call.mailbox.messages.values()
            if m.folder_id == folder.id
            and (params.received_since is None or m.received_at >= params.received_since)
        }
        pending: list[tuple[str, str, str]] = []
        for immutable, message in now.items():
            known_as = previous.known.get(immutable)
            if known_as is None:
                pending.append(("created", immutable, ""))
            elif not call.immutable_ids and known_as != message.rest_id:
                # Moved away and back: the client's REST id is gone, this is a new one.
                pending += [("deleted", immutable, known_as), ("created", immutable, "")]
            elif message.changed_seq > previous.since_seq:
                pending.append(("updated", immutable, ""))
        pending += [
            ("deleted", immutable, known_as)
            for immutable, known_as in previous.known.items()
            if immutable not in now
        ]
        if params.change_type:
            pending = [p for p in pending if p[0] == params.change_type]
        known = {immutable: m.rest_id for immutable, m in now.items()}
        return DeltaState(folder.id, params, known, call.mailbox.seq, pending)

    def _delta_page(self, call: _Call, folder: Folder, state: DeltaState) -> GraphResponse:
        prefs = _preferences(call.headers)
        size = _int_value(prefs.get("odata.maxpagesize"), DEFAULT_DELTA_PAGE)
        page, rest = state.pending[:size], state.pending[size:]
        link = f"{self.base_url}{call.base}/mailfolders('{folder.id}')/messages/delta?"
        token = secrets.token_urlsafe(24)
        body: dict[str, Any] = {"@odata.context": f"{self.base_url}/$metadata#Collection(message)"}
        if rest:
            call.mailbox.delta_tokens[token] = DeltaState(
                folder.id, state.params, state.known, state.since_seq, rest
            )
            body["@odata.nextLink"] = f"{link}$skiptoken={token}"
        else:
            call.mailbox.delta_tokens[token] = DeltaState(
                folder.id, state.params, state.known, state.since_seq
            )
            body["@odata.deltaLink"] = f"{link}$deltatoken={token}"
        body["value"] = [item for item in (self._delta_item(call, state, p) for p in page) if item]
        response = GraphResponse(200, body, route="delta")
        # The header Graph sends with every delta page (delta-query-overview).
        _apply_preference(response, "odata.track-changes")
        if "odata.maxpagesize" in prefs:
            _apply_preference(response, f"odata.maxpagesize={size}")
        return self._with_id_preference(call, response)

    def _delta_item(
        self, call: _Call, state: DeltaState, entry: tuple[str, str, str]
    ) -> dict[str, Any] | None:
        kind, immutable, known_as = entry
        if kind == "deleted":
            # delta-query-messages: a removed item is its id and "@removed".
            return {
                "@odata.type": "#microsoft.graph.message",
                "id": immutable if call.immutable_ids else known_as,
                "@removed": {"reason": "deleted"},
            }
        message = call.mailbox.messages.get(immutable)
        if message is None:  # deleted while the round was paged: the next round says so
            return None
        item: dict[str, Any] = {"@odata.type": "#microsoft.graph.message"}
        item.update(self._message_json(call, message, state.params.select))
        return item

    def _resync_required(self, call: _Call, folder: Folder) -> GraphResponse:
        # learn.microsoft.com/graph/delta-query-overview#synchronization-reset: 410 Gone with a
        # Location to start over (an empty $deltatoken); errors: code resyncRequired.
        location = (
            f"{self.base_url}{call.base}/mailfolders('{folder.id}')/messages/delta?$deltatoken="
        )
        error = GraphError(
            410,
            "resyncRequired",
            "Resync required. Replace any local cached data with a full synchronization.",
            {"Location": location},
        )
        return _error_response(error, call.headers)

    # --- batching ----------------------------------------------------------------------------

    def _batch(self, headers: Headers, body: bytes) -> GraphResponse:
        """learn.microsoft.com/graph/json-batching: at most 20 requests; each answered with its
        own id, status, headers and body; dependsOn orders them, and a failed dependency makes
        its dependants 424. Throttling counts every part (throttling#throttling-and-batching)."""
        try:
            requests = json.loads(body)["requests"]
            assert isinstance(requests, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise GraphError(400, "BadRequest", "Invalid batch payload format.") from None
        if len(requests) > MAX_BATCH_REQUESTS:
            raise GraphError(
                400,
                "BadRequest",
                f"Number of batch request steps exceeds the maximum of {MAX_BATCH_REQUESTS}.",
            )
        ids = [str(r.get("id")) for r in requests]
        if len(set(ids)) != len(ids):
            raise GraphError(400, "BadRequest", "Batch request contains duplicate ids.")
        statuses: dict[str, int] = {}
        responses = []
        for part in _dependency_order(requests):
            answer = self._batch_part(part, statuses, headers)
            statuses[str(part["id"])] = answer["status"]
            responses.append(answer)
        return GraphResponse(200, {"responses": responses}, route="batch")

    def _batch_part(
        self, part: dict[str, Any], statuses: dict[str, int], outer: Headers
    ) -> dict[str, Any]:
        part_id = str(part["id"])
        failed = [d for d in part.get("dependsOn", []) if statuses.get(str(d), 424) >= 400]
        if failed:
            return {
                "id": part_id,
                "status": 424,
                "headers": {"Content-Type": "application/json"},
                "body": _error_body("FailedDependency", "Dependent request failed.", outer),
            }
        headers = Headers(outer)
        for name, value in (part.get("headers") or {}).items():
            headers[name] = value
        path, _, query = str(part.get("url", "")).partition("?")
        body = json.dumps(part["body"]).encode() if "body" in part else b""
        answer = self.serve(
            str(part.get("method", "GET")).upper(),
            # A part's URL is percent-encoded like any URL (json-batching): decoded as the
            # server decodes a request's own path.
            "/" + unquote(path.lstrip("/")),
            MultiDict(parse_qsl(query, keep_blank_values=True)),
            headers,
            body,
            in_batch=True,
        )
        out_headers = {"Content-Type": answer.content_type.split(";")[0], **answer.headers}
        for name in ("request-id", "client-request-id"):
            out_headers.pop(name, None)
        result: dict[str, Any] = {"id": part_id, "status": answer.status, "headers": out_headers}
        if isinstance(answer.body, dict):
            result["body"] = answer.body
        elif isinstance(answer.body, bytes):
            # json-batching#response-format: a non-JSON body comes base64-encoded.
            result["body"] = base64.b64encode(answer.body).decode()
        return result


def _dependency_order(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests with every one after those it dependsOn (listed order otherwise)."""
    by_id = {str(r.get("id")): r for r in requests}
    ordered: list[dict[str, Any]] = []
    seen: set[str] = set()

    def visit(request_id: str, path: tuple[str, ...]) -> None:
        if request_id in seen or request_id not in by_id:
            return
        if request_id in path:
            raise GraphError(400, "BadRequest", "Batch request has a dependency cycle.")
        for dependency in by_id[request_id].get("dependsOn", []):
            visit(str(dependency), (*path, request_id))
        seen.add(request_id)
        ordered.append(by_id[request_id])

    for request_id in by_id:
        visit(request_id, ())
    return ordered


# --- helpers -------------------------------------------------------------------------------


def _segments(path: str) -> list[str]:
    """Path segments with OData key syntax unfolded: mailFolders('X') -> mailFolders, X."""
    unfolded = re.sub(r"\('([^']*)'\)", r"/\1", path)
    return [s for s in unfolded.strip("/").split("/") if s]


def _select(
    query: MultiDict[str, str], allowed: tuple[str, ...], type_name: str
) -> list[str] | None:
    """$select (learn.microsoft.com/graph/query-parameters#select), names matched without case
    as Graph does; an unknown name is a 400."""
    raw = query.get("$select")
    if not raw:
        return None
    by_lower = {name.lower(): name for name in allowed}
    chosen: list[str] = []
    for name in (n.strip() for n in raw.split(",")):
        if name.lower() == "id":
            continue
        if name.lower() not in by_lower:
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.",
            )
        chosen.append(by_lower[name.lower()])
    if type_name == "user":
        chosen.append("id")
    return chosen


def _received_filter(value: str | None) -> datetime | None:
    # delta-query-messages: the only $filter on message delta is receivedDateTime ge (or gt).
    if not value:
        return None
    match = re.fullmatch(r"\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*", value, re.IGNORECASE)
    if match is None:
        raise GraphError(
            400,
            "ErrorInvalidUrlQueryFilter",
            "The query filter contains one or more invalid nodes.",
        )
    try:
        return datetime.fromisoformat(match.group(2).replace("Z", "+00:00"))
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid filter value '{match.group(2)}'.") from None


def _change_type(value: str | None) -> str | None:
    # delta-query-messages#optional-query-parameters: changeType=created|updated|deleted.
    if value is None:
        return None
    if value not in ("created", "updated", "deleted"):
        raise GraphError(400, "BadRequest", f"Invalid changeType '{value}'.")
    return value


def _int_param(query: MultiDict[str, str], name: str, default: int) -> int:
    return _int_value(query.get(name), default)


def _int_value(value: str | None, default: int) -> int:
    try:
        return max(1, int(value)) if value is not None else default
    except ValueError:
        return default


def _recipient(address: Address | None) -> dict[str, Any] | None:
    # learn.microsoft.com/graph/api/resources/recipient
    if address is None:
        return None
    return {"emailAddress": {"name": address.name, "address": address.address}}


def _apply_preference(response: GraphResponse, preference: str) -> None:
    current = response.headers.get("Preference-Applied")
    response.headers["Preference-Applied"] = f"{current}, {preference}" if current else preference


def _error_body(code: str, message: str, headers: Headers | Any) -> dict[str, Any]:
    # learn.microsoft.com/graph/errors#error-resource-type: code, message, innerError with
    # date, request-id, client-request-id (casing as the batch sample shows).
    return {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": utcnow().strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": new_guid(),
                "client-request-id": headers.get("client-request-id") or new_guid(),
            },
        }
    }


def _error_response(error: GraphError, headers: Headers | Any) -> GraphResponse:
    return GraphResponse(
        error.status,
        _error_body(error.code, error.message, headers),
        headers=dict(error.headers),
        content_type="application/json",
        route="error",
    )


def _unauthenticated(message: str) -> GraphError:
    return GraphError(
        401,
        "InvalidAuthenticationToken",
        message,
        {
            "WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline'
            '.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
        },
    )


def _method_not_allowed() -> GraphError:
    return GraphError(
        405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target."
    )


def _throttled(retry_after: str) -> GraphResponse:
    # learn.microsoft.com/graph/throttling#sample-response (the shape of throttling-429.http).
    request_id = new_guid()
    body = {
        "error": {
            "code": "TooManyRequests",
            "innerError": {
                "code": "429",
                "date": utcnow().strftime("%Y-%m-%dT%H:%M:%S"),
                "message": "Please retry after",
                "request-id": request_id,
                "status": "429",
            },
            "message": "Please retry again later.",
        }
    }
    return GraphResponse(
        429,
        body,
        headers={"Retry-After": retry_after, "request-id": request_id},
        content_type="application/json",
        route="error",
    )


def _failure(status: int) -> GraphError:
    # learn.microsoft.com/graph/errors#http-status-codes
    codes = {
        500: ("generalException", "An unspecified error has occurred."),
        502: ("badGateway", "Bad gateway."),
        503: ("serviceNotAvailable", "The service is temporarily unavailable."),
        504: ("UnknownError", "Gateway timeout."),
    }
    code, message = codes.get(status, ("generalException", "An unspecified error has occurred."))
    return GraphError(status, code, message)


def _sync_state_not_found(mailbox: Mailbox) -> GraphError:
    # No body is documented; this is the one reported from Outlook delta
    # (github.com/microsoftgraph/microsoft-graph-docs/issues/2350): 410, SyncStateNotFound.
    return GraphError(
        410,
        "SyncStateNotFound",
        f"The sync state generation is not found; generation=1;[highest={mailbox.seq}].",
    )


def _to_werkzeug(answer: GraphResponse) -> Response:
    if isinstance(answer.body, dict):
        data: bytes = json.dumps(answer.body).encode()
        headers = {"OData-Version": "4.0", **answer.headers}
    else:
        data = answer.body or b""
        headers = dict(answer.headers)
    content_type = answer.content_type if answer.body is not None else None
    return Response(data, status=answer.status, headers=headers, content_type=content_type)
