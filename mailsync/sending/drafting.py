"""What the composer fills in and checks: recipients, placeholders, reply subjects and quotes.

No writes here: the outbox (outbox.py) stores what these functions return.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import getaddresses

from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.accounts.models import Account
from crm.contacts.models import Contact
from crm.core.addresses import clean_address, normalize_address
from hierarchy.models import User
from mailsync.models import Message, Participant, ParticipantRole

MAX_RECIPIENTS = 500  # per message: Exchange Online's default, and above any sane email
BULK_RECIPIENTS = 50  # more than this is a bulk send: confirmed, then one email each, paced
_LINE_BREAK = re.compile(r"[\r\n\x00]")
_PLACEHOLDER = re.compile(r"\{(contact|account|sender)\.([a-z_]+)\}")
PLACEHOLDERS = {
    "contact": ("first_name", "last_name", "full_name", "email", "title"),
    "account": ("name", "website"),
    "sender": ("first_name", "last_name", "full_name", "email"),
}


def single_line(value: str, field: str) -> str:
    """A header's value: CR, LF or NUL in it would start a new header (injection), refused."""
    if _LINE_BREAK.search(value):
        raise ValidationError(f"{field} cannot contain line breaks.")
    return value.strip()


def recipients(text: str, field: str) -> list[tuple[str, str]]:
    """ "Ann <ann@x.com>, bob@y.org" -> [(name, canonical address)], each checked."""
    single_line(text, field)
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, address in getaddresses([text.replace(";", ",")]):
        if not address and not name:
            continue
        try:
            canonical = clean_address(address or name)
        except ValidationError as error:
            shown = address or name
            raise ValidationError(
                f"{field}: {shown} is not an email address. {' '.join(error.messages)}"
            ) from None
        if canonical not in seen:
            seen.add(canonical)
            found.append((single_line(name, field)[:200], canonical))
    return found


def recipient_text(pairs: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f'"{name}" <{address}>' if name else address for name, address in pairs)


# --- placeholders ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaceholderValues:
    contact: Contact | None
    account: Account | None
    sender: User

    def value(self, kind: str, name: str) -> str:
        if kind == "sender":
            return _user_value(self.sender, name)
        if kind == "contact":
            return _contact_value(self.contact, name) if self.contact else ""
        account = self.account or (self.contact.account if self.contact else None)
        return str(getattr(account, name, "") or "") if account else ""


def _user_value(user: User, name: str) -> str:
    if name == "full_name":
        return user.get_full_name()
    return str(getattr(user, name, "") or "")


def _contact_value(contact: Contact, name: str) -> str:
    if name == "email":
        primary = contact.emails.order_by("-is_primary", "pk").first()
        return primary.address if primary else ""
    if name == "full_name":
        return contact.full_name
    return str(getattr(contact, name, "") or "")


def fill_placeholders(text: str, values: PlaceholderValues) -> tuple[str, list[str]]:
    """The text with each {kind.name} replaced; the placeholders that had no value (left as
    written, so the user sees where)."""
    empty: list[str] = []

    def replace(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        if name not in PLACEHOLDERS[kind]:
            empty.append(match.group(0))
            return match.group(0)
        value = values.value(kind, name)
        if not value:
            empty.append(match.group(0))
            return match.group(0)
        return value

    return _PLACEHOLDER.sub(replace, text), empty


def unfilled_placeholders(*texts: str) -> list[str]:
    """Placeholders still in the text about to be sent: flagged before sending."""
    return sorted({m.group(0) for text in texts for m in _PLACEHOLDER.finditer(text)})


# --- replies and forwards ----------------------------------------------------------------


@dataclass(frozen=True)
class ReplyStart:
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    subject: str
    quote: str
    in_reply_to: str
    references: str


def reply_start(
    message: Message, kind: str, *, own_addresses: frozenset[str], quote_history: bool
) -> ReplyStart:
    """How a reply, reply-all or forward of `message` begins (RFC 5322 section 3.6.4)."""
    people = _people(message)
    if kind == "forward":
        return ReplyStart(
            to=[],
            cc=[],
            subject=_prefixed("Fwd", message.subject),
            quote=_forwarded(message, people),
            in_reply_to="",
            references="",
        )
    senders = people.get(ParticipantRole.REPLY_TO) or people.get(ParticipantRole.FROM, [])
    if message.direction == "out":  # replying to one's own message: to its recipients again
        senders = people.get(ParticipantRole.TO, [])
    to = [p for p in senders if p[1] not in own_addresses] or senders
    cc: list[tuple[str, str]] = []
    if kind == "reply_all":
        taken = {a for _, a in to} | own_addresses
        for role in (ParticipantRole.TO, ParticipantRole.CC):
            for pair in people.get(role, []):
                if pair[1] not in taken:
                    taken.add(pair[1])
                    cc.append(pair)
    parent = f"<{message.message_id}>" if message.message_id else ""  # stored without <>
    return ReplyStart(
        to=to,
        cc=cc,
        subject=_prefixed("Re", message.subject),
        quote=_quoted(message, people) if quote_history else "",
        in_reply_to=parent,
        references=_references(message, parent),
    )


def _people(message: Message) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for row in Participant.objects.filter(message=message).order_by("pk"):
        found.setdefault(row.role, []).append((row.name, row.address))
    return found


def _prefixed(prefix: str, subject: str) -> str:
    if re.match(rf"\s*{prefix}\s*:", subject, flags=re.IGNORECASE):
        return subject
    return f"{prefix}: {subject}".strip()


def _references(message: Message, parent: str) -> str:
    """RFC 5322 3.6.4 asks for the parent's References and then the parent. The mirror keeps
    the parent's Message-ID only (its References are not stored), which every client threads
    on together with In-Reply-To."""
    return parent


def _who(people: Mapping[str, list[tuple[str, str]]], role: str) -> str:
    return ", ".join(f"{n} <{a}>" if n else a for n, a in people.get(role, []))


def _quoted(message: Message, people: Mapping[str, list[tuple[str, str]]]) -> str:
    when = timezone.localtime(message.sent_at).strftime("%a, %d %b %Y at %H:%M")
    lines = "\n".join(f"> {line}" if line else ">" for line in message.body_text.splitlines())
    return f"On {when}, {_who(people, ParticipantRole.FROM)} wrote:\n{lines}\n"


def _forwarded(message: Message, people: Mapping[str, list[tuple[str, str]]]) -> str:
    when = timezone.localtime(message.sent_at).strftime("%a, %d %b %Y at %H:%M")
    head = [
        "---------- Forwarded message ----------",
        f"From: {_who(people, ParticipantRole.FROM)}",
        f"Date: {when}",
        f"Subject: {message.subject}",
        f"To: {_who(people, ParticipantRole.TO)}",
    ]
    if people.get(ParticipantRole.CC):
        head.append(f"Cc: {_who(people, ParticipantRole.CC)}")
    names = ", ".join(message.attachment_names)
    note = f"\n(Attachments not forwarded: {names})\n" if names else ""
    return "\n".join(head) + "\n\n" + message.body_text + "\n" + note


def own_addresses(user: User) -> frozenset[str]:
    found = {normalize_address(user.email)} if user.email else set()
    mailbox = getattr(user, "mailbox", None)
    if mailbox is not None:
        found.add(mailbox.address)
    return frozenset(found)
