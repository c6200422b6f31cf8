"""Writes about mailboxes: connect, reconnect, disconnect, sync runs and their state.

Network calls (login checks, the sync itself) never run inside a transaction.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.core.addresses import clean_address
from hierarchy.models import User
from hierarchy.services import sync_only_user_create
from mailsync import google
from mailsync.connections import (
    ImapAccount,
    account_of,
    check_imap,
    check_smtp,
    open_provider,
)
from mailsync.models import BodyAccess, Mailbox, MailboxState, Message, Provider, SyncRun
from mailsync.oauth import (
    OAuthSignIn,
    SignedIn,
    SignedInAccount,
    stored_credentials,
    token_cache_of,
)
from mailsync.providers.base import (
    AuthenticationFailed,
    ProviderError,
    TemporaryFailure,
    Throttled,
)
from mailsync.push.wakeups import wake_after_sync, wake_claimed
from mailsync.selectors import sync_blocker
from mailsync.sync import SyncCounts, sync_mailbox

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)  # a dead worker's claim lapses after this
MAX_BACKOFF = timedelta(hours=1)


# --- audit ------------------------------------------------------------------------------


def message_body_opened(*, viewer: User, message: Message) -> None:
    """Record that `viewer` read a colleague's message body (own mail is not audited)."""
    owner_id = message.mailbox.owner_id
    if owner_id == viewer.pk:
        return
    BodyAccess.objects.create(
        viewer=viewer,
        message=message,
        mailbox_owner_id=owner_id,
        message_id_header=message.message_id,
    )


# --- connecting -------------------------------------------------------------------------


def mailbox_connect_imap(
    *, owner: User, account: ImapAccount, sync_since_days: int | None = 90, check: bool = True
) -> Mailbox:
    """Check the IMAP and SMTP logins, then save the mailbox and start its first import."""
    address = _free_address(owner, account.address)
    if check:
        _check_logins(account)
    mailbox = Mailbox.objects.create(
        owner=owner,
        address=address,
        provider=Provider.IMAP,
        connection_settings=account.public_settings(),
        credentials=json.dumps({"password": account.password}),
        sync_since_days=sync_since_days,
        next_sync_at=timezone.now(),
    )
    _sync_soon(mailbox)
    return mailbox


def _free_address(owner: User, raw: str) -> str:
    try:
        address = clean_address(raw)
    except ValidationError as error:
        raise ValidationError({"address": error.messages}) from None
    if Mailbox.objects.filter(owner=owner).exists():
        raise ValidationError(
            {
                "address": "You already have a connected mailbox. Disconnect it first, or ask "
                "support for a second mailbox (a sync-only user)."
            }
        )
    holder = Mailbox.objects.filter(address=address).select_related("owner").first()
    if holder is not None:
        raise ValidationError({"address": _held_by(address, holder.owner, asking=owner)})
    return address


def _held_by(address: str, holder: User, *, asking: User) -> str:
    """Who holds an address already: their name for everyone, their login address only for
    support staff (a colleague's address is not everyone's to see)."""
    who = holder.get_full_name() or "another user"
    if asking.is_staff:
        who = f"{who} ({holder.email or holder.username})"
    return (
        f"{address} is already connected in this CRM by {who}. One address is synchronized "
        "for one user only: ask them or support to disconnect it first."
    )


def _check_logins(account: ImapAccount) -> None:
    try:
        check_imap(account)
    except ProviderError as error:
        field = "password" if isinstance(error, AuthenticationFailed) else "imap_host"
        raise ValidationError({field: error.message}) from None
    if not account.smtp_host:
        return
    try:
        check_smtp(account)
    except ProviderError as error:
        field = "password" if isinstance(error, AuthenticationFailed) else "smtp_host"
        raise ValidationError({field: error.message}) from None


