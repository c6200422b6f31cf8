"""The state behind the fake Microsoft identity platform and the fake Microsoft Graph.

One `MicrosoftTenant` holds what a Microsoft 365 tenant holds for our purposes: registered apps,
users (with consent per app), the tokens the identity fake issued, and every user's mailbox
(folders, messages as raw MIME, delta-sync state). Both fakes are threaded HTTP servers, so every
read and write goes through `tenant.lock`; the control API (the public methods) is what tests call
to arrange a scenario: deliver mail, move it, expire tokens, throttle, take the login service down.
Calendars, events and To Do live in `microsoft_calendar.py` (one `CalendarStore` per user), whose
`CalendarControl` methods the tenant inherits: add or delete a calendar, delete an event as if in
Outlook, list what the product pushed.

Nothing here speaks HTTP: `microsoft_identity.py` and `graph.py` turn this state into the
documented wire format, and cite the Microsoft documentation each behaviour follows.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import re
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from email.utils import format_datetime, formataddr, getaddresses, parsedate_to_datetime
from typing import Any, Literal

from werkzeug.serving import BaseWSGIServer

from tests.servers.graph_subscriptions import MessageChange, SubscriptionControl
from tests.servers.microsoft_calendar import CalendarControl, CalendarStore
from tests.servers.sent_mail import SentMail as SentMail  # re-exported: tenant.sent_mail
from tests.servers.sent_mail import message_id, recipients, with_header_first, without_header

RefreshFailure = Literal["expired", "revoked", "consent_withdrawn"]
DeltaExpiry = Literal["410", "syncStateNotFound"]

# learn.microsoft.com/graph/api/resources/mailfolder: well-known folder names usable in place of
# an id, with the display names Exchange Online gives them in English.
WELL_KNOWN_FOLDERS = {
    "msgfolderroot": "Top of Information Store",
    "archive": "Archive",
    "conversationhistory": "Conversation History",
    "deleteditems": "Deleted Items",
    "drafts": "Drafts",
    "inbox": "Inbox",
    "junkemail": "Junk Email",
    "outbox": "Outbox",
    "sentitems": "Sent Items",
}

# Scopes that are OpenID Connect's, not a resource's (learn.microsoft.com/entra/identity-platform/
# scopes-oidc#openid-connect-scopes).
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_guid() -> str:
    return str(uuid.uuid4())


def _exchange_id(prefix: str, length: int = 48) -> str:
    """An opaque id shaped like Exchange's (`AAMkAG...AAA=`): URL-safe base64, no slashes."""
    body = base64.urlsafe_b64encode(secrets.token_bytes(length)).decode().rstrip("=")
    return f"{prefix}{body}AAA="


def rest_id() -> str:
    # learn.microsoft.com/graph/outlook-immutable-id: default (REST) ids start AAMkAG.
    return _exchange_id("AAMkAG")


def immutable_id() -> str:
    # learn.microsoft.com/graph/outlook-immutable-id: immutable ids start AAkALg.
    return _exchange_id("AAkALg")


def exchange_message_id() -> str:
    """A Message-ID shaped like those Exchange Online gives the messages it sends
    (`<hex@server.namprd11.prod.outlook.com>`)."""
    return f"<{secrets.token_hex(20).upper()}@PH0PR11MB4961.namprd11.prod.outlook.com>"


def graph_datetime(value: datetime) -> str:
    """Graph's DateTimeOffset format: UTC with a Z, whole seconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class App:
    """An app registration (learn.microsoft.com/entra/identity-platform/quickstart-register-app)."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    display_name: str = "Postcard"
    disabled: bool = False


@dataclass
class User:
    """A member of the tenant with an Exchange Online mailbox."""

    oid: str
    upn: str
    mail: str
    display_name: str
    password: str
    aliases: list[str] = field(default_factory=list)
    disabled: bool = False
    # client_id -> scopes the user consented to for that app.
    consent: dict[str, set[str]] = field(default_factory=dict)

    @property
    def proxy_addresses(self) -> list[str]:
        # learn.microsoft.com/graph/api/resources/user: proxyAddresses, the primary address as
        # "SMTP:" and every alias as lower-case "smtp:".
        return [f"SMTP:{self.mail}"] + [f"smtp:{alias}" for alias in self.aliases]

    def addresses(self) -> set[str]:
        return {a.lower() for a in (self.upn, self.mail, *self.aliases)}


@dataclass
class AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    user_oid: str
    scopes: list[str]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: datetime
    redeemed: bool = False


@dataclass
class AccessToken:
    token: str
    user_oid: str
    client_id: str
    scopes: list[str]
    expires_at: datetime


