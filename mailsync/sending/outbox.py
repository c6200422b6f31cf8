"""The outbox: every write of an email sent from the CRM (services), as a state machine.

    draft -> queued -> sending -> sent
                 ^        |
                 |        +-> queued again (temporary failure, backoff)
                 |        +-> held (refused login, no permission, message refused, too many
                 |                  failures): the user reconnects and retries, or sends from
                 +------------------ the CRM's mailer instead
    draft, queued, held -> cancelled

Exactly once: the Message-ID and the bytes are fixed when the message is queued. A worker claims
a message with a conditional UPDATE (lease); just before the bytes go it records `handed_over_at`
in its own commit. A claim that expired after that point (the worker was killed, or the answer
never came) may have been accepted: the next attempt first asks the provider's Sent folder for
the Message-ID (find_sent) and sends again only when the copy's absence proves the first attempt
was not accepted; where absence proves nothing (an SMTP server that does not file sent mail,
the CRM's mailer) the message counts as sent, noted, rather than risking a second delivery.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from crm.contacts.models import Contact
from hierarchy.models import User
from mailsync.matching import match_context
from mailsync.models import (
    Mailbox,
    MailboxState,
    Message,
    MessageLocation,
    OutgoingMessage,
    OutgoingState,
    SendRoute,
)
from mailsync.parsing import MessageRejected, parse_message
from mailsync.providers.base import AuthenticationFailed, ProviderError, TemporaryFailure
from mailsync.senders.base import Accepted, MessageRefused, NotAccepted, Outgoing, SendProvider
from mailsync.senders.registry import sender_for
from mailsync.sending import mime, pace
from mailsync.sending.drafting import (
    BULK_RECIPIENTS,
    MAX_RECIPIENTS,
    PlaceholderValues,
    fill_placeholders,
    single_line,
    unfilled_placeholders,
)
from mailsync.sending.routes import RoutePlan, route_for, size_limit
from mailsync.storage import message_store_sent

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 8  # temporary failures in a row before the message is held: about 4 hours
# After a hand-over whose answer never came, Graph's Sent Items copy may lag a little behind
# the acceptance (Exchange files it in the background): absent for this long proves nothing.
FILING_LAG = timedelta(minutes=2)
# The Message-ID in a draft's provisional bytes: the real one is fixed when it is queued.
DRAFT_ID = "<draft@postcard.invalid>"
# A paced message within this is queued with its countdown; later ones by the beat.
SCHEDULED_AHEAD = timedelta(minutes=10)
Pair = tuple[str, str]


@dataclass(frozen=True)
class Draft:
    """What the composer (or the API) hands over."""

    from_choice: str
    to: Sequence[Pair]
    cc: Sequence[Pair] = ()
    bcc: Sequence[Pair] = ()
    subject: str = ""
    body_text: str = ""
    markdown: bool = False
    attachments: Sequence[mime.Attachment] = field(default_factory=tuple)
    replied_message: Message | None = None
    reply_kind: str = ""
    in_reply_to: str = ""
    references: str = ""
    bulk_confirmed: bool = False  # the user saw the bulk warning and went on


# --- queueing ------------------------------------------------------------------------------


def outgoing_draft_save(
    *, sender: User, draft: Draft, existing: OutgoingMessage | None = None
) -> OutgoingMessage:
    """Keep what is written, unsent (recipients need not be complete). Its files are kept in
    provisional bytes (no Message-ID yet: that is fixed when it is queued)."""
    for name, _ in [*draft.to, *draft.cc, *draft.bcc]:
        single_line(name, "A recipient's name")
    single_line(draft.subject, "The subject")
    draft = _with_kept_files(draft, existing)
    plan = route_for(sender, draft.from_choice)
    row = existing if existing is not None and existing.state == OutgoingState.DRAFT else None
    row = row or OutgoingMessage(sender=sender)
    _fill(row, draft, plan)
    row.state = OutgoingState.DRAFT
    row.raw = _bytes(row, plan, draft, timezone.now()) if draft.attachments else b""
    row.save()
    row.contacts.set(_contacts_of(row.recipients()))
    return row


def outgoing_send(
    *, sender: User, draft: Draft, existing: OutgoingMessage | None = None
) -> list[OutgoingMessage]:
    """Queue the message (one per recipient for a bulk send); returns what was queued."""
    draft = _with_kept_files(draft, existing)
    plan = route_for(sender, draft.from_choice)
    _check(draft)
    _check_size(draft, plan)
    recipients = [*draft.to, *draft.cc, *draft.bcc]
    if len(recipients) > BULK_RECIPIENTS:
        return _queue_bulk(sender, draft, plan, existing)
    with transaction.atomic():
        _lock_transport(plan.mailbox)
        row = _still_a_draft(existing) or OutgoingMessage(sender=sender)
        _fill(row, draft, plan)
        _queue(row, plan, when=pace.slots(plan.mailbox, 1, timezone.now())[0], draft=draft)
    return [row]


def _with_kept_files(draft: Draft, existing: OutgoingMessage | None) -> Draft:
    """A draft sent (or saved again) keeps what was saved with it and is not given anew: its
    files, and what it answers (its threading)."""
    if existing is None or existing.state != OutgoingState.DRAFT:
        return draft
    if not draft.attachments:
        draft = replace(draft, attachments=_attachments_of(bytes(existing.raw or b"")))
    if draft.replied_message is None and existing.replied_message_id:
        draft = replace(
            draft,
            replied_message=existing.replied_message,
            reply_kind=existing.reply_kind,
            in_reply_to=existing.in_reply_to,
            references=existing.references,
        )
    return draft


def _still_a_draft(existing: OutgoingMessage | None) -> OutgoingMessage | None:
    """The saved draft, locked, if it is still one (a second click on Send finds it queued)."""
    if existing is None:
        return None
    locked = OutgoingMessage.objects.select_for_update().filter(pk=existing.pk).first()
    if locked is None or locked.state != OutgoingState.DRAFT:
        raise ValidationError("This draft was sent already: see the outbox.")
    return locked


def _check_size(draft: Draft, plan: RoutePlan) -> None:
    limit, who = size_limit(plan)
    size = sum(len(a.data) for a in draft.attachments) + len(draft.body_text.encode())
    # base64 makes attachments a third larger on the wire.
    if size * 4 // 3 > limit:
        raise ValidationError(
            f"This email would be {_megabytes(size * 4 // 3)} with its attachments; {who} takes "
            f"at most {_megabytes(limit)} from Postcard. Send fewer or smaller files, or a link."
        )


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _check(draft: Draft) -> None:
    if not (draft.to or draft.cc or draft.bcc):
        raise ValidationError("Add at least one recipient.")
    single_line(draft.subject, "The subject")
    for name, _ in [*draft.to, *draft.cc, *draft.bcc]:
        single_line(name, "A recipient's name")
    count = len(draft.to) + len(draft.cc) + len(draft.bcc)
    if count > BULK_RECIPIENTS and not draft.bulk_confirmed:
        raise ValidationError(
            f"This email has more than {BULK_RECIPIENTS} recipients. Confirm the bulk send: "
            "each recipient gets an email of their own, at the pace your provider accepts."
        )
    if count > MAX_RECIPIENTS * 20:
        raise ValidationError(f"At most {MAX_RECIPIENTS * 20} recipients at once.")
    left = unfilled_placeholders(draft.subject, draft.body_text)
    if left and count <= BULK_RECIPIENTS:  # a bulk send fills them per recipient
        raise ValidationError(
            f"Placeholders without a value: {', '.join(left)}. Fill them in or remove them."
        )


def _queue_bulk(
    sender: User, draft: Draft, plan: RoutePlan, existing: OutgoingMessage | None
) -> list[OutgoingMessage]:
    """One email per recipient (nobody sees the others' addresses), each with its own
    placeholders, spaced at the provider's pace."""
    batch = uuid.uuid4().hex
    recipients = [*draft.to, *draft.cc, *draft.bcc]
    contacts = _contacts_by_address([a for _, a in recipients])
    rows = []
    with transaction.atomic():
        _lock_transport(plan.mailbox)
        draft_row = _still_a_draft(existing)
        if draft_row is not None:
            draft_row.delete()  # the draft became these emails
        when = pace.slots(plan.mailbox, len(recipients), timezone.now())
        for (name, address), at in zip(recipients, when, strict=True):
            contact = contacts.get(address)
            values = PlaceholderValues(contact=contact, account=None, sender=sender)
            subject, empty_subject = fill_placeholders(draft.subject, values)
            body, empty_body = fill_placeholders(draft.body_text, values)
            if empty_subject or empty_body:
                raise ValidationError(
                    f"No value for {', '.join(sorted(set(empty_subject + empty_body)))} for "
                    f"{address}: fill it in on their card, or remove the placeholder."
                )
            one = Draft(
                from_choice=draft.from_choice,
                to=[(name, address)],
                subject=subject,
                body_text=body,
                markdown=draft.markdown,
                attachments=draft.attachments,
            )
            row = OutgoingMessage(sender=sender, batch=batch)
            _fill(row, one, plan)
            _queue(row, plan, when=at, draft=one)
            rows.append(row)
    return rows


def _fill(row: OutgoingMessage, draft: Draft, plan: RoutePlan) -> None:
    row.route = plan.route
    row.mailbox = plan.mailbox
    row.company_address = plan.company_address
    row.from_address = plan.from_address
    row.from_name = plan.from_name
    row.to, row.cc, row.bcc = (
        [list(p) for p in draft.to],
        [list(p) for p in draft.cc],
        [list(p) for p in draft.bcc],
    )
    row.subject = draft.subject[:998]
    row.body_text = draft.body_text
    row.markdown = draft.markdown
    row.replied_message = draft.replied_message
    row.reply_kind = draft.reply_kind
    row.in_reply_to = draft.in_reply_to
    row.references = draft.references
    row.attachment_names = [a.filename for a in draft.attachments]


def _queue(row: OutgoingMessage, plan: RoutePlan, *, when: datetime, draft: Draft) -> None:
    now = timezone.now()
    row.message_id = mime.new_message_id(plan.from_address)
    row.raw = _bytes(row, plan, draft, now)
    row.state = OutgoingState.QUEUED
    row.queued_at = now
    row.not_before = when
    row.save()
    row.contacts.set(_contacts_of(row.recipients()))
    _send_soon(row.pk, when)


def _bytes(row: OutgoingMessage, plan: RoutePlan, draft: Draft, now: datetime) -> bytes:
    envelope = mime.Envelope(
        from_address=plan.from_address,
        from_name=plan.from_name,
        to=[tuple(p) for p in row.to],
        cc=[tuple(p) for p in row.cc],
        bcc=[tuple(p) for p in row.bcc],
        reply_to=plan.reply_to,
        subject=row.subject,
        body_text=row.body_text,
        markdown=row.markdown,
        in_reply_to=row.in_reply_to,
        references=row.references,
        attachments=draft.attachments,
    )
    try:
        return mime.build(envelope, message_id=row.message_id or DRAFT_ID, date=now)
    except (ValueError, TypeError) as error:  # the email package refuses a header it cannot write
        raise ValidationError(f"This email cannot be written: {error}") from None


def _lock_transport(mailbox: Mailbox | None) -> None:
    """Two sends through one mailbox take their pace slots one after the other."""
    if mailbox is not None:
        Mailbox.objects.select_for_update().filter(pk=mailbox.pk).first()


def _contacts_of(addresses: list[str]) -> list[Contact]:
    return list(Contact.objects.filter(emails__address__in=addresses).distinct())


def _contacts_by_address(addresses: list[str]) -> dict[str, Contact]:
    found: dict[str, Contact] = {}
    for contact in Contact.objects.filter(emails__address__in=addresses).prefetch_related("emails"):
        for email in contact.emails.all():
            found.setdefault(email.address, contact)
    return found


def _send_soon(outgoing_id: int, when: datetime) -> None:
    def queue() -> None:
        from mailsync.tasks import outgoing_send_task

        delay = (when - timezone.now()).total_seconds()
        if delay <= 1:
            outgoing_send_task.delay(outgoing_id)
        elif delay <= SCHEDULED_AHEAD.total_seconds():
            outgoing_send_task.apply_async((outgoing_id,), countdown=delay)
        # Later ones: the beat (outgoing_send_due) queues them when their slot comes.

    transaction.on_commit(queue)


# --- the user's choices for a message that did not go ----------------------------------------


def outgoing_retry(*, outgoing: OutgoingMessage) -> None:
    """Held (or queued) -> queued now, through the route it had."""
    _requeue(outgoing, Q(state__in=[OutgoingState.HELD, OutgoingState.QUEUED]))


def outgoing_use_crm_mailer(*, outgoing: OutgoingMessage) -> None:
    """Held -> queued through the CRM's mailer: same Message-ID (it never left), new bytes
    (the CRM's From, Reply-To the sender)."""
    if outgoing.state != OutgoingState.HELD:
        raise ValidationError("Only a message that was not sent can go another way.")
    if outgoing.handed_over_at is not None:
        raise ValidationError(
            "This email may have left already: its last attempt got no answer. Look in your "
            "Sent folder; if it is not there, cancel it and write it again."
        )
    reply_to = outgoing.from_address
    from email.utils import parseaddr

    plan = RoutePlan(
        route=SendRoute.CRM_MAILER,
        mailbox=None,
        company_address=outgoing.company_address,
        from_address=parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or "postcard@localhost",
        from_name=f"{outgoing.from_name} via Postcard" if outgoing.from_name else "Postcard",
        reply_to=reply_to,
        sentence="",
    )
    attachments = _attachments_of(bytes(outgoing.raw))
    with transaction.atomic():
        outgoing.route, outgoing.mailbox = plan.route, None
        outgoing.from_address, outgoing.from_name = plan.from_address, plan.from_name
        outgoing.raw = _bytes(
            outgoing, plan, Draft(from_choice="", to=[], attachments=attachments), timezone.now()
        )
        outgoing.save(update_fields=["route", "mailbox", "from_address", "from_name", "raw"])
        _requeue(outgoing, Q(state=OutgoingState.HELD))


def outgoing_cancel(*, outgoing: OutgoingMessage) -> None:
    done = OutgoingMessage.objects.filter(
        pk=outgoing.pk,
        state__in=[OutgoingState.DRAFT, OutgoingState.QUEUED, OutgoingState.HELD],
    ).update(state=OutgoingState.CANCELLED, lease_until=None)
    if not done:
        raise ValidationError("This message is being sent or was sent already.")


def outgoing_resume_after_reconnect(mailbox: Mailbox) -> int:
    """A reconnected mailbox: the messages held by its broken sign-in go now."""
    held = OutgoingMessage.objects.filter(
        mailbox=mailbox, state=OutgoingState.HELD, last_error__startswith=SIGN_IN_BROKE
    )
    ids = list(held.values_list("pk", flat=True))
    held.update(state=OutgoingState.QUEUED, not_before=timezone.now(), attempts=0)
    for outgoing_id in ids:
        _send_soon(outgoing_id, timezone.now())
    return len(ids)


def _requeue(outgoing: OutgoingMessage, allowed: Q) -> None:
    now = timezone.now()
    moved = OutgoingMessage.objects.filter(allowed, pk=outgoing.pk).update(
        state=OutgoingState.QUEUED, not_before=now, attempts=0, last_error="", lease_until=None
    )
    if not moved:
        raise ValidationError("This message is being sent or was sent already.")
    _send_soon(outgoing.pk, now)


def _attachments_of(raw: bytes) -> list[mime.Attachment]:
    import email
    from email import policy

    if not raw:
        return []
    parsed = email.message_from_bytes(raw, policy=policy.default)
    found = []
    for part in parsed.iter_attachments():
        found.append(
            mime.Attachment(
                filename=part.get_filename() or "attachment",
                content_type=part.get_content_type(),
                data=_payload_bytes(part),
            )
        )
    return found


def _payload_bytes(part: Any) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


# --- the worker ------------------------------------------------------------------------------

SIGN_IN_BROKE = "Your mailbox refused Postcard's sign-in"


def outgoing_claim_due() -> list[int]:
    """Messages whose slot has come, and claims that expired (a killed worker's)."""
    now = timezone.now()
    due = OutgoingMessage.objects.filter(
        Q(state=OutgoingState.QUEUED, not_before__lte=now)
        | Q(state=OutgoingState.SENDING, lease_until__lt=now)
    )
    return list(due.order_by("not_before", "pk").values_list("pk", flat=True)[:500])


def outgoing_deliver(*, outgoing_id: int) -> float | None:
    """One attempt at one message (the Celery task's body). Returns the seconds until it is due
    when it was queued for later (a task that fired a moment early), else None."""
    token = _claim(outgoing_id)
    if token is None:
        return _seconds_until_due(outgoing_id)  # sent, cancelled, not due, or another worker's
    row = OutgoingMessage.objects.select_related("mailbox", "sender").get(pk=outgoing_id)
    if row.route != SendRoute.CRM_MAILER and row.mailbox is None:
        # Its mailbox was removed since: the CRM's mailer would speak for an address it has
        # no right to, so the user chooses.
        _hold(row, token, "The mailbox it was to leave through was removed.", notify=True)
        return None
    wait = pace.wait_before_sending(row.mailbox if row.route != SendRoute.CRM_MAILER else None)
    if wait is not None:  # the provider's minute or day is full of messages actually sent
        _release(row, token, later=wait)
        return wait.total_seconds()
    try:
        provider = sender_for(row.mailbox if row.route != SendRoute.CRM_MAILER else None)
    except ProviderError as error:
        _failed(row, token, error, handed_over=False)
        return None
    try:
        _attempt(row, token, provider)
    finally:
        provider.close()
    return None


def _seconds_until_due(outgoing_id: int) -> float | None:
    due = (
        OutgoingMessage.objects.filter(pk=outgoing_id, state=OutgoingState.QUEUED)
        .values_list("not_before", flat=True)
        .first()
    )
    if due is None or due <= timezone.now():
        return None
    return (due - timezone.now()).total_seconds()


def _claim(outgoing_id: int) -> str | None:
    token, now = uuid.uuid4().hex, timezone.now()

    claimed = OutgoingMessage.objects.filter(
        Q(state=OutgoingState.QUEUED, not_before__lte=now)
        | Q(state=OutgoingState.QUEUED, not_before__isnull=True)
        | Q(state=OutgoingState.SENDING, lease_until__lt=now),
        pk=outgoing_id,
    ).update(
        state=OutgoingState.SENDING,
        lease_token=token,
        lease_until=now + LEASE,
        attempts=F("attempts") + 1,
    )
    return token if claimed else None


def _attempt(row: OutgoingMessage, token: str, provider: SendProvider) -> None:
    outgoing = _outgoing(row)
    if row.handed_over_at is not None:
        verdict = _earlier_attempt(row, provider)
        if verdict == "sent":
            _succeeded(
                row, token, provider, Accepted(message_id=row.message_id, filed=True), note=""
            )
            return
        if verdict == "unknown":
            _succeeded(
                row,
                token,
                provider,
                Accepted(message_id=row.message_id, filed=False),
                note="The worker stopped while the server was taking this email; it was not "
                "sent again, so that nobody gets it twice.",
            )
            return
        if verdict == "wait":
            _release(row, token, later=FILING_LAG / 2)
            return
    try:
        accepted = provider.send(
            outgoing, handing_over=lambda message_id: _handing_over(row.pk, token, message_id)
        )
    except LeaseLost:
        return  # nothing sent; the worker that holds the claim now decides
    except ProviderError as error:
        _failed(row, token, error, handed_over=True)
        return
    _succeeded(row, token, provider, accepted, note=accepted.note)


def _earlier_attempt(row: OutgoingMessage, provider: SendProvider) -> str:
    """sent | unknown | wait | resend, for a message handed over without an answer."""
    found = provider.find_sent(row.message_id)
    if found:
        return "sent"
    proves = row.mailbox is not None and row.route != SendRoute.CRM_MAILER and _copy_proves(row)
    if found is None or not proves:
        return "unknown"
    assert row.handed_over_at is not None
    if timezone.now() - row.handed_over_at < FILING_LAG:
        return "wait"
    return "resend"


def _copy_proves(row: OutgoingMessage) -> bool:
    """Does a missing Sent copy prove the message was not accepted? Where the provider files
    the copy itself as part of accepting it, with our Message-ID: Graph, an SMTP server seen
    filing."""
    mailbox = row.mailbox
    assert mailbox is not None
    if mailbox.provider == "microsoft":
        return True
    if mailbox.provider == "google":
        return False  # Gmail may put its own Message-ID on what it sent: absence proves nothing
    return bool(mailbox.connection_settings.get("smtp_files_sent"))


def _outgoing(row: OutgoingMessage) -> Outgoing:
    replied = ""
    if row.replied_message_id and row.mailbox_id:
        # The email answered, as held in the mailbox the reply leaves through (it may have
        # been opened from a colleague's copy): same dedupe key.
        replied = (
            MessageLocation.objects.filter(
                message__mailbox_id=row.mailbox_id,
                message__dedupe_key=Message.objects.filter(pk=row.replied_message_id).values(
                    "dedupe_key"
                )[:1],
            )
            .values_list("remote_id", flat=True)
            .first()
            or ""
        )
    return Outgoing(
        raw=bytes(row.raw),
        message_id=row.message_id,
        envelope_from=row.from_address,
        recipients=tuple(row.recipients()),
        replied_remote_id=replied,
        reply_kind=row.reply_kind,
    )


class LeaseLost(ProviderError):
    """This worker's claim expired before it handed the message over (it stalled): another
    worker has the message now, so this one must not send it."""


def _handing_over(outgoing_id: int, token: str, message_id: str) -> None:
    # Its own commit (autocommit, outside any transaction): it must survive the worker. The
    # Message-ID is the one a later attempt looks for (a provider's own, for Graph's replies).
    now = timezone.now()
    kept = OutgoingMessage.objects.filter(
        pk=outgoing_id, lease_token=token, lease_until__gt=now
    ).update(handed_over_at=now, message_id=message_id[:998])
    if not kept:
        raise LeaseLost("The claim on this email expired: another worker sends it.")


def _succeeded(
    row: OutgoingMessage, token: str, provider: SendProvider, accepted: Accepted, *, note: str
) -> None:
    filed = accepted.filed or provider.file_copy(_outgoing(row))
    if row.mailbox is not None and row.route != SendRoute.CRM_MAILER:
        _learn_filing(row.mailbox, provider)
    with transaction.atomic():
        stored = _store_on_card(row, accepted) if row.route != SendRoute.CRM_MAILER else None
        OutgoingMessage.objects.filter(pk=row.pk, lease_token=token).update(
            state=OutgoingState.SENT,
            sent_at=timezone.now(),
            lease_until=None,
            provider_message_id=accepted.provider_id[:255],
            stored_message=stored,
            last_error="",
            note=(note or ("" if filed else "No copy could be put in your Sent folder."))[:500],
        )


def _learn_filing(mailbox: Mailbox, provider: SendProvider) -> None:
    files = getattr(provider, "server_files_sent", None)
    if files is not None and mailbox.connection_settings.get("smtp_files_sent") != files:
        mailbox.connection_settings = {**mailbox.connection_settings, "smtp_files_sent": files}
        Mailbox.objects.filter(pk=mailbox.pk).update(
            connection_settings=mailbox.connection_settings
        )


def _store_on_card(row: OutgoingMessage, accepted: Accepted) -> int | None:
    mailbox = row.mailbox
    assert mailbox is not None
    raw = mime.with_message_id(bytes(row.raw), accepted.message_id)  # the provider's, if its own
    try:
        parsed = parse_message(raw)
    except MessageRejected:
        return None
    return message_store_sent(mailbox, parsed, match_context(mailbox))


def _release(row: OutgoingMessage, token: str, *, later: timedelta) -> None:
    # Waiting for its turn is not a failed attempt: the claim's count is given back.
    OutgoingMessage.objects.filter(pk=row.pk, lease_token=token).update(
        state=OutgoingState.QUEUED,
        lease_until=None,
        not_before=timezone.now() + later,
        attempts=F("attempts") - 1,
    )


def _failed(row: OutgoingMessage, token: str, error: ProviderError, *, handed_over: bool) -> None:
    """Said on the message; a refused sign-in disconnects the mailbox (one email per break);
    a temporary failure is tried again with backoff, then held."""
    # An answer that refused the message proves it was not accepted; a broken connection after
    # the hand-over proves nothing, and the next attempt looks for it first.
    # `handed_over` False: this attempt never reached its send, and an earlier attempt's
    # unknown outcome (if any) stays to be looked for.
    refused = isinstance(error, NotAccepted) or not isinstance(error, TemporaryFailure)
    clear = {"handed_over_at": None} if refused and handed_over else {}
    if isinstance(error, AuthenticationFailed) and row.mailbox is not None:
        from mailsync.services import mailbox_send_refused

        mailbox_send_refused(mailbox=row.mailbox, reason=error.message)
        _hold(row, token, f"{SIGN_IN_BROKE}: {error.message}", notify=False, **clear)
        return
    if isinstance(error, MessageRefused) or row.attempts >= MAX_ATTEMPTS:
        _hold(row, token, error.message, notify=True, **clear)
        return
    backoff = timedelta(minutes=2 ** min(row.attempts - 1, 7))
    OutgoingMessage.objects.filter(pk=row.pk, lease_token=token).update(
        state=OutgoingState.QUEUED,
        lease_until=None,
        not_before=timezone.now() + backoff,
        last_error=error.message[:1000],
        **clear,
    )


def _hold(row: OutgoingMessage, token: str, reason: str, *, notify: bool, **extra: object) -> None:
    held = OutgoingMessage.objects.filter(pk=row.pk, lease_token=token).update(
        state=OutgoingState.HELD, lease_until=None, last_error=reason[:1000], **extra
    )
    if held and notify:
        _notify_held(row, reason)


def _notify_held(row: OutgoingMessage, reason: str) -> None:
    recipient = row.sender.email
    if not recipient:
        return
    try:
        send_mail(
            subject=f"Not sent: {row.subject or '(no subject)'}",
            message=(
                f'Postcard could not send your email "{row.subject}".\n\nReason: {reason}\n\n'
                f"It waits in your outbox: {settings.SITE_URL}/emails/outbox/ — send it from the "
                "CRM's mailer instead, or retry once the problem is solved.\n"
            ),
            from_email=None,
            recipient_list=[recipient],
        )
    except Exception:
        logger.exception("outgoing %s: could not send the notice", row.pk)


__all__ = [
    "Draft",
    "MailboxState",
    "outgoing_cancel",
    "outgoing_claim_due",
    "outgoing_deliver",
    "outgoing_draft_save",
    "outgoing_resume_after_reconnect",
    "outgoing_retry",
    "outgoing_send",
    "outgoing_use_crm_mailer",
]
