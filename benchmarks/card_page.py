"""Time the first page of synchronized email on a contact card and an account card.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postcard_bench \\
        .venv/bin/python benchmarks/card_page.py [--messages 5000] [--noise 20000] [--runs 50]

Creates the database if missing, migrates, wipes it and builds one viewer whose mailbox holds
`--messages` emails with one contact, plus `--noise` other emails (other contacts, colleagues'
mailboxes) so that a missing index shows. Then times the card pages through the test client and,
separately, the selector they rely on. Target: under 50 ms median (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/postcard_bench"
WARMUP = 5
SUBJECT = "Re: Proposal, round"  # every benchmark email's subject starts so
VIEWER = "bench-viewer"
COLLEAGUES = 20
NOISE_CONTACTS = 400
BODY = "\n\n".join(
    [
        "Hi there,",
        "Thanks for the call earlier. As discussed, here is a summary of where we are with the "
        "rollout and the open questions on pricing, security review and the implementation plan.",
        "Our legal team reviewed the order form; the only open point is the auto-renewal clause. "
        "Finance asked whether the invoice can reference our new PO number.",
        "Let me know if Tuesday works for a follow-up with the wider team.",
        "Best regards,\n--\nSomeone\nSomewhere Inc.",
    ]
)

if TYPE_CHECKING:
    from crm.accounts.models import Account
    from crm.contacts.models import Contact
    from crm.core.demo import DemoMailbox, Email, Person
    from hierarchy.models import User


@dataclass(frozen=True)
class Timing:
    median: float
    p90: float
    queries: int


@dataclass(frozen=True)
class Fixture:
    viewer: User
    contact: Contact
    account: Account


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if url.startswith(("postgres://", "postgresql://")):
        ensure_database(url)
    setup_django()
    fixture = prepare(args)
    report(fixture, args)
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time the card pages of synchronized email.")
    parser.add_argument("--messages", type=int, default=5000, help="emails with the contact")
    parser.add_argument("--noise", type=int, default=20000, help="other emails in the database")
    parser.add_argument("--runs", type=int, default=50, help="timed runs after 5 warm-ups")
    parser.add_argument("--reuse", action="store_true", help="keep the data of the last run")
    return parser.parse_args(argv)


def ensure_database(url: str) -> None:
    """CREATE DATABASE through the `postgres` maintenance database when it does not exist."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    params = dj_database_url.parse(url)
    name = params["NAME"]
    connection = psycopg.connect(
        dbname="postgres",
        host=params.get("HOST") or None,
        port=params.get("PORT") or None,
        user=params.get("USER") or None,
        password=params.get("PASSWORD") or None,
        autocommit=True,
    )
    with connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if found.fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DEBUG"] = "1"
    # The product's settings, not the tests' (which swap the cache and the password hasher).
    os.environ["DJANGO_SETTINGS_MODULE"] = "crm.settings"
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test client's host
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)


def prepare(args: argparse.Namespace) -> Fixture:
    from hierarchy.models import User

    viewer = User.objects.filter(username=VIEWER).first()
    if args.reuse and viewer is not None:
        return existing_fixture(viewer)
    started = time.perf_counter()
    fixture = build(args.messages, args.noise)
    analyze()
    print(f"built {args.messages} + {args.noise} emails in {time.perf_counter() - started:.1f} s")
    return fixture


def existing_fixture(viewer: User) -> Fixture:
    from crm.contacts.models import Contact

    contact = Contact.objects.select_related("account").get(last_name="Target")
    assert contact.account is not None
    return Fixture(viewer=viewer, contact=contact, account=contact.account)


def build(messages: int, noise: int) -> Fixture:
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from crm.core.demo import store_emails

    call_command("flush", interactive=False, verbosity=0)
    rng = random.Random(5000)
    now = timezone.now()
    with transaction.atomic():
        viewer, boxes = build_team(now)
        fixture, target_people, noise_people = build_contacts(viewer)
        me, *colleagues = (person_of(address, "") for address in boxes)
        emails = [
            email_between(rng, me, target_people[0], target_people[1:], now, n)
            for n in range(messages)
        ]
        for n in range(noise):
            # Half in the viewer's own mailbox, half in colleagues' (still visible at level 4).
            ours = rng.choice(colleagues) if n % 2 else me
            emails.append(email_between(rng, ours, rng.choice(noise_people), [], now, messages + n))
        store_emails(emails, boxes)
    return fixture


def build_team(now: datetime) -> tuple[User, dict[str, DemoMailbox]]:
    from crm.core.demo import create_mailbox
    from hierarchy.models import User, VisibilityLevel

    # Level 4 at the top: the widest visibility, so the mailbox filter is a long IN list.
    viewer = User.objects.create_user(
        VIEWER,
        "viewer@bench.test",
        first_name="Vera",
        last_name="Viewer",
        visibility_level=VisibilityLevel.EVERYONE,
    )
    boxes = [create_mailbox(viewer, now=now)]
    for n in range(COLLEAGUES):
        colleague = User.objects.create_user(
            f"colleague{n:02d}",
            f"colleague{n:02d}@bench.test",
            first_name="Colleague",
            last_name=f"{n:02d}",
            parent=viewer,
        )
        boxes.append(create_mailbox(colleague, now=now))
    return viewer, {box.mailbox.address: box for box in boxes}  # the viewer's first


