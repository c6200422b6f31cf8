"""Bodies that used to come out empty, garbled or cut short (issue 8, points 7, 8, 9, 12, 24).

Each fixture is a message written out in full, after a kind seen in real mail; every assertion
pins the exact text a user would read, so that a changed rule shows.
"""

import base64
import logging

import pytest

from mailsync import parse_pool
from mailsync.parsing import MessageRejected, body, parse_message

HEAD = (
    "From: Bob Sender <bob@example.com>\n"
    "To: Jane Doe <jane@example.org>\n"
    "Subject: Quarterly numbers\n"
    "Date: Tue, 05 Mar 2024 10:15:00 +0100\n"
    "Message-ID: <abc123@example.com>\n"
    "MIME-Version: 1.0\n"
)


def mail(content_type: str, payload: str) -> bytes:
    return f"{HEAD}Content-Type: {content_type}\n\n{payload}".encode()


def mixed(parts: str, boundary: str = "m") -> bytes:
    return mail(f'multipart/mixed; boundary="{boundary}"', parts)


# --- 7: text parts with a file name are displayed unless marked as attachments --------------

NETSCAPE_INLINE = """\
--m
Content-Type: text/plain; charset=us-ascii; name="note.txt"
Content-Disposition: inline; filename="note.txt"

Hello Jane, the numbers are below.
--m
Content-Type: application/pdf; name="q1.pdf"
Content-Disposition: attachment; filename="q1.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--m--
"""


def test_an_inline_text_part_with_a_file_name_is_the_body_not_an_attachment():
    parsed = parse_message(mixed(NETSCAPE_INLINE))
    assert parsed.body_text == "Hello Jane, the numbers are below."
    assert parsed.attachment_names == ("q1.pdf",)


def test_a_named_text_part_without_disposition_is_the_body():
    parts = '--m\nContent-Type: text/plain; name="msg.txt"\n\nPlain words here.\n--m--\n'
    parsed = parse_message(mixed(parts))
    assert parsed.body_text == "Plain words here."
    assert parsed.attachment_names == ()


def test_an_inline_html_part_with_a_file_name_is_the_body():
    parts = (
        "--m\nContent-Type: text/html\nContent-Disposition: inline; filename=body.html\n\n"
        "<p>Shown <b>inline</b></p>\n--m--\n"
    )
    assert parse_message(mixed(parts)).body_text == "Shown inline"


def test_inline_text_files_after_the_body_stay_listed_as_attachments():
    parts = (
        "--m\nContent-Type: text/plain\n\nThe message itself.\n"
        "--m\nContent-Type: text/plain\nContent-Disposition: inline; filename=log.txt\n\n"
        "log line 1\n--m--\n"
    )
    parsed = parse_message(mixed(parts))
    assert parsed.body_text == "The message itself."
    assert parsed.attachment_names == ("log.txt",)


def test_a_text_part_marked_attachment_is_still_an_attachment():
    parts = (
        "--m\nContent-Type: text/plain\nContent-Disposition: attachment; filename=secret.txt\n\n"
        "ATTACHED TEXT\n--m--\n"
    )
    parsed = parse_message(mixed(parts))
    assert parsed.body_text == ""
    assert parsed.attachment_names == ("secret.txt",)


def test_a_single_part_text_message_is_its_own_body_whatever_its_disposition():
    raw = mail("text/plain", "Only text.\n").replace(
        b"MIME-Version: 1.0\n", b"MIME-Version: 1.0\nContent-Disposition: attachment; filename=a\n"
    )
    parsed = parse_message(raw)
    assert parsed.body_text == "Only text."
    assert parsed.attachment_names == ()


# --- 8: empty parts, and a nested multipart reusing its parent's boundary --------------------

REUSED_BOUNDARY = """\
--x
Content-Type: multipart/alternative; boundary="x"

--x
Content-Type: text/plain

Hello Jane, the offer is attached.
--x--
"""


def test_a_nested_multipart_reusing_the_parents_boundary_keeps_the_text():
    # Python's parser ends the inner multipart at once (empty) and reads the text as its sibling.
    parsed = parse_message(mixed(REUSED_BOUNDARY, boundary="x"))
    assert parsed.body_text == "Hello Jane, the offer is attached."


def test_an_empty_first_text_part_does_not_hide_the_next_one():
    parts = (
        "--m\nContent-Type: text/plain\n\n\n"
        "--m\nContent-Type: text/html\n\n<p>The real text</p>\n--m--\n"
    )
    assert parse_message(mixed(parts)).body_text == "The real text"


