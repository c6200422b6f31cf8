"""Time the visibility selector and a contact card in a large company.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postcard_bench_org \\
        .venv/bin/python benchmarks/visibility.py [--users 5000] [--messages 200000] [--runs 30]

Builds a company tree of `--users` people (a CEO, then managers with 5-9 reports each, down to
individual contributors), every one with a mailbox, and `--messages` synchronized emails spread over
those mailboxes; 5,000 of them involve one contact. Then times, for a level-4 viewer (the CEO) and
a level-1 manager (a director with a team below): the selector cold (tree read and computed) and
warm (cached), and the contact card's first page, warm and cold. Target: card under 50 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
from collections.abc import Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.card_page import analyze, ensure_database, measure, setup_django

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/postcard_bench_org"
CONTACT_ADDRESS = "jane.buyer@customer.example"
CONTACT_MESSAGES = 5000
BATCH = 5000


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if url.startswith(("postgres://", "postgresql://")):
        ensure_database(url)
    setup_django()
    if not args.reuse:
        build(args.users, args.messages, random.Random(7))
        analyze()
    report(args.runs)
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="keep the data of the last run")
    return parser.parse_args(argv)


def build(users: int, messages: int, rng: random.Random) -> None:
    from django.core.cache import cache
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)
    people = build_tree(users, rng)
    mailboxes = build_mailboxes(people)
    build_contact()
    build_messages(mailboxes, messages, rng)
    cache.clear()  # bulk inserts send no signals: drop every cached visibility
    print(f"built {len(people)} users, {len(mailboxes)} mailboxes, {messages} messages")


def build_tree(size: int, rng: random.Random) -> list[int]:
    """Breadth-first: each manager gets 5-9 reports until the company has `size` people."""
    from hierarchy.models import User

    def person(n: int, parent_id: int | None) -> User:
        return User(
            username=f"u{n:05}",
            first_name=f"First{n % 97}",
            last_name=f"Last{n:05}",
            parent_id=parent_id,
            visibility_level=rng.randint(0, 4),
            lft=0,
            rght=0,
            tree_id=0,
            level=0,
        )

    ceo = User.objects.bulk_create([person(0, None)])[0]
    ids, managers, n = [ceo.pk], [ceo.pk], 1
    while n < size:
        next_level: list[int] = []
        for manager in managers:
            batch = [person(n + k, manager) for k in range(min(rng.randint(5, 9), size - n))]
            created = User.objects.bulk_create(batch)
            n += len(created)
            next_level += [u.pk for u in created]
            if n >= size:
                break
        ids += next_level
        managers = next_level
    User.objects.rebuild()  # lft/rght/level/tree_id for the whole tree at once
    User.objects.filter(pk=ceo.pk).update(visibility_level=4, username="ceo")
    director = User.objects.filter(level=2).order_by("pk").first()
    assert director is not None
    User.objects.filter(pk=director.pk).update(visibility_level=1, username="director")
    return ids


def build_mailboxes(user_ids: list[int]) -> list[tuple[int, int, str]]:
    from mailsync.models import Folder, Mailbox

    boxes = Mailbox.objects.bulk_create(
        [
            Mailbox(owner_id=uid, address=f"u{uid}@corp.example", provider="imap")
            for uid in user_ids
        ],
        batch_size=BATCH,
    )
    folders = Folder.objects.bulk_create(
        [Folder(mailbox=box, name="INBOX", role="inbox") for box in boxes], batch_size=BATCH
    )
    return [(box.pk, folder.pk, box.address) for box, folder in zip(boxes, folders, strict=True)]


def build_contact() -> None:
    from crm.accounts.services import account_create
    from crm.contacts.services import contact_create

    account = account_create(name="Customer Inc", domains=["customer.example"])
    contact_create(last_name="Buyer", first_name="Jane", account=account, emails=[CONTACT_ADDRESS])


def build_messages(mailboxes: list[tuple[int, int, str]], count: int, rng: random.Random) -> None:
    from django.utils import timezone

    from mailsync.models import Message, MessageLocation, Participant

    now = timezone.now()
    for start in range(0, count, BATCH):
        rows, places, people = [], [], []
        for n in range(start, min(start + BATCH, count)):
            mailbox_id, folder_id, owner_address = rng.choice(mailboxes)
            other = CONTACT_ADDRESS if n < CONTACT_MESSAGES else f"person{n % 20000}@other.example"
            key = hashlib.sha256(f"<m{n}@bench>".encode()).hexdigest()
            rows.append(
                Message(
                    mailbox_id=mailbox_id,
                    dedupe_key=key,
                    message_id=f"<m{n}@bench>",
                    thread_key=key,
                    subject=f"Quote round {n % 11}",
                    body_text="Hello,\n\nnumbers attached.\n",
                    sent_at=now - timedelta(minutes=rng.randint(1, 500_000)),
                    direction="in",
                )
            )
            places.append((folder_id, n))
            people.append((other, owner_address))
        created = Message.objects.bulk_create(rows)
        MessageLocation.objects.bulk_create(
            MessageLocation(message=m, folder_id=f, remote_id=str(n))
            for m, (f, n) in zip(created, places, strict=True)
        )
        Participant.objects.bulk_create(
            participant
            for m, (sender, owner) in zip(created, people, strict=True)
            for participant in (
                Participant(message=m, role="from", address=sender),
                Participant(message=m, role="to", address=owner),
            )
        )


def report(runs: int) -> None:
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from crm.contacts.models import Contact
    from hierarchy.models import User
    from hierarchy.selectors import mailbox_visibility

    contact = Contact.objects.get(emails__address=CONTACT_ADDRESS)
    url = reverse("contact-card", args=[contact.pk])
    users = User.objects.count()
    print(f"database: {connection.vendor}, {users} users, runs {runs}")
    for username, label in (("ceo", "level-4 CEO"), ("director", "level-1 director")):
        viewer = User.objects.get(username=username)
        visibility = mailbox_visibility(viewer)
        print(f"{label}: sees {len(visibility.owners)} of {visibility.total} mailboxes")

        def cold_selector(viewer: User = viewer) -> None:
            cache.clear()
            mailbox_visibility(viewer)

        client = Client()
        client.force_login(viewer)

        def card(cold: bool, client: Client = client) -> None:
            if cold:
                cache.clear()
            response = client.get(url)
            assert response.status_code == 200, response.status_code

        show("  selector, cold (tree read + computed)", measure(cold_selector, runs))
        show("  selector, warm (cached)", measure(partial(mailbox_visibility, viewer), runs))
        show("  contact card page 1, warm", measure(partial(card, False), runs))
        show("  contact card page 1, cold", measure(partial(card, True), runs))


def show(label: str, timing: object) -> None:
    median, p90, queries = timing.median, timing.p90, timing.queries  # type: ignore[attr-defined]
    print(f"{label}: median {median:.1f} ms, p90 {p90:.1f} ms, {queries} queries")


if __name__ == "__main__":
    sys.exit(main())
