"""The state behind the fake Google sign-in and the fake Gmail API.

One `GoogleAccounts` holds what Google holds for our purposes: the registered OAuth client(s),
users (Workspace or consumer Gmail), their grants and tokens, and every user's mailbox (messages
as raw MIME with labels and threads, and the mailbox history); every user's calendars and task
lists come from the base class `google_calendar_state.CalendarsAndTasks`. The fakes are threaded
HTTP servers, so every read and write goes through `accounts.lock`; the control API (the public
methods) is what tests call to arrange a scenario: deliver mail, relabel it, expire history,
throttle, revoke grants, block the app for a Workspace domain.

Push notifications (developers.google.com/gmail/api/guides/push): a mailbox has at most one
`Watch` (users.watch sets it, users.stop ends it); every history record whose change matches its
label filter publishes {"emailAddress", "historyId"} on its topic in `accounts.pubsub`
(`tests/servers/pubsub.py`), which pushes it to the topic's push subscriptions.

Nothing here speaks HTTP: `google_identity.py` and `gmail.py` turn this state into the documented
wire format. The behaviours this module decides are cited where they are decided.
"""

from __future__ import annotations

import email
import email.policy
import html
import json
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from tests.servers.google_calendar_state import CalendarsAndTasks
from tests.servers.pubsub import PubSub
from tests.servers.sent_mail import SentMail as SentMail  # re-exported: accounts.sent_mail
from tests.servers.sent_mail import message_id, recipients

GMAIL = "https://www.googleapis.com/auth/"
# developers.google.com/gmail/api/auth/scopes: the scopes that reach message content.
GMAIL_READ_SCOPES = frozenset(
    {"https://mail.google.com/", f"{GMAIL}gmail.modify", f"{GMAIL}gmail.readonly"}
)
# developers.google.com/identity/protocols/oauth2/scopes#oauth2 (and requests/requests-oauthlib
# #387, googleapis/google-api-python-client#1088): Google answers the short OpenID Connect scope
# names with the userinfo URLs, and adds "openid" to a grant of either.
SCOPE_ALIASES = {"email": f"{GMAIL}userinfo.email", "profile": f"{GMAIL}userinfo.profile"}
OPENID_IMPLIED_BY = frozenset(SCOPE_ALIASES.values())

# developers.google.com/gmail/api/guides/labels#manage_labels_on_messages_threads: the system
# labels every mailbox has (CHAT included, though the API hides chat messages).
SYSTEM_LABELS = (
    "INBOX", "SENT", "DRAFT", "TRASH", "SPAM", "UNREAD", "STARRED", "IMPORTANT", "CHAT",
    "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
)  # fmt: skip

# developers.google.com/gmail/api/reference/quota: quota units per method.
METHOD_COSTS = {
    "gmail.users.getProfile": 1,
    "gmail.users.labels.list": 1,
    "gmail.users.settings.sendAs.list": 1,
    "gmail.users.history.list": 2,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.messages.send": 100,
    "gmail.users.stop": 50,
    "gmail.users.watch": 100,
}
# developers.google.com/gmail/api/reference/quota: "Per user rate limit: 15,000 quota units per
# user per minute".
DEFAULT_UNITS_PER_MINUTE = 15_000
QUOTA_WINDOW_SECONDS = 60.0

# developers.google.com/identity/protocols/oauth2/web-server#exchange-authorization-code:
# "expires_in: The remaining lifetime of the access token in seconds" (Google answers 3599).
ACCESS_TOKEN_LIFETIME = 3599
# developers.google.com/gmail/api/guides/push#watch_request: "You must re-call watch at least
# every 7 days or else you will stop receiving updates for the user."
WATCH_LIFETIME_SECONDS = 7 * 24 * 3600
# RFC 6749 section 4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED."
CODE_LIFETIME = timedelta(minutes=10)

HistoryType = Literal["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"]
HISTORY_TYPES: tuple[HistoryType, ...] = (
    "messageAdded",
    "messageDeleted",
    "labelAdded",
    "labelRemoved",
)
SignInBlock = Literal["page", "redirect"]
LabelFilter = Literal["include", "exclude"]


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalize_scopes(scopes: Iterable[str]) -> list[str]:
    """Scopes as Google grants them: aliases expanded, "openid" added, no duplicates."""
    result: list[str] = []
    for scope in scopes:
        scope = SCOPE_ALIASES.get(scope, scope)
        if scope not in result:
            result.append(scope)
    if OPENID_IMPLIED_BY & set(result) and "openid" not in result:
        result.append("openid")
    return result


def is_gmail_scope(scope: str) -> bool:
    return scope == "https://mail.google.com/" or scope.startswith(f"{GMAIL}gmail.")


