"""The company `card_page.py` measures, loaded with PostgreSQL COPY straight into the tables.

A tree of users (a CEO, managers with 5-9 reports each), every user with a mailbox (INBOX and
Sent); two viewers, the CEO at visibility level 4 and a director (one of the CEO's reports) at
level 1, both cut to the 25 nearest mailboxes. The cards' mail sits in the mailboxes both
viewers see (the director and their reports), so both list the same emails:

- three contacts, each in an account of their own, with `contact_sizes` emails (two addresses
  each, a work one and a personal one);
- a big account whose `account_contacts` contacts share `account_size` emails (a few contacts
  hold most of them, as in real life; a quarter Cc a second contact of the account);
- the rest, up to `messages` message rows, noise: other customers' mail in every mailbox
  (a share in the viewers' ones), mail from unknown senders and internal-only mail.

Emails come in threads of 1 to 6 (shared thread_key and subject, hours to days apart) spread over
three years; about one in five is also held in one or two colleagues' mailboxes (same dedupe_key,
another mailbox, the colleague in Cc), as company mail is. Participants carry canonical lowercase
addresses equal to ContactEmail.address.

Loading bypasses the ORM: rows are generated here, the secondary indexes and unique constraints of
the big tables dropped, the rows COPYed (foreign-key triggers off), then the indexes rebuilt,
sequences moved past the ids and everything ANALYZEd. When `mailsync.card_links` exists, its
`card_links_rebuild()` fills the denormalized link table from what was loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

GENERATOR_VERSION = 1  # bump when the data changes shape: a kept dataset is then rebuilt
MARKER_TABLE = "bench_card_build"
PASSWORD = "bench-cards-password"  # noqa: S105 (the two benchmark viewers' login, local only)
VIEWERS = ("ceo", "director")  # usernames; levels 4 and 1
CORP = "corp.example"
BATCH = 50_000  # emails generated, then COPYed, at a time
YEARS = 3
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # fixed, so a rebuilt dataset is the same
COPY_SHARE = 0.2  # emails also held in colleagues' mailboxes
NOISE_IN_VIEWED = 0.1  # share of the noise in the viewers' mailboxes
FIRST_NAMES = tuple(
    [
        "Anna",
        "Ben",
        "Carla",
        "David",
        "Emma",
        "Felix",
        "Greta",
        "Hugo",
        "Ines",
        "Jonas",
        "Karin",
        "Leon",
        "Maria",
        "Nils",
        "Olga",
        "Paul",
        "Rosa",
        "Simon",
        "Tara",
        "Uwe",
        "Vera",
        "Walter",
        "Yara",
        "Zoe",
    ]
)
SURNAMES = tuple(
    [
        "Miller",
        "Smith",
        "Novak",
        "Weber",
        "Rossi",
        "Dubois",
        "Garcia",
        "Jensen",
        "Kowalski",
        "Berg",
        "Martin",
        "Costa",
        "Schulz",
        "Meyer",
        "Fischer",
        "Wagner",
        "Becker",
        "Hoffmann",
        "Keller",
        "Brown",
    ]
)
TOPICS = (
    "Proposal for the next quarter",
    "Order form and PO number",
    "Security review questionnaire",
    "Renewal terms",
    "Implementation plan",
    "Invoice 2024-117",
    "Onboarding schedule",
    "Pricing for additional seats",
    "Follow-up on our call",
    "Data processing agreement",
    "Support ticket escalation",
    "Workshop agenda",
)
PARAGRAPHS = (
    "Thanks for the call earlier. As discussed, here is a summary of where we are with the "
    "rollout and the open questions on pricing, security review and the implementation plan.",
    "Our legal team reviewed the order form; the only open point is the auto-renewal clause. "
    "Finance asked whether the invoice can reference our new PO number.",
    "Let me know if Tuesday works for a follow-up with the wider team. I can also send the "
    "slides from last week if that helps to brief your colleagues before the meeting.",
    "We tested the import with a sample of last year's data and found two small issues with "
    "date formats; both are fixed in the build we deployed this morning.",
    "Attached is the updated schedule. Training for the second group moves to the week after, "
    "everything else stays as planned.",
    "Could you confirm the number of seats for the second phase? We would like to prepare the "
    "contract amendment before the end of the month.",
)


@dataclass(frozen=True)
class Params:
    """What is built; stored in the marker row, a kept dataset must match it exactly."""

    users: int
    messages: int  # message rows in all (copies included)
    contact_sizes: tuple[int, ...]
    account_size: int
    account_contacts: int
    noise_contacts: int
    seed: int = 9
    version: int = GENERATOR_VERSION


FULL = Params(
    users=5000,
    messages=2_000_000,
    contact_sizes=(500, 5000, 50_000),
    account_size=500_000,
    account_contacts=300,
    noise_contacts=20_000,
)
QUICK = Params(
    users=500,
    messages=50_000,
    contact_sizes=(50, 500, 5000),
    account_size=20_000,
    account_contacts=30,
    noise_contacts=2000,
)


@dataclass(frozen=True)
class Target:
    kind: str  # "contact" or "account"
    pk: int
    emails: int  # distinct emails on the card (all pages), for both viewers


@dataclass
class Dataset:
    params: Params
    viewers: dict[str, int]  # username -> user id
    contacts: list[Target]
    accounts: list[Target]
    viewed_mailboxes: list[int]  # the mailboxes holding the cards' mail
    build_seconds: float
    built_at: str
    card_links: int | None = None  # rows of CardLink after the build, None without that table


# --- keeping the data between runs -------------------------------------------------------------


def stored(conninfo: str, params: Params) -> Dataset | None:
    """The dataset already in the database when it was built with these parameters."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", [MARKER_TABLE]).fetchone()
        if exists is None or exists[0] is None:
            return None
        row = conn.execute(f"SELECT params, summary FROM {MARKER_TABLE} LIMIT 1").fetchone()  # noqa: S608
    if row is None or row[0] != _params_json(params):
        return None
    return _dataset_from(params, row[1])