@dataclass
class RefreshToken:
    token: str
    user_oid: str
    client_id: str
    scopes: list[str]
    # Set by fail_refresh(): every later redemption of this token fails this way.
    failure: RefreshFailure | None = None


@dataclass
class Folder:
    id: str
    display_name: str
    parent_id: str
    is_hidden: bool = False
    well_known_name: str | None = None


@dataclass(frozen=True)
class Address:
    name: str
    address: str


@dataclass
class StoredMessage:
    """One message as delivered (raw MIME) plus what Graph derives from it."""

    immutable_id: str
    rest_id: str
    raw: bytes
    folder_id: str
    received_at: datetime
    created_at: datetime
    last_modified_at: datetime
    change_key: str
    changed_seq: int
    is_read: bool
    subject: str
    sender: Address | None
    to: list[Address]
    cc: list[Address]
    # Bcc is only in a sender's own copy (Sent Items); delivered copies have no Bcc header.
    bcc: list[Address]
    reply_to: list[Address]
    internet_message_id: str
    sent_at: datetime | None
    conversation_id: str
    body_content: str
    body_type: Literal["text", "html"]
    body_preview: str
    has_attachments: bool
    # Set while the message is a draft (isDraft): what its MIME is rendered from.
    draft: Draft | None = None


@dataclass
class DraftAttachment:
    """A file attachment of a draft (learn.microsoft.com/graph/api/resources/fileattachment)."""

    id: str
    name: str
    content_type: str
    data: bytes
    is_inline: bool
    content_id: str | None
    last_modified_at: datetime


@dataclass
class Draft:
    """What Exchange keeps of a draft as the client set it (learn.microsoft.com/graph/api/
    resources/message: recipients, replyTo, subject, body, attachments), plus the threading
    headers createReply / createReplyAll gave it. The draft's MIME (`StoredMessage.raw`) is
    rendered from this after every change (`render_draft`), and again when it is sent."""

    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    subject: str = ""
    body_type: Literal["text", "html"] = "html"
    body_content: str = ""
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    # Custom internetMessageHeaders (x-...) given when the draft was created.
    headers: list[tuple[str, str]] = field(default_factory=list)
    attachments: list[DraftAttachment] = field(default_factory=list)

    def recipients(self) -> list[Address]:
        return [*self.to, *self.cc, *self.bcc]


def render_draft(owner: User, draft: Draft, internet_message_id: str) -> bytes:
    """The MIME Exchange sends for a draft: From the mailbox, To, Cc, Bcc (kept in the sender's
    copy), Reply-To, Subject, Date (now), Message-ID (the draft's internetMessageId, kept from
    its creation), In-Reply-To and References (RFC 5322 section 3.6.4) for a reply, custom
    headers, the body (text or html) and the file attachments. A header value with a line
    break raises ValueError (email.policy refuses it)."""
    mime = EmailMessage(policy=email.policy.SMTP)
    mime["From"] = formataddr((owner.display_name, owner.mail))
    for header, addresses in (
        ("To", draft.to),
        ("Cc", draft.cc),
        ("Bcc", draft.bcc),
        ("Reply-To", draft.reply_to),
    ):
        if addresses:
            mime[header] = ", ".join(_format_address(a) for a in addresses)
    mime["Subject"] = draft.subject
    mime["Date"] = format_datetime(utcnow())
    mime["Message-ID"] = internet_message_id
    if draft.in_reply_to:
        mime["In-Reply-To"] = draft.in_reply_to
    if draft.references:
        mime["References"] = " ".join(draft.references)
    for name, value in draft.headers:
        mime[name] = value
    subtype = "html" if draft.body_type == "html" else "plain"
    mime.set_content(draft.body_content, subtype=subtype)
    for attachment in draft.attachments:
        maintype, _, subsubtype = attachment.content_type.partition("/")
        mime.add_attachment(
            attachment.data,
            maintype=maintype or "application",
            subtype=subsubtype or "octet-stream",
            filename=attachment.name,
            disposition="inline" if attachment.is_inline else "attachment",
            cid=attachment.content_id if attachment.is_inline else None,
        )
    return mime.as_bytes()


def _format_address(address: Address) -> str:
    # Parsed addresses carry the address as their name when there was none.
    name = "" if address.name == address.address else address.name
    return formataddr((name, address.address))


@dataclass
class DeltaParams:
    """What the initial delta request asked for; the state tokens carry it to later rounds
    (learn.microsoft.com/graph/delta-query-overview#state-tokens)."""

    select: list[str] | None
    received_since: datetime | None
    change_type: str | None


