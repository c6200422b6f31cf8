"""A card's synchronized mail, one page at a time, from the CardLink index (mailsync/card_links.py).

A page costs the same at 500 emails as at 500,000: it reads, for each visible mailbox (25 at
most), one short index range newest first, merges them, and stops after a batch of rows (rarely
two). Pages are keyset pages:
"older than this (date, message)" or "newer than", never "skip the first N" (which would read N).

Each entry on a page is a conversation (`thread_key`, the cards) or an email (`dedupe_key`, the
API): the same email in several colleagues' mailboxes is several messages and shows once. A row
starts an entry only if no visible row of the same entry is newer: its "head". So an entry sits
where its newest visible email puts it, on exactly one page, whatever page boundaries fall in it.

Counts are exact up to COUNT_CAP and "at least" past it: counting 500,000 emails to print a number
nobody reads would cost more than the page.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from django.db import connection
from django.utils.dateparse import parse_datetime

from hierarchy.selectors import Reason, Visibility, VisibleOwner
from mailsync.models import CardLink, Message, Participant
from mailsync.selectors import CardConversation, CardEmail, Holder, Party

PER_PAGE = 25
COUNT_CAP = 1_000  # reading 1,001 index entries takes about a millisecond
Grouping = Literal["thread_key", "dedupe_key"]


@dataclass(frozen=True)
class CardOf:
    """Whose card: a contact's, or an account's (every contact of the account)."""

    column: Literal["contact_id", "account_id"]
    pk: int

    @classmethod
    def contact(cls, pk: int) -> CardOf:
        return cls("contact_id", pk)

    @classmethod
    def account(cls, pk: int) -> CardOf:
        return cls("account_id", pk)


# --- where a page starts ---------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in newest-first order: an email's date and message id."""

    sent_at: datetime
    message_id: int

    def token(self) -> str:
        micros = round(self.sent_at.timestamp() * 1_000_000)
        return f"{micros}_{self.message_id}"


_TOKEN = re.compile(r"(-?\d{1,17})_(\d{1,19})")
_MAX_ID = 2**63 - 1


def parse_cursor(token: str | None) -> Cursor | None:
    """The cursor in a `before=`/`after=` parameter; None if absent. ValueError if malformed."""
    if not token:
        return None
    match = _TOKEN.fullmatch(token)
    if not match:
        raise ValueError("not a page position")
    micros, message_id = int(match.group(1)), int(match.group(2))
    if not 0 < message_id <= _MAX_ID:
        raise ValueError("not a page position")
    try:
        sent_at = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError("not a page position") from None
    return Cursor(sent_at, message_id)


@dataclass(frozen=True)
class PagePosition:
    before: Cursor | None = None  # entries older than this (the "Older" link)
    after: Cursor | None = None  # entries newer than this (the "Newer" link)


@dataclass(frozen=True)
class EmailCount:
    value: int
    at_least: bool  # past COUNT_CAP: there are at least `value` emails ("1,000+")

    def __str__(self) -> str:
        return f"{self.value:,}+" if self.at_least else f"{self.value:,}"


T = TypeVar("T")


@dataclass
class KeysetPage(Generic[T]):
    items: list[T]
    older: Cursor | None  # where the next (older) page starts; None on the last page
    newer: Cursor | None  # where the previous (newer) page ends; None on the first page

    @property
    def object_list(self) -> list[T]:  # as a Django Page, for templates
        return self.items


# --- the heads of a page -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Head:
    message_id: int
    sent_at: datetime
    thread_key: str
    dedupe_key: str

    @classmethod
    def of_row(cls, row: tuple[int, datetime | str, str, str]) -> _Head:
        message_id, sent_at, thread_key, dedupe_key = row
        if isinstance(sent_at, str):  # SQLite hands raw queries' datetimes back as text
            parsed = parse_datetime(sent_at)
            assert parsed is not None
            sent_at = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        return cls(message_id, sent_at, thread_key, dedupe_key)

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.sent_at, self.message_id)