def _params_json(params: Params) -> dict[str, Any]:
    stored: dict[str, Any] = json.loads(json.dumps(asdict(params)))  # tuples as lists, as jsonb
    return stored


def _dataset_from(params: Params, summary: dict[str, Any]) -> Dataset:
    return Dataset(
        params=params,
        viewers=summary["viewers"],
        contacts=[Target(**t) for t in summary["contacts"]],
        accounts=[Target(**t) for t in summary["accounts"]],
        viewed_mailboxes=summary["viewed_mailboxes"],
        build_seconds=summary["build_seconds"],
        built_at=summary["built_at"],
        card_links=summary.get("card_links"),
    )


def _store_marker(conn: psycopg.Connection[Any], dataset: Dataset) -> None:
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (params jsonb NOT NULL, summary jsonb NOT NULL)"
    )
    conn.execute(f"DELETE FROM {MARKER_TABLE}")  # noqa: S608
    summary = asdict(dataset)
    del summary["params"]
    conn.execute(
        f"INSERT INTO {MARKER_TABLE} (params, summary) VALUES (%s, %s)",  # noqa: S608
        [json.dumps(_params_json(dataset.params)), json.dumps(summary)],
    )


# --- the company ---------------------------------------------------------------------------------


@dataclass
class Person:
    id: int
    username: str
    first_name: str
    last_name: str
    parent_id: int | None
    level: int  # depth in the tree (MPTT level)
    visibility_level: int
    lft: int = 0
    rght: int = 0

    @property
    def address(self) -> str:
        return f"{self.username}@{CORP}"

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


