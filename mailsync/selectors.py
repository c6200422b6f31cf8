"""Reads of synchronized mail, always through the viewer's mailbox visibility."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from django.conf import settings
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.timesince import timesince

from hierarchy.models import User
from hierarchy.selectors import Reason, Visibility, mailbox_visibility
from mailsync.connections import plain_error
from mailsync.models import (
    Mailbox,
    MailboxState,
    Message,
    ParticipantRole,
    SyncRun,
)
from mailsync.oauth import sign_in_for

# Pages that show mail never read a mailbox's connection settings or credentials: decrypting
# them is the sync's and the settings page's business, and a lost key must not break cards.
MAILBOX_SECRETS = ("mailbox__credentials", "mailbox__connection_settings")


@dataclass(frozen=True)
class Holder:
    """A visible mailbox that holds the email, and why the viewer may see it."""

    user_id: int
    name: str
    reason: Reason


class Party(NamedTuple):
    """A participant as a card shows it: read as plain values, hundreds to a page."""

    role: str
    address: str
    name: str


@dataclass(frozen=True)
class CardEmail:
    message: Message  # the copy shown: the viewer's own if they hold one, else the closest
    holders: list[Holder]

    @property
    def participants(self) -> list[Party]:
        """In header order; loaded for a whole page at once (`card_participants`)."""
        loaded: list[Party] | None = getattr(self.message, "card_participants", None)
        if loaded is None:
            rows = self.message.participants.order_by("pk")
            loaded = [Party(p.role, p.address, p.name) for p in rows]
        return loaded

    @property
    def sender(self) -> Party | None:
        return next((p for p in self.participants if p.role == ParticipantRole.FROM), None)

    @property
    def recipients(self) -> list[Party]:
        shown = (ParticipantRole.TO, ParticipantRole.CC, ParticipantRole.BCC)
        return [p for p in self.participants if p.role in shown]


def visible_messages(visibility: Visibility) -> QuerySet[Message]:
    """Every message the viewer may read, internal-only mail excluded."""
    return Message.objects.filter(mailbox__owner_id__in=visibility.owner_ids, is_internal=False)


@dataclass(frozen=True)
class CardConversation:
    """One thread (Message.thread_key) of the emails exchanged with a card's addresses."""

    latest: CardEmail  # its newest visible email, which a card page shows
    email_count: int  # its visible emails, each counted once
    holders: list[Holder]  # every visible mailbox holding one of them, closest first
    # All its emails, newest first: loaded when the conversation is opened (card_conversation)
    # and left out of card pages, which would otherwise read every email of 25 threads.
    emails: list[CardEmail] | None = None


def visible_message(*, viewer: User, message_id: int) -> Message | None:
    """A single message by id, or None when the viewer may not see it (callers answer 404)."""
    visibility = mailbox_visibility(viewer)
    return (
        visible_messages(visibility)
        .select_related("mailbox__owner")
        .defer(*MAILBOX_SECRETS)
        .prefetch_related("participants")
        .filter(pk=message_id)
        .first()
    )


# --- Settings > Mailbox sync: the state of the user's own mailbox, in plain words ----------
#
# One state, one headline, one primary action: the page, the progress script (through the
# status JSON) and anything else showing mailbox health read it here, so they never disagree.


class SyncState(StrEnum):
    NOT_CONNECTED = "not_connected"
    DEMO = "demo"  # demo data: no server behind it, never synchronized
    DISCONNECTED = "disconnected"  # by the user, a refused password, or no password stored
    FIRST_IMPORT = "first_import"
    SYNCING = "syncing"
    QUEUED = "queued"  # due: a worker should start it within seconds
    BACKING_OFF = "backing_off"  # temporary failures: retried later, each wait longer
    STALLED = "stalled"  # due for minutes and nothing ran: no worker is taking the work
    ACTIVE = "active"


# Whether Postcard is at work (the page watches it), waiting for something, or fine.
TONES = {
    SyncState.NOT_CONNECTED: "off",
    SyncState.DEMO: "demo",
    SyncState.DISCONNECTED: "off",
    SyncState.FIRST_IMPORT: "busy",
    SyncState.SYNCING: "busy",
    SyncState.QUEUED: "busy",
    SyncState.BACKING_OFF: "warn",
    SyncState.STALLED: "warn",
    SyncState.ACTIVE: "ok",
}
# The beat looks for due mailboxes every minute at most and a worker starts them at once:
# a mailbox due for this long has no worker taking it.
STALL_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class StatusAction:
    label: str
    url: str
    # "get": a link; "post": a form with the CSRF token; "password": the same, asking for the
    # mailbox's new password
    method: str = "get"