@dataclass
class DeltaState:
    """A `$skiptoken` (a round being paged) or a `$deltatoken` (a finished round).

    `known` maps each message the client has been told is in the folder (immutable id) to the
    REST id it was told at the time, so a later round can report it `@removed` under the id the
    client knows, even after a move gave it a new REST id.
    """

    folder_id: str
    params: DeltaParams
    known: dict[str, str]
    since_seq: int
    # Only for a skiptoken: what is left to send in this round, as (kind, immutable id, old id).
    pending: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class Mailbox:
    owner_oid: str
    folders: dict[str, Folder] = field(default_factory=dict)
    messages: dict[str, StoredMessage] = field(default_factory=dict)  # by immutable id
    rest_index: dict[str, str] = field(default_factory=dict)  # REST id -> immutable id
    seq: int = 0
    delegates: set[str] = field(default_factory=set)  # oids allowed to read this mailbox
    delta_tokens: dict[str, DeltaState] = field(default_factory=dict)
    expired_tokens: dict[str, DeltaExpiry] = field(default_factory=dict)
    throttled: int = 0
    retry_after: str = "2.128"
    failures: list[int] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    gate: threading.Event | None = None

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq


@dataclass(frozen=True)
class IdentityRequest:
    """One request the identity fake answered: form fields without secrets."""

    method: str
    path: str
    status: int
    form: dict[str, str]


@dataclass(frozen=True)
class GraphRequest:
    """One request the Graph fake answered; `in_batch` for the parts of a `$batch`."""

    method: str
    path: str
    status: int
    user: str | None
    in_batch: bool = False
    # Which handler answered ("delta", "message", "error", ...) and the JSON it sent, so tests
    # can check every body against the msgraph-sdk models.
    route: str = ""
    body: bytes | None = None