def company(size: int, rng: random.Random) -> list[Person]:
    """Breadth-first: each manager gets 5-9 reports until there are `size` people.

    Names sort in creation order ("E00012 Weber"), so the nearest mailboxes the visibility cap
    keeps are predictable: the CEO's 25 hold the director and the director's reports.
    """

    def person(n: int, parent: Person | None) -> Person:
        return Person(
            id=n + 1,
            username=VIEWERS[n] if n < len(VIEWERS) else f"u{n:05}",
            first_name=f"E{n:05}",
            last_name=SURNAMES[n % len(SURNAMES)],
            parent_id=None if parent is None else parent.id,
            level=0 if parent is None else parent.level + 1,
            visibility_level=(4, 1)[n] if n < len(VIEWERS) else rng.randint(0, 4),
        )

    people = [person(0, None)]
    managers = [people[0]]
    while len(people) < size:
        below: list[Person] = []
        for manager in managers:
            for _ in range(min(rng.randint(5, 9), size - len(people))):
                below.append(person(len(people), manager))
                people.append(below[-1])
        managers = below
    _nested_sets(people)
    return people


def _nested_sets(people: list[Person]) -> None:
    """MPTT lft/rght as django-mptt's rebuild() sets them (one tree, children by username)."""
    children: dict[int | None, list[Person]] = {}
    for p in people:
        children.setdefault(p.parent_id, []).append(p)
    for kids in children.values():
        kids.sort(key=lambda p: p.username)
    counter = 1
    stack: list[tuple[Person, bool]] = [(people[0], False)]
    while stack:
        node, done = stack.pop()
        if done:
            node.rght = counter
            counter += 1
            continue
        node.lft = counter
        counter += 1
        stack.append((node, True))
        stack.extend((kid, False) for kid in reversed(children.get(node.id, [])))


def viewed_mailboxes(people: list[Person]) -> list[int]:
    """Owners whose mailboxes both viewers see, through the product's own visibility rules."""
    from django.conf import settings

    from hierarchy.models import VisibilityLevel
    from hierarchy.selectors import Node, compute_visibility

    nodes = [
        Node(
            id=p.id,
            parent_id=p.parent_id,
            name=p.name,
            has_mailbox=True,
            level=VisibilityLevel(p.visibility_level),
        )
        for p in people
    ]
    seen = []
    for viewer in people[: len(VIEWERS)]:
        visibility = compute_visibility(
            nodes,
            viewer_id=viewer.id,
            level=VisibilityLevel(viewer.visibility_level),
            cap=settings.VISIBILITY_MAILBOX_CAP,
        )
        seen.append(set(visibility.owner_ids))
    both = sorted(set.intersection(*seen))
    if len(both) < 2:
        raise RuntimeError(f"the two viewers share only {len(both)} mailboxes")
    return both


# --- rows -----------------------------------------------------------------------------------------


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S+00")


