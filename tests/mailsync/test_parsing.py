"""parse_message on hand-built messages: one behaviour per test, bytes written out in full."""

import base64
import random
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailsync.models import ParticipantRole
from mailsync.parsing import (
    BCC,
    CC,
    FROM,
    REPLY_TO,
    TO,
    MessageRejected,
    ParsedAddress,
    parse_message,
)


def mail(
    body: str = "Hello Jane,\n\nSee you soon.\n", *, headers: str = "", ctype: str = ""
) -> bytes:
    """A minimal valid message; extra header lines and a Content-Type block can be added."""
    head = (
        "From: Bob Sender <bob@example.com>\n"
        "To: Jane Doe <jane@example.org>\n"
        "Subject: Quarterly numbers\n"
        "Date: Tue, 05 Mar 2024 10:15:00 +0100\n"
        "Message-ID: <abc123@example.com>\n"
        f"{headers}"
        "MIME-Version: 1.0\n"
        f"{ctype or 'Content-Type: text/plain; charset=utf-8'}\n"
    )
    return (head + "\n" + body).encode("utf-8", errors="surrogateescape")


def assert_deliberate(rejected: MessageRejected) -> None:
    """A rejection for a reason, not the safety net that turns a parser bug into one."""
    assert rejected.reason
    assert not rejected.reason.startswith("could not be parsed"), rejected.reason


def addresses(parsed, role):
    return [(a.address, a.name) for r, a in parsed.participants if r == role]


# --- headers -------------------------------------------------------------------------------


def test_a_plain_message_gives_every_field():
    parsed = parse_message(mail())
    assert parsed.message_id == "abc123@example.com"
    assert parsed.subject == "Quarterly numbers"
    assert parsed.sent_at == datetime(2024, 3, 5, 9, 15, tzinfo=UTC)
    assert parsed.participants == (
        ("from", ParsedAddress("bob@example.com", "Bob Sender")),
        ("to", ParsedAddress("jane@example.org", "Jane Doe")),
    )
    assert parsed.body_text == "Hello Jane,\n\nSee you soon."
    assert parsed.body_truncated is False
    assert parsed.attachment_names == ()


def test_role_names_are_the_participant_role_values():
    assert {FROM, TO, CC, BCC, REPLY_TO} == set(ParticipantRole.values)


def test_encoded_subject_and_names_are_decoded_and_folded():
    raw = (
        b"From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\n"
        b'To: =?utf-8?B?w5xsa8O8?= <u@example.de>, "=?utf-8?Q?M=C3=BCller=2C_Hans?=" <hm@x.de>\n'
        b"Cc: Team <TEAM@Example.COM>, team@example.com, Other <other@example.com>,\n"
        b" 'Same@Example.com' <same@example.com>\n"
        b"Reply-To: support@example.com\n"
        b"Bcc: hidden@example.com\n"
        b"Subject: =?utf-8?B?8J+YgA==?= =?utf-8?Q?_caf=C3=A9?=\n\t and\n   more\n"
        b"Date: Tue, 05 Mar 2024 10:15:00 +0000\n\nbody\n"
    )
    parsed = parse_message(raw)
    assert parsed.subject == "\U0001f600 café and more"
    assert addresses(parsed, "from") == [("pirard@vm1.ulg.ac.be", "André Pirard")]
    assert addresses(parsed, "to") == [("u@example.de", "Ülkü"), ("hm@x.de", "Müller, Hans")]
    assert addresses(parsed, "cc") == [
        ("team@example.com", "Team"),
        ("other@example.com", "Other"),
        ("same@example.com", ""),
    ]
    assert addresses(parsed, "reply_to") == [("support@example.com", "")]
    assert addresses(parsed, "bcc") == [("hidden@example.com", "")]


def test_multibyte_character_split_across_encoded_words_is_joined():
    raw = mail(headers="").replace(
        b"Subject: Quarterly numbers",
        b"Subject: =?utf-8?B?w6Q=?= =?utf-8?Q?=E2=82?= =?utf-8?Q?=AC?=",
    )
    assert parse_message(raw).subject == "ä€"


