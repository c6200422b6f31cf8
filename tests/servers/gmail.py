"""A fake Gmail API v1 with state, over plain HTTP.

    gmail = GmailServer(accounts)        # base_url http://127.0.0.1:PORT/
    service = googleapiclient.discovery.build(
        "gmail", "v1", credentials=creds, client_options={"api_endpoint": gmail.base_url})
    gmail.close()

Paths and parameters are those of google-api-python-client's packaged discovery document
(`googleapiclient/discovery_cache/documents/gmail.v1.json`): getProfile, labels.list,
settings.sendAs.list, messages.list / get / send, history.list, and watch / stop (push
notifications through the fake Pub/Sub of `accounts.pubsub`) under `gmail/v1/users/{userId}/`,
plus the batch endpoint (developers.google.com/gmail/api/guides/batch)
at `batch/gmail/v1` and `batch`. Access tokens are the ones the identity fake registered in the
shared `GoogleAccounts`; quota, throttling and history expiry are its switches.

Every JSON body served is recorded (`accounts.served`: method id, status, body) so tests can
check each one against the discovery document's schemas.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from functools import cache
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import googleapiclient
from werkzeug.datastructures import MultiDict
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tests.servers.gmail_state import (
    HISTORY_TYPES,
    AccessToken,
    GoogleAccounts,
    GoogleUser,
    HistoryRecord,
    LabelFilter,
    Mailbox,
    QuotaExceeded,
    SentMail,
    ServedBody,
    snippet,
)
from tests.servers.microsoft_tenant import ServedInThread
from tests.servers.pubsub import GMAIL_PUBLISHER, TOPIC_NAME
from tests.servers.sent_mail import recipients

HOST = "127.0.0.1"
API_PREFIX = "/gmail/v1/"
BATCH_PATHS = ("/batch", "/batch/gmail/v1")
# developers.google.com/gmail/api/guides/batch: "You're limited to 100 calls in a single batch
# request."
MAX_BATCH_CALLS = 100
# users.messages/list and users.history/list: maxResults "defaults to 100. The maximum allowed
# value for this field is 500."
DEFAULT_PAGE = 100
MAX_PAGE = 500
JSON_TYPE = "application/json; charset=UTF-8"
METADATA_SCOPE = "https://www.googleapis.com/auth/gmail.metadata"
# cloud.google.com/apis/design/errors#http_mapping: the canonical status of each HTTP code.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

# (HTTP method, path after users/{userId}/, method id in gmail.v1.json)
ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (verb, re.compile(pattern), method_id)
    for verb, pattern, method_id in (
        ("GET", r"profile", "gmail.users.getProfile"),
        ("GET", r"labels", "gmail.users.labels.list"),
        ("GET", r"settings/sendAs", "gmail.users.settings.sendAs.list"),
        ("GET", r"messages", "gmail.users.messages.list"),
        ("POST", r"messages/send", "gmail.users.messages.send"),
        ("GET", r"messages/(?P<id>[^/]+)", "gmail.users.messages.get"),
        ("GET", r"history", "gmail.users.history.list"),
        ("POST", r"watch", "gmail.users.watch"),
        ("POST", r"stop", "gmail.users.stop"),
    )
)


@cache
def discovery_document() -> dict[str, Any]:
    """gmail.v1.json as packaged in google-api-python-client (what `build()` reads offline)."""
    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / "gmail.v1.json"
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@cache
def discovery_methods() -> dict[str, dict[str, Any]]:
    """Every method of the document by id ("gmail.users.messages.get" -> its description)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(resource: dict[str, Any]) -> None:
        for method in resource.get("methods", {}).values():
            found[method["id"]] = method
        for child in resource.get("resources", {}).values():
            walk(child)

    walk(discovery_document())
    return found


