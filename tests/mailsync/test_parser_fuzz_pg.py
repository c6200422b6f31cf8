"""Fuzz the parser into the database through the real storage path (issue 8, point 24).

Raw 8-bit bytes in headers, file names and bodies come out of the stdlib parser as lone
surrogates (surrogateescape); PostgreSQL refuses those (and NUL) outright, so one such message
would fail a whole sync batch. Every generated message is parsed, stored with messages_store
(or recorded as skipped when rejected), read back, and the stored text must be exactly what was
parsed, with no surrogate and no NUL. CI runs this on PostgreSQL; locally it runs on whatever
DATABASE_URL names (SQLite refuses surrogates too).
"""

import re

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailsync.matching import match_context
from mailsync.models import Folder, Message, SkippedMessage
from mailsync.parsing import MessageRejected, ParsedMessage, parse_message
from mailsync.storage import Incoming, messages_store, skipped_add
from tests.factories import UserFactory, make_mailbox

pytestmark = pytest.mark.django_db

_UNSTORABLE = re.compile(r"[\ud800-\udfff\x00]")

# Bytes that make trouble: 8-bit (surrogates once parsed), NUL and other controls, CR/LF,
# MIME punctuation, UTF-8 sequences and halves of them, and UTF-7 that decodes to a lone
# surrogate ("+2AA-" is U+D800), in a body or an encoded word.
_NASTY = st.sampled_from(
    [b"\x00", b"\xff", b"\xe9", b"\xc3", b"\xa9", b"\x81", b"\x1b$B", b"\r", b"\n", b"\t", b"=",
     b"?", b'"', b";", b"<", b">", b"@", b"--", b"\xed\xa0\x80", "é".encode(), "漢".encode(),
     b"+2AA-", b"=?utf-7?q?+2AA-?=", b"=?utf-8?q?=00?="]
)  # fmt: skip
_CHUNKS = st.one_of(st.binary(max_size=12), _NASTY, st.text(max_size=12).map(str.encode))
_FIELD = st.lists(_CHUNKS, max_size=8).map(b"".join)
_CHARSET = st.sampled_from(
    [b"", b"; charset=utf-8", b"; charset=us-ascii", b"; charset=shift_jis", b"; charset=big5",
     b"; charset=utf-16", b"; charset=utf-7", b"; charset=hex", b"; charset=\xff\xfe",
     b"; charset*=utf-8''x"]
)  # fmt: skip
_ENCODING = st.sampled_from([b"", b"base64", b"quoted-printable", b"8bit", b"x-uuencode"])
_TYPE = st.sampled_from([b"text/plain", b"text/html", b"application/pdf", b"message/rfc822"])


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    head = b"Content-Type: " + draw(_TYPE) + draw(_CHARSET)
    if draw(st.booleans()):
        head += b'; name="' + draw(_FIELD) + b'"'
    if draw(st.booleans()):
        disposition = draw(st.sampled_from([b"inline", b"attachment"]))
        head += b"\nContent-Disposition: " + disposition + b"; filename=" + draw(_FIELD)
    encoding = draw(_ENCODING)
    if encoding:
        head += b"\nContent-Transfer-Encoding: " + encoding
    return head + b"\n\n" + draw(_FIELD) + b"\n"


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    headers = b"".join(
        name + b": " + draw(_FIELD) + b"\n"
        for name in (b"From", b"To", b"Cc", b"Subject", b"Message-ID", b"References")
        if draw(st.booleans())
    )
    headers += b"From: Fuzz \xe9 <fuzz@example.com>\nDate: Tue, 05 Mar 2024 10:15:00 +0100\n"
    parts = draw(st.lists(leaf(), min_size=1, max_size=4))
    if len(parts) == 1 and draw(st.booleans()):
        return headers + parts[0]
    subtype = draw(st.sampled_from([b"mixed", b"alternative", b"related"]))
    body = b"".join(b"--b\n" + part for part in parts)
    end = b"--b--\n" if draw(st.booleans()) else b""  # sometimes cut before the last boundary
    return headers + b"Content-Type: multipart/" + subtype + b"; boundary=b\n\n" + body + end


def _parsed_or_skipped(folder: Folder, raw: bytes) -> ParsedMessage | None:
    """The parsed message, or None once its rejection is stored (and read back intact)."""
    try:
        return parse_message(raw)
    except MessageRejected as rejection:
        reason = rejection.reason
    skipped_add(folder, "1", reason)
    assert SkippedMessage.objects.get(folder=folder).reason == reason[:500]
    assert not _UNSTORABLE.search(reason)
    return None