def test_with_only_empty_alternatives_an_attached_message_gives_the_text():
    parts = (
        "--m\nContent-Type: multipart/alternative; boundary=a\n\n"
        "--a\nContent-Type: text/plain\n\n\n--a\nContent-Type: text/html\n\n\n--a--\n"
        "--m\nContent-Type: message/rfc822\n\nSubject: Inner\n\nForwarded words\n--m--\n"
    )
    parsed = parse_message(mixed(parts))
    assert parsed.body_text == "Forwarded words"
    assert parsed.attachment_names == ("Inner.eml",)


# --- 9: text labelled base64 that is not ------------------------------------------------------


def base64_text(payload: str, charset: str = "utf-8") -> bytes:
    return mail(f"text/plain; charset={charset}\nContent-Transfer-Encoding: base64", payload)


def test_plain_text_labelled_base64_is_kept_as_written():
    text = "Hello Jane,\nthe meeting is at 10, room 4.\nBob\n"
    assert parse_message(base64_text(text)).body_text == text.strip()


def test_base64_that_decodes_to_binary_is_kept_as_written():
    encoded = base64.b64encode(bytes(range(1, 10))).decode()  # control bytes, not text
    assert parse_message(base64_text(encoded + "\n")).body_text == encoded


def test_base64_that_decodes_to_nothing_is_kept_as_written():
    assert parse_message(base64_text("====\n")).body_text == "===="


def test_real_base64_text_is_decoded():
    encoded = base64.encodebytes("Grüße aus Köln,\nJürgen\n".encode()).decode()
    assert parse_message(base64_text(encoded)).body_text == "Grüße aus Köln,\nJürgen"


@pytest.mark.parametrize(
    ("charset", "data"),
    [
        ("utf-16", "Grüße".encode("utf-16")),  # with a byte order mark
        ("utf-16-le", "Grüße".encode("utf-16-le")),
        ("utf-32-le", "Grüße".encode("utf-32-le")),
        ("x-unknown", "Grüße".encode("utf-16")),  # the byte order mark tells
    ],
)
def test_base64_of_utf16_text_is_decoded_despite_its_nul_bytes(charset, data):
    encoded = base64.b64encode(data).decode()
    assert parse_message(base64_text(encoded + "\n", charset=charset)).body_text == "Grüße"


@pytest.mark.parametrize(
    ("decoded", "shown_decoded"),
    [
        (b"a" * 49 + b"\x07", False),  # one control byte in 50: binary
        (b"a" * 50 + b"\x07", True),  # one in 51: text with a stray bell
        (b"a\tb\r\nc\x0cd\x1b(B", True),  # tab, newlines, form feed, ESC: text
        (b"abc\x7f", False),  # DEL
    ],
)
def test_control_bytes_decide_whether_base64_held_text(decoded, shown_decoded):
    encoded = base64.b64encode(decoded).decode()
    text = parse_message(base64_text(encoded + "\n", charset="us-ascii")).body_text
    expected = body.normalize(decoded.decode("ascii")) if shown_decoded else encoded
    assert text == expected


def test_base64_with_a_prose_line_among_its_lines_is_still_decoded():
    # Two base64 lines and one line of words: most lines are base64, so it is base64.
    encoded = base64.encodebytes(b"First line of the text\nand the second one\n").decode()
    lines = encoded.splitlines()
    payload = f"{lines[0]}\n{lines[1] if len(lines) > 1 else lines[0]}\nsent by a gateway\n"
    text = parse_message(base64_text(payload)).body_text
    assert text.startswith("First line of the text")


def test_words_on_most_lines_mean_the_text_was_never_base64():
    payload = "QUJD\nHello there friend\nsee you soon\n"
    assert parse_message(base64_text(payload)).body_text == payload.strip()


# --- 12 and 24: the size limit ---------------------------------------------------------------


def test_bodies_up_to_the_limit_are_kept_whole():
    text = ("A line of a long report, with numbers 1234567890.\n" * 2_000)[:99_999] + "Z"
    assert len(text) == 100_000
    parsed = parse_message(mail("text/plain; charset=utf-8", text))
    assert parsed.body_text == text
    assert parsed.body_truncated is False
    assert parsed.body_truncated_from is None