def _text(value: str) -> str:
    """A value in COPY's text format."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


@dataclass(frozen=True)
class Party:
    address: str
    name: str


@dataclass
class Email:
    sender: Party
    to: list[Party]
    cc: list[Party]
    mailboxes: list[int]  # owner ids (= mailbox ids) holding a copy, the first the main one
    sent_at: datetime
    thread: int
    subject: str
    internal: bool = False


@dataclass
class Tables:
    """Rows waiting for COPY, in COPY text format, and the next id of each table."""

    messages: io.StringIO = field(default_factory=io.StringIO)
    locations: io.StringIO = field(default_factory=io.StringIO)
    participants: io.StringIO = field(default_factory=io.StringIO)
    message_id: int = 1
    participant_id: int = 1
    rows: int = 0  # message rows so far
    pending: int = 0


class Mail:
    """Turns emails into message, location and participant rows, copies included."""

    def __init__(self, people: list[Person], rng: random.Random) -> None:
        self.people = {p.id: p for p in people}
        self.rng = rng
        self.tables = Tables()
        self.email_number = 0
        self.bodies = [
            _text("Hello,\n\n" + "\n\n".join(rng.sample(PARAGRAPHS, k)) + "\n\nBest regards")
            for k in (1, 2, 2, 3, 3, 4, 5, 6)
        ]

    def party(self, owner: int) -> Party:
        person = self.people[owner]
        return Party(person.address, person.name)

    def add(self, email: Email) -> None:
        self.email_number += 1
        message_id = f"<{self.email_number}.{email.thread}@{email.sender.address.split('@')[1]}>"
        dedupe = hashlib.sha256(message_id.encode()).hexdigest()
        thread_key = hashlib.sha256(f"thread-{email.thread}".encode()).hexdigest()
        sent = _ts(email.sent_at)
        received = _ts(email.sent_at + timedelta(seconds=20))
        subject = _text(email.subject)
        body = self.rng.choice(self.bodies)
        internal = "t" if email.internal else "f"
        people = [("from", email.sender)]
        people += [("to", p) for p in email.to] + [("cc", p) for p in email.cc]
        t = self.tables
        for owner in email.mailboxes:
            outgoing = email.sender.address == self.people[owner].address
            t.messages.write(
                f"{t.message_id}\t{owner}\t{dedupe}\t{_text(message_id)}\t{thread_key}\t"
                f"{subject}\t{sent}\t{received}\t{'out' if outgoing else 'in'}\t{body}\t"
                f"f\t\\N\t[]\t{internal}\t{received}\n"
            )
            folder = 2 * owner if outgoing else 2 * owner - 1  # Sent, else INBOX
            t.locations.write(f"{t.message_id}\t{t.message_id}\t{folder}\t{t.message_id}\n")
            for role, p in people:
                t.participants.write(
                    f"{t.participant_id}\t{t.message_id}\t{role}\t{p.address}\t{_text(p.name)}\n"
                )
                t.participant_id += 1
            t.message_id += 1
            t.rows += 1
            t.pending += 1

    def copies(self, main: int, pool: Sequence[int], share: float = COPY_SHARE) -> list[int]:
        """The main mailbox and, for `share` of emails, one or two colleagues' mailboxes."""
        owners = [main]
        if self.rng.random() < share:
            extra = 1 if self.rng.random() < 0.7 else 2
            while len(owners) < 1 + extra:
                # Half in a mailbox the viewers see too, half anywhere in the company.
                other = (
                    self.rng.choice(pool)
                    if self.rng.random() < 0.5
                    else self.rng.randint(1, len(self.people))
                )
                if other not in owners:
                    owners.append(other)
        return owners


def threads(rng: random.Random, count: int) -> Iterator[tuple[int, list[datetime]]]:
    """Thread sizes 1-6 (mostly short) and their dates, `count` emails in all."""
    made = 0
    span = YEARS * 365 * 24 * 60
    while made < count:
        size = min(rng.choices((1, 2, 3, 4, 5, 6), weights=(30, 25, 18, 12, 9, 6))[0], count - made)
        moment = NOW - timedelta(minutes=rng.randint(60 * 24 * 7, span))
        dates = []
        for _ in range(size):
            dates.append(moment)
            moment += timedelta(minutes=rng.randint(10, 3 * 24 * 60))
        made += size
        yield size, dates


# --- the build -----------------------------------------------------------------------------------

USER_COLUMNS = (
    "id password last_login is_superuser username first_name last_name email is_staff is_active "
    "date_joined parent_id visibility_level is_sync_only time_zone lft rght tree_id level"
)
MAILBOX_COLUMNS = (
    "id owner_id address provider state state_reason connection_settings credentials "
    "sync_since_days last_synced_at next_sync_at progress_done progress_total failures "
    "paused_until lease_until lease_token orphans_pending is_demo created_at"
)
FOLDER_COLUMNS = "id mailbox_id name label role cursor"
MESSAGE_COLUMNS = (
    "id mailbox_id dedupe_key message_id thread_key subject sent_at received_at direction "
    "body_text body_truncated body_truncated_from attachment_names is_internal created_at"
)
LOCATION_COLUMNS = "id message_id folder_id remote_id"
PARTICIPANT_COLUMNS = "id message_id role address name"
ACCOUNT_COLUMNS = "id name website owner_id created_at updated_at"
DOMAIN_COLUMNS = "id account_id domain"
CONTACT_COLUMNS = "id first_name last_name title phone account_id owner_id created_at updated_at"
CONTACT_EMAIL_COLUMNS = "id contact_id address is_primary"


