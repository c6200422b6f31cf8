"""A fake Microsoft Graph v1.0 (the Outlook mail part) with state, over plain HTTP.

    graph = GraphServer(tenant)      # base URL http://127.0.0.1:PORT/v1.0
    tenant.deliver("alice@contoso.com", raw_mime)
    ...the code under test calls graph.base_url with a token from the identity fake...
    graph.close()

It answers what a mail-sync client needs: /me, mail folders, messages and their MIME
(`$value`), message lists with $filter (receivedDateTime, internetMessageId), per-folder message
delta with paging, removals and expired tokens, move, JSON batching, throttling (429 with
Retry-After, at most 4 concurrent requests per mailbox) and Graph's error bodies. Access tokens
are the opaque ones the identity fake registered in the tenant.

For sending it serves sendMail (JSON or base64 MIME): the message goes to the sender's Sent
Items and to the Inbox of every recipient in the tenant, and is recorded in `tenant.sent_mail`;
`tenant.on_send` runs before the 202 is written (see `MicrosoftTenant.send_mail`). Replies go
through drafts: createReply, createReplyAll and createForward make one in Drafts (threaded by
In-Reply-To and References, in the original's conversation), PATCH and POST .../attachments
change it, and .../send sends it like sendMail (Sent Items, `sent_mail`, `on_send`).

For push it serves change notifications on messages (learn.microsoft.com/graph/change-
notifications-delivery-webhooks): POST, GET, PATCH and DELETE /subscriptions[/{id}] and
/subscriptions/{id}/reauthorize, with the validation handshake; every change to a message in a
subscribed folder is then POSTed to the subscription's notificationUrl from a background thread
(graph_subscriptions.py, whose `SubscriptionControl` the tenant inherits: `tenant.
notifications_sent`, `tenant.wait_for_notifications(n)`, `tenant.send_lifecycle(id, event)`).

For calendar push it also serves Outlook calendars and events (create with transactionId
de-duplication, get, update, delete) and Microsoft To Do lists and tasks, from the state in
`microsoft_calendar.py`, under the same scopes-from-the-token, throttling and batching.

Every response is recorded on the tenant (method, path, status, user, and the JSON body), so
tests can count round trips and check each body against the msgraph-sdk models: the fake must
not invent properties the real schema lacks.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import email
import email.policy
import html
import json
import mimetypes
import operator
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote

from werkzeug.datastructures import Headers, MultiDict
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.servers.graph_subscriptions import (
    CHANGE_TYPES,
    DEFAULT_TLS_VERSION,
    MAX_CLIENT_STATE,
    SUBSCRIPTION_MIN_MINUTES,
    TLS_VERSIONS,
    Subscription,
    notification_url_problem,
    parse_expiration,
    precise_datetime,
)
from tests.servers.microsoft_calendar import (
    EVENT_PROPERTIES,
    TASK_PROPERTIES,
    BodyType,
    Calendar,
    CalendarEvent,
    CalendarInputError,
    CalendarStore,
    TodoList,
    TodoTask,
    calendar_json,
    event_json,
    task_json,
    todo_list_json,
    zone_info,
)
from tests.servers.microsoft_tenant import (
    AccessToken,
    Address,
    DeltaParams,
    DeltaState,
    Draft,
    DraftAttachment,
    Folder,
    GraphRequest,
    Mailbox,
    MicrosoftTenant,
    SentMail,
    ServedInThread,
    StoredMessage,
    User,
    exchange_message_id,
    graph_datetime,
    new_guid,
    rest_id,
    utcnow,
)
from tests.servers.sent_mail import header_values, recipients

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
# learn.microsoft.com/graph/api/user-sendmail#permissions: Mail.Send. learn.microsoft.com/graph/
# permissions-reference#mailsendshared: Mail.Send.Shared lets the app send as the signed-in user
# "including sending on-behalf of others", and learn.microsoft.com/graph/outlook-send-mail-from-
# other-user: sending from another user's mailbox takes Mail.Send.Shared (Exchange's Send As /
# Send on Behalf permission is not modelled: the scope is enough here).
MAIL_SEND = frozenset({"mail.send", "mail.send.shared"})
MAIL_SEND_SHARED = frozenset({"mail.send.shared"})
# learn.microsoft.com/graph/permissions-reference#calendars-permissions (api/event-get:
# Calendars.Read; api/user-post-events, api/event-update, api/event-delete: Calendars.ReadWrite);
# another user's calendar needs a .Shared scope and a delegation (outlook-get-shared-events-
# calendars).
CALENDARS_READ = frozenset({"calendars.read", "calendars.readwrite"})
CALENDARS_WRITE = frozenset({"calendars.readwrite"})
CALENDARS_READ_SHARED = frozenset({"calendars.read.shared", "calendars.readwrite.shared"})
CALENDARS_WRITE_SHARED = frozenset({"calendars.readwrite.shared"})
# api/todo-list-lists: Tasks.Read; api/todotasklist-post-tasks, api/todotask-update,
# api/todotask-delete: Tasks.ReadWrite. Delegated To Do permissions reach the signed-in user's
# own lists only.
TASKS_READ = frozenset({"tasks.read", "tasks.readwrite"})
TASKS_WRITE = frozenset({"tasks.readwrite"})
CALENDAR_SEGMENTS = frozenset({"calendars", "calendar", "events"})

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
# The actions that make a draft from a message, with the subject prefix Outlook gives it.
DRAFT_ACTIONS = {"createreply": "RE: ", "createreplyall": "RE: ", "createforward": "FW: "}
# What the fake takes in the `message` parameter of those actions (message-createreply: "any
# writeable properties"), and in PATCH (learn.microsoft.com/graph/api/message-update#request-
# body: the updatable properties it models). Anything else is refused, not ignored.
DRAFT_MESSAGE_PROPERTIES = frozenset(
    {"toRecipients", "ccRecipients", "bccRecipients", "replyTo", "subject", "body",
     "internetMessageHeaders"}
)  # fmt: skip
UPDATE_PROPERTIES = frozenset(
    {"toRecipients", "ccRecipients", "bccRecipients", "replyTo", "subject", "body", "isRead",
     "internetMessageId"}
)  # fmt: skip
# learn.microsoft.com/graph/api/subscription-post-subscriptions#permissions: a message
# subscription takes Mail.ReadBasic or Mail.Read; Mail.ReadWrite includes Mail.Read. The
# .Shared scopes "do not support subscribing to change notifications on items in shared or
# delegated folders" (the Outlook notes there).
SUBSCRIBE_MAIL = frozenset({"mail.readbasic", "mail.read", "mail.readwrite"})
# learn.microsoft.com/graph/api/resources/subscription#properties: what POST takes (the
# read-only ones and the Universal Print / web push ones are refused), and what PATCH renews.
SUBSCRIPTION_CREATE_PROPERTIES = frozenset(
    {"changeType", "notificationUrl", "lifecycleNotificationUrl", "resource",
     "expirationDateTime", "clientState", "latestSupportedTlsVersion", "includeResourceData",
     "encryptionCertificate", "encryptionCertificateId"}
)  # fmt: skip
SUBSCRIPTION_UPDATE_PROPERTIES = frozenset({"expirationDateTime", "notificationUrl"})
# learn.microsoft.com/graph/api/message-post-attachments: "This operation limits the size of
# the attachment you can add to under 3 MB."
MAX_ATTACHMENT_BYTES = 3 * 1024 * 1024


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
    # A send the handler accepted: serve() calls tenant.on_send with it before answering.
    sent: SentMail | None = None


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
        self.tenant.stop_notifications()

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
            elif _segments(path)[:1] == ["subscriptions"]:
                answer = self._route_subscriptions(method, _segments(path), headers, body, token)
            else:
                answer = self._serve_user(method, path, query, headers, body, token, caller)
        except GraphError as error:
            answer = _error_response(error, headers)
        if answer.sent is not None:
            answer = self._after_send(answer, headers)
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

    def _after_send(self, answer: GraphResponse, headers: Headers) -> GraphResponse:
        """The test hook `tenant.on_send`, called outside the tenant's lock once the message is
        stored and recorded, before the answer is written. A hook that raises turns the answer
        into a 500 (the message stays sent): "accepted, but the client heard an error"."""
        hook = self.tenant.on_send
        if hook is None or answer.sent is None:
            return answer
        try:
            hook(answer.sent)
        except Exception:
            return _error_response(_failure(500), headers)
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
        area = rest[0].lower()
        if area in CALENDAR_SEGMENTS:
            self._authorize_calendar(call, write=method != "GET")
            return self._limited(call, lambda: self._route_calendar(method, rest, call))
        if area == "todo":
            self._authorize_tasks(call, write=method != "GET")
            return self._limited(call, lambda: self._route_todo(method, rest, call))
        if area == "sendmail":
            # learn.microsoft.com/graph/api/user-sendmail#http-request: POST /me/sendMail and
            # POST /users/{id | userPrincipalName}/sendMail.
            if method != "POST" or len(rest) != 1:
                raise _method_not_allowed()
            self._authorize_send(call)
            return self._limited(call, lambda: self._send_mail(call))
        names = [s.lower() for s in rest]
        if len(names) >= 3 and names[-1] == "send" and names[-3] == "messages":
            # learn.microsoft.com/graph/api/message-send#permissions: Mail.Send (and no
            # Mail.ReadWrite) sends a draft.
            self._authorize_draft_send(call)
        else:
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

    def _authorize_send(self, call: _Call) -> None:
        """Mail.Send for one's own mailbox, Mail.Send.Shared for another's (see MAIL_SEND)."""
        scopes = {s.lower() for s in call.token.scopes}
        if not scopes & (MAIL_SEND if call.owner is call.caller else MAIL_SEND_SHARED):
            raise _access_denied()

    def _authorize_draft_send(self, call: _Call) -> None:
        """Mail.Send for a draft in one's own mailbox; another's draft needs Mail.Send.Shared
        and access to that mailbox (its draft is an item there, like any other)."""
        self._authorize_send(call)
        if call.owner is not call.caller:
            with self.tenant.lock:
                if call.caller.oid not in call.mailbox.delegates:
                    raise _access_denied()

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
        elif names == ["messages"] and method == "GET":
            # learn.microsoft.com/graph/api/user-list-messages: every folder's messages.
            return self._message_list(call, None)
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
        if not tail and method == "PATCH":
            return self._update_message(call, message)
        if len(tail) == 1 and tail[0] in DRAFT_ACTIONS and method == "POST":
            return self._create_draft(call, message, tail[0])
        if tail == ["attachments"] and method == "POST":
            return self._add_attachment(call, message)
        if tail == ["send"] and method == "POST":
            return self._send_draft(call, message)
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

    def _message_list(self, call: _Call, folder: Folder | None) -> GraphResponse:
        # learn.microsoft.com/graph/api/mailfolder-list-messages (one folder) and
        # learn.microsoft.com/graph/api/user-list-messages (folder None: the whole mailbox):
        # newest first by default, $filter and $select as described at _list_filter().
        select = _select(call.query, MESSAGE_PROPERTIES, "message")
        wanted = _list_filter(call.query.get("$filter"))
        messages = sorted(
            (
                m
                for m in call.mailbox.messages.values()
                if (folder is None or m.folder_id == folder.id) and wanted(m)
            ),
            key=lambda m: m.received_at,
            reverse=True,
        )
        if folder is None:
            path = f"{call.base}/messages"
            context = f"{self._context(call)}/messages"
        else:
            path = f"{call.base}/mailFolders/{quote(folder.id)}/messages"
            context = f"{self._context(call)}/mailFolders('{folder.id}')/messages"
        page, next_link = self._page(call, messages, path)
        body: dict[str, Any] = {"@odata.context": context}
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
            "isDraft": message.draft is not None,
            "webLink": "https://outlook.office365.com/owa/?ItemID="
            f"{quote(message_id, safe='')}&exvsurl=1&viewmodel=ReadMessageItem",
            "inferenceClassification": "focused",
            "body": {"contentType": message.body_type, "content": message.body_content},
            "sender": _recipient(message.sender),
            "from": _recipient(message.sender),
            "toRecipients": [_recipient(a) for a in message.to],
            "ccRecipients": [_recipient(a) for a in message.cc],
            "bccRecipients": [_recipient(a) for a in message.bcc],
            "replyTo": [_recipient(a) for a in message.reply_to],
            "flag": {"flagStatus": "notFlagged"},
        }
        body: dict[str, Any] = {"@odata.etag": f'W/"{message.change_key}"', "id": message_id}
        # $select=id alone: only the id (learn.microsoft.com/graph/query-parameters#select).
        names = MESSAGE_PROPERTIES if select is None else select
        body.update({name: values[name] for name in names})
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

    # --- sending -----------------------------------------------------------------------------

    def _send_mail(self, call: _Call) -> GraphResponse:
        """learn.microsoft.com/graph/api/user-sendmail: the message as JSON (Content-Type
        application/json: {"message": {...}, "saveToSentItems": bool}) or as MIME (Content-Type
        text/plain: the RFC 822 message in base64, learn.microsoft.com/graph/outlook-send-mime-
        message), which is always saved to Sent Items ("This method saves the message in the
        Sent Items folder"). 202 Accepted with no body."""
        mime_type = call.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if mime_type == "text/plain":
            raw, save = _mime_from_base64(call.body), True
        else:
            raw, save = self._mime_from_json(call)
        if not recipients(raw):
            # No recipient anywhere: Graph's answer as reported in microsoftgraph/php-connect-
            # sample#13 and msgraph-sdk-dotnet#1891.
            raise GraphError(
                400,
                "ErrorInvalidRecipients",
                "At least one recipient isn't valid., A message can't be sent because it "
                "contains no recipients.",
            )
        self._check_send_as(call, raw)
        sent = self.tenant.send_mail(call.owner, raw, save_to_sent_items=save)
        return GraphResponse(202, None, route="sendMail", sent=sent)

    def _check_send_as(self, call: _Call, raw: bytes) -> None:
        """learn.microsoft.com/graph/outlook-send-mail-from-other-user: a From that is not the
        mailbox's own address needs Send As or Send on Behalf, used with Mail.Send.Shared;
        without it, 403 ErrorSendAsDenied (that page's example 2). The fake takes the scope for
        the Exchange permission."""
        senders = [a.lower() for _, a in email.utils.getaddresses(header_values(raw, "From"))]
        foreign = [a for a in senders if a and a not in call.owner.addresses()]
        scopes = {s.lower() for s in call.token.scopes}
        if foreign and not scopes & MAIL_SEND_SHARED:
            raise GraphError(
                403,
                "ErrorSendAsDenied",
                "The user account which was used to submit this request does not have the right "
                "to send mail on behalf of the specified sending account. Cannot submit message.",
            )

    def _mime_from_json(self, call: _Call) -> tuple[bytes, bool]:
        """The JSON form rendered as the MIME Exchange would send: From (the message's `from`,
        else the mailbox), To, Cc, Bcc, Reply-To, Subject, Date, a Message-ID (the message's
        internetMessageId if it has one, as reported in msgraph-sdk-dotnet#2320, else a new
        one), custom internetMessageHeaders, the body (itemBody: text or html) and
        fileAttachments (learn.microsoft.com/graph/api/resources/fileattachment: contentBytes
        in base64)."""
        payload = _json_body(call)
        message = payload.get("message") if isinstance(payload, dict) else None
        if not isinstance(message, dict):
            # learn.microsoft.com/graph/api/user-sendmail#request-body: message is required (the
            # wording of the error is the fake's).
            raise GraphError(400, "BadRequest", "The parameter 'message' is required.")
        save: Any = payload.get("saveToSentItems", True)
        if isinstance(save, str) and save.lower() in ("true", "false"):
            save = save.lower() == "true"  # user-sendmail's own example 1 sends "false"
        if not isinstance(save, bool):
            raise GraphError(400, "BadRequest", "Invalid value for 'saveToSentItems'.")
        try:
            return _render_json_message(call.owner, message), save
        except ValueError:  # a line break in a header value, say (the wording is the fake's)
            raise GraphError(400, "BadRequest", "Invalid message property value.") from None

    # --- drafts: reply, reply all, forward, update, attachments, send -------------------------

    def _create_draft(self, call: _Call, original: StoredMessage, action: str) -> GraphResponse:
        """POST .../messages/{id}/createReply, createReplyAll, createForward (learn.microsoft.com/
        graph/api/message-createreply, message-createreplyall, message-createforward): no body,
        or JSON with `comment` and/or `message` (createForward also `toRecipients`). 201 with
        the draft, which is in Drafts, read, isDraft, in the original's conversation.

        - Recipients: a reply goes to the original's replyTo, else its sender (createreply:
          "If replyTo is specified in the original message ... send the reply to the recipients
          in replyTo, and not the recipients in from"); a reply-all to those and the original's
          toRecipients, with its ccRecipients as Cc (createreplyall: "send the reply to the
          recipients in the replyTo and toRecipients properties, and not the recipients in the
          from and toRecipients properties"), the mailbox's own addresses left out; a forward
          to nobody until told. Recipients in `message` replace these.
        - "Specify either a comment or the body property of the message parameter. Specifying
          both will return an HTTP 400 Bad Request error." The body is then the message's body;
          otherwise an HTML body: the comment above the quoted original, as Outlook quotes.
        - createForward: "Specify either the toRecipients parameter or the toRecipients
          property of the message parameter. Specifying both or specifying neither will return
          an HTTP 400 Bad Request error." That is the JSON form; with no body at all (the
          page's example 1) the draft has no recipients yet. A forward keeps the original's
          file attachments.
        - A reply carries In-Reply-To (the original's internetMessageId) and References (RFC
          5322 section 3.6.4: the original's References, else its In-Reply-To, and its
          Message-ID), so the sent MIME is threaded.

        The MIME form (Content-Type text/plain) is not faked. Error wordings are the fake's."""
        payload = self._draft_payload(call, action)
        comment = payload.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise GraphError(400, "BadRequest", "Invalid value for 'comment'.")
        message = _message_parameter(payload.get("message"), DRAFT_MESSAGE_PROPERTIES)
        if comment is not None and "body" in message:
            raise GraphError(
                400,
                "BadRequest",
                "Specify either a comment or the body property of the message parameter, not both.",
            )
        own = call.owner.addresses()
        reply_to = original.reply_to or ([original.sender] if original.sender else [])
        draft = Draft()
        if action == "createreply":
            draft.to = list(reply_to)
        elif action == "createreplyall":
            draft.to = _unique(
                [a for a in [*reply_to, *original.to] if a.address.lower() not in own]
            )
            taken = {a.address.lower() for a in draft.to}
            draft.cc = _unique([a for a in original.cc if a.address.lower() not in own | taken])
        else:
            draft.attachments = _file_attachments(original.raw)
            has_top = "toRecipients" in payload
            if payload and has_top == ("toRecipients" in message):
                raise GraphError(
                    400,
                    "BadRequest",
                    "Specify either the toRecipients parameter or the toRecipients property of "
                    "the message parameter.",
                )
            if has_top:
                draft.to = _addresses_from_json(payload.get("toRecipients"))
        if action != "createforward":
            draft.in_reply_to = original.internet_message_id
            draft.references = [*_parent_references(original.raw), original.internet_message_id]
        draft.subject = _prefixed(DRAFT_ACTIONS[action], original.subject)
        draft.body_type, draft.body_content = "html", _quoted_body(original, comment or "")
        self._apply_message(draft, message)
        try:
            created = self.tenant.create_draft(
                call.owner, draft, conversation_id=original.conversation_id
            )
        except ValueError:  # a line break in a header value, say
            raise GraphError(400, "BadRequest", "Invalid message property value.") from None
        return self._draft_response(call, created, 201)

    def _draft_payload(self, call: _Call, action: str) -> dict[str, Any]:
        """The action's JSON body, {} without one."""
        if not call.body.strip():
            return {}
        mime_type = call.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if mime_type == "text/plain":
            raise GraphError(
                400, "BadRequest", f"The fake does not model the MIME form of {action}."
            )
        payload = _json_body(call)
        if not isinstance(payload, dict):
            raise GraphError(400, "BadRequest", "Invalid request body.")
        allowed = {"comment", "message"} | (
            {"toRecipients"} if action == "createforward" else set()
        )
        for key in payload:
            if not key.startswith("@") and key not in allowed:
                raise GraphError(400, "BadRequest", f"The parameter '{key}' is not supported.")
        return payload

    def _apply_message(self, draft: Draft, message: dict[str, Any]) -> None:
        """The draft properties a `message` parameter (or a PATCH body) sets."""
        for key, attribute in (
            ("toRecipients", "to"),
            ("ccRecipients", "cc"),
            ("bccRecipients", "bcc"),
            ("replyTo", "reply_to"),
        ):
            if key in message:
                setattr(draft, attribute, _addresses_from_json(message[key]))
        if "subject" in message:
            subject = message["subject"]
            if subject is not None and not isinstance(subject, str):
                raise GraphError(400, "BadRequest", "Invalid value for 'subject'.")
            draft.subject = subject or ""
        if "body" in message:
            draft.body_type, draft.body_content = _item_body(message["body"])
        if "internetMessageHeaders" in message:
            draft.headers = _custom_headers(message["internetMessageHeaders"])

    def _draft_response(self, call: _Call, message: StoredMessage, status: int) -> GraphResponse:
        body = {"@odata.context": f"{self._context(call)}/messages/$entity"}
        body.update(self._message_json(call, message, None))
        return self._with_id_preference(call, GraphResponse(status, body, route="message"))

    def _update_message(self, call: _Call, message: StoredMessage) -> GraphResponse:
        """PATCH .../messages/{id} (learn.microsoft.com/graph/api/message-update): 200 with the
        message. A draft takes recipients, replyTo, subject, body and internetMessageId
        ("Updatable only if isDraft = true" for the last four); any message takes isRead. The
        fake changes nothing else of a sent or received message: its answer is the one reported
        in microsoft-graph-docs#17008, 400 ErrorInvalidPropertySet "Message is not draft."."""
        changes = _message_parameter(_json_body(call), UPDATE_PROPERTIES)
        is_read = changes.pop("isRead", None)
        if is_read is not None and not isinstance(is_read, bool):
            raise GraphError(400, "BadRequest", "Invalid value for 'isRead'.")
        draft = message.draft
        if changes and draft is None:
            raise GraphError(400, "ErrorInvalidPropertySet", "Message is not draft.")
        if changes and draft is not None:
            new_id = changes.pop("internetMessageId", None)
            if new_id is not None and not (
                isinstance(new_id, str) and re.fullmatch(r"<[^<>\s]+@[^<>\s]+>", new_id)
            ):
                raise GraphError(400, "BadRequest", "Invalid value for 'internetMessageId'.")
            updated = dataclasses.replace(draft)
            self._apply_message(updated, changes)
            try:
                self.tenant.save_draft(
                    call.owner, message.immutable_id, updated, internet_message_id=new_id
                )
            except ValueError:
                raise GraphError(400, "BadRequest", "Invalid message property value.") from None
        if is_read is not None:
            self.tenant.set_read(call.owner, message.immutable_id, is_read)
        return self._draft_response(call, message, 200)

    def _add_attachment(self, call: _Call, message: StoredMessage) -> GraphResponse:
        """POST .../messages/{id}/attachments with a #microsoft.graph.fileAttachment (learn.
        microsoft.com/graph/api/message-post-attachments): name, contentBytes (base64),
        optionally contentType (inferred from the name otherwise, as the page's example shows
        image/gif for "smile"), isInline, contentId. 201 with the attachment. Only file
        attachments and only on drafts are faked; a file of 3 MB or more is refused with the
        answer reported in microsoft-graph-docs#85 (400 "Maximum request length exceeded.")."""
        payload = _json_body(call)
        if not isinstance(payload, dict):
            raise GraphError(400, "BadRequest", "Invalid request body.")
        if str(payload.get("@odata.type", "")).lower() != "#microsoft.graph.fileattachment":
            raise GraphError(
                400, "BadRequest", "The fake adds only #microsoft.graph.fileAttachment."
            )
        draft = message.draft
        if draft is None:
            raise GraphError(400, "ErrorInvalidPropertySet", "Message is not draft.")
        name = payload.get("name")
        if not isinstance(name, str) or not name:
            raise GraphError(400, "BadRequest", "The attachment needs a name.")
        try:
            data = base64.b64decode(str(payload.get("contentBytes") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise GraphError(400, "BadRequest", "Invalid base64 in contentBytes.") from None
        if len(data) >= MAX_ATTACHMENT_BYTES:
            raise GraphError(400, "BadRequest", "Maximum request length exceeded.")
        content_type = payload.get("contentType") or (
            mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        is_inline = payload.get("isInline") or False
        content_id = payload.get("contentId")
        if not isinstance(content_type, str) or not isinstance(is_inline, bool):
            raise GraphError(400, "BadRequest", "Invalid attachment property value.")
        if content_id is not None and not isinstance(content_id, str):
            raise GraphError(400, "BadRequest", "Invalid value for 'contentId'.")
        attachment = DraftAttachment(
            rest_id(), name, content_type, data, is_inline, content_id, utcnow()
        )
        updated = dataclasses.replace(draft, attachments=[*draft.attachments, attachment])
        try:
            self.tenant.save_draft(call.owner, message.immutable_id, updated)
        except ValueError:
            raise GraphError(400, "BadRequest", "Invalid attachment property value.") from None
        message_id = message.immutable_id if call.immutable_ids else message.rest_id
        body = {
            "@odata.context": f"{self._context(call)}/messages('{message_id}')/attachments/$entity",
            **_attachment_json(attachment),
        }
        return GraphResponse(201, body, route="attachment")

    def _send_draft(self, call: _Call, message: StoredMessage) -> GraphResponse:
        """POST .../messages/{id}/send (learn.microsoft.com/graph/api/message-send): 202, no
        body; the draft goes to Sent Items (MicrosoftTenant.send_draft) and `on_send` runs as
        for sendMail. Without a recipient: sendMail's 400 ErrorInvalidRecipients. An id that is
        no draft (sent already, so its REST id is gone, or never one) is ErrorItemNotFound: the
        answer to a sent draft's old REST id; for an immutable id or a received message Graph's
        answer is not documented, and this is the fake's choice."""
        draft = message.draft
        if draft is None:
            raise _item_not_found()
        if not draft.recipients():
            raise GraphError(
                400,
                "ErrorInvalidRecipients",
                "At least one recipient isn't valid., A message can't be sent because it "
                "contains no recipients.",
            )
        sent = self.tenant.send_draft(call.owner, message.immutable_id)
        return GraphResponse(202, None, route="send", sent=sent)

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

    # --- calendars and To Do -------------------------------------------------------------------

    def _authorize_calendar(self, call: _Call, *, write: bool) -> None:
        scopes = {s.lower() for s in call.token.scopes}
        own = call.owner is call.caller
        if own:
            needed = CALENDARS_WRITE if write else CALENDARS_READ
        else:
            needed = CALENDARS_WRITE_SHARED if write else CALENDARS_READ_SHARED
        with self.tenant.lock:
            delegated = call.caller.oid in call.mailbox.delegates
        if not scopes & needed or not (own or delegated):
            raise _access_denied()

    def _authorize_tasks(self, call: _Call, *, write: bool) -> None:
        scopes = {s.lower() for s in call.token.scopes}
        if not scopes & (TASKS_WRITE if write else TASKS_READ) or call.owner is not call.caller:
            raise _access_denied()

    def _route_calendar(self, method: str, rest: list[str], call: _Call) -> GraphResponse:
        """calendars, calendars/{id}, calendar (the default), and events under any of them or
        the user (api/user-post-events, api/event-get, api/event-update, api/event-delete,
        api/user-list-calendars, api/calendar-get, api/user-post-calendars)."""
        store = self.tenant.calendar_store(call.owner)
        names = [s.lower() for s in rest]
        try:
            if names == ["calendars"]:
                if method == "GET":
                    return self._calendar_list(call, store)
                if method == "POST":
                    return self._calendar_create(call, store)
                raise _method_not_allowed()
            calendar: Calendar | None
            if names[0] == "calendars":
                calendar, tail = self._calendar(store, rest[1]), rest[2:]
            elif names[0] == "calendar":
                calendar, tail = store.default_calendar(), rest[1:]
            else:
                calendar, tail = None, rest
            if not tail and calendar is not None:
                if method != "GET":
                    raise _method_not_allowed()
                body = {"@odata.context": f"{self._context(call)}/calendars/$entity"}
                body.update(calendar_json(calendar, call.owner))
                return GraphResponse(200, body, route="calendar")
            if tail[0].lower() == "events" and len(tail) == 1:
                target = calendar or store.default_calendar()
                if method == "GET":
                    return self._event_list(call, store, target)
                if method == "POST":
                    return self._event_create(call, store, target)
                raise _method_not_allowed()
            if tail[0].lower() == "events" and len(tail) == 2:
                event = self._event(store, tail[1], calendar)
                if method == "GET":
                    return self._event_response(call, event, 200)
                if method == "PATCH":
                    updated = store.update_event(event, _json_body(call))
                    return self._event_response(call, updated, 200)
                if method == "DELETE":
                    # api/event-delete: 204 No Content; the event is gone (404) afterwards.
                    del store.events[event.id]
                    return GraphResponse(204, route="deleted")
                raise _method_not_allowed()
        except CalendarInputError as error:
            raise GraphError(error.status, error.code, error.message) from None
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")

    def _calendar(self, store: CalendarStore, calendar_id: str) -> Calendar:
        found = store.calendars.get(calendar_id)
        if found is None:
            raise _item_not_found()
        return found

    def _event(
        self, store: CalendarStore, event_id: str, calendar: Calendar | None
    ) -> CalendarEvent:
        found = store.events.get(event_id)
        if found is None or (calendar is not None and found.calendar_id != calendar.id):
            raise _item_not_found()
        return found

    def _calendar_list(self, call: _Call, store: CalendarStore) -> GraphResponse:
        # api/user-list-calendars: every calendar of the user, the default one first here.
        calendars = sorted(store.calendars.values(), key=lambda c: not c.is_default)
        page, next_link = self._page(call, calendars, f"{call.base}/calendars")
        body: dict[str, Any] = {"@odata.context": f"{self._context(call)}/calendars"}
        if next_link:
            body["@odata.nextLink"] = next_link
        body["value"] = [calendar_json(c, call.owner) for c in page]
        return GraphResponse(200, body, route="calendars")

    def _calendar_create(self, call: _Call, store: CalendarStore) -> GraphResponse:
        # api/user-post-calendars: name (and optionally color); 201 with the calendar.
        payload = _json_body(call)
        name = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise GraphError(400, "ErrorInvalidRequest", "A calendar needs a name.")
        calendar = store.add_calendar(name, str(payload.get("color") or "auto"))
        body = {"@odata.context": f"{self._context(call)}/calendars/$entity"}
        body.update(calendar_json(calendar, call.owner))
        return GraphResponse(201, body, route="calendar")

    def _event_list(self, call: _Call, store: CalendarStore, calendar: Calendar) -> GraphResponse:
        # api/calendar-list-events, oldest first.
        select = _select(call.query, EVENT_PROPERTIES, "event")
        zone, body_type = self._event_preferences(call)
        events = sorted(store.calendar_events(calendar.id), key=lambda e: e.created_at)
        page, next_link = self._page(
            call, events, f"{call.base}/calendars/{quote(calendar.id)}/events"
        )
        body: dict[str, Any] = {
            "@odata.context": f"{self._context(call)}/calendars('{calendar.id}')/events"
        }
        if next_link:
            body["@odata.nextLink"] = next_link
        body["value"] = [
            event_json(e, call.owner, zone=zone, body_type=body_type, select=select) for e in page
        ]
        return self._with_event_preferences(GraphResponse(200, body, route="events"), call)

    def _event_create(self, call: _Call, store: CalendarStore, calendar: Calendar) -> GraphResponse:
        # api/user-post-events: 201 with the event. event#properties transactionId: a repeated
        # transactionId returns the event it created (201, same id), not a second event.
        event, _ = store.create_event(calendar, _json_body(call))
        return self._event_response(call, event, 201)

    def _event_response(self, call: _Call, event: CalendarEvent, status: int) -> GraphResponse:
        zone, body_type = self._event_preferences(call)
        select = _select(call.query, EVENT_PROPERTIES, "event") if status == 200 else None
        body = {"@odata.context": f"{self._context(call)}/events/$entity"}
        body.update(event_json(event, call.owner, zone=zone, body_type=body_type, select=select))
        return self._with_event_preferences(GraphResponse(status, body, route="event"), call)

    def _event_preferences(self, call: _Call) -> tuple[str | None, BodyType]:
        """Prefer: outlook.timezone (api/event-get#support-various-time-zones: start and end in
        that zone, UTC without it; a name outside datetimetimezone's list is a 400) and
        outlook.body-content-type (api/event-get#request-headers: html unless "text")."""
        prefs = _preferences(call.headers)
        zone = prefs.get("outlook.timezone") or None
        if zone is not None:
            zone_info(zone)
        text = prefs.get("outlook.body-content-type", "").lower() == "text"
        return zone, "text" if text else "html"

    def _with_event_preferences(
        self, response: GraphResponse, call: _Call, *, body: bool = True
    ) -> GraphResponse:
        # api/event-get sample: Preference-Applied: outlook.timezone="Pacific Standard Time".
        prefs = _preferences(call.headers)
        if prefs.get("outlook.timezone"):
            _apply_preference(response, f'outlook.timezone="{prefs["outlook.timezone"]}"')
        if body and "outlook.body-content-type" in prefs:
            _apply_preference(
                response, f'outlook.body-content-type="{prefs["outlook.body-content-type"]}"'
            )
        return response

    def _route_todo(self, method: str, rest: list[str], call: _Call) -> GraphResponse:
        """todo/lists, todo/lists/{id}, its tasks and each task (api/todo-list-lists,
        api/todo-post-lists, api/todotasklist-list-tasks, api/todotasklist-post-tasks,
        api/todotask-get, api/todotask-update, api/todotask-delete)."""
        store = self.tenant.calendar_store(call.owner)
        names = [s.lower() for s in rest]
        try:
            if names == ["todo", "lists"]:
                if method == "GET":
                    return self._todo_list_list(call, store)
                if method == "POST":
                    return self._todo_list_create(call, store)
                raise _method_not_allowed()
            if names[:2] == ["todo", "lists"] and len(rest) >= 3:
                todo_list = store.todo_lists.get(rest[2])
                if todo_list is None:
                    raise _item_not_found()
                tail = names[3:]
                if not tail and method == "GET":
                    body = {"@odata.context": f"{self._context(call)}/todo/lists/$entity"}
                    body.update(todo_list_json(todo_list))
                    return GraphResponse(200, body, route="todoTaskList")
                if tail == ["tasks"] and method == "GET":
                    return self._task_list(call, store, todo_list)
                if tail == ["tasks"] and method == "POST":
                    task = store.create_task(todo_list, _json_body(call))
                    return self._task_response(call, task, 201)
                if len(tail) == 2 and tail[0] == "tasks":
                    task = self._task(store, rest[4], todo_list)
                    if method == "GET":
                        return self._task_response(call, task, 200)
                    if method == "PATCH":
                        updated = store.update_task(task, _json_body(call))
                        return self._task_response(call, updated, 200)
                    if method == "DELETE":
                        # api/todotask-delete: 204 No Content.
                        del store.tasks[task.id]
                        return GraphResponse(204, route="deleted")
                if tail in ([], ["tasks"]) or (len(tail) == 2 and tail[0] == "tasks"):
                    raise _method_not_allowed()
        except CalendarInputError as error:
            raise GraphError(error.status, error.code, error.message) from None
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[-1]}'.")

    def _task(self, store: CalendarStore, task_id: str, todo_list: TodoList) -> TodoTask:
        found = store.tasks.get(task_id)
        if found is None or found.list_id != todo_list.id:
            raise _item_not_found()
        return found

    def _todo_list_list(self, call: _Call, store: CalendarStore) -> GraphResponse:
        lists = sorted(store.todo_lists.values(), key=lambda t: t.wellknown_name != "defaultList")
        page, next_link = self._page(call, lists, f"{call.base}/todo/lists")
        body: dict[str, Any] = {"@odata.context": f"{self._context(call)}/todo/lists"}
        if next_link:
            body["@odata.nextLink"] = next_link
        body["value"] = [todo_list_json(t) for t in page]
        return GraphResponse(200, body, route="todoTaskLists")

    def _todo_list_create(self, call: _Call, store: CalendarStore) -> GraphResponse:
        # api/todo-post-lists: displayName; 201 with the list.
        payload = _json_body(call)
        name = payload.get("displayName") if isinstance(payload, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise GraphError(400, "invalidRequest", "A list needs a displayName.")
        todo_list = store.todo_lists[self.tenant.add_todo_list(call.owner, name)]
        body = {"@odata.context": f"{self._context(call)}/todo/lists/$entity"}
        body.update(todo_list_json(todo_list))
        return GraphResponse(201, body, route="todoTaskList")

    def _task_list(self, call: _Call, store: CalendarStore, todo_list: TodoList) -> GraphResponse:
        select = _select(call.query, TASK_PROPERTIES, "todoTask")
        zone = self._task_zone(call)
        tasks = sorted(
            (t for t in store.tasks.values() if t.list_id == todo_list.id),
            key=lambda t: t.created_at,
        )
        page, next_link = self._page(
            call, tasks, f"{call.base}/todo/lists/{quote(todo_list.id)}/tasks"
        )
        body: dict[str, Any] = {
            "@odata.context": f"{self._context(call)}/todo/lists('{todo_list.id}')/tasks"
        }
        if next_link:
            body["@odata.nextLink"] = next_link
        body["value"] = [task_json(t, zone=zone, select=select) for t in page]
        return self._with_event_preferences(
            GraphResponse(200, body, route="todoTasks"), call, body=False
        )

    def _task_response(self, call: _Call, task: TodoTask, status: int) -> GraphResponse:
        select = _select(call.query, TASK_PROPERTIES, "todoTask") if status == 200 else None
        context = f"{self._context(call)}/todo/lists('{task.list_id}')/tasks/$entity"
        body = {"@odata.context": context}
        body.update(task_json(task, zone=self._task_zone(call), select=select))
        return self._with_event_preferences(
            GraphResponse(status, body, route="todoTask"), call, body=False
        )

    def _task_zone(self, call: _Call) -> str | None:
        # todotask#properties: the dateTimeTimeZone values come in UTC unless a Prefer:
        # outlook.timezone asks otherwise (applied, as reported in microsoft-graph-docs-
        # contrib#8664).
        zone = _preferences(call.headers).get("outlook.timezone") or None
        if zone is not None:
            zone_info(zone)
        return zone

    # --- change notifications: subscriptions ----------------------------------------------------

    def _route_subscriptions(
        self, method: str, segments: list[str], headers: Headers, body: bytes, token: AccessToken
    ) -> GraphResponse:
        """/subscriptions (learn.microsoft.com/graph/api/subscription-post-subscriptions and
        api/subscription-list), /subscriptions/{id} (api/subscription-get, api/subscription-
        update, api/subscription-delete) and /subscriptions/{id}/reauthorize (api/subscription-
        reauthorize), for Outlook messages with a delegated token. State and delivery are in
        graph_subscriptions.py. Not throttled: Outlook's mailbox limits are for mail requests."""
        if len(segments) == 1:
            if method == "POST":
                return self._subscription_create(headers, body, token)
            if method == "GET":
                return self._subscription_list(token)
            raise _method_not_allowed()
        sub = self._own_subscription(segments[1], token)
        tail = [s.lower() for s in segments[2:]]
        operation = {"GET": "Get", "PATCH": "Update", "DELETE": "Delete"}.get(method, "Update")
        # subscription-get, -update, -delete, -reauthorize: managing a subscription takes the same
        # read scope to the resource as creating it.
        self._authorize_subscription(token, operation)
        if not tail:
            if method == "GET":
                return self._subscription_response(sub, 200)
            if method == "PATCH":
                return self._subscription_update(sub, body)
            if method == "DELETE":
                # api/subscription-delete: 204 No Content.
                with self.tenant.lock:
                    self.tenant.subscriptions.pop(sub.id, None)
                return GraphResponse(204, route="deleted")
            raise _method_not_allowed()
        if tail == ["reauthorize"]:
            if method != "POST":
                raise _method_not_allowed()
            # api/subscription-reauthorize: 204 No Content; change notifications flow again
            # (change-notifications-lifecycle-events#responding-to-reauthorizationrequired-
            # notifications).
            with self.tenant.lock:
                sub.paused = False
                sub.reauthorizations += 1
            return GraphResponse(204, route="reauthorized")
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segments[-1]}'.")

    def _authorize_subscription(self, token: AccessToken, operation: str) -> None:
        """api/subscription-post-subscriptions#permissions: a message subscription takes
        Mail.ReadBasic or Mail.Read (Mail.ReadWrite includes Mail.Read, learn.microsoft.com/graph/
        permissions-reference). Refused as Graph refuses subscriptions, in its ExtensionError
        wrapping ("Operation: Create; Exception: [Status Code: Forbidden; Reason: Access
        denied]", as reported in OneDrive/onedrive-api-docs#1398)."""
        if not {s.lower() for s in token.scopes} & SUBSCRIBE_MAIL:
            raise _subscription_error(403, operation, "Forbidden", "Access denied")

    def _own_subscription(self, subscription_id: str, token: AccessToken) -> Subscription:
        """A live subscription this app made for this user. Anything else is Graph's 404 for a
        subscription it does not have (ResourceNotFound, "The object was not found.", as reported
        in msgraph-sdk-php#221), an expired one included (change-notifications-delivery-webhooks
        #renew-a-subscription: Graph deletes a subscription that was not renewed in time)."""
        with self.tenant.lock:
            sub = self.tenant.subscriptions.get(subscription_id)
            if (
                sub is None
                or not sub.live()
                or sub.application_id != token.client_id
                or sub.creator_id != token.user_oid
            ):
                raise GraphError(404, "ResourceNotFound", "The object was not found.")
            return sub

    def _subscription_create(
        self, headers: Headers, body: bytes, token: AccessToken
    ) -> GraphResponse:
        """POST /subscriptions (api/subscription-post-subscriptions): the request is checked
        first, then notificationUrl and lifecycleNotificationUrl get the validation handshake
        (change-notifications-delivery-webhooks#notificationurl-validation: "If the endpoint
        validation fails, Microsoft Graph doesn't create the subscription"), then 201 with the
        subscription. Prefer: IdType="ImmutableId" makes its notifications carry immutable ids
        (learn.microsoft.com/graph/outlook-immutable-id). Unmodelled: includeResourceData
        (notifications with encrypted resource data) and resource query options."""
        payload = _subscription_payload(body, SUBSCRIPTION_CREATE_PROPERTIES)
        self._authorize_subscription(token, "Create")
        for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if payload.get(name) in (None, ""):
                # The wording reported in microsoft-graph-docs-contrib#7399.
                raise GraphError(
                    400,
                    "InvalidRequest",
                    f"{name} is a required property for subscription creation.",
                )
        change_types = _change_types(payload["changeType"])
        client_state = payload.get("clientState")
        if client_state is not None and (
            not isinstance(client_state, str) or len(client_state) > MAX_CLIENT_STATE
        ):
            # api/resources/subscription: clientState "The maximum length is 128 characters"
            # (the wording is the fake's).
            raise GraphError(
                400,
                "InvalidRequest",
                f"clientState must be a string of at most {MAX_CLIENT_STATE} characters.",
            )
        tls = payload.get("latestSupportedTlsVersion") or DEFAULT_TLS_VERSION
        if tls not in TLS_VERSIONS:
            raise GraphError(400, "InvalidRequest", f"Invalid latestSupportedTlsVersion '{tls}'.")
        if payload.get("includeResourceData"):
            raise GraphError(400, "InvalidRequest", "The fake does not model includeResourceData.")
        notification_url = payload["notificationUrl"]
        lifecycle_url = payload.get("lifecycleNotificationUrl") or None
        for url, name in (
            (notification_url, "NotificationUrl"),
            (lifecycle_url, "LifecycleNotificationUrl"),
        ):
            problem = notification_url_problem(url, name) if url is not None else None
            if problem:
                raise GraphError(400, "InvalidRequest", problem)
        resource = payload["resource"]
        with self.tenant.lock:
            caller = self.tenant.users[token.user_oid]
            owner, folder = self._subscription_resource(resource, caller)
            expires_at = self._subscription_expiry(payload["expirationDateTime"])
        self._validate_endpoint(notification_url)
        if lifecycle_url:
            self._validate_endpoint(lifecycle_url)
        sub = Subscription(
            id=new_guid(),
            resource=resource,
            owner_oid=owner.oid,
            folder_id=folder.id if folder else None,
            change_type=payload["changeType"],
            change_types=change_types,
            notification_url=notification_url,
            lifecycle_notification_url=lifecycle_url,
            expires_at=expires_at,
            client_state=client_state,
            application_id=token.client_id,
            creator_id=token.user_oid,
            latest_supported_tls_version=tls,
            immutable_ids="immutableid" in _preferences(headers).get("idtype", "").lower(),
        )
        with self.tenant.lock:
            self.tenant.subscriptions[sub.id] = sub
        return self._subscription_response(sub, 201)

    def _subscription_resource(self, resource: Any, caller: User) -> tuple[User, Folder | None]:
        """The messages a resource names (api/subscription-post-subscriptions#resources-examples:
        me/mailfolders('inbox')/messages, me/messages; "Any path starting with me can also be
        used with users/{id} instead of me"): a folder by id or well-known name, or the whole
        mailbox. Delegated permission "supports subscribing to items in folders in only the
        signed-in user's mailbox" (the Outlook notes on that page), so another user's mailbox is
        refused. Other resources (events, contacts, $filter...) are not faked."""
        if not isinstance(resource, str):
            raise GraphError(400, "InvalidRequest", "Invalid resource.")
        segments = _segments(resource)
        names = [s.lower() for s in segments]
        if names[:1] == ["me"]:
            owner, rest = caller, segments[1:]
        elif names[:1] == ["users"] and len(segments) >= 2:
            found = self.tenant.find_user(segments[1])
            if found is None:
                raise _subscription_error(404, "Create", "NotFound", "The user was not found.")
            owner, rest = found, segments[2:]
        else:
            raise _unsupported_resource(resource)
        if owner is not caller:
            raise _subscription_error(403, "Create", "Forbidden", "Access denied")
        tail = [s.lower() for s in rest]
        if tail == ["messages"] and "?" not in resource:
            return owner, None
        if len(tail) == 3 and tail[0] == "mailfolders" and tail[2] == "messages":
            if "?" in resource:
                raise _unsupported_resource(resource)
            folder = self.tenant.find_folder(self.tenant.mailbox(owner), rest[1])
            if folder is None:
                # Exchange's ErrorItemNotFound text in Graph's subscription wrapping (the shape
                # of microsoft-graph-docs-contrib#5988).
                raise _subscription_error(
                    404, "Create", "NotFound", "The specified object was not found in the store."
                )
            return owner, folder
        raise _unsupported_resource(resource)

    def _subscription_expiry(self, value: Any) -> datetime:
        """expirationDateTime: in the future (the wording is the fake's), at most
        `tenant.subscription_max_minutes` ahead (400 ExtensionError "Subscription expiration can
        only be 4230 minutes in the future.", microsoft-graph-docs-contrib#7726, with the
        tenant's number), and under 45 minutes ahead it becomes 45 minutes ahead
        (api/resources/subscription, expirationDateTime)."""
        expires_at = parse_expiration(value)
        if expires_at is None:
            raise GraphError(400, "InvalidRequest", f"Invalid expirationDateTime '{value}'.")
        now = utcnow()
        if expires_at <= now:
            raise GraphError(
                400, "InvalidRequest", "Subscription expiration must be in the future."
            )
        max_minutes = self.tenant.subscription_max_minutes
        if expires_at > now + timedelta(minutes=max_minutes):
            raise GraphError(
                400,
                "ExtensionError",
                f"Subscription expiration can only be {max_minutes} minutes in the future.",
            )
        return max(expires_at, now + timedelta(minutes=SUBSCRIPTION_MIN_MINUTES))

    def _validate_endpoint(self, url: str) -> None:
        """The handshake (tenant.validate_notification_url), outside the tenant's lock. Failures
        as Graph words them: no 200 (or no answer at all) is 400 ValidationError "Subscription
        validation request failed. Notification endpoint must respond with 200 OK to validation
        request." (splunk/azure-functions-splunk#26); another body (or not text/plain) "...
        Response must exactly match validationToken query parameter." (microsoftgraph/java-
        spring-webhooks-sample#82); no answer within the time 400 InvalidRequest "Subscription
        validation request timed out." (microsoftgraph/nodejs-webhooks-sample#350)."""
        check = self.tenant.validate_notification_url(url)
        if check.outcome == "timeout":
            raise GraphError(400, "InvalidRequest", "Subscription validation request timed out.")
        if check.outcome == "mismatch":
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Response must exactly match "
                "validationToken query parameter.",
            )
        if not check.ok:
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Notification endpoint must respond "
                "with 200 OK to validation request.",
            )

    def _subscription_update(self, sub: Subscription, body: bytes) -> GraphResponse:
        """PATCH /subscriptions/{id} (api/subscription-update): a new expirationDateTime (a
        renewal, with the same limits as at creation) and/or a new notificationUrl (validated
        like a new one); neither is 400 "Subscription must contain either the
        'expirationDateTime' or 'notificationUrl' property and its value." (msgraph-sdk-java
        #2323). A renewal "also reauthorizes your endpoint" (change-notifications-lifecycle-
        events). 200 with the subscription."""
        payload = _subscription_payload(body, SUBSCRIPTION_UPDATE_PROPERTIES)
        expiration = payload.get("expirationDateTime")
        url = payload.get("notificationUrl")
        if expiration in (None, "") and url in (None, ""):
            raise GraphError(
                400,
                "InvalidRequest",
                "Subscription must contain either the 'expirationDateTime' or 'notificationUrl' "
                "property and its value.",
            )
        expires_at = self._subscription_expiry(expiration) if expiration else None
        if url:
            problem = notification_url_problem(url)
            if problem:
                raise GraphError(400, "InvalidRequest", problem)
            self._validate_endpoint(url)
        with self.tenant.lock:
            if url:
                sub.notification_url = url
            if expires_at is not None:
                sub.expires_at = expires_at
                sub.paused = False
                sub.reauthorizations += 1
        return self._subscription_response(sub, 200)

    def _subscription_list(self, token: AccessToken) -> GraphResponse:
        """GET /subscriptions (api/subscription-list): "Subscriptions created by this app for the
        signed-in user only", live ones, with clientState null ("the clientState property value
        is not returned for security purposes")."""
        with self.tenant.lock:
            mine = [
                s
                for s in self.tenant.live_subscriptions()
                if s.application_id == token.client_id and s.creator_id == token.user_oid
            ]
            values = [_subscription_json(s, client_state=False) for s in mine]
        body = {"@odata.context": f"{self.base_url}/$metadata#subscriptions", "value": values}
        return GraphResponse(200, body, route="subscriptions")

    def _subscription_response(self, sub: Subscription, status: int) -> GraphResponse:
        with self.tenant.lock:
            body = {"@odata.context": f"{self.base_url}/$metadata#subscriptions/$entity"}
            body.update(_subscription_json(sub))
        return GraphResponse(status, body, route="subscription")

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


def _subscription_json(sub: Subscription, *, client_state: bool = True) -> dict[str, Any]:
    """learn.microsoft.com/graph/api/resources/subscription#json-representation, in the order of
    api/subscription-get's example. notificationContentType, in that example, is not in the v1.0
    schema the msgraph-sdk models follow, so the fake leaves it out."""
    return {
        "id": sub.id,
        "resource": sub.resource,
        "applicationId": sub.application_id,
        "changeType": sub.change_type,
        "clientState": sub.client_state if client_state else None,
        "notificationUrl": sub.notification_url,
        "notificationQueryOptions": None,
        "lifecycleNotificationUrl": sub.lifecycle_notification_url,
        "expirationDateTime": precise_datetime(sub.expires_at),
        "creatorId": sub.creator_id,
        "includeResourceData": False,
        "latestSupportedTlsVersion": sub.latest_supported_tls_version,
        "encryptionCertificate": None,
        "encryptionCertificateId": None,
        "notificationUrlAppId": None,
    }


def _subscription_payload(body: bytes, allowed: frozenset[str]) -> dict[str, Any]:
    """The JSON of POST or PATCH /subscriptions. Unreadable JSON, or a property the fake does
    not take, is Graph's 400 InvalidRequest "Could not process subscription creation payload.
    Are all property names spelled and camelCased properly?" (microsoft-graph-docs#2231; that
    PATCH answers the same is the fake's choice)."""
    refused = GraphError(
        400,
        "InvalidRequest",
        "Could not process subscription creation payload. Are all property names spelled and "
        "camelCased properly?",
    )
    try:
        payload = json.loads(body or b"{}")
    except ValueError:
        raise refused from None
    if not isinstance(payload, dict):
        raise refused
    if any(not key.startswith("@") and key not in allowed for key in payload):
        raise refused
    return payload


def _change_types(value: Any) -> frozenset[str]:
    """changeType: created, updated, deleted, comma-separated (api/resources/subscription; the
    wording of the refusal is the fake's)."""
    names = [n.strip() for n in value.split(",")] if isinstance(value, str) else [""]
    if not names or any(n not in CHANGE_TYPES for n in names):
        raise GraphError(400, "InvalidRequest", f"Invalid changeType '{value}'.")
    return frozenset(names)


def _subscription_error(status: int, operation: str, code_name: str, reason: str) -> GraphError:
    """Graph's wrapping of what the subscribed service (Exchange) answered: code ExtensionError,
    "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access denied]" (as reported
    in OneDrive/onedrive-api-docs#1398 and microsoft-graph-docs-contrib#5988)."""
    return GraphError(
        status,
        "ExtensionError",
        f"Operation: {operation}; Exception: [Status Code: {code_name}; Reason: {reason}]",
    )


def _unsupported_resource(resource: Any) -> GraphError:
    # The fake subscribes to Outlook messages only (the wording is the fake's).
    return GraphError(
        400, "InvalidRequest", f"The fake does not model subscriptions to '{resource}'."
    )


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


def _render_json_message(owner: User, message: dict[str, Any]) -> bytes:
    """See GraphServer._mime_from_json."""
    mime = EmailMessage(policy=email.policy.SMTP)
    from_ = _json_recipients(message, "from") if message.get("from") else []
    mime["From"] = from_[0] if from_ else formataddr((owner.display_name, owner.mail))
    for key, header in (
        ("toRecipients", "To"),
        ("ccRecipients", "Cc"),
        ("bccRecipients", "Bcc"),
        ("replyTo", "Reply-To"),
    ):
        addresses = _json_recipients(message, key)
        if addresses:
            mime[header] = ", ".join(addresses)
    mime["Subject"] = str(message.get("subject") or "")
    mime["Date"] = format_datetime(utcnow())
    mime["Message-ID"] = str(message.get("internetMessageId") or exchange_message_id())
    for name, value in _custom_headers(message.get("internetMessageHeaders")):
        mime[name] = value
    body = message.get("body")
    body = body if isinstance(body, dict) else {}
    # learn.microsoft.com/graph/api/resources/itembody: contentType text or html (any case:
    # user-sendmail's examples write "Text" and "HTML").
    subtype = "html" if str(body.get("contentType", "text")).lower() == "html" else "plain"
    mime.set_content(str(body.get("content") or ""), subtype=subtype)
    for attachment in message.get("attachments") or []:
        _add_file_attachment(mime, attachment)
    return mime.as_bytes()


def _mime_from_base64(body: bytes) -> bytes:
    """The MIME form's body: base64 (line breaks allowed, as learn.microsoft.com/graph/api/user-
    sendmail's example 4 has them). Not base64: 400 ErrorMimeContentInvalidBase64String,
    "Invalid base64 string for MIME content." (that page, #response). Empty, or no header
    section: 400 ErrorMimeContentInvalid (learn.microsoft.com/graph/outlook-send-mime-message
    #error-conditions-and-messages: "MIME content does not contain all required information,
    malformed formatting, or empty"; the code is Exchange's for invalid MIME content,
    learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode)."""
    try:
        raw = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise GraphError(
            400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."
        ) from None
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    first_line = raw.split(b"\n", 1)[0]
    if not raw.strip() or not parsed.keys() or not re.match(rb"[!-9;-~]+:", first_line):
        raise GraphError(
            400,
            "ErrorMimeContentInvalid",
            "MIME content does not contain all required information, malformed formatting, or "
            "empty.",
        )
    return raw


def _json_recipients(message: dict[str, Any], key: str) -> list[str]:
    """A recipient or recipient list of the JSON message as header text (see
    _addresses_from_json)."""
    return [
        formataddr((address.name, address.address))
        for address in _addresses_from_json(message.get(key), named=False)
    ]


def _addresses_from_json(value: Any, *, named: bool = True) -> list[Address]:
    """learn.microsoft.com/graph/api/resources/recipient: {"emailAddress": {"address", "name"}},
    one or a list. An entry without a usable address is Graph's ErrorInvalidRecipients (as
    reported in microsoftgraph/ruby-connect-rest-sample#15). `named`: a missing name is the
    address, as Graph shows it."""
    entries = value if isinstance(value, list) else [value] if value is not None else []
    found: list[Address] = []
    for entry in entries:
        address = entry.get("emailAddress") if isinstance(entry, dict) else None
        text = str(address.get("address") or "") if isinstance(address, dict) else ""
        if "@" not in text or any(c in text for c in " ,;<>\r\n"):
            raise GraphError(
                400,
                "ErrorInvalidRecipients",
                f"At least one recipient isn't valid., Recipient '{text}' isn't resolved. All "
                "recipients must be resolved before a message can be submitted.",
            )
        assert isinstance(address, dict)
        name = str(address.get("name") or "")
        found.append(Address(name or text if named else name, text))
    return found


def _message_parameter(value: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """A `message` parameter or PATCH body: an object whose properties the fake models (OData
    annotations aside)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GraphError(400, "BadRequest", "Invalid request body.")
    for key in value:
        if not key.startswith("@") and key not in allowed:
            raise GraphError(
                400, "BadRequest", f"The fake does not model setting the property '{key}'."
            )
    return {k: v for k, v in value.items() if not k.startswith("@")}


def _item_body(value: Any) -> tuple[Literal["text", "html"], str]:
    """learn.microsoft.com/graph/api/resources/itembody: contentType text or html (any case:
    the pages write "Text" and "HTML"), content."""
    if not isinstance(value, dict):
        raise GraphError(400, "BadRequest", "Invalid value for 'body'.")
    kind = str(value.get("contentType") or "text").lower()
    if kind not in ("text", "html"):
        raise GraphError(400, "BadRequest", f"Invalid body contentType '{kind}'.")
    return ("html" if kind == "html" else "text"), str(value.get("content") or "")


def _custom_headers(value: Any) -> list[tuple[str, str]]:
    """internetMessageHeaders: only custom headers, named x-... (learn.microsoft.com/graph/api/
    resources/message: internetMessageHeaders; user-sendmail example 2 adds two): anything else
    is refused with the answer clients report for In-Reply-To or References."""
    headers: list[tuple[str, str]] = []
    for header in value if isinstance(value, list) else []:
        name = str(header.get("name", "")) if isinstance(header, dict) else ""
        if not name.lower().startswith("x-"):
            raise GraphError(
                400,
                "InvalidInternetMessageHeader",
                f"The internet message header name '{name}' should start with 'x-' or 'X-'.",
            )
        headers.append((name, str(header.get("value", ""))))
    return headers


def _unique(addresses: list[Address]) -> list[Address]:
    seen: set[str] = set()
    kept: list[Address] = []
    for address in addresses:
        if address.address.lower() not in seen:
            seen.add(address.address.lower())
            kept.append(address)
    return kept


def _prefixed(prefix: str, subject: str) -> str:
    """ "RE: " or "FW: " in front, not twice (Outlook's prefixes; the fake's rule for repeats)."""
    if subject.lower().startswith(prefix.lower()):
        return subject
    return prefix + subject


def _parent_references(raw: bytes) -> list[str]:
    """RFC 5322 section 3.6.4: a reply's References are the parent's References, else its
    In-Reply-To (a single id), then the parent's Message-ID (added by the caller)."""
    references = re.findall(r"<[^<>\s]+>", " ".join(header_values(raw, "References")))
    if references:
        return references
    in_reply_to = re.findall(r"<[^<>\s]+>", " ".join(header_values(raw, "In-Reply-To")))
    return in_reply_to if len(in_reply_to) == 1 else []


def _quoted_body(original: StoredMessage, comment: str) -> str:
    """The HTML body of a reply or forward draft: the comment, then the original under a
    From / Sent / To / Cc / Subject block, as Outlook quotes (times in UTC: createreply's
    Prefer: outlook.timezone is not faked)."""

    def names(addresses: list[Address]) -> str:
        return html.escape("; ".join(a.name or a.address for a in addresses))

    sent = original.sent_at or original.received_at
    when = sent.strftime(f"%A, %B {sent.day}, %Y {sent.hour % 12 or 12}:%M %p")
    sender = (
        html.escape(f"{original.sender.name} <{original.sender.address}>")
        if original.sender
        else ""
    )
    header = f"<b>From:</b> {sender}<br>\n<b>Sent:</b> {when}<br>\n"
    header += f"<b>To:</b> {names(original.to)}<br>\n"
    if original.cc:
        header += f"<b>Cc:</b> {names(original.cc)}<br>\n"
    header += f"<b>Subject:</b> {html.escape(original.subject)}"
    if original.body_type == "html":
        quoted = original.body_content
    else:
        quoted = html.escape(original.body_content).replace("\n", "<br>\n")
    top = html.escape(comment).replace("\n", "<br>\n")
    return (
        "<html><body>\n"
        f"<div>{top}</div>\n"
        '<hr style="display:inline-block;width:98%" tabindex="-1">\n'
        f'<div id="divRplyFwdMsg" dir="ltr">{header}</div>\n'
        f"<div>{quoted}</div>\n"
        "</body></html>\n"
    )


def _file_attachments(raw: bytes) -> list[DraftAttachment]:
    """The original's attachments, for a forward draft."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    found: list[DraftAttachment] = []
    try:
        for part in parsed.iter_attachments():
            assert isinstance(part, EmailMessage)
            data = part.get_payload(decode=True)
            found.append(
                DraftAttachment(
                    rest_id(),
                    part.get_filename() or "attachment",
                    part.get_content_type(),
                    data if isinstance(data, bytes) else b"",
                    part.get_content_disposition() == "inline",
                    part["Content-ID"],
                    utcnow(),
                )
            )
    except (ValueError, LookupError, AttributeError, TypeError, KeyError):
        return found
    return found


def _attachment_json(attachment: DraftAttachment) -> dict[str, Any]:
    # learn.microsoft.com/graph/api/resources/fileattachment#properties, in the order of
    # message-post-attachments' example response.
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "id": attachment.id,
        "lastModifiedDateTime": graph_datetime(attachment.last_modified_at),
        "name": attachment.name,
        "contentType": attachment.content_type,
        "size": len(attachment.data),
        "isInline": attachment.is_inline,
        "contentId": attachment.content_id,
        "contentLocation": None,
        "contentBytes": base64.b64encode(attachment.data).decode(),
    }


def _add_file_attachment(mime: EmailMessage, attachment: Any) -> None:
    # learn.microsoft.com/graph/api/resources/fileattachment: name, contentType, contentBytes
    # (base64). Other attachment types (item, reference) are not faked.
    if not isinstance(attachment, dict) or attachment.get("@odata.type") != (
        "#microsoft.graph.fileAttachment"
    ):
        raise GraphError(400, "BadRequest", "The fake sends only #microsoft.graph.fileAttachment.")
    try:
        data = base64.b64decode(str(attachment.get("contentBytes") or ""), validate=True)
    except (binascii.Error, ValueError):
        raise GraphError(400, "BadRequest", "Invalid base64 in contentBytes.") from None
    maintype, _, subtype = str(attachment.get("contentType") or "").partition("/")
    mime.add_attachment(
        data,
        maintype=maintype or "application",
        subtype=subtype or "octet-stream",
        filename=str(attachment.get("name") or "attachment"),
    )


# $filter on message lists (learn.microsoft.com/graph/api/user-list-messages#optional-query-
# parameters and learn.microsoft.com/graph/query-parameters#filter): receivedDateTime compared
# with a date-time, internetMessageId eq '<...>' (a string literal, '' for a quote), joined by
# "and". Graph understands far more; the fake refuses the rest (400) rather than ignore it.
_FILTER_CLAUSE = re.compile(
    r"\s*(?:receivedDateTime\s+(?P<op>ge|gt|le|lt|eq)\s+(?P<when>[^\s)]+)"
    r"|internetMessageId\s+eq\s+'(?P<id>(?:[^']|'')*)')\s*",
    re.IGNORECASE,
)
_FILTER_AND = re.compile(r"and\s+", re.IGNORECASE)
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "ge": operator.ge,
    "gt": operator.gt,
    "le": operator.le,
    "lt": operator.lt,
    "eq": operator.eq,
}


def _list_filter(value: str | None) -> Callable[[StoredMessage], bool]:
    tests: list[Callable[[StoredMessage], bool]] = []
    position = 0
    while value:
        match = _FILTER_CLAUSE.match(value, position)
        if match is None:
            raise _invalid_filter()
        if match.group("id") is not None:
            tests.append(_id_test(match.group("id").replace("''", "'")))
        else:
            tests.append(_received_test(match.group("op").lower(), match.group("when")))
        position = match.end()
        if position == len(value):
            break
        joined = _FILTER_AND.match(value, position)
        if joined is None:
            raise _invalid_filter()
        position = joined.end()
    return lambda message: all(test(message) for test in tests)


def _id_test(wanted: str) -> Callable[[StoredMessage], bool]:
    return lambda message: message.internet_message_id == wanted


def _received_test(op: str, text: str) -> Callable[[StoredMessage], bool]:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise GraphError(400, "BadRequest", f"Invalid filter value '{text}'.") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    compare = _COMPARISONS[op]
    return lambda message: compare(message.received_at, when)


def _invalid_filter() -> GraphError:
    return GraphError(
        400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes."
    )


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


def _access_denied() -> GraphError:
    # learn.microsoft.com/graph/errors: 403, the token lacks the permission (Outlook's code).
    return GraphError(
        403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
    )


def _item_not_found() -> GraphError:
    # An Outlook item or folder that is not (or no longer) there.
    return GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def _json_body(call: _Call) -> Any:
    """The request's JSON (Graph's messages for an empty or unreadable payload)."""
    if not call.body.strip():
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    try:
        return json.loads(call.body)
    except ValueError:
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and "
            "payload is of valid JSON format.",
        ) from None


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