@dataclass(frozen=True)
class SyncProgress:
    done: int
    total: int  # 0 while the new messages are still being counted

    @property
    def percent(self) -> int:
        return min(100, self.done * 100 // self.total) if self.total else 0


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    note: str = ""


@dataclass(frozen=True)
class LogRow:
    run: SyncRun
    duration: str


@dataclass(frozen=True)
class MailboxStatus:
    state: SyncState
    headline: str
    detail: str
    action: StatusAction | None  # the one primary action
    error: str = ""  # the last problem, in plain words
    technical: str = ""  # the provider's own sentence, for whoever helps the user
    progress: SyncProgress | None = None
    secondary: StatusAction | None = None  # disconnect or remove: never the primary
    mailbox: Mailbox | None = None
    message_count: int = 0
    facts: list[Fact] = field(default_factory=list)
    log: list[LogRow] = field(default_factory=list)

    @property
    def tone(self) -> str:
        return TONES[self.state]

    @property
    def can_sync(self) -> bool:
        return self.state not in (SyncState.NOT_CONNECTED, SyncState.DEMO, SyncState.DISCONNECTED)

    @property
    def watch(self) -> bool:
        """Worth watching: the page polls while Postcard is about to change what it shows."""
        return self.tone in ("busy", "warn")


def mailbox_of(user: User) -> Mailbox | None:
    return Mailbox.objects.filter(owner=user).first()


def shared_mailboxes_of(user: User) -> QuerySet[Mailbox]:
    """The second (shared, team) mailboxes the user connected: held by sync-only users under
    them (hierarchy.services.sync_only_user_create)."""
    return Mailbox.objects.filter(owner__parent=user, owner__is_sync_only=True).order_by("address")


def sync_blocker(mailbox: Mailbox) -> str:
    """Why this mailbox cannot be synchronized, or "" when it can."""
    if mailbox.is_demo:
        return "This is a demo mailbox: there is no mail server to synchronize it with."
    if mailbox.state == MailboxState.DISCONNECTED or not mailbox.has_credentials:
        return "Reconnect the mailbox first: Postcard has no password for it."
    return ""


def mailbox_status_view(
    mailbox: Mailbox | None,
    *,
    runs: int = 10,
    now: datetime | None = None,
    count_messages: bool = True,
) -> MailboxStatus:
    """What the settings page says about the mailbox (None: the user has not connected one).

    `count_messages=False` (the home page's summary) skips counting a mailbox's mail, a scan of
    100,000 rows in a large one; only a demo mailbox, whose headline names the number, is
    counted then.
    """
    if mailbox is None:
        return MailboxStatus(
            state=SyncState.NOT_CONNECTED,
            headline="Your mailbox is not connected yet",
            detail="Postcard keeps a copy of the emails you exchange with your contacts and "
            "shows them on their cards, so the whole conversation with a customer is in one place.",
            action=StatusAction("Connect your mailbox", reverse("mailbox-connect")),
        )
    now = now or timezone.now()
    state = _state_of(mailbox, now)
    count = mailbox.messages.count() if count_messages or state == SyncState.DEMO else 0
    described = _DESCRIBE[state](mailbox, now, count)
    error = plain_error(mailbox.state_reason, host=_host(mailbox)) if _shows_error(state) else ""
    return dataclasses.replace(
        described,
        error=described.error or error,
        technical=mailbox.state_reason if error else "",
        mailbox=mailbox,
        message_count=count,
        facts=_facts(mailbox, state, count),
        log=[LogRow(run, _duration(run)) for run in mailbox.sync_runs.all()[:runs]],
    )


def mailbox_status(mailbox: Mailbox, *, runs: int = 10) -> MailboxStatus:
    return mailbox_status_view(mailbox, runs=runs)


def _state_of(mailbox: Mailbox, now: datetime) -> SyncState:
    if mailbox.is_demo:
        return SyncState.DEMO
    if sync_blocker(mailbox):
        return SyncState.DISCONNECTED
    never = mailbox.last_synced_at is None
    if _sync_running(mailbox, now):
        return SyncState.FIRST_IMPORT if never else SyncState.SYNCING
    if mailbox.next_sync_at is None or mailbox.next_sync_at <= now:
        due_since = mailbox.next_sync_at or mailbox.created_at
        if due_since <= now - STALL_GRACE:
            return SyncState.STALLED
    if mailbox.failures:
        return SyncState.BACKING_OFF
    if mailbox.next_sync_at is None or mailbox.next_sync_at <= now:
        return SyncState.FIRST_IMPORT if never else SyncState.QUEUED
    # Claimed by the beat but never run (a worker down while the beat runs): the last sync,
    # or the connection, is older than one interval and the grace.
    interval = timedelta(seconds=settings.MAILBOX_SYNC_INTERVAL_SECONDS)
    if (mailbox.last_synced_at or mailbox.created_at) < now - interval - STALL_GRACE:
        return SyncState.STALLED
    return SyncState.FIRST_IMPORT if never else SyncState.ACTIVE


def _sync_running(mailbox: Mailbox, now: datetime) -> bool:
    # A worker holds the lease while it syncs; a killed worker's lease lapses, and with it
    # the SYNCING state it left behind.
    if mailbox.lease_until is not None:
        return mailbox.lease_until > now
    return mailbox.state == MailboxState.SYNCING


def _shows_error(state: SyncState) -> bool:
    return state in (SyncState.DISCONNECTED, SyncState.BACKING_OFF, SyncState.STALLED)


def _host(mailbox: Mailbox) -> str:
    return str(mailbox.connection_settings.get("imap_host", ""))


# --- each state in words -----------------------------------------------------------------


def _disconnect() -> StatusAction:
    return StatusAction("Disconnect…", reverse("mailbox-disconnect"))


def _open_contacts() -> StatusAction:
    return StatusAction("Open contacts", reverse("contact-list"))


def _emails(count: int) -> str:
    return f"{count:,} synchronized email{'' if count == 1 else 's'}"


def _demo(mailbox: Mailbox, now: datetime, count: int) -> MailboxStatus:
    return MailboxStatus(
        state=SyncState.DEMO,
        headline="Demo mailbox: it does not sync",
        detail=f"{mailbox.address} and its {count:,} emails are demo data. No mail server is "
        "behind it and no password is stored, so Postcard never synchronizes it. Replace it "
        "with your own mailbox to see your real email here.",
        action=StatusAction("Replace with my own mailbox", reverse("mailbox-disconnect")),
    )


def _disconnected(mailbox: Mailbox, now: datetime, count: int) -> MailboxStatus:
    by_you = mailbox.state_reason.lower().startswith("disconnected by you")
    opening = f"You stopped the sync of {mailbox.address}. " if by_you else ""
    via = sign_in_for(mailbox.provider)  # a provider one signs in to, or None (IMAP)
    resume = f"Sign in to {via.label} again" if via else "Enter the password"
    return MailboxStatus(
        state=SyncState.DISCONNECTED,
        headline="Disconnected",
        detail=f"{opening}Your settings and the {_emails(count)} are kept. {resume} to resume: "
        "only what changed since is fetched, nothing is imported twice.",
        action=StatusAction(
            f"Reconnect with {via.label}",
            reverse("mailbox-reconnect-oauth", args=[mailbox.provider]),
            "post",
        )
        if via
        else StatusAction("Reconnect", reverse("mailbox-reconnect"), "password"),
        # No reason at all: a mailbox saved without its password (admin, an old import).
        error="" if mailbox.state_reason else "No password is stored for this mailbox.",
        secondary=StatusAction("Remove mailbox and emails…", reverse("mailbox-disconnect")),
    )


def _first_import(mailbox: Mailbox, now: datetime, count: int) -> MailboxStatus:
    days = mailbox.sync_since_days
    reach = (
        "all of your email"
        if days is None
        else "no old email (new mail only), so this is quick"
        if days == 0
        else f"the last {days} days of email"
    )
    return MailboxStatus(
        state=SyncState.FIRST_IMPORT,
        headline="Importing your email",
        detail=f"Postcard is copying {reach} from {mailbox.address}. You can leave this page: "
        "the import continues on the server and emails appear on contact cards as they "
        "arrive.",
        action=_open_contacts(),
        progress=SyncProgress(mailbox.progress_done, mailbox.progress_total),
        secondary=_disconnect(),
    )


def _syncing(mailbox: Mailbox, now: datetime, count: int) -> MailboxStatus:
    return MailboxStatus(
        state=SyncState.SYNCING,
        headline="Syncing new mail",
        detail=f"{_last_sync(mailbox, now)} This page updates by itself; you can leave it.",
        action=_open_contacts(),
        progress=SyncProgress(mailbox.progress_done, mailbox.progress_total),
        secondary=_disconnect(),
    )


def _queued(mailbox: Mailbox, now: datetime, count: int) -> MailboxStatus:
    return MailboxStatus(
        state=SyncState.QUEUED,
        headline="Sync starting",
        detail=f"Postcard is about to check {mailbox.address} for new mail. "
        f"{_last_sync(mailbox, now)} This page updates by itself.",
        action=_open_contacts(),
        progress=SyncProgress(0, 0),
        secondary=_disconnect(),
    )


def _backing_off(mailbox: Mailbox, now: datetime, count: int) -> MailboxStatus:
    next_at = mailbox.next_sync_at
    when = "now" if next_at is None or next_at <= now else _at(next_at, now)
    attempts = f"{mailbox.failures} failed attempt{'' if mailbox.failures == 1 else 's'}"
    return MailboxStatus(
        state=SyncState.BACKING_OFF,
        headline=f"Temporary problem, retrying {when}",
        detail=f"Postcard keeps trying on its own and waits a little longer after each failed "
        f"attempt ({attempts} so far). {_last_sync(mailbox, now)}",
        action=StatusAction("Try again now", reverse("mailbox-sync-now"), "post"),
        secondary=_disconnect(),
    )


def _stalled(mailbox: Mailbox, now: datetime, count: int) -> MailboxStatus:
    last = mailbox.last_synced_at
    since = f"The last sync ran {_at(last, now)}." if last else "The first import has not started."
    return MailboxStatus(
        state=SyncState.STALLED,
        headline="Waiting for the sync worker",
        detail=f"{since} The background worker that synchronizes mail seems to be stopped: ask "
        "your administrator to check it. Nothing is lost; Postcard catches up once it runs.",
        action=StatusAction("Check again", reverse("mailbox-settings")),
        secondary=_disconnect(),
    )


def _active(mailbox: Mailbox, now: datetime, count: int) -> MailboxStatus:
    next_at = mailbox.next_sync_at
    following = f" Next check {_at(next_at, now)}." if next_at else ""
    return MailboxStatus(
        state=SyncState.ACTIVE,
        headline="Up to date",
        detail=f"{_last_sync(mailbox, now)}{following}",
        action=StatusAction("Sync now", reverse("mailbox-sync-now"), "post"),
        secondary=_disconnect(),
    )


_DESCRIBE: dict[SyncState, Callable[[Mailbox, datetime, int], MailboxStatus]] = {
    SyncState.DEMO: _demo,
    SyncState.DISCONNECTED: _disconnected,
    SyncState.FIRST_IMPORT: _first_import,
    SyncState.SYNCING: _syncing,
    SyncState.QUEUED: _queued,
    SyncState.BACKING_OFF: _backing_off,
    SyncState.STALLED: _stalled,
    SyncState.ACTIVE: _active,
}


# --- the connection panel and the log ----------------------------------------------------

SECURITY_LABELS = {"ssl": "SSL/TLS", "starttls": "STARTTLS", "plain": "no encryption"}


def _facts(mailbox: Mailbox, state: SyncState, count: int) -> list[Fact]:
    """The connection panel: only what is true in this state (no password or "connected"
    date on a disconnected mailbox, no servers on demo data)."""
    if state == SyncState.DEMO:
        return [
            Fact("Address", mailbox.address),
            Fact("Source", "Demo data", "Created by the demo data loader"),
            Fact("Demo emails", f"{count:,}"),
        ]
    found = mailbox.connection_settings
    facts = [
        Fact("Address", mailbox.address),
        Fact("Provider", mailbox.get_provider_display()),
        Fact("Login name", str(found.get("username", mailbox.address))),
    ]
    for kind in ("imap", "smtp"):
        if found.get(f"{kind}_host"):
            where = f"{found[f'{kind}_host']}:{found.get(f'{kind}_port')}"
            security = SECURITY_LABELS.get(str(found.get(f"{kind}_security")), "")
            facts.append(Fact(f"{kind.upper()} server", where, security))
    facts.append(Fact("How far back", _reach(mailbox.sync_since_days)))
    facts.append(Fact("Synchronized emails", f"{count:,}"))
    if state != SyncState.DISCONNECTED:
        facts.append(Fact("Password", "Stored encrypted"))
        facts.append(Fact("Connected", _day(mailbox.created_at)))
    return facts


def _reach(days: int | None) -> str:
    if days is None:
        return "Everything"
    return "New mail only" if days == 0 else f"The last {days} days"


def _duration(run: SyncRun) -> str:
    if run.finished_at is None:
        return "running"
    seconds = max(0, int((run.finished_at - run.started_at).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    return f"{minutes // 60} h {minutes % 60} min"


# --- times, in the viewer's time zone ----------------------------------------------------


def _last_sync(mailbox: Mailbox, now: datetime) -> str:
    moment = mailbox.last_synced_at
    if moment is None:
        return "No sync has succeeded yet."
    if now - moment < timedelta(minutes=1):
        return "Last synchronized just now."
    return f"Last synchronized {timesince(moment, now, depth=1)} ago."


def _at(moment: datetime, now: datetime) -> str:
    """ "at 14:05" today, "on Mar 3 at 14:05" another day."""
    local, today = timezone.localtime(moment), timezone.localtime(now).date()
    clock = dateformat.format(local, "H:i")
    return (
        f"at {clock}"
        if local.date() == today
        else f"on {dateformat.format(local, 'M j')} at {clock}"
    )


def _day(moment: datetime) -> str:
    return str(dateformat.format(timezone.localtime(moment), "M j, Y"))
