"""A card's page, and the home page's recent email, read as many rows with 50,000 emails on the
contact as with 500 (issue 9).

Timings belong to the benchmark (benchmarks/card_page.py); what a test can hold steady is the
work: PostgreSQL's own count of the rows each query of the card touched (EXPLAIN ANALYZE). If a
change makes any query of the page read the contact's whole history again, this fails.
"""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mailsync.card_links import card_links_rebuild
from mailsync.card_pages import COUNT_CAP
from tests.factories import UserFactory, make_contact, make_mailbox

pytestmark = pytest.mark.django_db

JANE = "jane@acme.test"


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: query plans are PostgreSQL's")


def add_mail(mailbox, count: int, *, first: int) -> None:
    """`count` emails from Jane, three to a thread, a minute apart, straight in SQL (fast)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO mailsync_message (mailbox_id, dedupe_key, message_id, thread_key,
                subject, sent_at, direction, body_text, body_truncated, attachment_names,
                is_internal, created_at)
            SELECT %s, md5('m' || g), '<' || g || '@bench>', md5('t' || (g / 3)), 'm' || g,
                now() - g * interval '1 minute', 'in', '', false, '[]', false, now()
            FROM generate_series(%s, %s) g
            """,
            [mailbox.pk, first, first + count - 1],
        )
        cursor.execute(
            """
            INSERT INTO mailsync_participant (message_id, role, address, name)
            SELECT id, 'from', %s, '' FROM mailsync_message
            WHERE mailbox_id = %s AND NOT EXISTS (
                SELECT 1 FROM mailsync_participant p WHERE p.message_id = mailsync_message.id)
            """,
            [JANE, mailbox.pk],
        )
    card_links_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE mailsync_cardlink")


def rows_touched(sql: str) -> int:
    """Rows every node of the plan produced, loops included: the work of the query."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan

    def walk(node) -> int:
        own = int(node.get("Actual Rows", 0)) * int(node.get("Actual Loops", 1))
        return own + sum(walk(child) for child in node.get("Plans", []))

    return int(walk(plan[0]["Plan"]))


def page_work(client, url) -> list[tuple[str, int]]:
    """(SQL, rows touched) of each query on mail of one page, the visibility already cached."""
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return [
        (q["sql"], rows_touched(q["sql"]))
        for q in queries.captured_queries
        if "mailsync_" in q["sql"] and q["sql"].lstrip().startswith("SELECT")
    ]


def card_work(client, contact) -> list[tuple[str, int]]:
    """(SQL, rows touched) of each mail query of the card's first and second page."""
    work = []
    url = reverse("contact-card", args=[contact.pk])
    assert client.get(url).status_code == 200  # the viewer's visibility cached, as usual
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        work += [
            (q["sql"], rows_touched(q["sql"]))
            for q in queries.captured_queries
            if "mailsync_" in q["sql"] and q["sql"].lstrip().startswith("SELECT")
        ]
        older = response.context["activity"].conversations.older
        url = reverse("contact-card", args=[contact.pk]) + f"?before={older.token()}"
    return work


def test_the_card_reads_the_same_rows_at_500_and_50000_emails(client, postgres):
    viewer = UserFactory()
    colleague = UserFactory()  # mail in a mailbox the viewer may not see is never read
    jane = make_contact(emails=[JANE])
    mine, theirs = make_mailbox(viewer), make_mailbox(colleague)
    add_mail(mine, 500, first=1)
    add_mail(theirs, 5_000, first=1_000_000)
    client.force_login(viewer)
    small = card_work(client, jane) + page_work(client, reverse("home"))

    add_mail(mine, 49_500, first=501)
    large = card_work(client, jane) + page_work(client, reverse("home"))

    assert len(small) == len(large)
    for (sql, at_500), (_sql, at_50000) in zip(small, large, strict=True):
        if "COUNT(" in sql.upper():
            # The count stops after COUNT_CAP rows ("10,000+"), whatever the history: the
            # index scan and the limit above it each pass COUNT_CAP + 1 rows, then one total.
            assert at_50000 <= 2 * (COUNT_CAP + 1) + 1, sql
        else:
            assert at_50000 <= 1.5 * at_500 + 10, f"{at_500} -> {at_50000} rows: {sql}"