def test_a_body_one_character_over_the_limit_is_cut_and_says_so():
    text = "x" * 100_001
    parsed = parse_message(mail("text/plain; charset=utf-8", text))
    assert parsed.body_text == "x" * 100_000 + "\n\n[… message cut: 1 more characters not shown]"
    assert parsed.body_truncated is True
    assert parsed.body_truncated_from == 100_001  # bytes of the body as sent


def test_the_original_size_is_counted_in_bytes_of_the_body_as_sent():
    text = "é" * 300  # 600 bytes in UTF-8
    parsed = parse_message(mail("text/plain; charset=utf-8", text), max_body_chars=100)
    assert parsed.body_truncated_from == 600
    assert parsed.body_text.endswith("[… message cut: 200 more characters not shown]")


def test_an_html_body_of_50000_characters_of_text_is_not_cut():
    paragraphs = "".join(f"<p>Paragraph {n:05d} of the newsletter text.</p>\n" for n in range(1400))
    parsed = parse_message(mail("text/html; charset=utf-8", f"<html><body>{paragraphs}</body>"))
    assert parsed.body_truncated is False
    assert parsed.body_text.startswith("Paragraph 00000 of the newsletter text.\n\nParagraph 00001")
    assert parsed.body_text.endswith("Paragraph 01399 of the newsletter text.")
    assert len(parsed.body_text) == 1400 * 39 + 1399 * 2


# --- 24: forwarded messages encoded in base64 --------------------------------------------------


def test_a_base64_encoded_forwarded_message_gives_its_text_and_subject():
    inner = b"From: Carol <carol@example.net>\nSubject: Offer 17\n\nThe forwarded offer text.\n"
    parts = (
        "--m\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(inner).decode()
        + "--m--\n"
    )
    parsed = parse_message(mixed(parts))
    assert parsed.body_text == "The forwarded offer text."
    assert parsed.attachment_names == ("Offer 17.eml",)


def test_a_base64_forwarded_message_with_its_own_parts():
    inner = (
        b"Subject: Inner\nMIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=i\n\n"
        b"--i\nContent-Type: text/html\n\n<p>html</p>\n"
        b"--i\nContent-Type: text/plain\n\nplain inner text\n--i--\n"
    )
    parts = (
        "--m\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(inner).decode()
        + "--m--\n"
    )
    assert parse_message(mixed(parts)).body_text == "plain inner text"


# --- 24: hidden HTML, nested ------------------------------------------------------------------

HIDDEN_NESTED = """\
<html><body>
<div style="display:none">
  <span>preview span</span>
  <table><tr><td>hidden cell</td></tr></table>
  <div>inner div <div>deeper div</div> after deeper</div>
  <br><img src="x.png" alt="hidden image">tail of hidden
</div>
<p>Visible paragraph</p>
<td style="visibility: hidden"><table><tr><td>nested cell</td></tr></table>after nested</td>
<p hidden>unclosed hidden paragraph
<p>Second visible paragraph</p>
</body></html>
"""


def test_nothing_inside_hidden_html_shows_however_deeply_nested():
    parsed = parse_message(mail("text/html; charset=utf-8", HIDDEN_NESTED))
    assert parsed.body_text == "Visible paragraph\n\nSecond visible paragraph"


# --- 24: the catch-all turns a parser bug into a rejection with a reason ----------------------


def test_an_internal_error_becomes_a_rejection_with_a_reason_and_a_log(monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise KeyError("a bug deep in the parser")

    # A bug in any helper, here the HTML converter's caller: the sync must get a reason.
    monkeypatch.setattr(body, "html_to_text", broken)
    raw = mail("text/html", "<p>x</p>\n")
    with caplog.at_level(logging.ERROR, logger="mailsync.parsing"):
        with pytest.raises(MessageRejected) as rejected:
            parse_message(raw)
        assert parse_pool.parse_or_reason(raw) == "could not be parsed (KeyError)"
    assert rejected.value.reason == "could not be parsed (KeyError)"
    assert isinstance(rejected.value.__cause__, KeyError)
    assert [r.getMessage() for r in caplog.records] == ["parse_message failed"] * 2
    assert caplog.records[0].exc_info is not None


def test_a_recursion_error_deep_inside_becomes_a_rejection(monkeypatch):
    def too_deep(*args, **kwargs):
        raise RecursionError

    monkeypatch.setattr(body, "html_to_text", too_deep)
    with pytest.raises(MessageRejected) as rejected:
        parse_message(mail("text/html", "<p>x</p>\n"))
    assert rejected.value.reason == "MIME structure is nested too deeply to parse"
    assert rejected.value.__cause__ is None
