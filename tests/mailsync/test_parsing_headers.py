"""Address lists without commas and old year forms, read as mail clients read them (issue 8,
point 11)."""

from datetime import UTC, datetime

import pytest

from mailsync.parsing import parse_message
from mailsync.parsing.headers import addresses, sent_at


def message(from_: str, date: str = "Tue, 05 Mar 2024 10:15:00 +0100") -> bytes:
    return (
        f"From: {from_}\nTo: Jane Doe <jane@example.org>\nSubject: Hello\nDate: {date}\n\nHi\n"
    ).encode()


def test_two_senders_without_a_comma_are_both_kept_and_the_recipient_too():
    parsed = parse_message(message("alice@example.com bob@example.net"))
    assert [(role, a.address, a.name) for role, a in parsed.participants] == [
        ("from", "alice@example.com", ""),
        ("from", "bob@example.net", ""),
        ("to", "jane@example.org", "Jane Doe"),
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a@x.org b@y.org c@z.org", [("a@x.org", ""), ("b@y.org", ""), ("c@z.org", "")]),
        ("a@x.org (Alice) b@y.org (Bob)", [("a@x.org", "Alice"), ("b@y.org", "Bob")]),
        ("a@x.org\tb@y.org, c@z.org", [("a@x.org", ""), ("b@y.org", ""), ("c@z.org", "")]),
        ("a@x.org <b@y.org>", [("b@y.org", "a@x.org")]),  # an address as the display name
        ("Jane Doe jane@x.org", [("jane@x.org", "")]),  # one address, words before it
        ('"a@x.org b@y.org" <c@z.org>', [("c@z.org", "a@x.org b@y.org")]),  # quoted: one name
        ("<a@x.org> <b@y.org>", [("a@x.org", ""), ("b@y.org", "")]),
    ],
)
def test_address_lists_as_mail_clients_read_them(header, expected):
    assert addresses([header], None) == expected


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Tue, 05 Mar 24 10:15:00 +0100", datetime(2024, 3, 5, 9, 15, tzinfo=UTC)),
        ("Fri, 21 Nov 97 09:55:06 -0600", datetime(1997, 11, 21, 15, 55, 6, tzinfo=UTC)),
        ("Mon, 01 Jan 00 00:00:00 +0000", datetime(2000, 1, 1, tzinfo=UTC)),
        ("Thu, 01 Jan 70 00:00:00 +0000", datetime(1970, 1, 1, tzinfo=UTC)),
        # Three digits: the year minus 1900, as old software printed it (RFC 5322 4.3).
        ("Tue, 05 Mar 124 10:15:00 +0100", datetime(2024, 3, 5, 9, 15, tzinfo=UTC)),
        ("Sat, 01 Jan 100 00:00:00 +0000", datetime(2000, 1, 1, tzinfo=UTC)),
        ("Mon, 31 Dec 999 23:59:59 -0000", None),  # 2899: in the future
        ("Tue, 05 Mar 60 10:15:00 +0100", None),  # 1960 or 2060: out of range either way
        ("Tue, 05 Mar 2024 10:15:00", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),  # no zone: UTC
        ("Tue, 05 Mar 2024 10:15:00 -0000", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),
        ("Tue, 05 Mar 2024 10:15:00 +0530", datetime(2024, 3, 5, 4, 45, tzinfo=UTC)),
    ],
)
def test_dates_with_old_year_forms(date, expected):
    assert sent_at([date], now=datetime(2026, 12, 1, tzinfo=UTC)) == expected


def test_a_three_digit_year_keeps_the_date_of_the_message():
    parsed = parse_message(message("bob@example.com", date="Tue, 05 Mar 124 10:15:00 +0100"))
    assert parsed.sent_at == datetime(2024, 3, 5, 9, 15, tzinfo=UTC)