class MicrosoftTenant(CalendarControl, SubscriptionControl):
    """A Microsoft 365 tenant: apps, users, tokens and mailboxes, shared by both fakes. Every
    user also has calendars and To Do lists (microsoft_calendar.py, whose `CalendarControl` is
    the control API for them). Graph change notifications on messages (subscriptions, their
    deliveries and lifecycle events) are `SubscriptionControl`'s, in graph_subscriptions.py:
    every change to a message below is reported to it (`_changed`)."""

    def __init__(self, *, access_token_lifetime: int = 3600) -> None:
        self.tenant_id = new_guid()
        self.display_name = "Contoso"
        self.access_token_lifetime = access_token_lifetime
        self.lock = threading.RLock()
        self._in_flight_changed = threading.Condition(self.lock)
        self.apps: dict[str, App] = {}
        self.users: dict[str, User] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        self.calendar_stores: dict[str, CalendarStore] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.admin_approval_required = False
        self.disabled = False
        self.unreachable: Literal["reset", "503"] | None = None
        self.identity_requests: list[IdentityRequest] = []
        self.graph_requests: list[GraphRequest] = []
        # Every message Graph's sendMail accepted, in order (see send_mail()), and the hook the
        # Graph fake calls with each one after storing it, before it answers 202: a test can
        # kill the client there, "after the provider accepted". If the hook raises, the client
        # gets a 500 instead (the message stays sent).
        self.sent_mail: list[SentMail] = []
        self.on_send: Callable[[SentMail], None] | None = None
        self._init_subscriptions()

    # --- directory ---------------------------------------------------------------------------

    def add_app(
        self, redirect_uris: list[str], *, display_name: str = "Postcard", client_id: str = ""
    ) -> App:
        app = App(
            client_id=client_id or new_guid(),
            client_secret=secrets.token_urlsafe(30),
            redirect_uris=list(redirect_uris),
            display_name=display_name,
        )
        with self.lock:
            self.apps[app.client_id] = app
        return app

    def add_user(
        self,
        upn: str,
        *,
        password: str = "secret",  # noqa: S107 (a test account)
        display_name: str = "",
        mail: str | None = None,
        aliases: tuple[str, ...] = (),
    ) -> User:
        user = User(
            oid=new_guid(),
            upn=upn,
            mail=mail or upn,
            display_name=display_name or upn.split("@")[0].title(),
            password=password,
            aliases=list(aliases),
        )
        with self.lock:
            self.users[user.oid] = user
            self.mailboxes[user.oid] = self._new_mailbox(user.oid)
            self.calendar_stores[user.oid] = CalendarStore.new()
        return user

    def user(self, who: User | str) -> User:
        """A user by object, object id, UPN, primary address or alias (case-insensitive)."""
        if isinstance(who, User):
            return who
        with self.lock:
            if who in self.users:
                return self.users[who]
            for user in self.users.values():
                if who.lower() in user.addresses():
                    return user
        raise KeyError(f"no user {who!r} in the tenant")

    def find_user(self, who: str) -> User | None:
        try:
            return self.user(who)
        except KeyError:
            return None

    def mailbox(self, who: User | str) -> Mailbox:
        return self.mailboxes[self.user(who).oid]

    # --- identity switches -------------------------------------------------------------------

    def require_admin_approval(self, required: bool = True) -> None:
        """Users may no longer consent themselves (tenant setting "Do not allow user consent")."""
        with self.lock:
            self.admin_approval_required = required

    def disable_tenant(self, disabled: bool = True) -> None:
        """The tenant's admin disabled our app (Enterprise app "Enabled for users to sign in":
        No): sign-in and token requests fail with AADSTS7000112."""
        with self.lock:
            self.disabled = disabled

    def disable_app(self, client_id: str, disabled: bool = True) -> None:
        with self.lock:
            self.apps[client_id].disabled = disabled

    def disable_user(self, who: User | str, disabled: bool = True) -> None:
        with self.lock:
            self.user(who).disabled = disabled

    def set_unreachable(
        self, unreachable: bool = True, *, mode: Literal["reset", "503"] = "reset"
    ) -> None:
        """Take the login service down: connections are closed unanswered, or answered 503."""
        with self.lock:
            self.unreachable = mode if unreachable else None

    def fail_refresh(self, who: User | str, kind: RefreshFailure) -> None:
        """Every refresh token the user holds now fails as `kind` (a new sign-in issues working
        ones). "consent_withdrawn" also forgets the user's consent, so sign-in asks again."""
        with self.lock:
            user = self.user(who)
            for token in self.refresh_tokens.values():
                if token.user_oid == user.oid:
                    token.failure = kind
            if kind == "consent_withdrawn":
                user.consent.clear()

    def expire_access_tokens(self, who: User | str) -> None:
        """The user's access tokens expire now: Graph answers 401 until the client refreshes."""
        with self.lock:
            oid = self.user(who).oid
            past = utcnow() - timedelta(seconds=1)
            for token in self.access_tokens.values():
                if token.user_oid == oid:
                    token.expires_at = past

    def grant_mailbox_access(self, owner: User | str, delegate: User | str) -> None:
        """`delegate` may read `owner`'s mailbox (Full Access / Read permission in Exchange)."""
        with self.lock:
            self.mailbox(owner).delegates.add(self.user(delegate).oid)

    # --- tokens (used by the identity fake) --------------------------------------------------

    def issue_code(self, **kwargs: Any) -> AuthorizationCode:
        # learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow: codes are
        # short-lived, about 10 minutes.
        code = AuthorizationCode(
            code=secrets.token_urlsafe(48), expires_at=utcnow() + timedelta(minutes=10), **kwargs
        )
        with self.lock:
            self.codes[code.code] = code
        return code

    def issue_access_token(self, user_oid: str, client_id: str, scopes: list[str]) -> AccessToken:
        token = AccessToken(
            token=secrets.token_urlsafe(64),
            user_oid=user_oid,
            client_id=client_id,
            scopes=list(scopes),
            expires_at=utcnow() + timedelta(seconds=self.access_token_lifetime),
        )
        with self.lock:
            self.access_tokens[token.token] = token
        return token

    def issue_refresh_token(self, user_oid: str, client_id: str, scopes: list[str]) -> RefreshToken:
        token = RefreshToken(
            token=secrets.token_urlsafe(96), user_oid=user_oid, client_id=client_id, scopes=scopes
        )
        with self.lock:
            self.refresh_tokens[token.token] = token
        return token

    def valid_access_token(self, token: str) -> AccessToken | None:
        with self.lock:
            found = self.access_tokens.get(token)
            if found is None or found.expires_at <= utcnow():
                return None
            return found

    # --- mailbox control ---------------------------------------------------------------------

    def _new_mailbox(self, owner_oid: str) -> Mailbox:
        mailbox = Mailbox(owner_oid=owner_oid)
        root = Folder(
            id=_exchange_id("AQMkAD", 12),
            display_name=WELL_KNOWN_FOLDERS["msgfolderroot"],
            parent_id=_exchange_id("AQMkAD", 12),  # the (hidden) root of the whole store
            well_known_name="msgfolderroot",
        )
        mailbox.folders[root.id] = root
        for name, display in WELL_KNOWN_FOLDERS.items():
            if name != "msgfolderroot":
                folder = Folder(_exchange_id("AQMkAD", 12), display, root.id, False, name)
                mailbox.folders[folder.id] = folder
        return mailbox

    def folder(self, who: User | str, folder: str) -> Folder:
        """A folder by id or well-known name (case-insensitive, as Graph accepts them)."""
        with self.lock:
            found = self.find_folder(self.mailbox(who), folder)
        if found is None:
            raise KeyError(f"no folder {folder!r}")
        return found

    @staticmethod
    def find_folder(mailbox: Mailbox, folder: str) -> Folder | None:
        if folder in mailbox.folders:
            return mailbox.folders[folder]
        for candidate in mailbox.folders.values():
            if candidate.well_known_name == folder.lower():
                return candidate
        return None

    def create_folder(
        self, who: User | str, name: str, parent: str = "msgfolderroot", *, hidden: bool = False
    ) -> str:
        with self.lock:
            parent_id = self.folder(who, parent).id
            created = Folder(_exchange_id("AAMkAG"), name, parent_id, hidden)
            self.mailbox(who).folders[created.id] = created
            return created.id

    def rename_folder(self, who: User | str, folder: str, name: str) -> None:
        with self.lock:
            self.folder(who, folder).display_name = name

    def delete_folder(self, who: User | str, folder: str) -> None:
        """Hard-delete a folder, its subfolders and every message in them."""
        with self.lock:
            mailbox = self.mailbox(who)
            doomed = {self.folder(who, folder).id}
            grew = True
            while grew:
                more = {f.id for f in mailbox.folders.values() if f.parent_id in doomed}
                grew = not more <= doomed
                doomed |= more
            for message in list(mailbox.messages.values()):
                if message.folder_id in doomed:
                    self._remove_message(mailbox, message)
                    self._changed(mailbox, message, "deleted")
            for folder_id in doomed:
                del mailbox.folders[folder_id]

    def deliver(
        self,
        who: User | str,
        raw: bytes,
        folder: str = "inbox",
        received_at: datetime | None = None,
        *,
        is_read: bool = False,
    ) -> str:
        """Put a message into a folder, as delivery would; returns its immutable id."""
        with self.lock:
            mailbox = self.mailbox(who)
            target = self.folder(who, folder)
            now = utcnow()
            message = _parse_message(raw)
            stored = StoredMessage(
                immutable_id=immutable_id(),
                rest_id=rest_id(),
                raw=raw,
                folder_id=target.id,
                received_at=(received_at or now).astimezone(UTC),
                created_at=now,
                last_modified_at=now,
                change_key=_change_key(),
                changed_seq=mailbox.next_seq(),
                is_read=is_read,
                **message,
            )
            mailbox.messages[stored.immutable_id] = stored
            mailbox.rest_index[stored.rest_id] = stored.immutable_id
            self._changed(mailbox, stored, "created")
            return stored.immutable_id

    def find_message(self, mailbox: Mailbox, message_id: str) -> StoredMessage | None:
        """By immutable id or current REST id (an old REST id from before a move is gone)."""
        if message_id in mailbox.messages:
            return mailbox.messages[message_id]
        immutable = mailbox.rest_index.get(message_id)
        return mailbox.messages.get(immutable) if immutable else None

    def message(self, who: User | str, message_id: str) -> StoredMessage:
        with self.lock:
            found = self.find_message(self.mailbox(who), message_id)
        if found is None:
            raise KeyError(f"no message {message_id!r}")
        return found

    def messages(self, who: User | str, folder: str | None = None) -> list[StoredMessage]:
        with self.lock:
            mailbox = self.mailbox(who)
            folder_id = self.folder(who, folder).id if folder else None
            return [m for m in mailbox.messages.values() if folder_id in (None, m.folder_id)]

    def move(self, who: User | str, message_id: str, folder: str) -> StoredMessage:
        """Move a message. Its immutable id stays; its REST id changes, as Exchange's does
        (learn.microsoft.com/graph/outlook-immutable-id)."""
        with self.lock:
            mailbox = self.mailbox(who)
            message = self.message(who, message_id)
            target = self.folder(who, folder)
            old_rest_id, old_folder_id = message.rest_id, message.folder_id
            del mailbox.rest_index[message.rest_id]
            message.rest_id = rest_id()
            mailbox.rest_index[message.rest_id] = message.immutable_id
            message.folder_id = target.id
            self._touch(mailbox, message)
            self._changed(mailbox, message, "moved", old_rest_id, old_folder_id)
            return message

    def set_read(self, who: User | str, message_id: str, is_read: bool = True) -> None:
        with self.lock:
            message = self.message(who, message_id)
            message.is_read = is_read
            self._touch(self.mailbox(who), message)
            self._changed(self.mailbox(who), message, "updated")

    def delete(self, who: User | str, message_id: str) -> None:
        """Hard delete (not a move to Deleted Items)."""
        with self.lock:
            mailbox = self.mailbox(who)
            message = self.message(who, message_id)
            self._remove_message(mailbox, message)
            self._changed(mailbox, message, "deleted")

    def _changed(
        self,
        mailbox: Mailbox,
        message: StoredMessage,
        kind: Literal["created", "updated", "deleted", "moved"],
        old_rest_id: str = "",
        old_folder_id: str = "",
    ) -> None:
        """Tell the subscriptions (graph_subscriptions.py) what happened to a message: created
        (delivered, a draft made), updated (read state, a draft saved), deleted (gone: the ids
        are those it had) or moved (now in its folder under its new REST id)."""
        self.publish_message_change(
            MessageChange(
                kind,
                mailbox.owner_oid,
                message.immutable_id,
                message.rest_id,
                message.change_key,
                message.folder_id,
                old_rest_id,
                old_folder_id,
            )
        )

    def _touch(self, mailbox: Mailbox, message: StoredMessage) -> None:
        message.changed_seq = mailbox.next_seq()
        message.change_key = _change_key()
        message.last_modified_at = utcnow()

    @staticmethod
    def _remove_message(mailbox: Mailbox, message: StoredMessage) -> None:
        del mailbox.messages[message.immutable_id]
        del mailbox.rest_index[message.rest_id]
        mailbox.next_seq()

    def expire_delta(self, who: User | str, folder: str, mode: DeltaExpiry = "410") -> None:
        """Every delta token issued so far for this folder is gone: the next request with one
        answers `mode` (410 with a fresh-start Location, or SyncStateNotFound)."""
        with self.lock:
            mailbox = self.mailbox(who)
            folder_id = self.folder(who, folder).id
            for token, state in list(mailbox.delta_tokens.items()):
                if state.folder_id == folder_id:
                    del mailbox.delta_tokens[token]
                    mailbox.expired_tokens[token] = mode

    # --- sending -----------------------------------------------------------------------------

    def send_mail(
        self, who: User | str, raw: bytes, *, save_to_sent_items: bool = True
    ) -> SentMail:
        """Send `raw` from `who`'s mailbox, as Graph's sendMail does once it accepted it
        (learn.microsoft.com/graph/api/user-sendmail), and record it in `sent_mail`.

        - A message without a Message-ID gets one in front: Exchange gives every message an
          internetMessageId (learn.microsoft.com/graph/api/resources/message#properties).
        - A copy goes into the sender's Sent Items, read, as sent (Bcc included), unless
          `save_to_sent_items` is false (user-sendmail: saveToSentItems, default true). It is a
          new message there, so a delta round of sentitems reports it as created.
        - Every recipient who is a user of this tenant gets it in their Inbox, once per mailbox,
          without the Bcc header (RFC 5322 section 3.6.3: Bcc addresses are not shown to the
          other recipients).

        The Graph fake calls `on_send` afterwards, before it answers; calling this directly
        does not."""
        with self.lock:
            sender = self.user(who)
            internet_message_id = message_id(raw)
            if not internet_message_id:
                internet_message_id = exchange_message_id()
                raw = with_header_first(raw, "Message-ID", internet_message_id)
            if save_to_sent_items:
                self.deliver(sender, raw, "sentitems", is_read=True)
            return self._deliver_and_record(sender, raw, internet_message_id)

    def _deliver_and_record(self, sender: User, raw: bytes, internet_message_id: str) -> SentMail:
        """Every recipient in the tenant gets `raw` (without Bcc) once; the send is recorded."""
        to = recipients(raw)
        delivered: set[str] = set()
        for address in to:
            user = self.find_user(address)
            if user is not None and user.oid not in delivered:
                delivered.add(user.oid)
                self.deliver(user, without_header(raw, "Bcc"))
        sent = SentMail(sender.mail, to, raw, internet_message_id)
        self.sent_mail.append(sent)
        return sent

    # --- drafts ------------------------------------------------------------------------------

    def create_draft(
        self, who: User | str, draft: Draft, *, conversation_id: str | None = None
    ) -> StoredMessage:
        """A new draft in `who`'s Drafts folder (read, isDraft), as createReply, createReplyAll
        and createForward make one (learn.microsoft.com/graph/api/message-createreply). It gets
        its internetMessageId now, as Exchange gives drafts one, and keeps it when sent; a
        reply or forward stays in the original's conversation (`conversation_id`)."""
        with self.lock:
            owner = self.user(who)
            internet_message_id = exchange_message_id()
            raw = render_draft(owner, draft, internet_message_id)
            message = self.message(owner, self.deliver(owner, raw, "drafts", is_read=True))
            message.draft = draft
            if conversation_id:
                message.conversation_id = conversation_id
            _take_draft_values(message, draft)
            return message

    def save_draft(
        self,
        who: User | str,
        message_id: str,
        draft: Draft,
        *,
        internet_message_id: str | None = None,
    ) -> StoredMessage:
        """Replace a draft's content (learn.microsoft.com/graph/api/message-update): its MIME is
        rendered again (ValueError, and nothing changed, for a header it cannot hold) and it
        counts as changed for delta."""
        with self.lock:
            owner = self.user(who)
            message = self.message(owner, message_id)
            if message.draft is None:
                raise ValueError("not a draft")
            new_id = internet_message_id or message.internet_message_id
            raw = render_draft(owner, draft, new_id)
            _reparse(message, raw)
            message.internet_message_id = new_id
            message.draft = draft
            _take_draft_values(message, draft)
            self._touch(self.mailbox(owner), message)
            self._changed(self.mailbox(owner), message, "updated")
            return message

    def send_draft(self, who: User | str, message_id: str) -> SentMail:
        """Send a draft, as Graph's message send does (learn.microsoft.com/graph/api/message-
        send: "This method saves the message in the Sent Items folder"): the MIME is rendered
        once more (Date now, the draft's own Message-ID), the item moves from Drafts to Sent
        Items (a new REST id, the same immutable id: learn.microsoft.com/graph/outlook-
        immutable-id#immutable-id-with-sending-mail), read and no longer a draft, so delta sees
        it removed from drafts and new in sentitems. Recipients in the tenant get it, and the
        send is recorded in `sent_mail` as sendMail's are."""
        with self.lock:
            sender = self.user(who)
            message = self.message(sender, message_id)
            draft = message.draft
            if draft is None:
                raise ValueError("not a draft")
            raw = render_draft(sender, draft, message.internet_message_id)
            _reparse(message, raw)
            message.draft = None
            message.is_read = True
            message.received_at = message.sent_at = utcnow()
            self.move(sender, message.immutable_id, "sentitems")
            return self._deliver_and_record(sender, raw, message.internet_message_id)

    # --- Graph throttling and accounting -----------------------------------------------------

    def throttle(self, who: User | str, count: int, retry_after: str = "2.128") -> None:
        """The next `count` Graph requests for this mailbox answer 429 with this Retry-After."""
        with self.lock:
            mailbox = self.mailbox(who)
            mailbox.throttled = count
            mailbox.retry_after = retry_after

    def fail_next(self, who: User | str, status: int = 503) -> None:
        """The next Graph request for this mailbox answers `status` (queued: call it again to
        fail more)."""
        with self.lock:
            self.mailbox(who).failures.append(status)

    def max_concurrency(self, who: User | str) -> int:
        """The most requests for this mailbox the Graph fake has had in flight at once."""
        with self.lock:
            return self.mailbox(who).max_in_flight

    @contextmanager
    def hold_requests(self, who: User | str) -> Iterator[None]:
        """Graph requests for this mailbox wait (in flight) until the block ends, so a test can
        build up concurrency without sleeping; see `wait_in_flight`."""
        gate = threading.Event()
        with self.lock:
            self.mailbox(who).gate = gate
        try:
            yield
        finally:
            with self.lock:
                self.mailbox(who).gate = None
            gate.set()

    def wait_in_flight(self, who: User | str, count: int, timeout: float = 10.0) -> None:
        with self._in_flight_changed:
            mailbox = self.mailbox(who)
            if not self._in_flight_changed.wait_for(
                lambda: mailbox.in_flight >= count, timeout=timeout
            ):
                raise TimeoutError(f"{mailbox.in_flight} of {count} requests in flight")

    def enter_request(self, mailbox: Mailbox) -> tuple[int, threading.Event | None]:
        with self._in_flight_changed:
            mailbox.in_flight += 1
            mailbox.max_in_flight = max(mailbox.max_in_flight, mailbox.in_flight)
            self._in_flight_changed.notify_all()
            return mailbox.in_flight, mailbox.gate

    def leave_request(self, mailbox: Mailbox) -> None:
        with self._in_flight_changed:
            mailbox.in_flight -= 1
            self._in_flight_changed.notify_all()

    def record_graph(self, request: GraphRequest) -> None:
        with self.lock:
            self.graph_requests.append(request)

    def requests_count(self, who: User | str | None = None) -> int:
        """HTTP round trips the Graph fake answered (a `$batch` counts once), for one user's
        tokens or all."""
        upn = self.user(who).upn if who is not None else None
        with self.lock:
            return sum(
                1 for r in self.graph_requests if not r.in_batch and (upn is None or r.user == upn)
            )

    def request_paths(self, who: User | str | None = None) -> Counter[str]:
        upn = self.user(who).upn if who is not None else None
        with self.lock:
            return Counter(r.path for r in self.graph_requests if upn is None or r.user == upn)

    def reset_counts(self) -> None:
        with self.lock:
            self.graph_requests.clear()
            for mailbox in self.mailboxes.values():
                mailbox.max_in_flight = mailbox.in_flight