def build_contacts(viewer: User) -> tuple[Fixture, list[Person], list[Person]]:
    from crm.accounts.models import Account, AccountDomain
    from crm.accounts.services import account_create
    from crm.contacts.models import Contact, ContactEmail
    from crm.contacts.services import contact_create

    account = account_create(name="Target Corp", domains=["target-corp.com"], owner=viewer)
    contact = contact_create(
        first_name="Casey",
        last_name="Target",
        account=account,
        owner=viewer,
        emails=["casey@target-corp.com", "casey.target@gmail.com"],
    )
    colleagues = [
        contact_create(last_name=f"Colleague{n}", account=account, emails=[f"c{n}@target-corp.com"])
        for n in range(3)
    ]
    target = [person_of("casey@target-corp.com", "Casey Target")] + [
        person_of(f"c{n}@target-corp.com", c.full_name) for n, c in enumerate(colleagues)
    ]
    # Noise through bulk_create: the services would only add minutes here.
    others = Account.objects.bulk_create(Account(name=f"Other {n:02d}") for n in range(50))
    AccountDomain.objects.bulk_create(
        AccountDomain(account=a, domain=f"other{n:02d}.test") for n, a in enumerate(others)
    )
    noise = Contact.objects.bulk_create(
        Contact(last_name=f"Noise {n:03d}", account=others[n % len(others)])
        for n in range(NOISE_CONTACTS)
    )
    addresses = [f"noise{n:03d}@other{n % len(others):02d}.test" for n in range(NOISE_CONTACTS)]
    ContactEmail.objects.bulk_create(
        ContactEmail(contact=c, address=a, is_primary=True)
        for c, a in zip(noise, addresses, strict=True)
    )
    noise_people = [person_of(a, c.full_name) for c, a in zip(noise, addresses, strict=True)]
    return Fixture(viewer=viewer, contact=contact, account=account), target, noise_people


def person_of(address: str, name: str) -> Person:
    from crm.core.demo import Person

    return Person(address=address, first=name.split(" ")[0], name=name, title="", org="")


def email_between(
    rng: random.Random, ours: Person, theirs: Person, cc: list[Person], now: datetime, n: int
) -> Email:
    from crm.core.demo import Email

    outgoing = rng.random() < 0.4
    sender, recipient = (ours, theirs) if outgoing else (theirs, ours)
    message_id = f"<bench.{n}@{sender.address.rpartition('@')[2]}>"
    return Email(
        message_id=message_id,
        thread_key=hashlib.sha256(f"thread-{n // 3}".encode()).hexdigest(),
        subject=f"{SUBJECT} {n % 7}",
        body=BODY,
        sent_at=now - timedelta(minutes=rng.randint(1, 365 * 24 * 60)),
        sender=sender,
        to=[recipient],
        cc=[p for p in cc if rng.random() < 0.1],
    )


def analyze() -> None:
    """Fresh statistics, as autovacuum would have gathered on a live database."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def measure(call: Callable[[], object], runs: int) -> Timing:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        call()
    # With DEBUG on the log may be full (it keeps 9,000) and each request clears it: start empty.
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    p90 = statistics.quantiles(samples, n=10, method="inclusive")[-1] if runs > 1 else samples[0]
    return Timing(statistics.median(samples), p90, len(captured.captured_queries))


def line(label: str, timing: Timing, messages: int) -> str:
    return (
        f"{label}: median {timing.median:.1f} ms, p90 {timing.p90:.1f} ms, "
        f"{timing.queries} queries ({messages} messages)"
    )


def report(fixture: Fixture, args: argparse.Namespace) -> None:
    from django.db import connection

    from crm.contacts.selectors import account_addresses, contact_addresses

    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}, runs {args.runs}")
    targets = (
        ("contact", "contact-card", fixture.contact.pk, contact_addresses(fixture.contact)),
        ("account", "account-card", fixture.account.pk, account_addresses(fixture.account.pk)),
    )
    for kind, url_name, pk, addresses in targets:
        total = message_count(fixture.viewer, addresses)
        selector = measure(partial(selector_page, fixture.viewer, addresses), args.runs)
        print(line(f"{kind} selector page 1", selector, total))
        print(card_line(fixture.viewer, kind, url_name, pk, args.runs, total))


def message_count(viewer: User, addresses: Any) -> int:
    """Distinct emails the card lists over all its pages."""
    from hierarchy.selectors import mailbox_visibility
    from mailsync.selectors import messages_with_addresses

    visible = messages_with_addresses(mailbox_visibility(viewer), addresses)
    return visible.values("dedupe_key").distinct().count()


def selector_page(viewer: User, addresses: Any) -> list[object]:
    """The card's email list, materialized as the template would use it."""
    from mailsync.selectors import card_emails_page

    page, _ = card_emails_page(viewer=viewer, addresses=addresses, page_number=1)
    return [(list(email.message.participants.all()), email.holders) for email in page.object_list]


def card_line(viewer: User, kind: str, url_name: str, pk: int, runs: int, total: int) -> str:
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    try:
        url = reverse(url_name, args=[pk])
    except NoReverseMatch:
        return f"{kind} card page 1: skipped, no URL named {url_name!r} yet (crm/cards/views.py)"
    client = Client()
    client.force_login(viewer)

    def get() -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{kind} card: GET {url} answered {response.status_code}")
        if SUBJECT.encode() not in response.content:
            raise SystemExit(f"{kind} card: GET {url} shows none of the emails")

    return line(f"{kind} card page 1", measure(get, runs), total)


if __name__ == "__main__":
    sys.exit(main())