def mailbox_connect_oauth(
    *,
    owner: User,
    via: OAuthSignIn,
    address: str,
    sign_in: SignedIn,
    sync_since_days: int | None = 90,
) -> Mailbox:
    """Save a mailbox its owner just signed in to (`via` its provider), and start its first
    import. The account signed in must be the mailbox's own (its main address)."""
    address = _free_address(owner, address)
    _check_own_account(via, sign_in, address)
    mailbox = Mailbox.objects.create(
        owner=owner,
        address=address,
        provider=via.provider,
        connection_settings=_sign_in_settings(sign_in),
        credentials=stored_credentials(sign_in.token_cache),
        sync_since_days=sync_since_days,
        next_sync_at=timezone.now(),
    )
    _sync_soon(mailbox)
    return mailbox


def mailbox_connect_shared(
    *,
    serves: User,
    via: OAuthSignIn,
    address: str,
    sign_in: SignedIn,
    sync_since_days: int | None = 90,
) -> Mailbox:
    """A shared (team) mailbox for `serves`, held by a sync-only user placed under them.

    Signed in as the shared mailbox itself, or as `serves` with read access to it (Microsoft:
    Mail.Read.Shared and a permission on the mailbox, given in Exchange)."""
    try:
        address = clean_address(address)
    except ValidationError as error:
        raise ValidationError({"address": error.messages}) from None
    if Mailbox.objects.filter(address=address).exists():
        raise ValidationError(f"{address} is already connected in this CRM.")
    itself = _check_shared_access(via, sign_in, address)
    settings_ = {
        **_sign_in_settings(sign_in),
        "graph_user": "me" if itself else f"users/{address}",
        "scopes": via.shared_scopes,
    }
    with transaction.atomic():
        holder = sync_only_user_create(
            serves=serves, username=f"{serves.username}+{address}"[:150], email=address
        )
        mailbox = Mailbox.objects.create(
            owner=holder,
            address=address,
            provider=via.provider,
            connection_settings=settings_,
            credentials=stored_credentials(sign_in.token_cache),
            sync_since_days=sync_since_days,
            next_sync_at=timezone.now(),
        )
    _sync_soon(mailbox)
    return mailbox


def mailbox_reconnect_oauth(*, mailbox: Mailbox, via: OAuthSignIn, sign_in: SignedIn) -> Mailbox:
    """A new sign-in for a disconnected mailbox: folders, cursors and mail are kept, so the
    sync resumes where it stopped and imports nothing again."""
    if mailbox.provider != via.provider:
        raise ValidationError(f"This mailbox is not a {via.provider.label} mailbox.")
    if str(mailbox.connection_settings.get("graph_user", "me")).startswith("users/"):
        _check_shared_access(via, sign_in, mailbox.address)  # read through a colleague's access
    else:
        _check_own_account(via, sign_in, mailbox.address)
    mailbox.connection_settings = {**mailbox.connection_settings, **_sign_in_settings(sign_in)}
    mailbox.credentials = stored_credentials(sign_in.token_cache)
    mailbox.state, mailbox.state_reason, mailbox.failures = MailboxState.ACTIVE, "", 0
    mailbox.next_sync_at, mailbox.paused_until = timezone.now(), None
    mailbox.save(
        update_fields=[
            "connection_settings",
            "credentials",
            "state",
            "state_reason",
            "failures",
            "next_sync_at",
            "paused_until",
        ]
    )
    _sync_soon(mailbox)
    _resume_outgoing(mailbox)
    return mailbox


def mailbox_grant_update(*, mailbox: Mailbox, via: OAuthSignIn, sign_in: SignedIn) -> Mailbox:
    """The same account signed in again for more access (the calendar, say): its new grant
    replaces the stored one; the sync's state, pause and schedule stay as they are."""
    if mailbox.provider != via.provider:
        raise ValidationError(f"This mailbox is not a {via.provider.label} mailbox.")
    _check_own_account(via, sign_in, mailbox.address)
    mailbox.connection_settings = {**mailbox.connection_settings, **_sign_in_settings(sign_in)}
    mailbox.credentials = stored_credentials(sign_in.token_cache)
    mailbox.save(update_fields=["connection_settings", "credentials"])
    return mailbox