def _tables() -> dict[str, tuple[str, str]]:
    """Model -> (table, columns we write), from Django's own metadata."""
    from crm.accounts.models import Account, AccountDomain
    from crm.contacts.models import Contact, ContactEmail
    from hierarchy.models import User
    from mailsync.models import Folder, Mailbox, Message, MessageLocation, Participant

    pairs = (
        (User, USER_COLUMNS),
        (Mailbox, MAILBOX_COLUMNS),
        (Folder, FOLDER_COLUMNS),
        (Message, MESSAGE_COLUMNS),
        (MessageLocation, LOCATION_COLUMNS),
        (Participant, PARTICIPANT_COLUMNS),
        (Account, ACCOUNT_COLUMNS),
        (AccountDomain, DOMAIN_COLUMNS),
        (Contact, CONTACT_COLUMNS),
        (ContactEmail, CONTACT_EMAIL_COLUMNS),
    )
    return {model.__name__: (model._meta.db_table, columns) for model, columns in pairs}


def _check_columns(conn: psycopg.Connection[Any], tables: dict[str, tuple[str, str]]) -> None:
    """Refuse early when a migration added a required column this loader does not write."""
    for table, columns in tables.values():
        rows = conn.execute(
            "SELECT column_name, is_nullable = 'NO' AND column_default IS NULL "
            "AND is_identity = 'NO' FROM information_schema.columns WHERE table_name = %s",
            [table],
        ).fetchall()
        present = {name for name, _ in rows}
        missing = set(columns.split()) - present
        required = {name for name, needed in rows if needed} - set(columns.split())
        if missing or required:
            raise RuntimeError(
                f"{table}: the loader writes {sorted(missing)} (not in the table) and leaves out "
                f"required {sorted(required)}; update benchmarks/card_data.py"
            )


def _copy(conn: psycopg.Connection[Any], table: str, columns: str, data: str) -> None:
    if not data:
        return
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns.split()))
    )
    with conn.cursor().copy(statement) as copy:
        encoded = data.encode()
        for start in range(0, len(encoded), 1 << 20):
            copy.write(encoded[start : start + (1 << 20)])


def _lines(rows: Sequence[Sequence[object]]) -> str:
    def cell(value: object) -> str:
        if value is None:
            return "\\N"
        if isinstance(value, bool):
            return "t" if value else "f"
        return _text(str(value))

    return "".join("\t".join(cell(v) for v in row) + "\n" for row in rows)


def _drop_secondary(conn: psycopg.Connection[Any], tables: Sequence[str]) -> list[str]:
    """Drop the plain indexes and unique constraints of these tables; the DDL to restore them."""
    restore: list[str] = []
    for table in tables:
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'u'",
            [table],
        ).fetchall()
        for name, definition in constraints:
            conn.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    sql.Identifier(table), sql.Identifier(name)
                )
            )
            restore.append(
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ")
                .format(sql.Identifier(table), sql.Identifier(name))
                .as_string(conn)
                + definition
            )
        indexes = conn.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [table],
        ).fetchall()
        for name, definition in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
            restore.append(definition)
    return restore