# --- accounts and tokens ---------------------------------------------------------------------


@dataclass
class OAuthClient:
    """A web-application OAuth client (console.cloud.google.com > Clients)."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str = "Postcard"


@dataclass
class SendAsAlias:
    """developers.google.com/gmail/api/reference/rest/v1/users.settings.sendAs"""

    email: str
    display_name: str = ""
    verification_status: Literal["accepted", "pending"] = "accepted"


@dataclass
class GoogleUser:
    address: str
    password: str
    name: str
    # The Google Workspace domain ("hd"), or None for a consumer Gmail account.
    workspace_domain: str | None
    aliases: list[SendAsAlias] = field(default_factory=list)


@dataclass
class Grant:
    """What a user allowed one client (myaccount.google.com > Security > Third-party access).
    Revoking any token of it, or removing access there, ends the whole grant."""

    id: int
    address: str
    client_id: str
    scopes: list[str]
    active: bool = True
    has_refresh_token: bool = False


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    address: str
    grant_id: int
    scopes: list[str]
    code_challenge: str
    code_challenge_method: str
    offline: bool
    issue_refresh_token: bool
    expires_at: datetime
    used: bool = False


@dataclass
class AccessToken:
    token: str
    grant_id: int
    scopes: list[str]
    expires_at: datetime


@dataclass
class RefreshToken:
    token: str
    grant_id: int
    # What the authorization that issued it covered; a refresh may ask for less, never more.
    scopes: list[str]


# --- mailboxes -------------------------------------------------------------------------------


@dataclass
class Label:
    id: str
    name: str
    type: Literal["system", "user"]


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    raw: bytes
    label_ids: list[str]
    internal_date: datetime
    history_id: int
    subject: str
    message_id_header: str
    references: list[str]

    @property
    def message_id(self) -> str:
        """The Message-ID header, angle brackets included."""
        return self.message_id_header

    def ref(self) -> dict[str, Any]:
        return {"id": self.id, "threadId": self.thread_id}

    def with_labels(self) -> dict[str, Any]:
        # Google's JSON leaves out empty lists: a message without labels has no labelIds.
        snapshot = self.ref()
        if self.label_ids:
            snapshot["labelIds"] = list(self.label_ids)
        return snapshot


@dataclass
class HistoryRecord:
    """One history record (developers.google.com/gmail/api/reference/rest/v1/users.history):
    the message snapshots carry the labels the message had right after the change."""

    id: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    messages_added: list[dict[str, Any]] = field(default_factory=list)
    messages_deleted: list[dict[str, Any]] = field(default_factory=list)
    labels_added: list[dict[str, Any]] = field(default_factory=list)
    labels_removed: list[dict[str, Any]] = field(default_factory=list)

    def types(self) -> set[HistoryType]:
        present: set[HistoryType] = set()
        if self.messages_added:
            present.add("messageAdded")
        if self.messages_deleted:
            present.add("messageDeleted")
        if self.labels_added:
            present.add("labelAdded")
        if self.labels_removed:
            present.add("labelRemoved")
        return present


@dataclass
class Watch:
    """A mailbox's push watch (developers.google.com/gmail/api/reference/rest/v1/users/watch):
    its topic, label filter and expiry (clock seconds, `accounts.clock`)."""

    topic: str
    label_ids: list[str]
    behavior: LabelFilter
    expires_at: float
    history_id: int

    @property
    def expiration_ms(self) -> int:
        """WatchResponse.expiration: "When Gmail will stop sending notifications for mailbox
        updates (epoch millis)"."""
        return int(self.expires_at * 1000)

    def wants(self, related: set[str]) -> bool:
        """WatchRequest.labelFilterBehavior: include, "Only get push notifications for message
        changes relating to labelIds specified"; exclude, "all message changes except those
        relating to labelIds specified"; labelIds: "By default, if unspecified, all changes are
        pushed out." A change relates to a label the message has after it (before it, for a
        deletion) or the change adds or removes."""
        if not self.label_ids:
            return True
        touched = bool(related & set(self.label_ids))
        return touched if self.behavior == "include" else not touched


@dataclass
class Mailbox:
    address: str
    labels: dict[str, Label]
    history_id: int
    # history.list answers 404 for a startHistoryId below this (expire_history()).
    oldest_history_id: int
    rng: random.Random
    messages: dict[str, StoredMessage] = field(default_factory=dict)
    # Message-ID header -> ids of the messages carrying it (threading looks replies up here).
    by_header: dict[str, list[str]] = field(default_factory=dict)
    history: list[HistoryRecord] = field(default_factory=list)
    next_user_label: int = 1
    watch: Watch | None = None
    # Switches and observations.
    throttled: list[tuple[int, str, float | None]] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    refused: int = 0
    spent: list[tuple[float, int]] = field(default_factory=list)  # (clock time, units)
    peak_units: int = 0

    def next_history_id(self) -> int:
        # users.history/list: "History IDs increase chronologically but are not contiguous with
        # random gaps in between valid IDs."
        self.history_id += self.rng.randint(1, 40)
        return self.history_id