def _sign_in_settings(sign_in: SignedIn) -> dict[str, object]:
    return {"account_id": sign_in.account_id, "username": sign_in.username}


def _signed_in_account(via: OAuthSignIn, sign_in: SignedIn) -> SignedInAccount:
    try:
        return via.account(sign_in.access_token)
    except ProviderError as error:
        raise ValidationError(error.message) from None


def _check_shared_access(via: OAuthSignIn, sign_in: SignedIn, address: str) -> bool:
    """True when signed in as the mailbox itself; else the sign-in must be able to read it."""
    account = _signed_in_account(via, sign_in)
    if _canonical(account.primary) == address:
        return True
    try:
        if via.can_read(sign_in.access_token, address):
            return False
    except ProviderError as error:
        raise ValidationError(error.message) from None
    if via.provider == Provider.GOOGLE:  # no delegated reading through the Gmail API
        raise ValidationError(
            f"You signed in to Google as {account.login}, not as {address}. Sign in as "
            f"{address} itself: Google lets apps read a mailbox only as its own account."
        )
    raise ValidationError(
        f"{via.provider.label} does not let {account.login} read {address}. Ask your "
        f"{via.provider.label} administrator for read access to that mailbox (Full Access, or "
        "Read on its folders), or sign in as the mailbox itself."
    )


def _check_own_account(via: OAuthSignIn, sign_in: SignedIn, address: str) -> None:
    """The signed-in account's mailbox must be `address` itself: not an alias of it, not
    another account (an alias's mail is the main address's; another account is not yours)."""
    account = _signed_in_account(via, sign_in)
    primary = _canonical(account.primary)
    if primary == address:
        return
    if address in {_canonical(alias) for alias in account.aliases}:
        raise ValidationError(
            f"{address} is an alias of the {via.provider.label} mailbox {primary}: its mail "
            f"arrives there. Connect {primary}, the mailbox's main address."
        )
    raise ValidationError(
        f"You signed in to {via.label} as {account.login or primary}, whose mailbox is "
        f'{primary}, not {address}. Sign in with the account of {address} (choose "Use '
        f"another account\" on {via.label}'s page), or connect that mailbox instead."
    )


def _canonical(address: str) -> str:
    try:
        return clean_address(address)
    except ValidationError:
        return address.strip().lower()


def mailbox_reconnect(*, mailbox: Mailbox, password: str) -> Mailbox:
    """A new password for a disconnected mailbox: settings and synced mail are kept."""
    if mailbox.is_demo:
        raise ValidationError(sync_blocker(mailbox))
    if not mailbox.connection_settings.get("imap_host"):  # saved by hand, without servers
        raise ValidationError(
            "This mailbox has no server settings: remove it, then connect it again."
        )
    fresh = dataclasses.replace(account_of(mailbox), password=password)
    try:
        check_imap(fresh)
    except ProviderError as error:
        field = "password" if isinstance(error, AuthenticationFailed) else "imap_host"
        raise ValidationError({field: error.message}) from None
    mailbox.credentials = json.dumps({"password": password})
    mailbox.state, mailbox.state_reason, mailbox.failures = MailboxState.ACTIVE, "", 0
    mailbox.next_sync_at = timezone.now()
    mailbox.save(update_fields=["credentials", "state", "state_reason", "failures", "next_sync_at"])
    _sync_soon(mailbox)
    _resume_outgoing(mailbox)
    return mailbox


def _resume_outgoing(mailbox: Mailbox) -> None:
    """Email held by the broken sign-in leaves now (the outbox's "reconnect and retry")."""
    from mailsync.sending.outbox import outgoing_resume_after_reconnect

    transaction.on_commit(lambda: outgoing_resume_after_reconnect(mailbox))