def _texts(parsed: ParsedMessage) -> list[str]:
    names = [part for _, a in parsed.participants for part in (a.address, a.name)]
    return [parsed.subject, parsed.body_text, parsed.message_id, *parsed.attachment_names, *names]


def _stored(message: Message) -> ParsedMessage:
    return ParsedMessage(
        message_id=message.message_id,
        dedupe_key=message.dedupe_key,
        thread_key=message.thread_key,
        subject=message.subject,
        sent_at=None,
        participants=(),
        body_text=message.body_text,
        body_truncated=message.body_truncated,
        attachment_names=tuple(message.attachment_names),
        body_truncated_from=message.body_truncated_from,
    )


@pytest.fixture
def mailbox():
    return make_mailbox(UserFactory(), address="owner@example.org")


def examples(laptop: int) -> int:
    """`laptop` random messages, or the profile's (larger) number under HYPOTHESIS_PROFILE=ci."""
    if settings.get_current_profile_name() == "default":
        return laptop
    return settings().max_examples  # a settings() with no arguments is the active profile


# Each example runs in a transaction rolled back at its end: the mailbox is empty for the next.
@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(raw=messages())
def test_fuzzed_messages_are_stored_exactly_as_parsed_without_surrogates_or_nul(mailbox, raw):
    with transaction.atomic():
        folder = mailbox.folders.get()
        parsed = _parsed_or_skipped(folder, raw)
        if parsed is None:
            transaction.set_rollback(True)
            return
        for text in _texts(parsed):
            assert not _UNSTORABLE.search(text), text
        messages_store(mailbox, folder, [Incoming("1", parsed, None)], match_context(mailbox))

        message = Message.objects.get(mailbox=mailbox)
        stored = _stored(message)
        assert (stored.subject, stored.body_text) == (parsed.subject, parsed.body_text)
        assert (stored.message_id, stored.dedupe_key) == (parsed.message_id, parsed.dedupe_key)
        assert stored.attachment_names == parsed.attachment_names
        assert (stored.body_truncated, stored.body_truncated_from) == (
            parsed.body_truncated,
            parsed.body_truncated_from,
        )
        rows = sorted(message.participants.values_list("role", "address", "name"))
        assert rows == sorted((role, a.address, a.name) for role, a in parsed.participants)
        transaction.set_rollback(True)


def test_known_surrogate_sources_round_trip(mailbox):
    """The fuzz's targets, written out: raw 8-bit bytes in a display name, a subject, a file
    name and a Message-ID, with no charset anywhere; UTF-7 for a lone surrogate (U+D800) in a
    subject, a body and an RFC 2231 file name (that one used to reject the whole message); a NUL
    in the body."""
    raw = (
        b"From: Ren\xe9 <rene@example.com>\nTo: owner@example.org\n"
        b"Subject: R\xe9sum\xe9 \xed\xa0\x80 =?utf-7?q?+2AA-?=\nMessage-ID: <\xff@x>\n"
        b"Date: Tue, 05 Mar 2024 10:15:00 +0100\n"
        b"Content-Type: multipart/mixed; boundary=b\n\n"
        b"--b\nContent-Type: text/plain; charset=utf-7\n\nCaf+AOk-\x00 cr+AOg-me A+2AA-B\n"
        b"--b\nContent-Type: text/plain; name*=utf-7''+2AA-.txt\n\nx\n"
        b"--b\nContent-Type: application/pdf\n"
        b"Content-Disposition: attachment; filename=\xe9t\xe9.pdf\n\nx\n--b--\n"
    )
    incoming = Incoming("1", parse_message(raw), None)
    messages_store(mailbox, mailbox.folders.get(), [incoming], match_context(mailbox))
    message = Message.objects.get(mailbox=mailbox)
    assert message.subject == "Résumé í € \ufffd"  # not UTF-8: a Latin charset, detected
    assert message.body_text == "Café crème A\ufffdB"
    assert message.message_id == "ÿ@x"  # printable once read as windows-1252
    assert message.attachment_names == ["\ufffd.txt", "été.pdf"]
    assert list(message.participants.values_list("role", "address", "name")) == [
        ("from", "rene@example.com", "René"),
        ("to", "owner@example.org", ""),
    ]