def _change_key() -> str:
    return base64.b64encode(secrets.token_bytes(20)).decode()


def _addresses(values: list[str]) -> list[Address]:
    try:
        pairs = getaddresses(values)
    except (RecursionError, ValueError, IndexError):  # a pathological header: no recipients
        return []
    return [Address(name or addr, addr) for name, addr in pairs if addr]


def _reparse(message: StoredMessage, raw: bytes) -> None:
    """New MIME for a stored message: what Graph derives from it, but the conversation and the
    internetMessageId stay the item's own."""
    parsed = _parse_message(raw)
    for name in ("conversation_id", "internet_message_id"):
        parsed.pop(name)
    message.raw = raw
    for name, value in parsed.items():
        setattr(message, name, value)


def _take_draft_values(message: StoredMessage, draft: Draft) -> None:
    """A draft shows its subject and body as the client set them (the MIME round trip would
    add a final line break)."""
    message.subject = draft.subject
    message.body_type = draft.body_type
    message.body_content = draft.body_content


def _header_date(message: Message) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(str(message["Date"])) if message["Date"] else None
    except (TypeError, ValueError):
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _conversation_id(message: Message, internet_message_id: str) -> str:
    """Exchange threads by the conversation's first message: the root of References, else
    In-Reply-To, else the message itself."""
    references = re.findall(r"<[^>]+>", str(message["References"] or ""))
    root = (references or re.findall(r"<[^>]+>", str(message["In-Reply-To"] or "")) or [""])[0]
    digest = hashlib.sha256((root or internet_message_id).encode()).digest()
    return "AAQkAG" + base64.urlsafe_b64encode(digest).decode().rstrip("=") + "="