def mailbox_send_allowed(*, mailbox: Mailbox, via: OAuthSignIn, sign_in: SignedIn) -> Mailbox:
    """The account signed in again to allow sending (Mail.Send, gmail.send)."""
    if mailbox.state == MailboxState.DISCONNECTED:
        mailbox_reconnect_oauth(mailbox=mailbox, via=via, sign_in=sign_in)
    else:
        mailbox_grant_update(mailbox=mailbox, via=via, sign_in=sign_in)
    mailbox.connection_settings = {**mailbox.connection_settings, "send_allowed": True}
    mailbox.save(update_fields=["connection_settings"])
    _resume_outgoing(mailbox)
    return mailbox


def mailbox_send_refused(*, mailbox: Mailbox, reason: str) -> None:
    """Sending found the sign-in refused: the mailbox is disconnected as a sync would (one
    email per break)."""
    _disconnect_for(mailbox, reason)


def mailbox_disconnect(*, mailbox: Mailbox, keep_emails: bool) -> str:
    """Stop syncing. Stored credentials are always deleted, and revoked at the provider where
    it has tokens to revoke (Google); synced mail is deleted only if asked. Returns a warning
    for the user when the provider could not be told ("" otherwise)."""
    from mailsync.push.graph_webhooks import push_stop

    push_stop(mailbox=mailbox)  # before the sign-in goes: Graph is told with it
    _hold_queued_mail(mailbox)
    warning = _revoke_at_provider(mailbox)
    if not keep_emails:
        mailbox.delete()
        return warning
    settings_kept = {k: v for k, v in mailbox.connection_settings.items() if k != "send_allowed"}
    Mailbox.objects.filter(pk=mailbox.pk).update(
        connection_settings=settings_kept,  # a new sign-in asks again for sending
        credentials="",
        state=MailboxState.DISCONNECTED,
        state_reason="Disconnected by you. The synchronized emails were kept.",
        next_sync_at=None,
    )
    return warning


def _hold_queued_mail(mailbox: Mailbox) -> None:
    """Email waiting to leave through the mailbox the user disconnects waits in the outbox for
    their choice (reconnect, or the CRM's mailer), not for a sign-in that is gone."""
    from mailsync.models import OutgoingMessage, OutgoingState

    OutgoingMessage.objects.filter(mailbox=mailbox, state=OutgoingState.QUEUED).update(
        state=OutgoingState.HELD,
        last_error="You disconnected the mailbox it was to leave through.",
    )


def _revoke_at_provider(mailbox: Mailbox) -> str:
    """Google keeps a grant until it is revoked (Microsoft's refresh tokens simply lapse)."""
    if mailbox.provider != Provider.GOOGLE or not mailbox.credentials:
        return ""
    if google.revoke(token_cache_of(mailbox.credentials)):
        return ""
    return (
        "Google could not be reached to end Postcard's access: remove Postcard at "
        "myaccount.google.com/permissions to end it there too."
    )


def mailbox_request_sync(*, mailbox: Mailbox) -> None:
    """Sync now; refused (ValidationError) for a mailbox that cannot sync, so nothing claims
    a sync was queued that will never run."""
    blocker = sync_blocker(mailbox)
    if blocker:
        raise ValidationError(blocker)
    if _paused(mailbox):
        raise ValidationError(
            f"{mailbox.get_provider_display()} asked Postcard to slow down: the sync resumes by "
            "itself in a moment."
        )
    Mailbox.objects.filter(pk=mailbox.pk).update(next_sync_at=timezone.now())
    _sync_soon(mailbox)


def _paused(mailbox: Mailbox) -> bool:
    return mailbox.paused_until is not None and mailbox.paused_until > timezone.now()


def _sync_soon(mailbox: Mailbox) -> None:
    from mailsync.tasks import mailbox_sync_task

    mailbox_id = mailbox.pk
    transaction.on_commit(lambda: mailbox_sync_task.delay(mailbox_id))


# --- scheduling -------------------------------------------------------------------------