def build(conninfo: str, params: Params, log: Any = print) -> Dataset:
    """Load the whole dataset into an empty, migrated database (Django set up on it)."""
    from django.contrib.auth.hashers import make_password

    started = time.perf_counter()
    rng = random.Random(params.seed)
    people = company(params.users, rng)
    viewed = viewed_mailboxes(people)
    tables = _tables()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        _check_columns(conn, tables)
        conn.execute("SET session_replication_role = replica")  # no FK triggers while loading
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '1GB'")
        big = [tables[m][0] for m in ("Message", "MessageLocation", "Participant")]
        restore = _drop_secondary(conn, big)
        _load_company(conn, tables, people, make_password(PASSWORD))
        contacts, accounts, parties = _load_crm(conn, tables, params, rng)
        mail = Mail(people, rng)
        thread = _customer_mail(conn, tables, mail, params, viewed, parties, contacts, accounts)
        _noise(conn, tables, mail, params, viewed, parties["noise"], thread)
        log(f"  copied {mail.tables.rows:,} messages in {time.perf_counter() - started:.0f} s")
        step = time.perf_counter()
        for statement in restore:
            conn.execute(statement)
        log(f"  rebuilt {len(restore)} indexes in {time.perf_counter() - step:.0f} s")
        conn.execute("SET session_replication_role = DEFAULT")
        for table, _ in tables.values():
            reset = sql.SQL(
                "SELECT setval(pg_get_serial_sequence({name}, 'id'), (SELECT max(id) FROM {table}))"
            ).format(name=sql.Literal(table), table=sql.Identifier(table))
            conn.execute(reset)
    links = card_links_rebuild(conninfo, log)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        step = time.perf_counter()
        conn.execute("VACUUM ANALYZE")  # visibility map and statistics, as a settled database has
        log(f"  VACUUM ANALYZE in {time.perf_counter() - step:.0f} s")
        dataset = Dataset(
            params=params,
            viewers={p.username: p.id for p in people[: len(VIEWERS)]},
            contacts=contacts,
            accounts=accounts,
            viewed_mailboxes=viewed,
            build_seconds=round(time.perf_counter() - started, 1),
            built_at=datetime.now(UTC).isoformat(timespec="seconds"),
            card_links=links,
        )
        _store_marker(conn, dataset)
    return dataset


def card_links_rebuild(conninfo: str, log: Any = print) -> int | None:
    """Fill the product's CardLink table when the product has one (mailsync.card_links)."""
    try:
        from mailsync.card_links import card_links_rebuild as rebuild  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log("  no mailsync.card_links: link table not built")
        return None
    step = time.perf_counter()
    rebuild()
    from mailsync.models import CardLink  # type: ignore[attr-defined,unused-ignore]

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(CardLink._meta.db_table)))
        count = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(CardLink._meta.db_table))
        ).fetchone()
    links = int(count[0]) if count else 0
    log(f"  card_links_rebuild(): {links:,} links in {time.perf_counter() - step:.0f} s")
    return links


def _load_company(
    conn: psycopg.Connection[Any],
    tables: dict[str, tuple[str, str]],
    people: list[Person],
    password: str,
) -> None:
    joined = _ts(NOW - timedelta(days=YEARS * 365 + 30))
    users = [
        (
            p.id,
            password if p.username in VIEWERS else "!unusable",
            None,
            False,
            p.username,
            p.first_name,
            p.last_name,
            p.address,
            False,
            True,
            joined,
            p.parent_id,
            p.visibility_level,
            False,
            "UTC",
            p.lft,
            p.rght,
            1,
            p.level,
        )
        for p in people
    ]
    _copy(conn, *tables["User"], _lines(users))
    # state, reason, settings, credentials, sync_since_days, last/next sync, progress x2,
    # failures, paused until, lease until/token, orphans_pending, is_demo, created_at
    box: tuple[object, ...] = ("active", "", "{}", "", 90, None, None, 0, 0, 0, None, None, "")
    box += (False, False, joined)
    mailboxes = [(p.id, p.id, p.address, "imap", *box) for p in people]
    _copy(conn, *tables["Mailbox"], _lines(mailboxes))
    folders = [
        (2 * p.id - 1 + n, p.id, name, "", role, "")
        for p in people
        for n, (name, role) in enumerate((("INBOX", "inbox"), ("Sent", "sent")))
    ]
    _copy(conn, *tables["Folder"], _lines(folders))