def test_raw_8bit_headers_are_decoded():
    raw = (
        "From: Jürgen Groß <jg@example.de>\nTo: ops@example.de\nSubject: Grüße aus Köln\n"
        "Date: Tue, 05 Mar 2024 10:15:00 +0000\n\nHallo\n"
    ).encode()
    latin1 = raw.decode().replace("Grüße", "Größe").encode("latin-1")
    assert parse_message(raw).subject == "Grüße aus Köln"
    assert addresses(parse_message(raw), "from") == [("jg@example.de", "Jürgen Groß")]
    assert parse_message(latin1).subject == "Größe aus Köln"


def test_group_syntax_and_undisclosed_recipients():
    raw = mail(
        headers="Cc: Project team: ann@example.com, Bob <bob@example.net>;, carl@example.com\n"
    )
    raw = raw.replace(b"To: Jane Doe <jane@example.org>", b"To: undisclosed-recipients:;")
    parsed = parse_message(raw)
    assert addresses(parsed, "to") == []
    assert [a for a, _ in addresses(parsed, "cc")] == [
        "ann@example.com",
        "bob@example.net",
        "carl@example.com",
    ]


def test_an_address_used_as_display_name_is_not_a_second_recipient():
    raw = mail().replace(
        b"To: Jane Doe <jane@example.org>",
        b"To: alice@example.com <bob@example.com>, 'John Smith' <john@example.com>",
    )
    assert addresses(parse_message(raw), "to") == [
        ("bob@example.com", "alice@example.com"),
        ("john@example.com", "John Smith"),
    ]


def test_invalid_and_empty_addresses_are_dropped():
    raw = mail().replace(
        b"To: Jane Doe <jane@example.org>",
        b'To: Whomever, <>, , "" <@example.com>, jane@, a@b@c, ok@example.com, OK@Example.com',
    )
    assert addresses(parse_message(raw), "to") == [("ok@example.com", "")]


def test_idn_domains_become_a_labels():
    raw = mail().replace(b"jane@example.org", "jane@bücher.example".encode())
    assert addresses(parse_message(raw), "to") == [("jane@xn--bcher-kva.example", "Jane Doe")]


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        ("Tue, 05 Mar 2024 10:15:00 -0500", datetime(2024, 3, 5, 15, 15, tzinfo=UTC)),
        ("5 Mar 2024 10:15 -0000", datetime(2024, 3, 5, 10, 15, tzinfo=UTC)),  # zone unknown
        ("Tue, 28 May 1996 12:24:23 cst", datetime(1996, 5, 28, 18, 24, 23, tzinfo=UTC)),
        ("yesterday at noon", None),
        ("Tue, 05 Mar 2024 25:99:00 +0000", None),
        ("Wed, 31 Dec 1969 23:00:00 +0000", None),  # before 1970: a broken clock
        ("Mon, 01 Jan 2\u0437\u0437 00:00:00 +0000", None),  # non-ASCII digits
        ("Fri, 01 Jan 2100 00:00:00 +0000", None),  # in the future: a broken clock
        ("", None),
    ],
)
def test_dates(date, expected):
    raw = mail().replace(b"Tue, 05 Mar 2024 10:15:00 +0100", date.encode())
    assert parse_message(raw).sent_at == expected


def test_missing_date_and_subject():
    raw = b"From: a@example.com\nTo: b@example.com\n\nhi\n"
    parsed = parse_message(raw)
    assert parsed.sent_at is None
    assert parsed.subject == ""
    assert parsed.message_id == ""


def test_subject_is_cut_to_998_characters():
    raw = mail().replace(b"Quarterly numbers", b"x" * 5000)
    assert parse_message(raw).subject == "x" * 998


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("<abc123@example.com>", "abc123@example.com"),
        ("  <abc123@example.com> (added by relay)", "abc123@example.com"),
        ("abc123@example.com", "abc123@example.com"),
        ("<abc123@\n example.com>", "abc123@example.com"),
        ("<>", ""),
        ("", ""),
    ],
)
def test_message_id(header, expected):
    raw = mail().replace(b"<abc123@example.com>", header.encode())
    assert parse_message(raw).message_id == expected


# --- dedupe and thread keys ----------------------------------------------------------------


def test_dedupe_key_is_the_hash_of_the_message_id():
    a = parse_message(mail())
    b = parse_message(mail(body="Another body, same Message-ID.\n"))
    assert a.dedupe_key == b.dedupe_key
    assert len(a.dedupe_key) == 64


