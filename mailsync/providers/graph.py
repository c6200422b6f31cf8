"""Microsoft 365 mailboxes through Microsoft Graph (v1.0).

Folders are listed from the mailbox's folder tree; Inbox, Sent Items, Archive and the user's own
folders are synced, the well-known ones a mirror must not hold (Deleted Items, Junk Email,
Drafts, Outbox, Conversation History, Sync Issues) are not. Folder and message ids are immutable
(`Prefer: IdType="ImmutableId"`, learn.microsoft.com/graph/outlook-immutable-id): a message moved
between synced folders keeps its id, and its Message-ID spares a second download.

Changes per folder come from the message delta (learn.microsoft.com/graph/delta-query-messages):
the folder's cursor is its `@odata.deltaLink`; every folder's delta is asked in `$batch` requests
of 20 (learn.microsoft.com/graph/json-batching). A delta link Graph no longer knows (410 Gone, or
`syncStateNotFound`) lists the folder again, and what is held is kept by id. Bodies are each
message's MIME (`/messages/{id}/$value`), through the same parser as IMAP.

Throttling (learn.microsoft.com/graph/throttling-limits): at most 4 requests in flight per mailbox
(Outlook's limit), and 429/503 wait for `Retry-After` (the pause is also stored on the mailbox, so
every worker holds off).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote as _quote
from urllib.parse import urlsplit

import requests

from mailsync.providers.base import (
    AuthenticationFailed,
    DeltaRequest,
    FolderDelta,
    MessageKey,
    ProviderError,
    RawMessage,
    RemoteFolder,
    TemporaryFailure,
    Throttled,
)

logger = logging.getLogger(__name__)

IN_FLIGHT = 4  # Outlook: 4 concurrent requests per mailbox (throttling-limits)
BATCH_SIZE = 20  # requests per $batch (json-batching)
PAGE_SIZE = 200  # Prefer: odata.maxpagesize for delta and lists
TIMEOUT = 60.0
LONGEST_WAIT = 30.0  # a longer Retry-After ends the sync; the mailbox waits, the worker does not
ATTEMPTS = 5

# Well-known folder names Graph accepts in place of an id (mailfolder resource).
SYNCED = {"inbox": "inbox", "sentitems": "sent", "archive": "archive"}
NOT_SYNCED = ("deleteditems", "junkemail", "drafts", "outbox", "conversationhistory", "syncissues")
DELTA_SELECT = "id,internetMessageId,receivedDateTime"
FOLDER_SELECT = "id,displayName,parentFolderId,childFolderCount"

# Well-known folder ids per account, asked once per process (LRU): Inbox's id never changes.
_well_known_ids: OrderedDict[str, tuple[dict[str, str], frozenset[str]]] = OrderedDict()
_well_known_lock = threading.Lock()
WELL_KNOWN_KEPT = 10_000


def _remember(account_key: str, known: tuple[dict[str, str], frozenset[str]]) -> None:
    with _well_known_lock:
        _well_known_ids[account_key] = known
        _well_known_ids.move_to_end(account_key)
        while len(_well_known_ids) > WELL_KNOWN_KEPT:
            _well_known_ids.popitem(last=False)


class DeltaExpired(Exception):
    """Graph no longer knows this delta link: list the folder again."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or None