def _parse_message(raw: bytes) -> dict[str, Any]:
    """What Graph derives from the MIME (learn.microsoft.com/graph/api/resources/message).

    Exchange stores whatever arrives: headers are read as raw text (compat32), so a malformed
    address list or charset costs its property, never the delivery."""
    headers = email.message_from_bytes(raw, policy=email.policy.compat32)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)

    def values(name: str) -> list[str]:
        return [str(v) for v in headers.get_all(name, [])]

    internet_message_id = (values("Message-ID") or [f"<{uuid.uuid4().hex}@fake.invalid>"])[0]
    body_type, body_content, preview_source = _body(message)
    senders = _addresses(values("From"))
    return {
        "subject": _subject(message, values("Subject")),
        "sender": senders[0] if senders else None,
        "to": _addresses(values("To")),
        "cc": _addresses(values("Cc")),
        "bcc": _addresses(values("Bcc")),
        "reply_to": _addresses(values("Reply-To")),
        "internet_message_id": internet_message_id.strip(),
        "sent_at": _header_date(headers),
        "conversation_id": _conversation_id(headers, internet_message_id.strip()),
        "body_content": body_content,
        "body_type": body_type,
        # bodyPreview: "The first 255 characters of the message body. It is in text format."
        "body_preview": " ".join(preview_source.split())[:255],
        "has_attachments": _has_attachments(message),
    }


def _subject(message: EmailMessage, raw: list[str]) -> str:
    try:
        return str(message["Subject"] or "")
    except (ValueError, LookupError, AttributeError, TypeError):
        return raw[0] if raw else ""


def _body(message: EmailMessage) -> tuple[Literal["text", "html"], str, str]:
    """(body type, body, the text its preview is made of); empty where undecodable."""
    try:
        html = message.get_body(preferencelist=("html",))
        text = message.get_body(preferencelist=("plain",))
        body_part = html if html is not None else text
        content = str(body_part.get_content()) if body_part is not None else ""
        preview = str(text.get_content()) if text is not None else _strip_tags(content)
    except (ValueError, LookupError, AttributeError, TypeError, KeyError):
        return "text", "", ""
    return ("html" if html is not None else "text"), content, preview


def _has_attachments(message: EmailMessage) -> bool:
    try:
        return any(True for _ in message.iter_attachments())
    except (ValueError, LookupError, AttributeError, TypeError, KeyError):
        return False


def _strip_tags(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


class ServedInThread:
    """A werkzeug server answering from a daemon thread until `close()` (both fakes use it)."""

    def __init__(self, server: BaseWSGIServer) -> None:
        self.server = server
        self.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