def _rows_sql(
    card: CardOf, grouping: Grouping, owners: int, newest_first: bool, bound: bool
) -> str:
    """The SQL of one batch: the next rows of the card in page order, each flagged whether it is
    a head. Only fixed names and placeholders go into it."""
    table = CardLink._meta.db_table
    column = card.column  # one of two fixed names, never user input
    order = "DESC" if newest_first else "ASC"
    beyond = "<" if newest_first else ">"
    in_owners = ", ".join(["%s"] * owners)
    same_entry = "n.thread_key = r.thread_key"
    if grouping == "dedupe_key":
        same_entry += " AND n.dedupe_key = r.dedupe_key"  # copies of an email share its thread
    position = f"l.sent_at {order}, l.message_id {order}"
    rows = f"""
        SELECT l.message_id, l.sent_at, l.thread_key, l.dedupe_key FROM {table} l
        WHERE l.{column} = %s AND l.owner_id {{owner}}
          {"AND (l.sent_at, l.message_id) " + beyond + " (%s, %s)" if bound else ""}
        ORDER BY {position} LIMIT %s"""  # noqa: S608
    if connection.vendor == "postgresql":
        # One index range per visible mailbox, each stopping after a batch, merged: the planner
        # cannot merge ranges of an `owner_id IN (...)` itself and would sort every row instead.
        rows = f"""
            SELECT h.* FROM unnest(%s::bigint[]) AS o(owner_id)
            CROSS JOIN LATERAL ({rows.format(owner="= o.owner_id")}) h
            ORDER BY {position.replace("l.", "h.")} LIMIT %s"""  # noqa: S608
    else:
        rows = rows.format(owner=f"IN ({in_owners})")
    # The head test runs on the batch's rows only: testing every row of each mailbox's range
    # before merging them cost most of an account card's time.
    return f"""
        SELECT r.message_id, r.sent_at, r.thread_key, r.dedupe_key, NOT EXISTS (
            SELECT 1 FROM {table} n
            WHERE n.{column} = %s AND {same_entry} AND n.owner_id IN ({in_owners})
              AND (n.sent_at, n.message_id) > (r.sent_at, r.message_id)) AS head
        FROM ({rows}) r ORDER BY {position.replace("l.", "r.")}"""  # noqa: S608


def _rows_batch(
    card: CardOf,
    grouping: Grouping,
    owner_ids: Sequence[int],
    start: Cursor | None,
    newest_first: bool,
    limit: int,
) -> list[tuple[_Head, bool]]:
    """The next `limit` rows of the card from `start` in page order, each with whether it is a
    head among the visible mailboxes."""
    sql = _rows_sql(card, grouping, len(owner_ids), newest_first, bound=start is not None)
    postgresql = connection.vendor == "postgresql"
    head_test: list[Any] = [card.pk, *owner_ids]
    scan: list[Any] = [card.pk] if postgresql else [card.pk, *owner_ids]
    if start is not None:
        scan += [connection.ops.adapt_datetimefield_value(start.sent_at), start.message_id]
    scan.append(limit)
    # On PostgreSQL the scan runs once per mailbox of the array, and the merge has its limit.
    params = [*head_test, list(owner_ids), *scan, limit] if postgresql else [*head_test, *scan]
    return [(_Head.of_row(row[:4]), bool(row[4])) for row in _fetch(sql, params)]


def _heads(
    card: CardOf,
    grouping: Grouping,
    owner_ids: Sequence[int],
    start: Cursor | None,
    newest_first: bool,
    wanted: int,
) -> list[_Head]:
    """Up to `wanted` entries from `start`, one head each, in page order.

    Rows are read in batches, each row flagged whether it is its entry's head. An entry is
    several rows (a thread's emails, an email's copies, on an account card one email to two of
    its contacts: two heads with the same position), so a batch holds fewer entries than rows;
    a thread of thousands of notifications is passed over in a few batches as they double.
    """
    heads: list[_Head] = []
    seen: set[str] = set()
    batch_size = wanted * 4  # about the rows a page of the benchmark's cards spans
    while True:
        batch = _rows_batch(card, grouping, owner_ids, start, newest_first, batch_size)
        for row, is_head in batch:
            key = getattr(row, grouping)
            if is_head and key not in seen:
                seen.add(key)
                heads.append(row)
        if len(heads) >= wanted or len(batch) < batch_size:
            return heads[:wanted]
        start = batch[-1][0].cursor
        batch_size *= 2