def test_without_message_id_the_dedupe_key_is_stable_and_content_based():
    raw = mail().replace(b"Message-ID: <abc123@example.com>\n", b"")
    first, again = parse_message(raw), parse_message(raw)
    other_body = parse_message(raw.replace(b"See you soon.", b"See you later."))
    other_date = parse_message(raw.replace(b"10:15:00", b"10:16:00"))
    assert first.message_id == ""
    assert first.dedupe_key == again.dedupe_key
    assert len({first.dedupe_key, other_body.dedupe_key, other_date.dedupe_key}) == 3
    assert first.thread_key == first.dedupe_key


def test_without_message_id_mail_from_or_to_someone_else_is_another_email():
    # The same automated text on the same second, to or from other people, is not one email
    # shown once: each has its own card row.
    raw = mail().replace(b"Message-ID: <abc123@example.com>\n", b"")
    first = parse_message(raw)
    other_sender = parse_message(raw.replace(b"bob@example.com", b"rob@example.com"))
    other_recipient = parse_message(raw.replace(b"jane@example.org", b"joan@example.org"))
    keys = {first.dedupe_key, other_sender.dedupe_key, other_recipient.dedupe_key}
    assert len(keys) == 3


def test_a_reply_shares_the_thread_key_of_its_original():
    original = parse_message(mail())
    reply = parse_message(
        mail(headers="In-Reply-To: <abc123@example.com>\n").replace(b"abc123@", b"reply1@", 1)
    )
    second_reply = parse_message(
        mail(headers="References: <abc123@example.com>\n <reply1@example.com>\n"
             "In-Reply-To: <reply1@example.com>\n").replace(b"abc123@", b"reply2@", 1)
    )  # fmt: skip
    unrelated = parse_message(mail().replace(b"abc123@", b"other@"))
    assert reply.message_id == "reply1@example.com"
    assert original.thread_key == reply.thread_key == second_reply.thread_key
    assert unrelated.thread_key != original.thread_key
    assert original.thread_key != original.dedupe_key or original.message_id


# --- bodies --------------------------------------------------------------------------------

ALTERNATIVE = """\
--b1
Content-Type: text/html; charset=utf-8

<p>The <b>HTML</b> version</p>
--b1
Content-Type: text/plain; charset=utf-8

The plain version
--b1--
"""


def test_multipart_alternative_prefers_plain_text():
    raw = mail(ALTERNATIVE, ctype='Content-Type: multipart/alternative; boundary="b1"')
    assert parse_message(raw).body_text == "The plain version"


def test_an_empty_plain_alternative_falls_back_to_html():
    body = ALTERNATIVE.replace("The plain version\n", "\n")
    raw = mail(body, ctype='Content-Type: multipart/alternative; boundary="b1"')
    assert parse_message(raw).body_text == "The HTML version"


HOSTILE_HTML = """\
<html><head><title>Page title</title>
<style>p { color: red } .x { display: none }</style>
<script>alert(1)</script></head>
<body onload="steal()">
<p onclick="evil()">Dear customer,</p>
<div style="display:none">hidden preheader text</div>
<span style="visibility: hidden">also hidden</span>
<p>Read the <a href="https://example.com/report?id=7">quarterly report</a>.</p>
<p><img src="cid:logo@x" alt="Company logo"><img src="https://tracker.example/p.gif"></p>
<a href="javascript:alert(2)">click me</a>
</script><script>var leaked = "script body";</script>
<table><tr><td>Q1</td><td>10</td></tr><tr><td>Q2</td><td>12</td></tr></table>
<p>1. not a list &amp; not markdown</p>
<!-- a comment -->
</body></html>
"""


def test_html_only_body_becomes_inert_text():
    parsed = parse_message(mail(HOSTILE_HTML, ctype="Content-Type: text/html; charset=utf-8"))
    text = parsed.body_text
    assert "Dear customer," in text
    assert "[quarterly report](https://example.com/report?id=7)" in text
    assert "click me" in text
    assert "javascript" not in text
    assert "Q1" in text
    assert "12" in text
    assert "1. not a list & not markdown" in text
    for absent in (
        "<", "alert", "steal", "evil", "script body", "color: red", "display", "hidden",
        "Page title", "logo", "tracker", "cid:", "comment",
    ):  # fmt: skip
        assert absent not in text, absent