class GraphClient:
    """Requests to Graph for one mailbox: its token, at most IN_FLIGHT at once, Retry-After."""

    def __init__(
        self,
        base_url: str,
        token: Callable[[bool], str],  # force_refresh -> a bearer token
        *,
        user: str = "me",  # "me", or "users/{id}" for a mailbox shared with the signed-in user
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.user = user
        self._token = token
        self._bearer = ""
        self._session = session or requests.Session()
        self._slots = threading.BoundedSemaphore(IN_FLIGHT)
        self.round_trips = 0
        self.http_seconds = 0.0  # waiting for Graph, summed over threads (benchmarks/README.md)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{self.user}/{path.lstrip('/')}"

    def relative(self, url: str) -> str:
        """A full Graph URL as a $batch request's relative URL."""
        base = urlsplit(self.base_url)
        parts = urlsplit(url)
        path = parts.path[len(base.path) :] if parts.path.startswith(base.path) else parts.path
        return path + (f"?{parts.query}" if parts.query else "")

    def get(self, url: str, *, prefer: str = "") -> Answer:
        return self.send("GET", url, prefer=prefer)

    def send(self, method: str, url: str, *, prefer: str = "", body: Any = None) -> Answer:
        """One request, its 401 (token refresh) and 429/503 (Retry-After) retries included."""
        refresh = False
        for attempt in range(ATTEMPTS):
            response = self._once(method, url, prefer=prefer, body=body, refresh=refresh)
            refresh = response.status_code == 401 and attempt == 0
            if refresh:
                continue  # the token ended early (sessions revoked, clock skew): refresh once
            if response.status_code in (429, 503):
                self._wait(retry_after(response.headers.get("Retry-After")))
                continue
            return Answer(response.status_code, dict(response.headers), _json(response))
        raise TemporaryFailure("Microsoft 365 kept answering that it is busy; retried later.")

    def raw(self, url: str, max_bytes: int) -> tuple[bytes, bool] | None:
        """A message's MIME, at most `max_bytes` (and whether it was cut); None if gone."""
        refresh = False
        for attempt in range(ATTEMPTS):
            with self._slots:
                response = self._request("GET", url, stream=True, refresh=refresh)
                try:
                    if response.status_code == 200:
                        return _read_at_most(response, max_bytes)
                    status, headers = response.status_code, response.headers
                finally:
                    response.close()
            if status == 404:
                return None
            refresh = status == 401 and attempt == 0
            if refresh:
                continue
            if status in (429, 503):
                self._wait(retry_after(headers.get("Retry-After")))
                continue
            raise _error(Answer(status, dict(headers), None), "downloading a message")
        raise TemporaryFailure("Microsoft 365 kept answering that it is busy; retried later.")

    def batch(self, requests_: Sequence[dict[str, Any]]) -> list[Answer]:
        """Up to BATCH_SIZE GETs in one round trip; each answer retried on its own if throttled."""
        pending = {str(n): request for n, request in enumerate(requests_)}
        answers: dict[str, Answer] = {}
        for _ in range(ATTEMPTS):
            if not pending:
                break
            reply = self.send(
                "POST",
                f"{self.base_url}/$batch",
                body={"requests": [{"id": key, **request} for key, request in pending.items()]},
            )
            if reply.status != 200:
                raise _error(reply, "asking for several changes at once")
            waits = []
            for item in reply.body.get("responses", []):
                key, status = str(item.get("id")), int(item.get("status", 500))
                headers = {k.lower(): v for k, v in (item.get("headers") or {}).items()}
                if status in (429, 503) and key in pending:
                    waits.append(retry_after(headers.get("retry-after")))
                    continue
                answers[key] = Answer(status, headers, item.get("body"))
                pending.pop(key, None)
            if pending:
                self._wait(max(waits, default=1.0))
        if pending:
            raise TemporaryFailure("Microsoft 365 kept answering that it is busy; retried later.")
        return [answers[str(n)] for n in range(len(requests_))]

    def post_once(self, url: str, *, data: bytes = b"", content_type: str = "") -> Answer:
        """One POST that hands something over (sendMail, a draft's send): retried only after a
        401 (the token was refused, nothing was taken), never after 429/503 here: the caller
        decides whether a second hand-over is safe."""
        headers = {"Content-Type": content_type} if content_type else {}
        for attempt in range(2):
            if attempt or not self._bearer:
                self._bearer = self._token(bool(attempt))
            self.round_trips += 1
            try:
                response = self._session.post(
                    url,
                    data=data,
                    headers={"Authorization": f"Bearer {self._bearer}", **headers},
                    timeout=TIMEOUT,
                )
            except requests.Timeout:
                raise TemporaryFailure("Microsoft 365 did not answer in time.") from None
            except requests.RequestException:
                raise TemporaryFailure("Could not reach Microsoft 365 (Graph).") from None
            if response.status_code != 401:
                break
        return Answer(response.status_code, dict(response.headers), _json(response))

    # --- plumbing ---

    def _once(
        self, method: str, url: str, *, prefer: str, body: Any, refresh: bool
    ) -> requests.Response:
        with self._slots:
            return self._request(method, url, prefer=prefer, body=body, refresh=refresh)

    def _request(
        self,
        method: str,
        url: str,
        *,
        prefer: str = "",
        body: Any = None,
        stream: bool = False,
        refresh: bool = False,
    ) -> requests.Response:
        if refresh or not self._bearer:
            self._bearer = self._token(refresh)
        headers = {
            "Authorization": f"Bearer {self._bearer}",
            "Prefer": ", ".join(filter(None, ['IdType="ImmutableId"', prefer])),
        }
        self.round_trips += 1
        started = time.perf_counter()
        try:
            return self._session.request(
                method, url, headers=headers, json=body, stream=stream, timeout=TIMEOUT
            )
        except requests.Timeout:
            raise TemporaryFailure("Microsoft 365 did not answer in time.") from None
        except requests.RequestException:
            raise TemporaryFailure("Could not reach Microsoft 365 (Graph).") from None
        finally:
            self.http_seconds += time.perf_counter() - started

    def _wait(self, seconds: float) -> None:
        if seconds > LONGEST_WAIT:  # the sync stops; the mailbox is paused until then
            raise Throttled(
                f"Microsoft 365 asked Postcard to wait {seconds:.0f} s (throttling).", seconds
            )
        time.sleep(seconds)  # as Graph asks (Retry-After), holding none of the 4 slots


def quote(graph_id: str) -> str:
    """An id in a URL path as Graph's own examples write them: `=` padding left as it is."""
    return _quote(graph_id, safe="=")


def retry_after(value: str | None) -> float:
    """Graph sends whole or fractional seconds ("2.128"); absent or odd: 1 s."""
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        return 1.0
    return min(max(seconds, 0.0), 3600.0)


def _json(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _read_at_most(response: requests.Response, max_bytes: int) -> tuple[bytes, bool]:
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return b"".join(chunks)[:max_bytes], True
    return b"".join(chunks), False


def _error_code(answer: Answer) -> str:
    body = answer.body if isinstance(answer.body, dict) else {}
    error = body.get("error")
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def _error(answer: Answer, doing: str) -> ProviderError:
    code = _error_code(answer)
    if answer.status == 401:
        return AuthenticationFailed("Microsoft 365 no longer accepts Postcard's sign-in.")
    if answer.status == 403:
        return AuthenticationFailed(
            f"Microsoft 365 refused access to the mailbox ({code or 'forbidden'}) while {doing}."
        )
    return TemporaryFailure(f"Microsoft 365 answered {answer.status} {code} while {doing}.")


# --- the provider --------------------------------------------------------------------------


@dataclass
class _Seen:
    """What the deltas said of a message: spares asking again for its Message-ID or date."""

    message_id: str
    received_at: datetime | None


@dataclass
class _Changes:
    present: list[str] = field(default_factory=list)  # created or changed, in Graph's order
    removed: set[str] = field(default_factory=set)
    delta_link: str = ""


class GraphProvider:
    def __init__(
        self,
        client: GraphClient,
        *,
        max_message_bytes: int,
        account_key: str = "",  # who the mailbox is, for what is remembered between syncs
        known_cursors: dict[str, str] | None = None,  # folder -> the cursor the CRM holds
        on_close: Callable[[], None] | None = None,  # e.g. store a refreshed token cache
    ) -> None:
        self.client = client
        self.account_key = account_key
        self.known_cursors = known_cursors or {}
        self._prefetched: dict[str, tuple[str, Answer]] = {}  # folder -> (delta link, answer)
        self.max_message_bytes = max_message_bytes
        self._on_close = on_close
        self._seen: dict[str, _Seen] = {}

    # --- folders ---

    def folders(self) -> list[RemoteFolder]:
        """The folder tree, in one round trip for a mailbox whose folders are one level deep
        (the well-known folders' ids are asked once per worker process: they never change)."""
        known = _well_known_ids.get(self.account_key) if self.account_key else None
        requests_ = [] if known else self._well_known_requests()
        top = f"/{self.client.user}/mailFolders?$top={PAGE_SIZE}&$select={FOLDER_SELECT}"
        # The deltas of the folders synced before ride along, at the cursors the engine holds
        # (checked again in folder_deltas): a quiet mailbox of up to 19 folders costs this one
        # round trip, one of 30 two.
        early = list(self.known_cursors.items())[: BATCH_SIZE - 1 - len(requests_)]
        answers = self.client.batch(
            [
                *requests_,
                {"method": "GET", "url": top},
                *(self._delta_request(link) for _folder, link in early),
            ]
        )
        if early:
            self._prefetched = {
                folder: (link, answer)
                for (folder, link), answer in zip(early, answers[-len(early) :], strict=True)
            }
            answers = answers[: -len(early)]
        if known is None:
            known = self._well_known(answers[:-1])
            if self.account_key and len(known[0]) == len(SYNCED):  # an Archive may come later
                _remember(self.account_key, known)
        roles, skipped = known
        found: list[RemoteFolder] = []
        level = [(self._listed(answers[-1]), "")]
        while level:
            below = []
            for folders, parent_label in level:
                for folder in folders:
                    folder_id = str(folder["id"])
                    if folder_id in skipped:
                        continue  # nor its subfolders: mail deleted or junk stays out
                    name = str(folder["displayName"])
                    label = f"{parent_label}/{name}" if parent_label else name
                    found.append(RemoteFolder(folder_id, roles.get(folder_id, "other"), label))
                    if folder.get("childFolderCount"):
                        children = self.client.url(
                            f"mailFolders/{quote(folder_id)}/childFolders"
                            f"?$top={PAGE_SIZE}&$select={FOLDER_SELECT}"
                        )
                        below.append((list(self._list(children, doing="listing folders")), label))
            level = below
        return found

    def _listed(self, answer: Answer) -> list[dict[str, Any]]:
        """A folder list's first page from a $batch answer, and its further pages."""
        if answer.status != 200:
            raise _error(answer, "listing folders")
        folders = list(answer.body.get("value", []))
        next_link = answer.body.get("@odata.nextLink")
        if next_link:
            folders += self._list(str(next_link), doing="listing folders")
        return folders

    def _well_known_requests(self) -> list[dict[str, Any]]:
        return [
            {"method": "GET", "url": f"/{self.client.user}/mailFolders/{name}?$select=id"}
            for name in (*SYNCED, *NOT_SYNCED)
        ]

    def _well_known(self, answers: Sequence[Answer]) -> tuple[dict[str, str], frozenset[str]]:
        """Which folder ids are Inbox, Sent Items, Archive, and which must not be synced."""
        roles, skipped = {}, set()
        for name, answer in zip((*SYNCED, *NOT_SYNCED), answers, strict=True):
            if answer.status == 404:
                continue  # no Archive folder yet, for instance
            if answer.status != 200:
                raise _error(answer, f"reading the {name} folder")
            folder_id = str(answer.body["id"])
            if name in SYNCED:
                roles[folder_id] = SYNCED[name]
            else:
                skipped.add(folder_id)
        return roles, frozenset(skipped)

    def _list(self, url: str, *, doing: str) -> Iterator[dict[str, Any]]:
        while url:
            answer = self.client.get(url, prefer=f"odata.maxpagesize={PAGE_SIZE}")
            if answer.status != 200:
                raise _error(answer, doing)
            yield from answer.body.get("value", [])
            url = answer.body.get("@odata.nextLink", "")

    # --- changes ---

    def folder_deltas(
        self, wanted: Sequence[DeltaRequest], *, since: date | None
    ) -> list[FolderDelta]:
        """Every folder's changes, 20 folders to a $batch; those asked already with the folder
        list (at the cursor the engine holds) are not asked again."""
        answers: dict[str, Answer] = {}
        missing = []
        for request in wanted:
            early = self._prefetched.get(request.folder.name)
            if early is not None and early[0] == request.cursor:
                answers[request.folder.name] = early[1]
            else:
                missing.append(request)
        for start in range(0, len(missing), BATCH_SIZE):
            chunk = missing[start : start + BATCH_SIZE]
            replies = self.client.batch(
                [self._delta_request(self._first_page(w, since)) for w in chunk]
            )
            answers.update({w.folder.name: a for w, a in zip(chunk, replies, strict=True)})
        self._prefetched.clear()
        return [self._delta(w, answers[w.folder.name], since) for w in wanted]

    def _delta_request(self, url: str) -> dict[str, Any]:
        return {
            "method": "GET",
            "url": self.client.relative(url),
            "headers": {"Prefer": f'IdType="ImmutableId", odata.maxpagesize={PAGE_SIZE}'},
        }

    def _first_page(self, request: DeltaRequest, since: date | None) -> str:
        return request.cursor or self._initial_delta_url(request.folder, since)

    def _initial_delta_url(self, folder: RemoteFolder, since: date | None) -> str:
        url = self.client.url(
            f"mailFolders/{quote(folder.name)}/messages/delta?$select={DELTA_SELECT}"
        )
        if since is not None:  # the only filter a message delta takes (delta-query-messages)
            url += f"&$filter=receivedDateTime%20ge%20{since.isoformat()}T00:00:00Z"
        return url

    def _delta(self, request: DeltaRequest, first: Answer, since: date | None) -> FolderDelta:
        try:
            changes = self._follow(first, doing=f"reading changes in {request.folder.shown_as}")
        except DeltaExpired:
            return self._relisted(request, since)
        if not request.cursor:  # a first sync: what is held already (a resumed import) stays
            known = request.known_ids(changes.present)
            return FolderDelta(
                cursor=changes.delta_link,
                new_ids=[i for i in changes.present if i not in known],
            )
        known = request.known_ids([*changes.present, *changes.removed])
        return FolderDelta(
            cursor=changes.delta_link,
            # Changed but held: read, flagged, categorised. Mail is mirrored, not its flags.
            new_ids=[i for i in changes.present if i not in known and i not in changes.removed],
            removed_ids=sorted(changes.removed & known),
        )

    def _relisted(self, request: DeltaRequest, since: date | None) -> FolderDelta:
        """After an expired delta link: the folder's messages from scratch, kept by id."""
        url = self._initial_delta_url(request.folder, since)
        changes = self._follow(self.client.get(url), doing="listing a folder again")
        live = set(changes.present)
        if since is not None:  # the window hides older mail that is still there
            live |= set(self.all_ids(request.folder, request.cursor, since=None).new_ids)
        held = request.known_ids()
        return FolderDelta(
            cursor=changes.delta_link,
            new_ids=[i for i in changes.present if i not in held],
            removed_ids=sorted(held - live),
        )

    def _follow(self, answer: Answer, *, doing: str) -> _Changes:
        changes = _Changes()
        while True:
            if answer.status == 410 or _error_code(answer).lower() == "syncstatenotfound":
                raise DeltaExpired  # (delta-query-overview: "synchronization reset")
            if answer.status != 200:
                raise _error(answer, doing)
            for item in answer.body.get("value", []):
                self._note(item, changes)
            if answer.body.get("@odata.deltaLink"):
                changes.delta_link = str(answer.body["@odata.deltaLink"])
                return changes
            next_link = answer.body.get("@odata.nextLink")
            if not next_link:
                raise TemporaryFailure(f"Microsoft 365 ended a list without a link while {doing}.")
            answer = self.client.get(next_link, prefer=f"odata.maxpagesize={PAGE_SIZE}")

    def _note(self, item: dict[str, Any], changes: _Changes) -> None:
        message_id = str(item.get("id", ""))
        if not message_id:
            return
        if "@removed" in item:
            changes.removed.add(message_id)
            return
        changes.present.append(message_id)
        changes.removed.discard(message_id)  # removed then back within one round
        self._seen[message_id] = _Seen(
            message_id=str(item.get("internetMessageId") or ""),
            received_at=_when(item.get("receivedDateTime")),
        )

    def all_ids(self, folder: RemoteFolder, cursor: str, *, since: date | None) -> FolderDelta:
        url = self.client.url(
            f"mailFolders/{quote(folder.name)}/messages?$select={DELTA_SELECT}&$top={PAGE_SIZE}"
        )
        if since is not None:
            url += f"&$filter=receivedDateTime%20ge%20{since.isoformat()}T00:00:00Z"
        changes = _Changes()
        for item in self._list(url, doing=f"listing {folder.shown_as}"):
            self._note(item, changes)
        return FolderDelta(cursor=cursor, new_ids=changes.present)

    # --- messages ---

    def fetch_keys(self, folder: RemoteFolder, remote_ids: Sequence[str]) -> list[MessageKey]:
        unknown = [i for i in remote_ids if i not in self._seen]
        for start in range(0, len(unknown), BATCH_SIZE):
            chunk = unknown[start : start + BATCH_SIZE]
            answers = self.client.batch(
                [
                    {
                        "method": "GET",
                        "url": f"/{self.client.user}/messages/{quote(i)}?$select={DELTA_SELECT}",
                    }
                    for i in chunk
                ]
            )
            for answer in answers:
                if answer.status == 200:
                    self._note(answer.body, _Changes())
        return [
            MessageKey(remote_id=i, message_id=self._seen[i].message_id)
            for i in remote_ids
            if i in self._seen
        ]

    def fetch_raw(self, folder: RemoteFolder, remote_ids: Sequence[str]) -> Iterator[RawMessage]:
        """The messages' MIME, IN_FLIGHT downloads at a time, in the order asked."""

        def download(remote_id: str) -> RawMessage | None:
            url = self.client.url(f"messages/{quote(remote_id)}/$value")
            got = self.client.raw(url, self.max_message_bytes)
            if got is None:
                return None  # deleted meanwhile: the next delta says so
            raw, truncated = got
            seen = self._seen.get(remote_id)
            return RawMessage(remote_id, raw, seen.received_at if seen else None, truncated)

        with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
            for message in pool.map(download, remote_ids):
                if message is not None:
                    yield message

    def close(self) -> None:
        self._seen.clear()
        if self._on_close is not None:
            self._on_close()


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- who signed in ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GraphAccount:
    """The mailbox of the account that signed in (user resource, learn.microsoft.com/graph/api/
    resources/user): `mail` is its primary SMTP address; proxyAddresses lists the aliases."""

    mail: str
    user_principal_name: str
    aliases: tuple[str, ...]


def can_read_mailbox(base_url: str, access_token: str, address: str) -> bool:
    """Whether this sign-in may read another mailbox (Mail.Read.Shared and a permission on it,
    learn.microsoft.com/graph/outlook-share-messages-folders)."""
    path = f"users/{_quote(address, safe='@')}/mailFolders/inbox?$select=id"
    return _get_once(base_url, path, access_token).status_code == 200


def _get_once(base_url: str, path: str, access_token: str) -> requests.Response:
    """One GET with a fresh sign-in's token (while connecting: no retries, no slots)."""
    try:
        return requests.get(
            f"{base_url.rstrip('/')}/{path}",
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=TIMEOUT,
        )
    except requests.RequestException:
        raise TemporaryFailure("Could not reach Microsoft 365 (Graph).") from None


def signed_in_account(base_url: str, access_token: str) -> GraphAccount:
    response = _get_once(base_url, "me?$select=mail,userPrincipalName,proxyAddresses", access_token)
    body = _json(response)
    if response.status_code != 200 or not isinstance(body, dict):
        raise _error(Answer(response.status_code, dict(response.headers), body), "signing in")
    proxies = [str(p) for p in body.get("proxyAddresses") or []]
    return GraphAccount(
        mail=str(body.get("mail") or ""),
        user_principal_name=str(body.get("userPrincipalName") or ""),
        aliases=tuple(p[5:] for p in proxies if p.lower().startswith("smtp:") and p[:5] != "SMTP:"),
    )