def _page_of_heads(
    card: CardOf,
    grouping: Grouping,
    visibility: Visibility,
    position: PagePosition,
    per_page: int,
) -> tuple[list[_Head], Cursor | None, Cursor | None]:
    """(heads newest first, older cursor, newer cursor) of the page at `position`."""
    owners = list(visibility.owner_ids)
    if not owners:
        return [], None, None
    if position.after is not None:
        above = _heads(card, grouping, owners, position.after, False, per_page + 1)
        if len(above) > per_page:  # a whole page above the cursor, and more
            page = list(reversed(above[:per_page]))
            return page, page[-1].cursor, page[0].cursor
        # Fewer than a page left above: that is the first page.
    heads = _heads(
        card,
        grouping,
        owners,
        position.before if position.after is None else None,
        True,
        per_page + 1,
    )
    page = heads[:per_page]
    older = page[-1].cursor if len(heads) > per_page else None
    came_from_newer = position.before is not None and position.after is None
    newer = page[0].cursor if page and came_from_newer else None
    return page, older, newer


def _fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def _placeholders(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


# The few plain reads every card page makes are written in SQL, like the heads: building each
# through the ORM cost more of the server's time than PostgreSQL took to answer it.


def email_count(card: CardOf, visibility: Visibility) -> EmailCount:
    """Distinct emails on the card in the visible mailboxes, exact up to COUNT_CAP."""
    owners = list(visibility.owner_ids)
    if not owners:
        return EmailCount(0, at_least=False)
    # At most COUNT_CAP + 1 index entries are read; the distinct emails among them counted.
    [(total, distinct)] = _fetch(
        f"""SELECT COUNT(*), COUNT(DISTINCT dedupe_key) FROM (
                SELECT dedupe_key FROM {CardLink._meta.db_table}
                WHERE {card.column} = %s AND owner_id IN ({_placeholders(owners)}) LIMIT %s
            ) capped""",  # noqa: S608 (fixed names and placeholders only)
        [card.pk, *owners, COUNT_CAP + 1],
    )
    if total > COUNT_CAP:
        return EmailCount(min(distinct, COUNT_CAP), at_least=True)
    return EmailCount(distinct, at_least=False)


def _links(
    card: CardOf, visibility: Visibility, thread_keys: Sequence[str]
) -> list[tuple[str, str, int, int]]:
    """(thread_key, dedupe_key, message_id, owner_id) of the card's visible links in these
    threads."""
    owners = list(visibility.owner_ids)
    if not thread_keys or not owners:
        return []
    return _fetch(
        f"""SELECT thread_key, dedupe_key, message_id, owner_id FROM {CardLink._meta.db_table}
            WHERE {card.column} = %s AND thread_key IN ({_placeholders(thread_keys)})
              AND owner_id IN ({_placeholders(owners)})""",  # noqa: S608
        [card.pk, *thread_keys, *owners],
    )


# --- the pages -----------------------------------------------------------------------------------


def _messages(holder_of: dict[int, int]) -> list[Message]:
    """These messages, each carrying `holder_id`, its mailbox's owner, from its link.

    Names and reasons come from the visibility in hand, so no mailbox or user row is loaded
    (nor any credential decrypted). By primary key alone: a filter or join on the mailbox
    lets the planner scan every mailbox instead.
    """
    messages = list(
        Message.objects.filter(pk__in=holder_of)
        .defer("body_text")
        .order_by("-sent_at", "dedupe_key", "pk")
    )
    for message in messages:
        message.holder_id = holder_of[message.pk]  # type: ignore[attr-defined]
    return messages


def _card_email(owners: dict[int, VisibleOwner], copies: list[Message]) -> CardEmail:
    """One email from its visible copies: the viewer's own copy first, else the closest
    colleague's; every holder named with why the viewer may see it."""
    copies.sort(key=lambda m: (owners[m.holder_id].reason, m.pk))  # type: ignore[attr-defined]
    holders = [_holder(owners[m.holder_id]) for m in copies]  # type: ignore[attr-defined]
    return CardEmail(message=copies[0], holders=holders)


def _holder(owner: VisibleOwner) -> Holder:
    return Holder(user_id=owner.user_id, name=owner.name, reason=owner.reason)


def _holders(owners: dict[int, VisibleOwner], owner_ids: set[int]) -> list[Holder]:
    """The visible mailboxes holding a conversation, closest first."""
    holders = [_holder(owners[uid]) for uid in owner_ids if uid in owners]
    return sorted(holders, key=lambda h: (h.reason, h.name))


def _with_participants(emails: list[CardEmail]) -> None:
    """Participants of the copies shown only, as plain values (one query): the other copies'
    are the same, and a page of model instances cost more than the rest of the card."""
    by_message: dict[int, list[Party]] = defaultdict(list)
    ids = [email.message.pk for email in emails]
    if ids:
        rows = _fetch(
            f"""SELECT message_id, role, address, name FROM {Participant._meta.db_table}
                WHERE message_id IN ({_placeholders(ids)}) ORDER BY id""",  # noqa: S608
            ids,
        )
        for message_id, *party in rows:
            by_message[message_id].append(Party(*party))
    for email in emails:
        email.message.card_participants = by_message[email.message.pk]  # type: ignore[attr-defined]


def card_conversations(
    card: CardOf,
    visibility: Visibility,
    position: PagePosition = PagePosition(),
    per_page: int = PER_PAGE,
) -> KeysetPage[CardConversation]:
    """One page of the card's conversations, the one with the newest visible email first.

    A conversation holds only the emails that involve the card, each once however many
    visible mailboxes hold it. The page sums each up (its newest email, how many, which
    mailboxes) from the index; only the newest emails' messages are read.
    """
    heads, older, newer = _page_of_heads(card, "thread_key", visibility, position, per_page)
    links = _links(card, visibility, list({head.thread_key: None for head in heads}))
    emails_in: dict[str, set[str]] = defaultdict(set)
    holders_of: dict[str, set[int]] = defaultdict(set)
    newest = {head.dedupe_key for head in heads}
    newest_copies: dict[int, int] = {}
    for thread_key, dedupe_key, message_id, owner_id in links:
        emails_in[thread_key].add(dedupe_key)
        holders_of[thread_key].add(owner_id)
        if dedupe_key in newest:
            newest_copies[message_id] = owner_id
    copies_of: dict[str, list[Message]] = defaultdict(list)
    for message in _messages(newest_copies):
        copies_of[message.dedupe_key].append(message)
    owners = {owner.user_id: owner for owner in visibility.owners}
    conversations = [
        CardConversation(
            latest=_card_email(owners, copies_of[head.dedupe_key]),
            email_count=len(emails_in[head.thread_key]),
            holders=_holders(owners, holders_of[head.thread_key]),
        )
        for head in heads
        if copies_of[head.dedupe_key]
    ]
    _with_participants([conversation.latest for conversation in conversations])
    return KeysetPage(conversations, older=older, newer=newer)


CONVERSATION_EMAILS_SHOWN = 200  # a thread of automated notifications can hold thousands


def card_conversation(
    card: CardOf, visibility: Visibility, thread_key: str
) -> CardConversation | None:
    """One conversation of the card with its visible emails, the newest
    CONVERSATION_EMAILS_SHOWN of them (`email_count` counts all); None if none is visible."""
    links = CardLink.objects.filter(
        **{card.column: card.pk}, thread_key=thread_key, owner_id__in=visibility.owner_ids
    ).order_by("-sent_at", "-message_id")
    holder_of: dict[int, int] = {}  # the shown emails' copies: message id -> mailbox owner
    emails_in: set[str] = set()
    shown: set[str] = set()
    all_holders: set[int] = set()
    for dedupe_key, message_id, owner_id in links.values_list(
        "dedupe_key", "message_id", "owner_id"
    ):
        all_holders.add(owner_id)
        if dedupe_key not in emails_in:
            emails_in.add(dedupe_key)
            if len(shown) < CONVERSATION_EMAILS_SHOWN:
                shown.add(dedupe_key)
        if dedupe_key in shown:
            holder_of[message_id] = owner_id
    if not holder_of:
        return None
    by_email: dict[str, list[Message]] = {}
    for message in _messages(holder_of):
        by_email.setdefault(message.dedupe_key, []).append(message)
    owners = {owner.user_id: owner for owner in visibility.owners}
    emails = [_card_email(owners, copies) for copies in by_email.values()]
    _with_participants(emails)
    return CardConversation(
        latest=emails[0],
        email_count=len(emails_in),
        holders=_holders(owners, all_holders),
        emails=emails,
    )


def card_emails(
    card: CardOf,
    visibility: Visibility,
    position: PagePosition = PagePosition(),
    per_page: int = PER_PAGE,
) -> KeysetPage[CardEmail]:
    """One page of the card's emails, newest first, each once across the visible mailboxes."""
    heads, older, newer = _page_of_heads(card, "dedupe_key", visibility, position, per_page)
    keys = [head.dedupe_key for head in heads]
    wanted = set(keys)
    links = _links(card, visibility, list({head.thread_key: None for head in heads}))
    copies = {message_id: owner for _t, key, message_id, owner in links if key in wanted}
    by_key: dict[str, list[Message]] = defaultdict(list)
    for message in _messages(copies):
        by_key[message.dedupe_key].append(message)
    owners = {owner.user_id: owner for owner in visibility.owners}
    emails = [_card_email(owners, by_key[key]) for key in keys if by_key[key]]
    _with_participants(emails)
    return KeysetPage(emails, older=older, newer=newer)


# --- the home page ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FromContact:
    message_id: int
    contact_id: int
    owner_id: int
    dedupe_key: str


def _latest_from_contacts_sql(owners: int) -> str:
    table = CardLink._meta.db_table
    columns = "l.message_id, l.contact_id, l.owner_id, l.dedupe_key, l.sent_at"
    newest = "ORDER BY l.sent_at DESC, l.message_id DESC LIMIT %s"
    if connection.vendor != "postgresql":
        in_owners = ", ".join(["%s"] * owners)
        return f"""
            SELECT {columns} FROM {table} l
            WHERE l.contact_sent AND l.owner_id IN ({in_owners}) {newest}"""  # noqa: S608
    # One range of the card_link_from_contact index per visible mailbox, as the cards read.
    return f"""
        SELECT h.* FROM unnest(%s::bigint[]) AS o(owner_id)
        CROSS JOIN LATERAL (
            SELECT {columns} FROM {table} l
            WHERE l.contact_sent AND l.owner_id = o.owner_id {newest}) h
        ORDER BY h.sent_at DESC, h.message_id DESC LIMIT %s"""  # noqa: S608


def latest_from_contacts(visibility: Visibility, limit: int) -> list[FromContact]:
    """The newest emails a contact sent, in the visible mailboxes, each email once (the
    viewer's own copy when they hold one)."""
    owners = list(visibility.owner_ids)
    if not owners:
        return []
    # Each email may come as several rows (copies, two contacts as senders): read enough.
    rows_wanted = limit * 4
    sql = _latest_from_contacts_sql(len(owners))
    if connection.vendor == "postgresql":
        params: list[Any] = [owners, rows_wanted, rows_wanted]
    else:
        params = [*owners, rows_wanted]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [FromContact(*row[:4]) for row in cursor.fetchall()]
    own = next((o.user_id for o in visibility.owners if o.reason == Reason.OWN), None)
    chosen: dict[str, FromContact] = {}
    for row in rows:
        held = chosen.get(row.dedupe_key)
        if held is None or (row.owner_id == own and held.owner_id != own):
            chosen[row.dedupe_key] = row
    return list(chosen.values())[:limit]
