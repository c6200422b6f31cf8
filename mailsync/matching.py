"""How a parsed message relates to the CRM: its direction and whether only colleagues took part.

Contacts are not linked here: cards join Participant.address to ContactEmail.address at read time,
so a contact created later, or an address added or removed, changes the cards at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm.core.addresses import normalize_address
from hierarchy.models import User
from mailsync.models import Direction, Mailbox, ParticipantRole
from mailsync.parsing import ParsedMessage


@dataclass(frozen=True)
class MatchContext:
    owner_addresses: frozenset[str]  # the mailbox's own address(es)
    company_addresses: frozenset[str]  # every user's and every mailbox's address


def match_context(mailbox: Mailbox) -> MatchContext:
    user_emails = User.objects.exclude(email="").values_list("email", flat=True)
    company = {normalize_address(e) for e in user_emails}
    company |= set(Mailbox.objects.values_list("address", flat=True))
    owner = {mailbox.address}
    if mailbox.owner.email:
        owner.add(normalize_address(mailbox.owner.email))
    return MatchContext(owner_addresses=frozenset(owner), company_addresses=frozenset(company))


def direction(parsed: ParsedMessage, context: MatchContext) -> Direction:
    senders = {a.address for role, a in parsed.participants if role == ParticipantRole.FROM}
    return Direction.OUTGOING if senders & context.owner_addresses else Direction.INCOMING


def is_internal(parsed: ParsedMessage, context: MatchContext) -> bool:
    """True when every participant is a colleague: such mail never shows on a card."""
    addresses = {a.address for _, a in parsed.participants}
    return bool(addresses) and addresses <= context.company_addresses