def test_html_sent_as_plain_text_is_converted():
    raw = mail("<html>\n<body>\n<a href='https://example.com/'>Site</a>\n</body>\n</html>\n")
    assert parse_message(raw).body_text == "[Site](https://example.com/)"


def test_html_that_breaks_the_html_parser_is_stripped():
    html = "<p>Hello</p><![bogus[ x ]]><script>alert(1)</script><p>World</p>"
    text = parse_message(mail(html, ctype="Content-Type: text/html")).body_text
    assert "Hello" in text
    assert "World" in text
    assert "<" not in text
    assert "alert" not in text


ATTACHMENTS = """\
--mix
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>See attached.<img src="cid:logo"></p>
--rel
Content-Type: image/png
Content-ID: <logo>
Content-Disposition: inline; filename="logo.png"
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--
--mix
Content-Type: application/pdf; name="=?utf-8?Q?Angebot_M=C3=BCller.pdf?="
Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates%202024.pdf
Content-Transfer-Encoding: base64

{pdf}
--mix
Content-Type: text/plain; name="notes.txt"
Content-Disposition: attachment

SECRET ATTACHMENT CONTENT
--mix
Content-Type: application/octet-stream; name="=?utf-8?Q?Angebot_M=C3=BCller.xlsx?="

AAAA
--mix
Content-Type: message/rfc822

From: someone@example.com
Subject: Forwarded offer

Forwarded body
--mix--
"""


def test_attachment_names_are_listed_and_their_content_never_kept():
    pdf = base64.b64encode(b"%PDF-1.4 SECRET PDF CONTENT").decode()
    raw = mail(ATTACHMENTS.format(pdf=pdf), ctype='Content-Type: multipart/mixed; boundary="mix"')
    parsed = parse_message(raw)
    assert parsed.body_text == "See attached."
    assert parsed.attachment_names == (
        "€ rates 2024.pdf",
        "notes.txt",
        "Angebot Müller.xlsx",
        "Forwarded offer.eml",
    )
    assert "SECRET" not in parsed.body_text
    assert "Forwarded body" not in parsed.body_text


def test_attachment_names_are_capped_at_50():
    parts = "".join(
        f"--m\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=f{i}.pdf\n"
        "\nx\n"
        for i in range(80)
    )
    raw = mail(
        f"--m\nContent-Type: text/plain\n\nhi\n{parts}--m--\n",
        ctype="Content-Type: multipart/mixed; boundary=m",
    )
    names = parse_message(raw).attachment_names
    assert len(names) == 50
    assert names[0] == "f0.pdf"


def test_an_attached_message_is_the_body_only_when_there_is_no_other_text():
    body = "--m\nContent-Type: message/rfc822\n\nSubject: Inner\n\nInner text\n--m--\n"
    parsed = parse_message(mail(body, ctype="Content-Type: multipart/mixed; boundary=m"))
    assert parsed.body_text == "Inner text"
    assert parsed.attachment_names == ("Inner.eml",)


def test_uuencoded_files_in_a_text_body_are_listed_not_kept():
    body = "Logo below.\n\nbegin 644 logo.gif\nM1TE&.#=A$P`3`*$``/___P```(\n`\nend\n\nBye\n"
    parsed = parse_message(mail(body))
    assert parsed.body_text == "Logo below.\n\n\nBye"
    assert parsed.attachment_names == ("logo.gif",)


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("iso-8859-1", "Grüße, café, naïve, 50 €?"),
        ("koi8-r", "Привет, как дела?"),
        ("shift_jis", "こんにちは、世界"),
        ("utf-8", "Grüße 你好 \U0001f600"),
        ("windows-1252", "“Smart quotes” — and 50 €"),
        ("iso-2022-jp", "会議の議事録"),
    ],
)
def test_body_charsets(charset, text):
    if charset == "iso-8859-1":
        text = text.replace("€", "")  # not in Latin-1
    head = mail(
        "", ctype=f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit"
    )
    assert parse_message(head + text.encode(charset)).body_text == text