class GmailError(Exception):
    """An error answer in Google's JSON format (developers.google.com/gmail/api/guides/
    handle-errors; cloud.google.com/apis/design/errors)."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        top_message: str | None = None,
        location: str | None = None,
        location_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.top_message = top_message or message
        self.location = location
        self.location_type = location_type
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        item: dict[str, Any] = {"message": self.message, "domain": self.domain}
        item["reason"] = self.reason
        if self.location:
            item["location"] = self.location
            item["locationType"] = self.location_type or "parameter"
        return {
            "error": {
                "code": self.status,
                "message": self.top_message,
                "errors": [item],
                "status": STATUS_NAMES.get(self.status, "UNKNOWN"),
            }
        }


def _not_found() -> GmailError:
    return GmailError(404, "notFound", "Requested entity was not found.")


def _bad_request(message: str, *, reason: str = "invalidArgument") -> GmailError:
    return GmailError(400, reason, message)


@dataclass
class Answer:
    status: int
    body: dict[str, Any] | None = None
    text: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def content_type(self) -> str | None:
        if self.status == 204:
            return None
        return JSON_TYPE if self.body is not None else "text/html; charset=UTF-8"

    def payload(self) -> str:
        return json.dumps(self.body, indent=2) if self.body is not None else self.text


@dataclass
class _Call:
    method_id: str
    user: GoogleUser
    token: AccessToken
    mailbox: Mailbox
    query: MultiDict[str, str]
    body: bytes
    match: re.Match[str]
    # What messages.send accepted: serve() calls accounts.on_send with it before answering.
    sent: SentMail | None = None


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class GmailServer:
    """gmail.googleapis.com for one `GoogleAccounts`. See the module docstring."""

    def __init__(self, accounts: GoogleAccounts) -> None:
        self.accounts = accounts
        self._server: BaseWSGIServer = make_server(
            HOST, 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.port = self._server.server_port
        self.base_url = f"http://{HOST}:{self.port}/"
        self._serving = ServedInThread(self._server)

    def close(self) -> None:
        self._serving.close()

    # --- HTTP plumbing -----------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.method == "POST" and request.path.rstrip("/") in BATCH_PATHS:
            response = self._batch(request)
        else:
            answer = self.serve(
                request.method,
                request.path,
                MultiDict(request.args),
                dict(request.headers.items()),
                request.get_data(),
            )
            response = Response(
                answer.payload(),
                status=answer.status,
                content_type=answer.content_type,
                headers=answer.headers,
            )
        return response(environ, start_response)

    def serve(
        self,
        verb: str,
        path: str,
        query: MultiDict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> Answer:
        """Answer one call (on its own or inside a batch) and record its JSON body."""
        route = _route(verb, path)
        if route is None:
            # Google's front end answers an unknown URL with an HTML 404 page.
            return Answer(404, text="<!DOCTYPE html><title>Error 404 (Not Found)</title>")
        method_id, match = route
        try:
            call = self._authorize(method_id, match, query, headers, body)
            self.accounts.spend(call.user.address, method_id)
            with self.accounts.lock:
                result = self._handle(call)
            if call.sent is not None:
                self._after_send(call.sent)
            if result is None:
                # A method without a response body (users.stop): 204 No Content, not recorded
                # in `served` (there is no body to check).
                return Answer(204)
            answer = Answer(200, _select_fields(result, query.get("fields")))
        except QuotaExceeded as refused:
            domain = "usageLimits"
            answer = _error_answer(
                GmailError(refused.status, refused.reason, refused.message, domain=domain)
            )
        except GmailError as error:
            answer = _error_answer(error)
        assert answer.body is not None
        self.accounts.record_served(
            ServedBody(
                method_id, answer.status, answer.body, tuple(sorted(set(query.keys()))), path
            )
        )
        return answer

    def _after_send(self, sent: SentMail) -> None:
        """The test hook `accounts.on_send`, called outside the accounts' lock once the message
        is stored and recorded, before the answer is written. A hook that raises turns the
        answer into Gmail's 500 backendError (developers.google.com/gmail/api/guides/handle-
        errors#resolve_a_500_error_backend_error); the message stays sent."""
        hook = self.accounts.on_send
        if hook is None:
            return
        try:
            hook(sent)
        except Exception:
            raise GmailError(500, "backendError", "Backend Error") from None

    def _authorize(
        self,
        method_id: str,
        match: re.Match[str],
        query: MultiDict[str, str],
        headers: dict[str, str],
        body: bytes,
    ) -> _Call:
        # developers.google.com/gmail/api/guides/handle-errors#resolve_a_401_error_invalid_
        # credentials; the WWW-Authenticate challenge is RFC 6750 section 3.
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        scheme, _, value = authorization.partition(" ")
        token_value = value.strip() if scheme.lower() == "bearer" else ""
        token_value = token_value or query.get("access_token", "")
        if not token_value:
            raise GmailError(
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
            raise GmailError(
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
        # The userId path parameter: "The user's email address. The special value `me` can be
        # used to indicate the authenticated user." Anyone else's mailbox needs delegation.
        user_id = match.group("user")
        if user_id != "me" and user_id.lower() != user.address:
            raise GmailError(403, "forbidden", f"Delegation denied for {user.address}")
        # Each method's "scopes" in gmail.v1.json are the scopes that may call it.
        allowed = set(discovery_methods()[method_id].get("scopes", []))
        granted = allowed & set(token.scopes)
        if not granted:
            raise GmailError(
                403,
                "insufficientPermissions",
                "Insufficient Permission",
                top_message="Request had insufficient authentication scopes.",
            )
        if METADATA_SCOPE in token.scopes:
            _check_metadata_scope(method_id, query)
        with self.accounts.lock:
            mailbox = self.accounts.mailboxes[user.address]
        return _Call(method_id, user, token, mailbox, query, body, match)

    def _handle(self, call: _Call) -> dict[str, Any] | None:
        handlers: dict[str, Callable[[_Call], dict[str, Any] | None]] = {
            "gmail.users.getProfile": self._profile,
            "gmail.users.labels.list": self._labels,
            "gmail.users.settings.sendAs.list": self._send_as,
            "gmail.users.messages.list": self._message_list,
            "gmail.users.messages.get": self._message_get,
            "gmail.users.messages.send": self._message_send,
            "gmail.users.history.list": self._history,
            "gmail.users.watch": self._watch,
            "gmail.users.stop": self._stop,
        }
        return handlers[call.method_id](call)

    # --- users, labels, settings -------------------------------------------------------------

    def _profile(self, call: _Call) -> dict[str, Any]:
        # developers.google.com/gmail/api/reference/rest/v1/users/getProfile
        messages = call.mailbox.messages.values()
        return {
            "emailAddress": call.user.address,
            "messagesTotal": len(messages),
            "threadsTotal": len({m.thread_id for m in messages}),
            "historyId": str(call.mailbox.history_id),
        }

    def _labels(self, call: _Call) -> dict[str, Any]:
        # developers.google.com/gmail/api/reference/rest/v1/users.labels: system labels carry
        # id, name and type; user labels their visibility settings too.
        labels: list[dict[str, Any]] = []
        for label in call.mailbox.labels.values():
            item: dict[str, Any] = {"id": label.id, "name": label.name}
            if label.type == "user":
                item["messageListVisibility"] = "show"
                item["labelListVisibility"] = "labelShow"
            item["type"] = label.type
            labels.append(item)
        return {"labels": labels}

    def _send_as(self, call: _Call) -> dict[str, Any]:
        # developers.google.com/gmail/api/reference/rest/v1/users.settings.sendAs: the primary
        # address (isPrimary, no verificationStatus) and every alias.
        user = call.user
        entries: list[dict[str, Any]] = [
            {
                "sendAsEmail": user.address,
                "displayName": user.name,
                "replyToAddress": "",
                "signature": "",
                "isPrimary": True,
                "isDefault": True,
            }
        ]
        for alias in user.aliases:
            entries.append(
                {
                    "sendAsEmail": alias.email,
                    "displayName": alias.display_name,
                    "replyToAddress": "",
                    "signature": "",
                    "isDefault": False,
                    "treatAsAlias": True,
                    "verificationStatus": alias.verification_status,
                }
            )
        return {"sendAs": entries}

    # --- messages ----------------------------------------------------------------------------

    def _message_list(self, call: _Call) -> dict[str, Any]:
        # developers.google.com/gmail/api/reference/rest/v1/users.messages/list
        query = call.query
        label_ids = query.getlist("labelIds")
        for label_id in label_ids:
            if label_id not in call.mailbox.labels:
                raise _bad_request(f"Invalid label: {label_id}")
        include_spam_trash = _bool_param(query, "includeSpamTrash", default=False)
        after, before, message_ids = _search_terms(query.get("q"))
        page_size = _page_size(query)
        matches = [
            m
            for m in call.mailbox.messages.values()
            # labelIds: "Only return messages with labels that match all of the specified
            # label IDs."
            if all(label in m.label_ids for label in label_ids)
            # includeSpamTrash: "Include messages from SPAM and TRASH in the results." (unless
            # asked for by label).
            and (include_spam_trash or not ({"SPAM", "TRASH"} & set(m.label_ids)) - set(label_ids))
            and (after is None or m.internal_date.timestamp() >= after)
            and (before is None or m.internal_date.timestamp() < before)
            and all(_same_message_id(m.message_id, wanted) for wanted in message_ids)
        ]
        # Newest first, as Gmail lists them.
        matches.sort(key=lambda m: (m.internal_date, m.id), reverse=True)
        offset = _page_token(query)
        page = matches[offset : offset + page_size]
        body: dict[str, Any] = {}
        if page:
            body["messages"] = [m.ref() for m in page]
        if offset + page_size < len(matches):
            body["nextPageToken"] = _encode_page_token(offset + page_size)
        body["resultSizeEstimate"] = len(matches)
        return body

    def _message_get(self, call: _Call) -> dict[str, Any]:
        # developers.google.com/gmail/api/reference/rest/v1/users.messages/get and
        # reference/rest/v1/Format: minimal, full (the default), raw, metadata.
        message = call.mailbox.messages.get(call.match.group("id"))
        if message is None:
            raise _not_found()
        message_format = call.query.get("format", "full").lower()
        if message_format not in {"minimal", "full", "raw", "metadata"}:
            raise _bad_request(f"Invalid value for format: {call.query.get('format')}")
        body: dict[str, Any] = {"id": message.id, "threadId": message.thread_id}
        if message.label_ids:
            body["labelIds"] = list(message.label_ids)
        body["snippet"] = snippet(message.raw)
        parsed = email.message_from_bytes(message.raw, policy=email.policy.compat32)
        if message_format == "metadata":
            wanted = {h.lower() for h in call.query.getlist("metadataHeaders")}
            headers = _headers(parsed)
            if wanted:
                headers = [h for h in headers if h["name"].lower() in wanted]
            body["payload"] = {"mimeType": parsed.get_content_type(), "headers": headers}
        elif message_format == "full":
            body["payload"] = _part(parsed, "")
        body["sizeEstimate"] = len(message.raw)
        if message_format == "raw":
            # Message.raw: "base64url encoded string".
            body["raw"] = base64.urlsafe_b64encode(message.raw).decode()
        body["historyId"] = str(message.history_id)
        body["internalDate"] = str(int(message.internal_date.timestamp() * 1000))
        return body

    def _message_send(self, call: _Call) -> dict[str, Any]:
        # developers.google.com/gmail/api/reference/rest/v1/users.messages/send (the JSON form;
        # the /upload media form is not faked).
        try:
            request = json.loads(call.body or b"{}")
            raw = _b64url_decode(request["raw"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise _bad_request(
                "'raw' RFC822 payload message string or uploading message via /upload/* URL "
                "required",
                reason="invalidArgument",
            ) from None
        if not recipients(raw):
            # A message without To, Cc or Bcc: Gmail's answer as reported in Byron/google-apis-
            # rs#351 (400 invalidArgument "Recipient address required").
            raise _bad_request("Recipient address required")
        thread_id = request.get("threadId")
        message_id = self.accounts.send_message(call.user.address, raw, thread_id=thread_id)
        call.sent = self.accounts.sent_mail[-1]  # recorded by send_message, under the lock
        message = call.mailbox.messages[message_id]
        return message.with_labels()

    # --- history -----------------------------------------------------------------------------

    def _history(self, call: _Call) -> dict[str, Any]:
        # developers.google.com/gmail/api/reference/rest/v1/users.history/list and
        # developers.google.com/gmail/api/guides/sync#partial_synchronization.
        query = call.query
        mailbox = call.mailbox
        start_text = query.get("startHistoryId")
        if not start_text:
            raise _bad_request("Missing required parameter: startHistoryId")
        try:
            start = int(start_text)
        except ValueError:
            raise _bad_request(f"Invalid startHistoryId: {start_text}") from None
        # "Supplying an invalid or out of date startHistoryId typically returns an HTTP 404
        # error code." (and guides/sync: then do a full sync).
        if start < mailbox.oldest_history_id:
            raise _not_found()
        types = query.getlist("historyTypes")
        for kind in types:
            if kind not in HISTORY_TYPES:
                raise _bad_request(f"Invalid value for historyTypes: {kind}")
        label_id = query.get("labelId")
        page_size = _page_size(query)
        after = start
        if "pageToken" in query:
            after = max(after, _page_token(query))
        records = [
            r
            for r in mailbox.history
            if r.id > after
            and (not types or r.types() & set(types))
            and (label_id is None or _touches_label(r, label_id))
        ]
        page = records[:page_size]
        body: dict[str, Any] = {}
        if page:
            body["history"] = [_history_json(r, set(types) or set(HISTORY_TYPES)) for r in page]
        if len(records) > page_size:
            body["nextPageToken"] = _encode_page_token(page[-1].id)
        # ListHistoryResponse.historyId: "The ID of the mailbox's current history record."
        body["historyId"] = str(mailbox.history_id)
        return body

    # --- push notifications ------------------------------------------------------------------

    def _watch(self, call: _Call) -> dict[str, Any]:
        """developers.google.com/gmail/api/reference/rest/v1/users/watch and
        developers.google.com/gmail/api/guides/push#watch_request. The errors are Gmail's as
        reported: no topicName, 400 "topicName required" (googleapis/elixir-google-api#6629); a
        topic outside the OAuth client's project, 400 "Invalid topicName does not match
        projects/<project>/topics/*" (googleapis/google-api-nodejs-client#1301; WatchRequest.
        topicName: the project "must exactly match your Google developer project id"); Gmail
        then publishes a test message, so a missing topic answers 404 "... Resource not found
        (resource=<topic id>)." (the wording reported by users; Pub/Sub's own NOT_FOUND text)
        and a topic without the grant to gmail-api-push@system.gserviceaccount.com 403
        forbidden "Error sending test message to Cloud PubSub <topic> : User not authorized to
        perform this action." (dacastro4/laravel-gmail#285, google-api-nodejs-client#2843). The
        test message is not pushed to subscribers here."""
        request = _json_body(call.body)
        topic = request.get("topicName")
        if not topic:
            raise _bad_request("topicName required")
        pubsub = self.accounts.pubsub
        match = TOPIC_NAME.fullmatch(str(topic))
        if match is None or match.group("project") != pubsub.project:
            raise _bad_request(
                f"Invalid topicName does not match projects/{pubsub.project}/topics/*"
            )
        label_ids = request.get("labelIds") or []
        if not isinstance(label_ids, list) or not all(isinstance(x, str) for x in label_ids):
            raise _bad_request("Invalid value at 'label_ids'")
        for label_id in label_ids:
            if label_id not in call.mailbox.labels:
                # The fake's check (and wording, as messages.list's): a watch on a label the
                # mailbox lacks would never fire.
                raise _bad_request(f"Invalid label: {label_id}")
        behavior = _label_filter(request)
        refusal = pubsub.publish_refusal(str(topic), GMAIL_PUBLISHER)
        prefix = f"Error sending test message to Cloud PubSub {topic} : "
        if refusal == "not found":
            raise GmailError(
                404, "notFound", prefix + f"Resource not found (resource={match.group('topic')})."
            )
        if refusal == "denied":
            raise GmailError(
                403, "forbidden", prefix + "User not authorized to perform this action."
            )
        watch = self.accounts.start_watch(call.user.address, str(topic), label_ids, behavior)
        # WatchResponse (gmail.v1.json): historyId ("The ID of the mailbox's current history
        # record", uint64 as a string) and expiration (int64 epoch millis as a string).
        return {"historyId": str(watch.history_id), "expiration": str(watch.expiration_ms)}

    def _stop(self, call: _Call) -> None:
        # developers.google.com/gmail/api/reference/rest/v1/users/stop: "If successful, the
        # response body is an empty JSON object." gmail.v1.json declares no response for it;
        # the fake answers 204 No Content with no body (googleapiclient returns "" for it, and
        # a client reading the body must take an empty one or "{}" alike).
        self.accounts.stop_watch(call.user.address)

    # --- batching ----------------------------------------------------------------------------

    def _batch(self, request: Request) -> Response:
        """developers.google.com/gmail/api/guides/batch: multipart/mixed of application/http
        parts, each a whole request with a path-only URL; the outer request's headers apply to
        each part unless the part sets its own; the answer is multipart/mixed with one
        application/http part per call, Content-ID "response-<the part's Content-ID>"."""
        content_type = request.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/mixed"):
            return _error_response(_bad_request("Batch requests must be multipart/mixed."))
        container = email.message_from_bytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request.get_data(),
            policy=email.policy.compat32,
        )
        payload = container.get_payload()
        parts = [p for p in payload if isinstance(p, Message)] if container.is_multipart() else []
        if not parts or len(parts) != len(payload):
            return _error_response(_bad_request("Malformed multipart body."))
        if len(parts) > MAX_BATCH_CALLS:
            # The limit is documented; the wording of this answer is the fake's.
            return _error_response(
                _bad_request(f"A batch request may contain at most {MAX_BATCH_CALLS} calls.")
            )
        outer = {k: v for k, v in request.headers.items() if not k.lower().startswith("content-")}
        boundary = "batch_" + secrets.token_urlsafe(18)
        chunks: list[str] = []
        for part in parts:
            answer = self._batch_part(part, outer)
            content_id = (part.get("Content-ID") or "").strip()
            chunk = f"--{boundary}\r\nContent-Type: application/http\r\n"
            if content_id:
                chunk += f"Content-ID: <response-{content_id.strip('<>')}>\r\n"
            phrase = HTTPStatus(answer.status).phrase
            payload = answer.payload()
            headers = dict(answer.headers)
            if answer.content_type is not None:
                headers = {"Content-Type": answer.content_type, **headers}
            chunk += f"\r\nHTTP/1.1 {answer.status} {phrase}\r\n"
            chunk += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            chunk += f"Content-Length: {len(payload.encode())}\r\n\r\n{payload}\r\n"
            chunks.append(chunk)
        chunks.append(f"--{boundary}--\r\n")
        return Response(
            "".join(chunks), status=200, content_type=f"multipart/mixed; boundary={boundary}"
        )

    def _batch_part(self, part: Message, outer: dict[str, str]) -> Answer:
        text = part.get_payload()
        if not isinstance(text, str):
            return _error_answer(_bad_request("Each part must be an application/http request."))
        head, _, body = text.replace("\r\n", "\n").partition("\n\n")
        request_line, *header_lines = head.split("\n")
        try:
            verb, target, _ = request_line.split(" ", 2)
        except ValueError:
            return _error_answer(_bad_request(f"Malformed request line: {request_line!r}"))
        url = urlsplit(target)
        if url.scheme or url.netloc:
            return _error_answer(
                _bad_request("Batch parts must use the path only, not a full URL.")
            )
        headers = dict(outer)
        for line in header_lines:
            name, _, value = line.partition(":")
            if name.strip():
                # A part's own header replaces the outer one of the same name.
                for existing in [k for k in headers if k.lower() == name.strip().lower()]:
                    del headers[existing]
                headers[name.strip()] = value.strip()
        query = MultiDict(parse_qsl(url.query, keep_blank_values=True))
        return self.serve(verb.upper(), url.path, query, headers, body.encode())


# --- request helpers -------------------------------------------------------------------------


def _route(verb: str, path: str) -> tuple[str, re.Match[str]] | None:
    if not path.startswith(API_PREFIX + "users/"):
        return None
    rest = unquote(path[len(API_PREFIX + "users/") :])
    for route_verb, pattern, method_id in ROUTES:
        match = re.fullmatch(rf"(?P<user>[^/]+)/{pattern.pattern}", rest)
        if route_verb == verb and match:
            return method_id, match
    return None


def _check_metadata_scope(method_id: str, query: MultiDict[str, str]) -> None:
    """A token holding gmail.metadata cannot read bodies or search (users.messages/list, q:
    "Parameter cannot be used when accessing the api using the gmail.metadata scope"), even
    when it holds gmail.readonly or gmail.modify too (googleapis/google-api-python-client#582,
    googleworkspace/cli#265). The messages are Gmail's (dacastro4/laravel-gmail#90 and #50)."""
    message_format = query.get("format", "full").upper()
    if method_id == "gmail.users.messages.get" and message_format in {"FULL", "RAW"}:
        raise GmailError(403, "forbidden", f"Metadata scope doesn't allow format {message_format}")
    if method_id == "gmail.users.messages.list" and query.get("q"):
        raise GmailError(403, "forbidden", "Metadata scope does not support 'q' parameter")


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        # The wording of Google's front end for a body that is not JSON.
        raise _bad_request("Invalid JSON payload received.") from None
    if not isinstance(parsed, dict):
        raise _bad_request("Invalid JSON payload received.")
    return parsed


def _label_filter(request: dict[str, Any]) -> LabelFilter:
    """WatchRequest.labelFilterBehavior ("include" or "exclude"; "if set,
    label_filter_action is ignored"), else the deprecated labelFilterAction, else include
    (labelIds: "If specified then dictates which labels are required"). The guide's sample
    sends "INCLUDE", the discovery enum "include": either case is taken."""
    for key in ("labelFilterBehavior", "labelFilterAction"):
        value = request.get(key)
        if value is None:
            continue
        if str(value).lower() == "include":
            return "include"
        if str(value).lower() == "exclude":
            return "exclude"
        raise _bad_request(f"Invalid value at '{key}': {value!r}")
    return "include"


def _bool_param(query: MultiDict[str, str], name: str, *, default: bool) -> bool:
    value = query.get(name)
    if value is None:
        return default
    if value.lower() not in {"true", "false"}:
        raise _bad_request(f"Invalid value for {name}: {value}")
    return value.lower() == "true"


def _page_size(query: MultiDict[str, str]) -> int:
    value = query.get("maxResults")
    if value is None:
        return DEFAULT_PAGE
    try:
        size = int(value)
    except ValueError:
        raise _bad_request(f"Invalid value for maxResults: {value}") from None
    if size < 1:
        raise _bad_request(f"Invalid value for maxResults: {value}")
    return min(size, MAX_PAGE)


def _page_token(query: MultiDict[str, str]) -> int:
    value = query.get("pageToken")
    if not value:
        return 0
    try:
        return int(value)
    except ValueError:
        raise _bad_request(f"Invalid pageToken: {value}") from None


def _encode_page_token(position: int) -> str:
    # Gmail's page tokens are opaque digit strings; ours encode a position.
    return f"{position:020d}"


def _search_terms(q: str | None) -> tuple[float | None, float | None, list[str]]:
    """The q parameter, as far as the fake understands it: `after:EPOCH` and `before:EPOCH`
    (epoch seconds; developers.google.com/gmail/api/guides/filtering), which Gmail compares with
    the internal date, and `rfc822msgid:ID` (support.google.com/mail/answer/7190: "Messages
    with a certain message-id header", e.g. rfc822msgid:200503292@example.com; the q
    description in gmail.v1.json names it too), the Message-ID with or without its angle
    brackets, in double quotes or not. Terms combine with AND, as Gmail's search does. Any
    other search syntax answers 400 here, though Gmail accepts it: the fake has no search
    engine, and a test should not silently get wrong results."""
    after: float | None = None
    before: float | None = None
    message_ids: list[str] = []
    for term in (q or "").split():
        match = re.fullmatch(r"(after|before):(\d+)", term, flags=re.IGNORECASE)
        wanted = re.fullmatch(r'rfc822msgid:"?([^"]+)"?', term, flags=re.IGNORECASE)
        if wanted is not None:
            message_ids.append(wanted.group(1))
        elif match is None:
            raise _bad_request(
                "The fake Gmail understands only after:EPOCH, before:EPOCH and rfc822msgid:ID "
                f"in q, not {term!r}"
            )
        elif match.group(1).lower() == "after":
            after = float(match.group(2))
        else:
            before = float(match.group(2))
    return after, before, message_ids


def _same_message_id(header: str, wanted: str) -> bool:
    """rfc822msgid: the stored Message-ID header against a searched id, angle brackets
    optional on either side."""
    return bool(header) and header.strip().strip("<>") == wanted.strip().strip("<>")


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


# --- response helpers ------------------------------------------------------------------------


def _error_answer(error: GmailError) -> Answer:
    return Answer(error.status, error.body(), headers=dict(error.headers))


def _error_response(error: GmailError) -> Response:
    return Response(
        json.dumps(error.body(), indent=2),
        status=error.status,
        content_type=JSON_TYPE,
        headers=error.headers,
    )


def _headers(parsed: Message) -> list[dict[str, str]]:
    """MessagePart.headers: every header in order, unfolded, as it is in the message."""
    return [
        {"name": name, "value": re.sub(r"\r?\n[ \t]+", " ", str(value))}
        for name, value in parsed.items()
    ]


def _part(part: Message, part_id: str) -> dict[str, Any]:
    """MessagePart (gmail.v1.json): the MIME tree; leaves carry their decoded bytes base64url
    in body.data, attachments (a filename) an attachmentId instead."""
    result: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": part.get_filename() or "",
        "headers": _headers(part),
    }
    if part.is_multipart():
        result["body"] = {"size": 0}
        children = part.get_payload()
        assert isinstance(children, list)
        prefix = f"{part_id}." if part_id else ""
        result["parts"] = [_part(child, f"{prefix}{index}") for index, child in enumerate(children)]
        return result
    data = part.get_payload(decode=True)
    content = data if isinstance(data, bytes) else b""
    if result["filename"]:
        result["body"] = {
            "attachmentId": "ANGjdJ" + secrets.token_urlsafe(60),
            "size": len(content),
        }
    elif content:
        result["body"] = {"size": len(content), "data": base64.urlsafe_b64encode(content).decode()}
    else:
        result["body"] = {"size": 0}
    return result


def _touches_label(record: HistoryRecord, label_id: str) -> bool:
    """labelId: "Only return messages with a label matching the ID." The fake matches a record
    whose message has the label after the change, or whose change added or removed it."""
    for entry in [*record.messages_added, *record.labels_added, *record.labels_removed]:
        if label_id in entry["message"].get("labelIds", []) or label_id in entry.get(
            "labelIds", []
        ):
            return True
    return False


def _history_json(record: HistoryRecord, types: set[str]) -> dict[str, Any]:
    # users.history: id, messages, and the change lists of the asked historyTypes (empty lists
    # left out, as Google's JSON does).
    body: dict[str, Any] = {"id": str(record.id), "messages": record.messages}
    for kind, key, entries in (
        ("messageAdded", "messagesAdded", record.messages_added),
        ("messageDeleted", "messagesDeleted", record.messages_deleted),
        ("labelAdded", "labelsAdded", record.labels_added),
        ("labelRemoved", "labelsRemoved", record.labels_removed),
    ):
        if entries and kind in types:
            body[key] = entries
    copied: dict[str, Any] = json.loads(json.dumps(body))  # later changes must not alter it
    return copied


def _select_fields(body: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """The standard `fields` parameter (developers.google.com/gmail/api/guides/performance
    #partial): "a,b/c,d(e,f)" keeps only those keys."""
    if not fields:
        return body
    tree, _ = _parse_fields(fields.replace(" ", ""), 0)
    selected = _apply_fields(body, tree)
    assert isinstance(selected, dict)
    return selected


FieldTree = dict[str, "FieldTree | None"]


def _parse_fields(spec: str, index: int) -> tuple[FieldTree, int]:
    """A comma-separated list of items up to ")" or the end; an item is a name, "name/item" or
    "name(list)" (developers.google.com/gmail/api/guides/performance#partial-response)."""
    tree: FieldTree = {}
    while True:
        index = _parse_field_item(spec, index, tree)
        if index < len(spec) and spec[index] == ",":
            index += 1
            continue
        if index < len(spec) and spec[index] != ")":
            raise _bad_request(f"Invalid field selection {spec}")
        return tree, index


def _parse_field_item(spec: str, index: int, tree: FieldTree) -> int:
    match = re.match(r"[A-Za-z0-9_*]+", spec[index:])
    if match is None:
        raise _bad_request(f"Invalid field selection {spec}")
    name = match.group(0)
    index += len(name)
    if index < len(spec) and spec[index] == "/":
        sub = tree.get(name) or {}
        index = _parse_field_item(spec, index + 1, sub)
        tree[name] = sub
    elif index < len(spec) and spec[index] == "(":
        sub, index = _parse_fields(spec, index + 1)
        if index >= len(spec) or spec[index] != ")":
            raise _bad_request(f"Invalid field selection {spec}")
        tree[name] = sub
        index += 1
    else:
        tree[name] = None
    return index


def _apply_fields(value: Any, tree: FieldTree | None) -> Any:
    if tree is None or "*" in tree:
        return value
    if isinstance(value, list):
        return [_apply_fields(item, tree) for item in value]
    if not isinstance(value, dict):
        return value
    return {key: _apply_fields(value[key], sub) for key, sub in tree.items() if key in value}