def _load_crm(
    conn: psycopg.Connection[Any],
    tables: dict[str, tuple[str, str]],
    params: Params,
    rng: random.Random,
) -> tuple[list[Target], list[Target], dict[str, list[list[Party]]]]:
    """Accounts, contacts and addresses; the parties of each group of contacts."""
    created = _ts(NOW - timedelta(days=YEARS * 365))
    accounts: list[tuple[object, ...]] = []
    domains: list[tuple[object, ...]] = []
    contacts: list[tuple[object, ...]] = []
    emails: list[tuple[object, ...]] = []

    def account(name: str, domain: str) -> int:
        accounts.append((len(accounts) + 1, name, f"https://{domain}", None, created, created))
        domains.append((len(domains) + 1, len(accounts), domain))
        return len(accounts)

    def contact(first: str, last: str, account_id: int, addresses: list[str]) -> list[Party]:
        contacts.append(
            (len(contacts) + 1, first, last, "", "", account_id, None, created, created)
        )
        for n, address in enumerate(addresses):
            emails.append((len(emails) + 1, len(contacts), address, n == 0))
        return [Party(address, f"{first} {last}") for address in addresses]

    groups: dict[str, list[list[Party]]] = {"single": [], "account": [], "noise": []}
    singles: list[Target] = []
    account_targets: list[Target] = []
    for size, (first, last) in zip(
        params.contact_sizes, [("Sam", "Small"), ("Max", "Medium"), ("Liam", "Large")], strict=False
    ):
        domain = f"{last.lower()}-{size}.example"
        account_id = account(f"{last} {size} Ltd", domain)
        groups["single"].append(
            contact(
                first,
                last,
                account_id,
                [f"{first}.{last}@{domain}".lower(), f"{first}{size}@gmail.com".lower()],
            )
        )
        singles.append(Target("contact", len(contacts), size))
        account_targets.append(Target("account", account_id, size))
    big = account("Bigcorp International", "bigcorp.example")
    for n in range(params.account_contacts):
        first, last = FIRST_NAMES[n % len(FIRST_NAMES)], SURNAMES[(n // 3) % len(SURNAMES)]
        address = f"{first}.{last}.{n}@bigcorp.example".lower()
        groups["account"].append(contact(first, last, big, [address]))
    account_targets.append(Target("account", big, params.account_size))
    noise_accounts = max(1, params.noise_contacts // 10)
    first_noise = len(accounts) + 1
    for n in range(noise_accounts):
        account(f"Customer {n:05}", f"customer{n:05}.example")
    for n in range(params.noise_contacts):
        first, last = rng.choice(FIRST_NAMES), rng.choice(SURNAMES)
        k = n % noise_accounts
        address = f"{first}.{last}.{n}@customer{k:05}.example".lower()
        groups["noise"].append(contact(first, last, first_noise + k, [address]))
    _copy(conn, *tables["Account"], _lines(accounts))
    _copy(conn, *tables["AccountDomain"], _lines(domains))
    _copy(conn, *tables["Contact"], _lines(contacts))
    _copy(conn, *tables["ContactEmail"], _lines(emails))
    return singles, account_targets, groups


def _flush(conn: psycopg.Connection[Any], tables: dict[str, tuple[str, str]], mail: Mail) -> None:
    t = mail.tables
    _copy(conn, *tables["Message"], t.messages.getvalue())
    _copy(conn, *tables["MessageLocation"], t.locations.getvalue())
    _copy(conn, *tables["Participant"], t.participants.getvalue())
    t.messages, t.locations, t.participants = io.StringIO(), io.StringIO(), io.StringIO()
    t.pending = 0


def _exchange(
    mail: Mail,
    customer: list[Party],
    cc_pool: list[list[Party]],
    count: int,
    viewed: list[int],
    thread_base: int,
) -> int:
    """`count` emails between one contact and the viewed mailboxes' owners; threads used."""
    rng = mail.rng
    # The director's own mailbox holds the most, the others share the rest.
    weights = [3.0] + [1.0] * (len(viewed) - 1)
    thread = thread_base
    for _size, dates in threads(rng, count):
        thread += 1
        owner = rng.choices(viewed, weights=weights)[0]
        # Mostly the work address, sometimes the personal one: one thread, one address.
        them = customer[0] if len(customer) == 1 or rng.random() < 0.85 else customer[1]
        topic = rng.choice(TOPICS)
        for n, moment in enumerate(dates):
            holders = mail.copies(owner, viewed)
            us = mail.party(owner)
            colleagues = [mail.party(h) for h in holders[1:]]
            cc = list(colleagues)
            if cc_pool and rng.random() < 0.25:
                cc.append(rng.choice(cc_pool)[0])
            outgoing = rng.random() < 0.45
            email = Email(
                sender=us if outgoing else them,
                to=[them] if outgoing else [us],
                cc=cc,
                mailboxes=holders,
                sent_at=moment,
                thread=thread,
                subject=("Re: " if n else "") + topic,
            )
            mail.add(email)
    return thread


def _customer_mail(
    conn: psycopg.Connection[Any],
    tables: dict[str, tuple[str, str]],
    mail: Mail,
    params: Params,
    viewed: list[int],
    parties: dict[str, list[list[Party]]],
    contacts: list[Target],
    accounts: list[Target],
) -> int:
    """The cards' mail; the last thread number used."""
    thread = 0
    for target, customer in zip(contacts, parties["single"], strict=True):
        thread = _exchange(mail, customer, [], target.emails, viewed, thread)
        _flush(conn, tables, mail)
    # The big account: a few contacts hold most of its mail (weights 1/rank^0.8).
    people = parties["account"]
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(people))]
    total = sum(weights)
    counts = [int(params.account_size * w / total) for w in weights]
    counts[0] += params.account_size - sum(counts)
    for customer, count in zip(people, counts, strict=True):
        thread = _exchange(mail, customer, people, count, viewed, thread)
        if mail.tables.pending >= BATCH:
            _flush(conn, tables, mail)
    _flush(conn, tables, mail)
    return thread


def _noise(
    conn: psycopg.Connection[Any],
    tables: dict[str, tuple[str, str]],
    mail: Mail,
    params: Params,
    viewed: list[int],
    customers: list[list[Party]],
    thread: int,
) -> None:
    """Other customers' mail, unknown senders and internal mail, up to `messages` rows."""
    rng = mail.rng
    users = len(mail.people)
    while mail.tables.rows < params.messages:
        thread += 1
        owner = rng.choice(viewed) if rng.random() < NOISE_IN_VIEWED else rng.randint(1, users)
        kind = rng.random()
        if kind < 0.13:  # internal only
            them = mail.party(rng.randint(1, users))
        elif kind < 0.25:  # newsletters, strangers: no contact
            them = Party(f"news{rng.randint(1, 5000)}@mailer{rng.randint(1, 300)}.example", "")
        else:
            them = rng.choice(customers)[0]
        topic = rng.choice(TOPICS)
        for n, moment in enumerate(next(threads(rng, rng.randint(1, 6)))[1]):
            holders = mail.copies(owner, viewed, share=0.1)
            us = mail.party(owner)
            outgoing = rng.random() < 0.45
            mail.add(
                Email(
                    sender=us if outgoing else them,
                    to=[them] if outgoing else [us],
                    cc=[mail.party(h) for h in holders[1:]],
                    mailboxes=holders,
                    sent_at=moment,
                    thread=thread,
                    subject=("Re: " if n else "") + topic,
                    internal=kind < 0.13,
                )
            )
        if mail.tables.pending >= BATCH:
            _flush(conn, tables, mail)
    _flush(conn, tables, mail)