def test_quoted_printable_and_base64_bodies():
    qp = mail(
        "Gr=C3=BC=C3=9Fe,=\n the line continues.\n",
        ctype="Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: quoted-printable",
    )
    b64 = mail(
        base64.b64encode("Grüße".encode()).decode() + "\n",
        ctype="Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64",
    )
    assert parse_message(qp).body_text == "Grüße, the line continues."
    assert parse_message(b64).body_text == "Grüße"


@pytest.mark.parametrize(
    ("declared", "payload", "expected"),
    [
        ("us-ascii", "Grüße".encode(), "Grüße"),  # UTF-8 labelled ASCII
        ("iso-8859-1", "Grüße".encode(), "Grüße"),  # UTF-8 labelled Latin-1
        ("utf-8", "Grüße".encode("latin-1"), "Grüße"),  # Latin-1 labelled UTF-8
        ("x-unknown-charset", "Grüße".encode(), "Grüße"),
        ("utf-8", "Grüße".encode() + b"\xff\xfe", "Grüße\ufffd\ufffd"),  # broken, mostly UTF-8
        ("punycode", b"abc-def", "abc-def"),  # not a charset: ignored
        ("iso-2022-jp", "日本語".encode("euc-jp"), "日本語"),  # EUC-JP labelled ISO-2022-JP
    ],
)
def test_lying_and_unknown_charsets(declared, payload, expected):
    head = mail("", ctype=f"Content-Type: text/plain; charset={declared}")
    assert parse_message(head + payload).body_text == expected


def test_broken_base64_does_not_raise():
    for junk in ("SGVsbG8gV29ybGQ", "SGVsbG8=gV29y!!bGQ==", "A", "====", "SGVs\nbG8*&^%"):
        head = mail("", ctype="Content-Type: text/plain\nContent-Transfer-Encoding: base64")
        parsed = parse_message(head + junk.encode())
        assert isinstance(parsed.body_text, str)
    head = mail("", ctype="Content-Type: text/plain\nContent-Transfer-Encoding: base64")
    # Padding missing: decoded to the end, as mail clients do.
    assert parse_message(head + b"SGVsbG8gV29ybGQ").body_text == "Hello World"
    # A dangling character cannot make a byte: the rest is kept.
    assert parse_message(head + b"SGVsbG8gV29ybGQh\nQ").body_text == "Hello World!"


def test_broken_quoted_printable_does_not_raise():
    head = mail("", ctype="Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable")
    assert parse_message(head + b"a=ZZb=\nc=4").body_text.startswith("a=ZZbc")


def test_huge_body_is_cut_with_a_marker():
    parsed = parse_message(mail("x" * 250), max_body_chars=100)
    assert parsed.body_truncated is True
    assert parsed.body_text == "x" * 100 + "\n\n[… message cut: 150 more characters not shown]"
    assert parse_message(mail("x" * 100), max_body_chars=100).body_truncated is False


def test_huge_html_is_cut_before_conversion():
    html = "<p>" + "word " * 200_000 + "</p>"
    parsed = parse_message(mail(html, ctype="Content-Type: text/html"), max_body_chars=1000)
    assert parsed.body_truncated is True
    assert len(parsed.body_text) < 1100


def test_nul_bytes_are_removed():
    parsed = parse_message(mail("a\x00b\x00\n").replace(b"numbers", b"num\x00bers"))
    assert parsed.body_text == "ab"
    assert "\x00" not in parsed.subject


def test_newlines_trailing_spaces_and_blank_lines_are_normalized():
    parsed = parse_message(mail("one   \r\ntwo\t\r\n\r\n\r\n\r\n\r\n\r\nthree\rfour\n\n"))
    assert parsed.body_text == "one\ntwo\n\n\nthree\nfour"


def test_missing_boundary_is_recovered_from_the_delimiter_lines():
    body = "--real\nContent-Type: text/plain\n\nRecovered text\n--real--\n"
    raw = mail(body, ctype='Content-Type: multipart/mixed; boundary="declared"')
    assert parse_message(raw).body_text == "Recovered text"


def test_header_line_that_lost_its_folding_does_not_end_the_headers():
    raw = mail(ALTERNATIVE, ctype='Content-Type: multipart/alternative; boundary="b1"').replace(
        b"MIME-Version",
        b"X-Diagnostics: 1;AM4PR01MB1442;6:1Y77VdiYZvw\nP8FxVksOO2tmFWl+LxT0\nMIME-Version",
    )
    assert parse_message(raw).body_text == "The plain version"


