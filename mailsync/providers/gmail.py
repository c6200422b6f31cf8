"""Gmail (Google Workspace and personal accounts) over the Gmail API.

Gmail has labels, not folders, and one change history for the whole account, so the mailbox is
one folder here (`FOLDER`): the messages that carry Inbox, Sent or a label of the user's, and not
Trash, Spam or Draft (developers.google.com/gmail/api/guides/labels). A message with many labels
is one message; one that leaves every synced label leaves the CRM, and comes back with a label.

    first sync      getProfile's historyId, then messages.list per synced label within "how far
                    back"; the cursor is that historyId (changes made while listing are replayed
                    by the next sync: applying them twice changes nothing)
    next syncs      history.list from the stored historyId (developers.google.com/gmail/api/
                    guides/sync): added, deleted, labels added or removed, the last state of
                    each message decides; a 404 (history too old) relists and re-links held
                    messages by id: nothing is downloaded twice
    download        messages.get format=raw in batch requests of 50, parsed like IMAP's bytes

Every call spends units of the per-user quota (developers.google.com/gmail/api/reference/quota);
`UnitBudget` keeps Postcard under it, and a 429 or a 403 rateLimitExceeded/userRateLimitExceeded
waits (exponential backoff, or the time Gmail names), or pauses the mailbox when that is long.
The client is google-api-python-client built from the discovery document it ships.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from datetime import time as day_time
from typing import Any

import httplib2
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest, HttpRequest

from mailsync.providers.base import (
    AuthenticationFailed,
    FolderDelta,
    KnownIds,
    MessageKey,
    OneFolderAtATime,
    ProviderError,
    RawMessage,
    RemoteFolder,
    TemporaryFailure,
    Throttled,
)

FOLDER = RemoteFolder(name="gmail", role="all", label="Gmail (Inbox, Sent and your labels)")

# developers.google.com/gmail/api/guides/labels: the system labels. Any other id is the user's.
SYSTEM_LABELS = frozenset(
    {
        "INBOX", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT", "SENT", "DRAFT", "CHAT",
        "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES",
        "CATEGORY_FORUMS",
    }
)  # fmt: skip
SYNCED_SYSTEM_LABELS = ("INBOX", "SENT")  # mail in a category tab carries INBOX too
LEAVES_THE_CRM = frozenset({"TRASH", "SPAM", "DRAFT"})
HISTORY_TYPES = ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"]

# Quota units per call (developers.google.com/gmail/api/reference/quota).
COST_LIST, COST_GET, COST_HISTORY, COST_SMALL = 5, 5, 2, 1
BATCH_SIZE = 50  # Gmail's batch guide advises no more than 50 calls per batch
PAGE_SIZE = 500  # the most messages.list and history.list return per page
TIMEOUT = 30
LONGEST_WAIT = 10.0  # seconds a sync waits in place when throttled; beyond, the mailbox pauses
ATTEMPTS = 5
# Gmail's minute, plus a second: a call counts when it reaches Google, a little after Postcard
# spends its units, so a minute measured here must not end before Google's does.
WINDOW = 61.0


def in_scope(labels: Collection[str]) -> bool:
    """Whether a message with these labels belongs in the CRM."""
    if LEAVES_THE_CRM.intersection(labels):
        return False
    return any(label in SYNCED_SYSTEM_LABELS or label not in SYSTEM_LABELS for label in labels)


class RateRefused(TemporaryFailure):
    """Gmail refused a call for its rate limits: nothing was done."""


class NotFound(Exception):
    """Gmail answered 404: for history.list, the start id is older than Gmail keeps (about a
    week, developers.google.com/gmail/api/guides/sync#limitations)."""


class UnitBudget:
    """The quota units spent in the last minute: a call waits until it fits under the limit,
    so Postcard never exceeds the per-user quota however fast the server answers."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = max(per_minute, 1)
        self._spent: deque[tuple[float, int]] = deque()
        self._total = 0
        self._lock = threading.Lock()

    def spend(self, units: int) -> None:
        units = min(units, self.per_minute)
        while True:
            with self._lock:
                now = time.monotonic()
                while self._spent and self._spent[0][0] <= now - WINDOW:
                    self._total -= self._spent.popleft()[1]
                if self._total + units <= self.per_minute:
                    self._spent.append((now, units))
                    self._total += units
                    return
                wait = self._spent[0][0] + WINDOW - now
            time.sleep(max(wait, 0.01))


_budgets: dict[str, UnitBudget] = {}
_budgets_lock = threading.Lock()


def budget_for(account_key: str, per_minute: int) -> UnitBudget:
    """The budget of one Google account, shared by every sync of it in this process."""
    with _budgets_lock:
        budget = _budgets.get(account_key)
        if budget is None or budget.per_minute != per_minute:
            budget = _budgets[account_key] = UnitBudget(per_minute)
        return budget


_discovery: dict[str, Any] = {}


def _gmail_discovery() -> dict[str, Any]:
    """gmail.v1.json as shipped with google-api-python-client, parsed once per process."""
    if not _discovery:
        _discovery.update(json.loads(get_static_doc("gmail", "v1") or "{}"))
    return _discovery


class GmailClient:
    """Gmail API calls with the quota kept, throttling waited out, a refused token refreshed
    once, and errors said plainly (ProviderError)."""

    def __init__(
        self, base_url: str, token: Callable[[bool], str], budget: UnitBudget | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self._token = token
        self._bearer = ""
        self._budget = budget or UnitBudget(15_000)
        self._http = httplib2.Http(timeout=TIMEOUT)
        service = build_from_document(
            _gmail_discovery(), http=self._http, client_options={"api_endpoint": self.base_url}
        )
        self.users = service.users()
        self.round_trips = 0
        self.http_seconds = 0.0  # spent waiting for Gmail (benchmarks: Postcard's own time)

    def execute(self, request: HttpRequest, *, cost: int, doing: str) -> dict[str, Any]:
        """One call's answer; NotFound for a 404, ProviderError for other failures."""
        refreshed = False
        for attempt in range(ATTEMPTS):
            self._budget.spend(cost)
            request.headers["authorization"] = f"Bearer {self._access(refresh=False)}"
            self.round_trips += 1
            started = time.perf_counter()
            try:
                body = request.execute()
            except HttpError as error:
                status, reason = error.resp.status, _reason(error)
                if status == 401 and not refreshed:
                    self._access(refresh=True)
                    refreshed = True
                elif _rate_limited(status, reason) or status >= 500:
                    self._wait(_retry_wait(error, attempt))
                elif status == 404:
                    raise NotFound from None
                else:
                    raise _error(status, reason, doing) from None
            except (httplib2.HttpLib2Error, OSError):
                raise TemporaryFailure("Could not reach Gmail (Google's API).") from None
            else:
                return body if isinstance(body, dict) else {}
            finally:
                self.http_seconds += time.perf_counter() - started
        raise TemporaryFailure("Gmail kept answering that it is busy; retried later.")

    def execute_once(self, request: HttpRequest, *, cost: int, doing: str) -> dict[str, Any]:
        """A call that hands something over (messages.send): never repeated after Gmail may have
        taken it. A 401 is retried once (refused: nothing taken); 429 and rate limits are
        NotAccepted-style refusals (TemporaryFailure raised by the caller's mapping); a 5xx or
        a broken connection leave the outcome unknown (TemporaryFailure)."""
        for attempt in range(2):
            self._budget.spend(cost)
            request.headers["authorization"] = f"Bearer {self._access(refresh=bool(attempt))}"
            self.round_trips += 1
            try:
                body = request.execute()
            except HttpError as error:
                status, reason = error.resp.status, _reason(error)
                if status == 401 and attempt == 0:
                    continue
                if _rate_limited(status, reason):
                    raise RateRefused(f"Gmail asked Postcard to slow down while {doing}.") from None
                if status == 404:
                    raise NotFound from None
                raise _error(status, reason, doing) from None
            except (httplib2.HttpLib2Error, OSError):
                raise TemporaryFailure("Could not reach Gmail (Google's API).") from None
            return body if isinstance(body, dict) else {}
        raise AuthenticationFailed("Google no longer accepts Postcard's sign-in for Gmail.")

    def batch(
        self, requests: Mapping[str, Callable[[], HttpRequest]], *, cost: int, doing: str
    ) -> dict[str, dict[str, Any] | None]:
        """Many calls in batch requests of BATCH_SIZE; each answer by key, None where the
        message is gone (404). Calls refused for throttling are sent again after a wait."""
        answers: dict[str, dict[str, Any] | None] = {}
        pending = list(requests)
        refreshed = False
        for attempt in range(ATTEMPTS):
            retry: list[str] = []
            waits: list[float] = []
            unauthorized = False
            for start in range(0, len(pending), BATCH_SIZE):
                keys = pending[start : start + BATCH_SIZE]
                for key, outcome in self._one_batch(keys, requests, cost).items():
                    if isinstance(outcome, HttpError):
                        status, reason = outcome.resp.status, _reason(outcome)
                        if status == 404:
                            answers[key] = None
                            continue
                        if status == 401 and not refreshed:
                            unauthorized = True
                        elif _rate_limited(status, reason) or status >= 500:
                            waits.append(_retry_wait(outcome, attempt))
                        else:
                            raise _error(status, reason, doing)
                        retry.append(key)
                    else:
                        answers[key] = outcome
            if not retry:
                return answers
            if unauthorized:
                self._access(refresh=True)
                refreshed = True
            if waits:
                self._wait(max(waits))
            pending = retry
        raise TemporaryFailure("Gmail kept answering that it is busy; retried later.")

    def _one_batch(
        self, keys: Sequence[str], requests: Mapping[str, Callable[[], HttpRequest]], cost: int
    ) -> dict[str, dict[str, Any] | HttpError]:
        outcomes: dict[str, dict[str, Any] | HttpError] = {}

        def collect(key: str, response: Any, error: HttpError | None) -> None:
            outcomes[key] = error if error is not None else (response or {})

        # The batch endpoint from the configured API address: the library's own default is
        # Google's host whatever api_endpoint says (developers.google.com/gmail/api/guides/batch).
        batch = BatchHttpRequest(callback=collect, batch_uri=f"{self.base_url}batch/gmail/v1")
        bearer = f"Bearer {self._access(refresh=False)}"
        for key in keys:
            request = requests[key]()
            request.headers["authorization"] = bearer
            batch.add(request, request_id=key)
        self._budget.spend(cost * len(keys))
        self.round_trips += 1
        started = time.perf_counter()
        try:
            batch.execute(http=self._http)
        except HttpError as error:  # the batch itself refused: every call in it is retried
            if not (_rate_limited(error.resp.status, _reason(error)) or error.resp.status >= 500):
                raise _error(error.resp.status, _reason(error), "sending a batch") from None
            return dict.fromkeys(keys, error)
        except (httplib2.HttpLib2Error, OSError):
            raise TemporaryFailure("Could not reach Gmail (Google's API).") from None
        finally:
            self.http_seconds += time.perf_counter() - started
        return outcomes

    def _access(self, *, refresh: bool) -> str:
        if refresh or not self._bearer:
            self._bearer = self._token(refresh)
        return self._bearer

    def _wait(self, seconds: float) -> None:
        if seconds > LONGEST_WAIT:  # the sync stops; the mailbox is paused until then
            raise Throttled(f"Gmail asked Postcard to wait {seconds:.0f} s (quota).", seconds)
        time.sleep(seconds)

    def close(self) -> None:
        for connection in list(self._http.connections.values()):
            connection.close()


def error_reasons(error: HttpError) -> set[str]:
    """Every reason in Google's error body, lower-cased: `errors[].reason` ("rateLimitExceeded")
    and `details[].reason` ("RATE_LIMIT_EXCEEDED"), as Google sends either or both."""
    try:
        body = json.loads(error.content or b"{}").get("error") or {}
    except (ValueError, AttributeError):
        return set()
    entries = [*(body.get("errors") or []), *(body.get("details") or [])]
    return {
        str(entry.get("reason", "")).lower().replace("_", "")
        for entry in entries
        if isinstance(entry, dict) and entry.get("reason")
    }


RATE_REASONS = frozenset({"ratelimitexceeded", "userratelimitexceeded", "quotaexceeded"})


def _reason(error: HttpError) -> str:
    """The reasons of Google's error body, for _rate_limited and the user's sentence."""
    return ",".join(sorted(error_reasons(error)))


def _rate_limited(status: int, reason: str) -> bool:
    # developers.google.com/gmail/api/guides/handle-errors: 429 too many requests, 403 with
    # rateLimitExceeded or userRateLimitExceeded; both are retried with exponential backoff.
    return status == 429 or (status == 403 and bool(RATE_REASONS & set(reason.split(","))))


_RETRY_AFTER = re.compile(r"Retry after (\d{4}-\d\d-\d\dT[\d:.]+Z)")


def _retry_wait(error: HttpError, attempt: int) -> float:
    """The wait Gmail names ("User-rate limit exceeded. Retry after <time>", or Retry-After),
    else exponential backoff with jitter."""
    header = error.resp.get("retry-after")
    if header and header.isdigit():
        return float(header)
    found = _RETRY_AFTER.search(str(getattr(error, "reason", "")))
    if found:
        until = datetime.fromisoformat(found.group(1).replace("Z", "+00:00"))
        return max((until - datetime.now(UTC)).total_seconds(), 0.0)
    return float(2**attempt) + random.random()  # noqa: S311  (jitter, not a secret)


def _error(status: int, reason: str, doing: str) -> ProviderError:
    if status == 401:
        return AuthenticationFailed("Google no longer accepts Postcard's sign-in for Gmail.")
    if status == 403 and "domainpolicy" in reason.split(","):
        return AuthenticationFailed(
            "Google Workspace's administrator turned off Gmail access for apps like Postcard."
        )
    if status == 403:
        return AuthenticationFailed(
            f"Google refused access to the mailbox ({reason or 'forbidden'}) while {doing}: "
            "reconnect and allow Postcard to read your email."
        )
    return TemporaryFailure(f"Gmail answered {status} {reason} while {doing}.")


class GmailProvider(OneFolderAtATime):
    def __init__(
        self,
        client: GmailClient,
        *,
        max_message_bytes: int,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self.max_message_bytes = max_message_bytes
        self._on_close = on_close

    def folders(self) -> list[RemoteFolder]:
        return [FOLDER]

    def folder_delta(
        self, folder: RemoteFolder, cursor: str, *, known_ids: KnownIds, since: date | None
    ) -> FolderDelta:
        if cursor:
            try:
                return self._history_delta(cursor, known_ids)
            except NotFound:
                pass  # Gmail no longer has that history: list everything, re-link by id
        return self._relisted(known_ids, since)

    def all_ids(self, folder: RemoteFolder, cursor: str, *, since: date | None) -> FolderDelta:
        history_id = self._history_id()
        return FolderDelta(cursor=history_id, new_ids=self._listed_ids(since))

    def fetch_keys(self, folder: RemoteFolder, remote_ids: Sequence[str]) -> list[MessageKey]:
        # A Gmail message keeps its id whatever its labels, so the engine's id lookup already
        # spared what is held; asking for Message-IDs would cost as much quota as downloading.
        # The storage still links a message held under another id by its Message-ID.
        return [MessageKey(remote_id=i, message_id="") for i in remote_ids]

    def fetch_raw(self, folder: RemoteFolder, remote_ids: Sequence[str]) -> Iterator[RawMessage]:
        """The messages' MIME (format=raw), batch by batch, in the order asked."""
        messages = self.client.users.messages()
        for start in range(0, len(remote_ids), BATCH_SIZE):
            wanted = remote_ids[start : start + BATCH_SIZE]
            answers = self.client.batch(
                {
                    i: (lambda i=i: messages.get(userId="me", id=i, format="raw"))  # type: ignore[misc]
                    for i in wanted
                },
                cost=COST_GET,
                doing="downloading messages",
            )
            for remote_id in wanted:
                answer = answers.get(remote_id)
                if answer:  # None: deleted meanwhile, the next history says so
                    yield self._raw_message(remote_id, answer)

    def close(self) -> None:
        self.client.close()
        if self._on_close is not None:
            self._on_close()

    # --- what changed ---

    def _history_delta(self, cursor: str, known_ids: KnownIds) -> FolderDelta:
        last_labels, history_id = self._history(cursor)
        unsure = [i for i, labels in last_labels.items() if labels == ["?"]]
        if unsure:
            last_labels.update(self._labels_now(unsure))
        if not last_labels:
            return FolderDelta(cursor=history_id)
        known = known_ids(among=list(last_labels))
        wanted = {i for i, labels in last_labels.items() if labels is not None and in_scope(labels)}
        return FolderDelta(
            cursor=history_id,
            new_ids=[i for i in last_labels if i in wanted and i not in known],
            removed_ids=[i for i in last_labels if i not in wanted and i in known],
        )

    def _history(self, cursor: str) -> tuple[dict[str, list[str] | None], str]:
        """Each message touched since `cursor` with its last labels (None: deleted), and the
        history id to continue from: the first page's, so that records added while paging
        are seen again next time (applying them twice changes nothing)."""
        history = self.client.users.history()
        last_labels: dict[str, list[str] | None] = {}
        page_token: str | None = None
        history_id = ""
        while True:
            body = self.client.execute(
                history.list(
                    userId="me",
                    startHistoryId=cursor,
                    historyTypes=HISTORY_TYPES,
                    maxResults=PAGE_SIZE,
                    pageToken=page_token,
                ),
                cost=COST_HISTORY,
                doing="reading the mailbox's changes",
            )
            history_id = history_id or str(body.get("historyId") or cursor)
            for record in body.get("history") or []:
                _note(record, last_labels)
            page_token = body.get("nextPageToken")
            if not page_token:
                return last_labels, history_id

    def _labels_now(self, remote_ids: Sequence[str]) -> dict[str, list[str] | None]:
        messages = self.client.users.messages()
        answers = self.client.batch(
            {
                i: (lambda i=i: messages.get(userId="me", id=i, format="minimal"))  # type: ignore[misc]
                for i in remote_ids
            },
            cost=COST_GET,
            doing="reading labels",
        )
        return {
            i: (list(a.get("labelIds") or []) if a is not None else None)
            for i, a in answers.items()
        }

    def _relisted(self, known_ids: KnownIds, since: date | None) -> FolderDelta:
        """Everything listed: the first import, a resumed one, or history Gmail no longer
        has. Held messages are recognised by id (nothing downloaded twice); held ones no
        longer listed leave."""
        history_id = self._history_id()  # first: changes made while listing come next time
        listed = self._listed_ids(since)
        known = known_ids()
        if not known:
            return FolderDelta(cursor=history_id, new_ids=listed)
        live = set(self._listed_ids(None)) if since is not None else set(listed)
        return FolderDelta(
            cursor=history_id,
            new_ids=[i for i in listed if i not in known],
            removed_ids=sorted(known - live),
        )

    def _history_id(self) -> str:
        profile = self.client.execute(
            self.client.users.getProfile(userId="me"), cost=COST_SMALL, doing="reading the profile"
        )
        return str(profile.get("historyId", ""))

    def _listed_ids(self, since: date | None) -> list[str]:
        """The ids of every message in a synced label (within `since`), newest first."""
        query = f"after:{_epoch(since)}" if since else None  # epoch: an exact moment in UTC
        ids: set[str] = set()
        for label in self._synced_labels():
            ids.update(self._list_label(label, query))
        # Gmail's ids grow with time (hexadecimal): newest first, as people look at mail.
        return sorted(ids, key=lambda i: (len(i), i), reverse=True)

    def _synced_labels(self) -> list[str]:
        body = self.client.execute(
            self.client.users.labels().list(userId="me"), cost=COST_SMALL, doing="listing labels"
        )
        user_labels = [
            str(label["id"])
            for label in body.get("labels") or []
            if label.get("type") == "user" and label.get("id") not in SYSTEM_LABELS
        ]
        return [*SYNCED_SYSTEM_LABELS, *user_labels]

    def _list_label(self, label: str, query: str | None) -> Iterator[str]:
        messages = self.client.users.messages()
        page_token: str | None = None
        while True:
            body = self.client.execute(
                messages.list(
                    userId="me",
                    labelIds=[label],
                    q=query,
                    maxResults=PAGE_SIZE,
                    pageToken=page_token,
                ),
                cost=COST_LIST,
                doing="listing messages",
            )
            for message in body.get("messages") or []:
                yield str(message["id"])
            page_token = body.get("nextPageToken")
            if not page_token:
                return

    def _raw_message(self, remote_id: str, answer: dict[str, Any]) -> RawMessage:
        raw = base64.urlsafe_b64decode(_padded(str(answer.get("raw", ""))))
        truncated = len(raw) > self.max_message_bytes
        return RawMessage(
            remote_id=remote_id,
            raw=raw[: self.max_message_bytes] if truncated else raw,
            received_at=_from_millis(answer.get("internalDate")),
            truncated=truncated,
        )


def _note(record: Mapping[str, Any], last_labels: dict[str, list[str] | None]) -> None:
    """One history record into each message's last known labels ("?": changed, labels not
    given, asked for afterwards)."""
    for added in record.get("messagesAdded") or []:
        message = added.get("message") or {}
        labels = message.get("labelIds")
        last_labels[str(message.get("id"))] = list(labels) if labels is not None else ["?"]
    for kind in ("labelsAdded", "labelsRemoved"):
        for change in record.get(kind) or []:
            message = change.get("message") or {}
            labels = message.get("labelIds")
            last_labels[str(message.get("id"))] = list(labels) if labels is not None else ["?"]
    for deleted in record.get("messagesDeleted") or []:
        last_labels[str((deleted.get("message") or {}).get("id"))] = None


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)


def _epoch(day: date) -> int:
    return int(datetime.combine(day, day_time.min, tzinfo=UTC).timestamp())


def _from_millis(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


# --- who signed in ---------------------------------------------------------------------------


def signed_in_account(base_url: str, access_token: str) -> tuple[str, tuple[str, ...]]:
    """The signed-in account's Gmail address and its send-as aliases (users.getProfile,
    users.settings.sendAs.list; both allowed by gmail.readonly)."""

    def fixed_token(refresh: bool) -> str:
        if refresh:
            raise AuthenticationFailed("Google refused the sign-in it just gave. Sign in again.")
        return access_token

    client = GmailClient(base_url, fixed_token)
    try:
        profile = client.execute(
            client.users.getProfile(userId="me"), cost=COST_SMALL, doing="signing in"
        )
        send_as = client.execute(
            client.users.settings().sendAs().list(userId="me"), cost=COST_SMALL, doing="signing in"
        )
    except NotFound:
        raise TemporaryFailure("Gmail did not find the signed-in mailbox.") from None
    finally:
        client.close()
    primary = str(profile.get("emailAddress", ""))
    aliases = tuple(
        str(entry.get("sendAsEmail", ""))
        for entry in send_as.get("sendAs") or []
        if not entry.get("isPrimary") and entry.get("sendAsEmail")
    )
    return primary, aliases