@dataclass(frozen=True)
class ServedBody:
    """One JSON body the Gmail fake answered, for the schema test."""

    method_id: str
    status: int
    body: dict[str, Any]
    query_names: tuple[str, ...] = ()
    path: str = ""


class QuotaExceeded(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


class GoogleAccounts(CalendarsAndTasks):
    """Google's accounts, grants and Gmail mailboxes, shared by both fakes. See the module
    docstring; the public methods are the control API tests use. Calendars and tasks come from
    `google_calendar_state.CalendarsAndTasks`."""

    def __init__(self, *, redirect_uris: Iterable[str] = ()) -> None:
        super().__init__()
        self.lock = threading.RLock()
        # Wall-clock seconds; a test may replace it to move time (quota windows, code expiry).
        self.clock: Callable[[], float] = time.time
        self.clients: dict[str, OAuthClient] = {}
        self.users: dict[str, GoogleUser] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        self.grants: dict[int, Grant] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.blocked_domains: dict[str, SignInBlock] = {}
        self.units_per_minute = DEFAULT_UNITS_PER_MINUTE
        self.revoked_tokens: list[str] = []
        self.token_requests: list[dict[str, Any]] = []
        self.served: list[ServedBody] = []
        # Every message messages.send accepted, in order (see send_message()), and the hook the
        # Gmail fake calls with each one after storing it, before it answers 200: a test can
        # kill the client there, "after the provider accepted". If the hook raises, the client
        # gets a 500 backendError instead (the message stays sent).
        self.sent_mail: list[SentMail] = []
        self.on_send: Callable[[SentMail], None] | None = None
        # The Pub/Sub that Gmail's watches publish to (GoogleCloud wires its push tokens).
        self.pubsub = PubSub()
        # Gmail message ids are 16 hex digits that grow with time; ours count up from here.
        self._next_message_number = 0x18C2F3A4B5000000
        self._next_grant = 1

        self.client = self.add_client(list(redirect_uris))
        self.add_user(
            "alice@acme.test",
            name="Alice Archer",
            workspace_domain="acme.test",
            aliases=[SendAsAlias("sales@acme.test", "Acme Sales")],
        )
        self.add_user("bob@gmail.com", name="Bob Baker")
        self.add_user("carol@blocked.test", name="Carol Cole", workspace_domain="blocked.test")
        self.block_app("blocked.test")

    # --- directory -------------------------------------------------------------------------

    def add_client(self, redirect_uris: list[str], *, name: str = "Postcard") -> OAuthClient:
        # Google's client ids look like "<project number>-<32 chars>.apps.googleusercontent.com".
        number = random.randint(10**11, 10**12 - 1)
        client = OAuthClient(
            client_id=f"{number}-{secrets.token_hex(16)}.apps.googleusercontent.com",
            client_secret="GOCSPX-" + secrets.token_urlsafe(21),
            redirect_uris=list(redirect_uris),
            name=name,
        )
        with self.lock:
            self.clients[client.client_id] = client
        return client

    def add_user(
        self,
        address: str,
        *,
        password: str = "secret",  # noqa: S107 (a test account)
        name: str = "",
        workspace_domain: str | None = None,
        aliases: Iterable[SendAsAlias] = (),
    ) -> GoogleUser:
        address = address.lower()
        user = GoogleUser(
            address=address,
            password=password,
            name=name or address.split("@")[0].title(),
            workspace_domain=workspace_domain,
            aliases=list(aliases),
        )
        rng = random.Random(address)
        first = rng.randint(990, 1010)
        labels = {name: Label(name, name, "system") for name in SYSTEM_LABELS}
        with self.lock:
            self.users[address] = user
            self.mailboxes[address] = Mailbox(
                address=address,
                labels=labels,
                history_id=first,
                oldest_history_id=first,
                rng=rng,
            )
        return user

    def user(self, address: str) -> GoogleUser:
        with self.lock:
            try:
                return self.users[address.lower()]
            except KeyError:
                raise KeyError(f"no Google account {address!r}") from None

    def find_user(self, address: str) -> GoogleUser | None:
        with self.lock:
            return self.users.get(address.strip().lower())

    def mailbox(self, address: str) -> Mailbox:
        with self.lock:
            return self.mailboxes[self.user(address).address]

    def domain_block(self, user: GoogleUser) -> SignInBlock | None:
        if user.workspace_domain is None:
            return None
        return self.blocked_domains.get(user.workspace_domain)

    # --- control API: mail -----------------------------------------------------------------

    def deliver(
        self,
        address: str,
        raw: bytes,
        *,
        labels: Iterable[str] = ("INBOX",),
        internal_date: datetime | None = None,
        thread_id: str | None = None,
    ) -> str:
        """A message arrives (or is imported) with these labels; returns its id. Without
        `thread_id` it joins the thread of a message it replies to, as Gmail's threading does."""
        return self.add_message(
            address, raw, labels=labels, internal_date=internal_date, thread_id=thread_id
        )

    def add_message(
        self,
        address: str,
        raw: bytes,
        *,
        labels: Iterable[str],
        internal_date: datetime | None,
        thread_id: str | None,
        auto_thread: bool = True,
    ) -> str:
        parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
        if internal_date is None:
            internal_date = _date_header(parsed) or utcnow()
        elif internal_date.tzinfo is None:
            internal_date = internal_date.replace(tzinfo=UTC)
        with self.lock:
            mailbox = self.mailbox(address)
            label_ids = list(dict.fromkeys(labels))
            self._check_labels(mailbox, label_ids)
            message_id = self._new_message_id()
            message = StoredMessage(
                id=message_id,
                thread_id=thread_id or "",
                raw=raw,
                label_ids=label_ids,
                internal_date=internal_date,
                history_id=0,
                subject=_header(parsed, "Subject"),
                message_id_header=_header(parsed, "Message-ID").strip(),
                references=_references(parsed),
            )
            if not message.thread_id:
                found = self.thread_for(mailbox, message) if auto_thread else None
                message.thread_id = found or message_id
            mailbox.messages[message_id] = message
            mailbox.by_header.setdefault(message.message_id_header, []).append(message_id)
            record = self._record(mailbox)
            message.history_id = record.id
            record.messages.append(message.ref())
            record.messages_added.append({"message": message.with_labels()})
            self._changed(mailbox, record, set(message.label_ids))
            return message_id

    def send_message(self, address: str, raw: bytes, *, thread_id: str | None) -> str:
        """users.messages/send: the message is stored with the SENT label; it joins `thread_id`
        only if it refers to a message of that thread with the same subject (the criteria of
        the Message.threadId description), else it starts a thread. The stored copy is the
        message as sent, Bcc header included (what the sender's Sent shows; recipients' copies
        lose it: RFC 5322 section 3.6.3). Recorded in `sent_mail`; the Gmail fake then calls
        `on_send`, before it answers (calling this directly does not)."""
        with self.lock:
            mailbox = self.mailbox(address)
            joined = None
            if thread_id:
                probe = _probe(raw)
                joined = self.thread_for(mailbox, probe, within=thread_id)
            stored = self.add_message(
                address,
                raw,
                labels=("SENT",),
                internal_date=utcnow(),
                thread_id=joined,
                auto_thread=False,
            )
            self.sent_mail.append(SentMail(mailbox.address, recipients(raw), raw, message_id(raw)))
            return stored

    def add_labels(self, address: str, message_id: str, labels: Iterable[str]) -> None:
        self._relabel(address, message_id, add=list(labels), remove=[])

    def remove_labels(self, address: str, message_id: str, labels: Iterable[str]) -> None:
        self._relabel(address, message_id, add=[], remove=list(labels))

    def trash(self, address: str, message_id: str) -> None:
        """developers.google.com/gmail/api/reference/rest/v1/users.messages/trash: the message
        gets the TRASH label and keeps its others."""
        self._relabel(address, message_id, add=["TRASH"], remove=[])

    def untrash(self, address: str, message_id: str) -> None:
        self._relabel(address, message_id, add=[], remove=["TRASH"])

    def mark_spam(self, address: str, message_id: str) -> None:
        """Gmail's "Report spam": SPAM added and INBOX removed, in one history record."""
        self._relabel(address, message_id, add=["SPAM"], remove=["INBOX"])

    def not_spam(self, address: str, message_id: str) -> None:
        self._relabel(address, message_id, add=["INBOX"], remove=["SPAM"])

    def delete_forever(self, address: str, message_id: str) -> None:
        """developers.google.com/gmail/api/reference/rest/v1/users.messages/delete: gone for
        good (messages.get answers 404 from now on); history records messageDeleted."""
        with self.lock:
            mailbox = self.mailbox(address)
            message = self._message(mailbox, message_id)
            del mailbox.messages[message_id]
            record = self._record(mailbox)
            record.messages.append(message.ref())
            record.messages_deleted.append({"message": message.ref()})
            self._changed(mailbox, record, set(message.label_ids))

    def create_label(self, address: str, name: str) -> str:
        """A user label; its id is "Label_<n>" like Gmail's."""
        with self.lock:
            mailbox = self.mailbox(address)
            if any(label.name.lower() == name.lower() for label in mailbox.labels.values()):
                raise ValueError(f"label {name!r} exists")
            label_id = f"Label_{mailbox.next_user_label}"
            mailbox.next_user_label += 1
            mailbox.labels[label_id] = Label(label_id, name, "user")
            return label_id

    def delete_label(self, address: str, label_id: str) -> None:
        """developers.google.com/gmail/api/reference/rest/v1/users.labels/delete: "Immediately
        and permanently deletes the specified label and removes it from any messages and
        threads that it is applied to." Each message gets a labelRemoved record."""
        with self.lock:
            mailbox = self.mailbox(address)
            label = mailbox.labels.get(label_id)
            if label is None or label.type != "user":
                raise KeyError(f"no user label {label_id!r}")
            for message in list(mailbox.messages.values()):
                if label_id in message.label_ids:
                    self._relabel(address, message.id, add=[], remove=[label_id])
            del mailbox.labels[label_id]

    def expire_history(self, address: str) -> None:
        """users.history/list: "A historyId is typically valid for at least a week, but in some
        rare circumstances may be valid for only a few hours." From now on every startHistoryId
        below the current history id answers 404."""
        with self.lock:
            mailbox = self.mailbox(address)
            mailbox.oldest_history_id = mailbox.history_id

    def forget_history(self, address: str) -> None:
        """Every history record so far is lost, yet old startHistoryIds still answer 200: the
        changes simply never show up (what a reconciliation against messages.list is for;
        guides/sync: history "is typically valid for at least a week", not always complete)."""
        with self.lock:
            self.mailbox(address).history.clear()

    def history_id(self, address: str) -> str:
        with self.lock:
            return str(self.mailbox(address).history_id)

    def messages(self, address: str) -> list[StoredMessage]:
        """The mailbox's messages (oldest id first), SPAM and TRASH included; `.id`,
        `.thread_id`, `.label_ids`, `.message_id` (the header), `.raw`, `.internal_date`."""
        with self.lock:
            mailbox = self.mailbox(address)
            return [replace(m, label_ids=list(m.label_ids)) for m in mailbox.messages.values()]

    # --- control API and Gmail fake: push watches ------------------------------------------

    def start_watch(
        self, address: str, topic: str, label_ids: Iterable[str], behavior: LabelFilter
    ) -> Watch:
        """users.watch, once the request is checked: the mailbox's watch, replacing any earlier
        one (users/watch: "Set up or update a push notification watch")."""
        with self.lock:
            mailbox = self.mailbox(address)
            mailbox.watch = Watch(
                topic=topic,
                label_ids=list(dict.fromkeys(label_ids)),
                behavior=behavior,
                expires_at=self.clock() + WATCH_LIFETIME_SECONDS,
                history_id=mailbox.history_id,
            )
            return mailbox.watch

    def stop_watch(self, address: str) -> None:
        """users/stop: "Stop receiving push notifications for the given user mailbox"."""
        with self.lock:
            self.mailbox(address).watch = None

    def watch_of(self, address: str) -> Watch | None:
        """The mailbox's watch, if any (expired ones included; see `Watch.expires_at`)."""
        with self.lock:
            return self.mailbox(address).watch

    # --- control API: limits ---------------------------------------------------------------

    def throttle(
        self,
        address: str,
        count: int,
        *,
        status: int = 429,
        reason: str = "rateLimitExceeded",
        retry_after: float | None = None,
    ) -> None:
        """The user's next `count` Gmail calls (each inner call of a batch counts) are refused
        with this status and reason, e.g. 403 "userRateLimitExceeded"
        (developers.google.com/gmail/api/guides/handle-errors, whose sample messages they
        carry). With `retry_after` (seconds) the message names the time, as Gmail's
        "User-rate limit exceeded.  Retry after <time>" does (no Retry-After header: Gmail
        documents none)."""
        with self.lock:
            self.mailbox(address).throttled.extend([(status, reason, retry_after)] * count)

    def set_quota(self, units_per_minute: int) -> None:
        """The per-user quota in units per rolling 60 s (default 15,000)."""
        with self.lock:
            self.units_per_minute = units_per_minute

    def calls(self, address: str) -> list[str]:
        """Method ids of the user's Gmail calls, in order, inner batch calls included (also those
        refused by throttling or quota)."""
        with self.lock:
            return list(self.mailbox(address).calls)

    def reset_calls(self, address: str) -> None:
        with self.lock:
            self.mailbox(address).calls.clear()

    def refused(self, address: str) -> int:
        """How many of the user's calls throttling or the quota refused."""
        with self.lock:
            return self.mailbox(address).refused

    def peak_units_per_minute(self, address: str) -> int:
        """The most units the user spent in any rolling 60 s window."""
        with self.lock:
            return self.mailbox(address).peak_units

    def spend(self, address: str, method_id: str) -> None:
        """Count one call against the throttle switch and the quota, or raise QuotaExceeded
        (then nothing is spent)."""
        with self.lock:
            mailbox = self.mailbox(address)
            mailbox.calls.append(method_id)
            now = self.clock()
            if mailbox.throttled:
                status, reason, retry_after = mailbox.throttled.pop(0)
                mailbox.refused += 1
                message = _throttle_message(reason)
                if retry_after is not None:
                    message = _retry_message(now + retry_after)
                raise QuotaExceeded(status, reason, message)
            cost = METHOD_COSTS[method_id]
            mailbox.spent = [(t, u) for t, u in mailbox.spent if t > now - QUOTA_WINDOW_SECONDS]
            used = sum(units for _, units in mailbox.spent)
            if used + cost > self.units_per_minute:
                # Observed answer (levz0r/gmail-tester#23, bettergov/foiamail#36): 429
                # rateLimitExceeded, "User-rate limit exceeded.  Retry after <RFC 3339>", with
                # the time the window has room again.
                retry_at = now + QUOTA_WINDOW_SECONDS
                remaining = used
                for spent_at, units in mailbox.spent:
                    remaining -= units
                    if remaining + cost <= self.units_per_minute:
                        retry_at = spent_at + QUOTA_WINDOW_SECONDS
                        break
                mailbox.refused += 1
                raise QuotaExceeded(429, "rateLimitExceeded", _retry_message(retry_at))
            mailbox.spent.append((now, cost))
            mailbox.peak_units = max(mailbox.peak_units, used + cost)

    def record_served(self, served: ServedBody) -> None:
        with self.lock:
            self.served.append(served)

    # --- control API: grants and tokens ----------------------------------------------------

    def revoke_grants(self, address: str) -> None:
        """The user removed our access (myaccount.google.com > Security > Third-party access):
        refresh tokens answer invalid_grant "Token has been expired or revoked." and access
        tokens 401 (developers.google.com/identity/protocols/oauth2#expiration: "The user has
        revoked your app's access")."""
        with self.lock:
            user = self.user(address)
            for grant in self.grants.values():
                if grant.address == user.address:
                    grant.active = False

    def change_password(self, address: str) -> None:
        """oauth2#expiration: "The user changed passwords and the refresh token contains Gmail
        scopes." Grants with a Gmail scope end as with revoke_grants(); others survive."""
        with self.lock:
            user = self.user(address)
            for grant in self.grants.values():
                if grant.address == user.address and any(map(is_gmail_scope, grant.scopes)):
                    grant.active = False

    def expire_access_tokens(self) -> None:
        """Every access token issued so far answers 401 until the client refreshes."""
        with self.lock:
            past = utcnow() - timedelta(seconds=1)
            for token in self.access_tokens.values():
                token.expires_at = past

    def block_app(self, domain: str, *, sign_in: SignInBlock = "page") -> None:
        """The Workspace admin of `domain` restricts our app (Admin console > Security > API
        controls > Manage third-party app access).

        Sign-in: developers.google.com/identity/protocols/oauth2/web-server#authorization-
        errors-admin-policy-enforced lists admin_policy_enforced among the errors Google's
        authorization endpoint *displays to the user* ("Access blocked: Authorization Error ...
        Error 400: admin_policy_enforced", as GAM-team/got-your-back#284 shows); it does not
        redirect. That is `sign_in="page"`. `sign_in="redirect"` instead sends the browser back
        with error=admin_policy_enforced, for apps that want to test that branch too.

        Refresh: oauth2#expiration lists admin_policy_enforced for an admin restriction of the
        app's scopes; the token endpoint answers 400 {"error": "admin_policy_enforced", ...}
        (the body FlowCrypt/flowcrypt-browser#1409 shows). The fake also answers 401 to access
        tokens already issued to that domain's users."""
        with self.lock:
            self.blocked_domains[domain.lower()] = sign_in

    def unblock_app(self, domain: str) -> None:
        with self.lock:
            self.blocked_domains.pop(domain.lower(), None)

    def grant_active(self, address: str, client_id: str | None = None) -> bool:
        """Whether the user has a usable grant for the client (default: the registered one)."""
        with self.lock:
            user = self.user(address)
            client_id = client_id or self.client.client_id
            if self.domain_block(user) is not None:
                return False
            return any(
                g.active and g.address == user.address and g.client_id == client_id
                for g in self.grants.values()
            )

    # --- tokens (used by the identity fake) ------------------------------------------------

    def current_grant(self, address: str, client_id: str) -> Grant | None:
        with self.lock:
            for grant in reversed(self.grants.values()):
                if grant.address == address and grant.client_id == client_id and grant.active:
                    return grant
            return None

    def consent(
        self,
        user: GoogleUser,
        client: OAuthClient,
        scopes: list[str],
        *,
        include_granted_scopes: bool,
    ) -> tuple[Grant, list[str]]:
        """The user pressed Allow: the grant now holds these scopes too. Returns the grant and
        the scopes of this authorization (with include_granted_scopes, all the grant's:
        developers.google.com/identity/protocols/oauth2/web-server#incrementalAuth)."""
        with self.lock:
            grant = self.current_grant(user.address, client.client_id)
            if grant is None:
                grant = Grant(self._next_grant, user.address, client.client_id, [])
                self._next_grant += 1
                self.grants[grant.id] = grant
            grant.scopes = normalize_scopes([*grant.scopes, *scopes])
            authorized = grant.scopes if include_granted_scopes else normalize_scopes(scopes)
            return grant, list(authorized)

    def issue_code(self, **kwargs: Any) -> AuthorizationCode:
        code = AuthorizationCode(
            code="4/0A" + secrets.token_urlsafe(54),
            expires_at=datetime.fromtimestamp(self.clock(), UTC) + CODE_LIFETIME,
            **kwargs,
        )
        with self.lock:
            self.codes[code.code] = code
        return code

    def issue_access_token(self, grant: Grant, scopes: list[str]) -> AccessToken:
        token = AccessToken(
            token="ya29." + secrets.token_urlsafe(120),
            grant_id=grant.id,
            scopes=list(scopes),
            expires_at=utcnow() + timedelta(seconds=ACCESS_TOKEN_LIFETIME),
        )
        with self.lock:
            self.access_tokens[token.token] = token
        return token

    def issue_refresh_token(self, grant: Grant, scopes: list[str]) -> RefreshToken:
        token = RefreshToken(
            token="1//0g" + secrets.token_urlsafe(75), grant_id=grant.id, scopes=list(scopes)
        )
        with self.lock:
            self.refresh_tokens[token.token] = token
            grant.has_refresh_token = True
        return token

    def valid_access_token(self, value: str) -> tuple[AccessToken, GoogleUser] | None:
        """The access token and its user, if Gmail should accept it now."""
        with self.lock:
            token = self.access_tokens.get(value)
            if token is None or token.expires_at <= utcnow():
                return None
            grant = self.grants[token.grant_id]
            user = self.users[grant.address]
            if not grant.active or self.domain_block(user) is not None:
                return None
            return token, user

    def revoke(self, value: str) -> bool:
        """developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke: revoking an
        access or a refresh token ends the grant. False if the token is unknown or dead."""
        with self.lock:
            self.revoked_tokens.append(value)
            found = self.access_tokens.get(value) or self.refresh_tokens.get(value)
            if found is None:
                return False
            grant = self.grants[found.grant_id]
            if not grant.active:
                return False
            if isinstance(found, AccessToken) and found.expires_at <= utcnow():
                return False
            grant.active = False
            return True

    # --- internals -------------------------------------------------------------------------

    def _new_message_id(self) -> str:
        self._next_message_number += random.randint(0x1000, 0xFFFFF)
        return f"{self._next_message_number:016x}"

    def _message(self, mailbox: Mailbox, message_id: str) -> StoredMessage:
        try:
            return mailbox.messages[message_id]
        except KeyError:
            raise KeyError(f"no message {message_id!r} in {mailbox.address}") from None

    def _check_labels(self, mailbox: Mailbox, label_ids: Iterable[str]) -> None:
        unknown = [label for label in label_ids if label not in mailbox.labels]
        if unknown:
            raise KeyError(f"unknown labels {unknown} in {mailbox.address}")

    def _changed(self, mailbox: Mailbox, record: HistoryRecord, related: set[str]) -> None:
        """A complete history record: publish it to the mailbox's watch, if it has a live one
        whose label filter wants it (guides/push#receiving_notifications: the data "is a JSON
        object containing the email address and the new mailbox history ID for the user").
        historyId goes out as a JSON number, as Gmail sends it (the guide's sample shows a
        string; a receiver should take either). One message per change: Gmail may also coalesce
        changes and limits pushes to one per second per user (guides/push#notification_limits),
        which the fake does not."""
        watch = mailbox.watch
        if watch is None or watch.expires_at <= self.clock() or not watch.wants(related):
            return
        data = json.dumps({"emailAddress": mailbox.address, "historyId": record.id})
        self.pubsub.publish(watch.topic, data.encode())

    def _record(self, mailbox: Mailbox) -> HistoryRecord:
        record = HistoryRecord(id=mailbox.next_history_id())
        mailbox.history.append(record)
        return record

    def _relabel(self, address: str, message_id: str, *, add: list[str], remove: list[str]) -> None:
        """One change of labels, one history record holding labelsAdded and/or labelsRemoved
        (users.history: each carries the message with its labelIds after the change)."""
        with self.lock:
            mailbox = self.mailbox(address)
            message = self._message(mailbox, message_id)
            self._check_labels(mailbox, [*add, *remove])
            added = [label for label in dict.fromkeys(add) if label not in message.label_ids]
            removed = [label for label in dict.fromkeys(remove) if label in message.label_ids]
            if not added and not removed:
                return
            message.label_ids = [
                label for label in [*message.label_ids, *added] if label not in removed
            ]
            record = self._record(mailbox)
            message.history_id = record.id
            record.messages.append(message.ref())
            if added:
                record.labels_added.append({"message": message.with_labels(), "labelIds": added})
            if removed:
                record.labels_removed.append(
                    {"message": message.with_labels(), "labelIds": removed}
                )
            self._changed(mailbox, record, {*message.label_ids, *added, *removed})

    def thread_for(
        self, mailbox: Mailbox, message: StoredMessage, *, within: str | None = None
    ) -> str | None:
        """The thread of a message this one refers to (In-Reply-To/References) with the same
        subject, "Re:" aside (the criteria the Message.threadId description in gmail.v1.json
        lists); `within` limits the search to one thread."""
        if not message.references:
            return None
        subject = _base_subject(message.subject)
        referred = {
            found
            for header in message.references
            for found in mailbox.by_header.get(header, ())
            if found in mailbox.messages  # deleted since
        }
        for other_id in sorted(referred, reverse=True):  # the newest first
            other = mailbox.messages[other_id]
            if within is not None and other.thread_id != within:
                continue
            if _base_subject(other.subject) == subject:
                return other.thread_id
        return None


# --- message helpers (also used by the Gmail fake) -------------------------------------------


def _probe(raw: bytes) -> StoredMessage:
    """A message not stored, for the threading criteria."""
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    return StoredMessage(
        id="",
        thread_id="",
        raw=raw,
        label_ids=[],
        internal_date=utcnow(),
        history_id=0,
        subject=_header(parsed, "Subject"),
        message_id_header=_header(parsed, "Message-ID").strip(),
        references=_references(parsed),
    )


def _header(parsed: Message, name: str) -> str:
    value = parsed.get(name)
    return "" if value is None else str(value)


def _date_header(parsed: Message) -> datetime | None:
    value = parsed.get("Date")
    if not value:
        return None
    try:
        parsed_date = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    if parsed_date.tzinfo is None:
        parsed_date = parsed_date.replace(tzinfo=UTC)
    return parsed_date


def _references(parsed: Message) -> list[str]:
    ids: list[str] = []
    for name in ("In-Reply-To", "References"):
        ids += re.findall(r"<[^<>\s]+>", _header(parsed, name))
    return ids


def _base_subject(subject: str) -> str:
    return re.sub(r"^\s*((re|fwd?|aw|wg)\s*:\s*)+", "", subject, flags=re.IGNORECASE).strip()


def snippet(raw: bytes) -> str:
    """The start of the text, whitespace collapsed and HTML-escaped as Gmail's snippets are
    (developers.google.com/gmail/api/reference/rest/v1/users.messages: "A short part of the
    message text"; Gmail sends apostrophes as &#39;)."""
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    text = ""
    body = parsed.get_body(preferencelist=("plain", "html"))
    if body is not None:
        try:
            text = body.get_content()
        except (LookupError, UnicodeError):
            text = ""
        if body.get_content_subtype() == "html":
            text = re.sub(r"<[^>]*>", " ", text)
            text = html.unescape(text)
    text = " ".join(text.split())[:200]
    return html.escape(text, quote=False).replace('"', "&quot;").replace("'", "&#39;")


def _retry_message(retry_at: float) -> str:
    when = datetime.fromtimestamp(retry_at, UTC)
    stamp = f"{when.strftime('%Y-%m-%dT%H:%M:%S.')}{when.microsecond // 1000:03d}Z"
    return f"User-rate limit exceeded.  Retry after {stamp}"


def _throttle_message(reason: str) -> str:
    # developers.google.com/gmail/api/guides/handle-errors: the sample bodies' messages.
    return {
        "userRateLimitExceeded": "User Rate Limit Exceeded",
        "rateLimitExceeded": "Rate Limit Exceeded",
        "dailyLimitExceeded": "Daily Limit Exceeded",
        "backendError": "Backend Error",
    }.get(reason, reason)