def mailboxes_claim_due() -> list[int]:
    """Mailboxes whose next sync is due, each claimed so the next tick does not queue it again."""
    now = timezone.now()
    is_due = Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now)
    due = (
        Mailbox.objects.filter(is_due, state__in=[MailboxState.ACTIVE, MailboxState.SYNCING])
        .exclude(credentials="")
        .exclude(is_demo=True)  # demo data: no server behind it
    )
    later = now + timedelta(seconds=settings.MAILBOX_SYNC_INTERVAL_SECONDS)
    # The same condition in the UPDATE: if two beats overlap, each mailbox is claimed once.
    return [
        mailbox_id
        for mailbox_id in due.values_list("pk", flat=True)
        if Mailbox.objects.filter(is_due, pk=mailbox_id).update(next_sync_at=later)
    ]


# --- one sync ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncOutcome:
    ran: bool
    counts: SyncCounts | None = None
    error: str = ""


def mailbox_sync(
    *, mailbox_id: int, reconcile: bool = False, only_if_woken: bool = False
) -> SyncOutcome:
    """Run one sync of a mailbox unless another is running; never raises for mail problems.
    `only_if_woken`: a provider's change report queued it, and a sync that started since has
    covered it already (mailsync/push/wakeups.py)."""
    token = lease_acquire(mailbox_id)
    if token is None:  # the running sync queues one more if a report came meanwhile
        return SyncOutcome(ran=False, error="Another sync of this mailbox is running.")
    woken = wake_claimed(mailbox_id)
    if only_if_woken and not woken:
        lease_release(mailbox_id, token)
        wake_after_sync(mailbox_id)  # a report that came this very moment
        return SyncOutcome(ran=False, error="")
    try:
        mailbox = Mailbox.objects.select_related("owner").get(pk=mailbox_id)
        blocker = sync_blocker(mailbox)
        if blocker:
            return SyncOutcome(ran=False, error=mailbox.state_reason or blocker)
        if _paused(mailbox):  # the provider's Retry-After holds for every worker
            return SyncOutcome(ran=False, error="The provider asked to wait (throttling).")
        outcome = _run(mailbox, token, reconcile=reconcile)
        _push_set_up_soon(mailbox)
        return outcome
    finally:
        lease_release(mailbox_id, token)
        wake_after_sync(mailbox_id)


def _push_set_up_soon(mailbox: Mailbox) -> None:
    """After a Microsoft 365 or Gmail mailbox's first sync (its folders known), its change
    announcements are set up at once rather than at the next hourly renewal."""
    from mailsync.models import PushSubscription
    from mailsync.push.graph_webhooks import push_base_url

    if mailbox.provider not in (Provider.MICROSOFT, Provider.GOOGLE) or not push_base_url():
        return
    if PushSubscription.objects.filter(mailbox=mailbox).exists():
        return
    if mailbox.sync_runs.count() > 1:  # not the first sync: a failed set-up waits for the hour
        return
    from mailsync.tasks import push_ensure_task

    mailbox_id = mailbox.pk
    transaction.on_commit(lambda: push_ensure_task.delay(mailbox_id))


def _run(mailbox: Mailbox, token: str, *, reconcile: bool) -> SyncOutcome:
    run = SyncRun.objects.create(mailbox=mailbox, started_at=timezone.now())
    try:
        provider = open_provider(mailbox)
        counts = sync_mailbox(
            mailbox,
            provider,
            reconcile=reconcile,
            on_progress=lambda done, total: _progress(mailbox, done, total),
            on_batch=lambda: lease_extend(mailbox.pk, token),
        )
    except ProviderError as error:
        _failed(mailbox, run, error)
        return SyncOutcome(ran=True, error=error.message)
    except Exception:
        logger.exception("mailbox %s: sync failed unexpectedly", mailbox.pk)
        failure = TemporaryFailure("An unexpected error stopped the sync; it will be retried.")
        _failed(mailbox, run, failure)
        return SyncOutcome(ran=True, error=failure.message)
    _succeeded(mailbox, run, counts)
    return SyncOutcome(ran=True, counts=counts)


