"""Address lists without commas and old year forms, read as mail clients read them (issue 8,
point 11)."""

from datetime import UTC, datetime

import pytest

from mailsync.parsing import parse_message
from mailsync.parsing.headers import (
    MAX_MESSAGE_ID_CHARS,
    _clean_address,
    addresses,
    decode_words,
    message_id,
    sent_at,
)


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


# --- edges the mutation run of headers.py found untested (tests/MUTATION.md) ----------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("<jane@x.org>", "jane@x.org"),
        ("Jane <jane@x.org>", "jane@x.org"),
        ("Xavier@X.org", "xavier@x.org"),  # canonical: lowercase, nothing else cut
        ("<jane@x.org", ""),  # one bracket: not an address
        ("jane@x.org>", ""),
        ('"a@b"@x.org', ""),  # an @ inside the local part
        ("ja(ne@x.org", ""),
        ("jane,doe@x.org", ""),
    ],
)
def test_what_a_participant_address_must_look_like_to_be_stored(raw, stored):
    assert _clean_address(raw) == stored


def test_lowercase_q_encoded_words_and_the_text_around_them_are_kept():
    assert decode_words("Re: =?utf-8?q?caf=C3=A9?= ok") == "Re: café ok"
    assert decode_words("=?iso-8859-1?q?caf=E9?=") == "café"  # the word's own charset
    assert decode_words("  =?utf-8?q?x?=") == "  x"  # leading whitespace is the sender's


def test_a_display_name_with_an_encoded_comma_is_one_person():
    assert addresses(['"=?utf-8?q?Doe=2C_Jane?=" <jane@x.org>'], None) == [
        ("jane@x.org", "Doe, Jane")
    ]


def test_a_header_encoded_whole_address_included_is_read_after_decoding():
    assert addresses(["=?utf-8?b?SmFuZSA8amFuZUB4Lm9yZz4=?="], None) == [("jane@x.org", "Jane")]


def test_a_message_id_is_kept_up_to_the_length_limit_and_not_past_it():
    longest = "a" * (MAX_MESSAGE_ID_CHARS - 2) + "@b"
    assert message_id([f"<{longest}>"]) == longest
    assert message_id([f"<a{longest}>"]) == ""
    assert message_id(["<x>"]) == "x"
    assert message_id(["<>"]) == ""