# --- rejections and robustness -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "Outlook .msg"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (bytes(range(256)) * 8, "binary"),
        (b"Just some text without any headers.\nSecond line.\n", "no header section"),
        (b"HELO example.com\r\nMAIL FROM:<a@b.c>\r\n", "no header section"),
        (b"Year: 1963\nColour: blue\n\nnot mail\n", "no From, Date or Message-ID"),
    ],
)
def test_non_mail_is_rejected_with_a_reason(raw, reason):
    with pytest.raises(MessageRejected) as rejected:
        parse_message(raw)
    assert reason in rejected.value.reason
    assert rejected.value.reason.startswith("not an email")


def test_random_bytes_are_rejected():
    rng = random.Random(42)
    for _ in range(50):
        with pytest.raises(MessageRejected):
            parse_message(rng.randbytes(rng.randint(1, 5000)))


def test_oversized_message_is_rejected_mentioning_the_limit():
    with pytest.raises(MessageRejected) as rejected:
        parse_message(b"x" * 3277, max_raw_bytes=2048)
    assert rejected.value.reason == "message is 3.2 KB, over the 2 KB limit"
    big = b"x" * (60 * 1024 * 1024)
    with pytest.raises(MessageRejected, match="message is 60 MB, over the 50 MB limit"):
        parse_message(big)


def test_not_bytes_is_rejected():
    with pytest.raises(MessageRejected):
        parse_message("From: a@b.c\n\nhi")


def test_deeply_nested_multiparts_and_messages_do_not_raise():
    depth = 3000
    opening = "".join(
        f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n" for i in range(depth)
    )
    closing = "".join(f"--b{i}--\n" for i in reversed(range(depth)))
    raw = mail(opening + "--b3000\nContent-Type: text/plain\n\ndeep\n" + closing,
               ctype="Content-Type: multipart/mixed; boundary=b0")  # fmt: skip
    parsed = parse_message(raw)
    assert parsed.subject == "Quarterly numbers"
    assert parsed.body_text.startswith("[… message body not shown") or parsed.body_text == "deep"
    nested = "Content-Type: message/rfc822\n\n" * 2000 + "Subject: x\n\ninnermost\n"
    assert isinstance(parse_message(mail(nested, ctype=nested.split("\n")[0])).body_text, str)


def test_truncated_mime_does_not_raise():
    raw = mail(
        ATTACHMENTS.format(pdf="JVBERi0xLjQK"),
        ctype='Content-Type: multipart/mixed; boundary="mix"',
    )
    for cut in range(0, len(raw), 7):
        try:
            parse_message(raw[:cut])
        except MessageRejected as rejected:
            assert_deliberate(rejected)


SEED = mail(
    ATTACHMENTS.format(pdf="JVBERi0xLjQK"), ctype='Content-Type: multipart/mixed; boundary="mix"'
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_fuzz_random_bytes_never_raise_anything_else(raw):
    try:
        parse_message(raw)
    except MessageRejected as rejected:
        assert_deliberate(rejected)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(SEED)), st.binary(min_size=0, max_size=8)), max_size=12)
)
def test_fuzz_mutated_messages_never_raise_anything_else(edits):
    raw = bytearray(SEED)
    for position, replacement in edits:
        raw[position : position + len(replacement)] = replacement
    try:
        parsed = parse_message(bytes(raw))
    except MessageRejected as rejected:
        assert_deliberate(rejected)
    else:
        assert "\x00" not in parsed.body_text


@settings(max_examples=200, deadline=None)
@given(
    header=st.sampled_from(
        ["From", "To", "Cc", "Subject", "Date", "Message-ID", "References", "Content-Type"]
    ),
    value=st.text(max_size=200),
)
def test_fuzz_header_values_never_raise_anything_else(header, value):
    raw = f"{header}: {value}\nFrom: a@example.com\n\nbody\n".encode(
        "utf-8", errors="surrogatepass"
    )
    try:
        parse_message(raw)
    except MessageRejected as rejected:
        assert_deliberate(rejected)