def _progress(mailbox: Mailbox, done: int, total: int) -> None:
    Mailbox.objects.filter(pk=mailbox.pk).update(
        state=MailboxState.SYNCING, progress_done=done, progress_total=total
    )


@transaction.atomic  # one commit for the run and the state
def _succeeded(mailbox: Mailbox, run: SyncRun, counts: SyncCounts) -> None:
    now = timezone.now()
    SyncRun.objects.filter(pk=run.pk).update(
        finished_at=now,
        added=counts.added,
        removed=counts.removed,
        errors=counts.skipped,
        detail="; ".join(counts.notes)[:2000],
    )
    Mailbox.objects.filter(pk=mailbox.pk).update(
        state=MailboxState.ACTIVE,
        state_reason="",
        failures=0,
        paused_until=None,
        last_synced_at=now,
        next_sync_at=now + timedelta(seconds=settings.MAILBOX_SYNC_INTERVAL_SECONDS),
        progress_done=0,
        progress_total=0,
    )


def _failed(mailbox: Mailbox, run: SyncRun, error: ProviderError) -> None:
    now = timezone.now()
    SyncRun.objects.filter(pk=run.pk).update(finished_at=now, errors=1, detail=error.message)
    if error.permanent:
        _disconnect_for(mailbox, error.message)
        return
    failures = mailbox.failures + 1
    delay = min(
        timedelta(seconds=settings.MAILBOX_SYNC_INTERVAL_SECONDS) * 2 ** min(failures, 10),
        MAX_BACKOFF,
    )
    # Throttled: the provider said how long to wait; every worker waits that long.
    paused_until = (
        now + timedelta(seconds=error.retry_after) if isinstance(error, Throttled) else None
    )
    Mailbox.objects.filter(pk=mailbox.pk).update(
        state=MailboxState.ACTIVE,
        state_reason=error.message,
        failures=failures,
        next_sync_at=max(now + delay, paused_until or now),
        paused_until=paused_until,
        progress_done=0,
        progress_total=0,
    )


def _disconnect_for(mailbox: Mailbox, reason: str) -> None:
    """Disconnect at once; tell the user by email once per break, not once per attempt."""
    became_disconnected = (
        Mailbox.objects.filter(pk=mailbox.pk)
        .exclude(state=MailboxState.DISCONNECTED)
        .update(state=MailboxState.DISCONNECTED, state_reason=reason, progress_total=0)
    )
    if became_disconnected:
        _notify_disconnected(mailbox, reason)


def _notify_disconnected(mailbox: Mailbox, reason: str) -> None:
    recipient = mailbox.owner.email or mailbox.address
    link = f"{settings.SITE_URL}/settings/mailbox/"
    try:
        send_mail(
            subject=f"Postcard stopped synchronizing {mailbox.address}",
            message=(
                f"Postcard could not sign in to {mailbox.address} and stopped synchronizing it.\n\n"
                f"Reason: {reason}\n\n"
                f"Your settings and synchronized emails are kept. To resume, open {link} and "
                "choose Reconnect.\n"
            ),
            from_email=None,
            recipient_list=[recipient],
        )
    except Exception:
        logger.exception("mailbox %s: could not send the disconnection notice", mailbox.pk)


# --- one sync at a time -----------------------------------------------------------------


def lease_acquire(mailbox_id: int) -> str | None:
    """Claim the mailbox with a conditional UPDATE; None if a live claim exists."""
    token, now = uuid.uuid4().hex, timezone.now()
    claimed = Mailbox.objects.filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now), pk=mailbox_id
    ).update(lease_until=now + LEASE, lease_token=token)
    return token if claimed else None


def lease_extend(mailbox_id: int, token: str) -> None:
    Mailbox.objects.filter(pk=mailbox_id, lease_token=token).update(
        lease_until=timezone.now() + LEASE
    )


def lease_release(mailbox_id: int, token: str) -> None:
    Mailbox.objects.filter(pk=mailbox_id, lease_token=token).update(
        lease_until=None, lease_token=""
    )
