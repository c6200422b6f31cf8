# ruff: noqa: RUF001 - Cyrillic fixtures; their look-alike letters are the point.
"""What mutation testing of mailsync/parsing found untested (issue 8, point 24; tests/MUTATION.md).

Each test pins what a user would read or what the mirror stores: the body text, the subject,
the participants, the attachment names, the reason a message was skipped.
"""

import base64
import re

import pytest

from mailsync.parsing import MessageRejected, parse_message
from mailsync.parsing.charsets import decode_bytes

HEAD = (
    "From: Bob Sender <bob@example.com>\n"
    "To: Jane Doe <jane@example.org>\n"
    "Subject: Quarterly numbers\n"
    "Date: Tue, 05 Mar 2024 10:15:00 +0100\n"
    "Message-ID: <abc123@example.com>\n"
    "MIME-Version: 1.0\n"
)


def mail(content_type: str, payload: str, head: str = HEAD) -> bytes:
    return f"{head}Content-Type: {content_type}\n\n{payload}".encode()


def test_a_body_of_30000_characters_is_kept_whole():
    text = "".join(f"Line {n:05d} of a long report.\n" for n in range(1100)).strip()
    assert 30_000 < len(text) < 40_000
    parsed = parse_message(mail("text/plain; charset=utf-8", text))
    assert parsed.body_text == text
    assert parsed.body_truncated is False


# --- HTML the converter cannot read, and text/enriched: the plain tag stripper ---------------


def test_html_the_converter_chokes_on_is_stripped_to_exactly_its_visible_text():
    # "<![bogus[" makes Python's HTML parser raise: the stripper takes over, and still drops
    # style, script and comments, ends lines at <br> and block ends, and reads entities.
    html = (
        "<p>Hello</p><![bogus[ x ]]><style>p {color: red}</style><script>alert(1)</script>"
        "<!-- a note --><div>Dear <b>Jane</b>,<br>the figures&nbsp;&amp; more</div><p>World</p>"
    )
    parsed = parse_message(mail("text/html", html))
    assert parsed.body_text == "Hello\nDear Jane,\nthe figures & more\nWorld"


def test_enriched_text_is_shown_without_its_formatting_commands():
    enriched = "<bold>Hello</bold> <<you>\n\nSecond <italic>line</italic>"
    assert parse_message(mail("text/enriched", enriched)).body_text == "Hello <you>\n\nSecond line"


# --- what the sync log says about a message over the size limit -------------------------------


@pytest.mark.parametrize(
    ("size", "limit", "reason"),
    [
        (2048, 1024, "message is 2 KB, over the 1 KB limit"),
        (1536, 1023, "message is 1.5 KB, over the 1023 bytes limit"),
        (3 << 20, 1 << 20, "message is 3 MB, over the 1 MB limit"),
        ((1 << 20) + (1 << 19), (1 << 20) - 1, "message is 1.5 MB, over the 1024 KB limit"),
    ],
)
def test_an_oversized_message_is_skipped_naming_its_size_and_the_limit(size, limit, reason):
    with pytest.raises(MessageRejected) as rejected:
        parse_message(b"x" * size, max_raw_bytes=limit)
    assert rejected.value.reason == reason


# --- HTML layout ------------------------------------------------------------------------------


def test_text_after_a_table_whose_last_row_is_left_open_starts_a_new_line():
    html = "<p>Your order:</p><table><tr><td>Total</td><td>12 EUR</table>Thanks, Bob"
    parsed = parse_message(mail("text/html; charset=utf-8", html))
    assert parsed.body_text == "Your order:\n\nTotal  12 EUR\nThanks, Bob"


# --- which part is the body -------------------------------------------------------------------


def test_a_forwarded_message_before_the_senders_own_text_is_not_the_body():
    parts = (
        "--m\nContent-Type: message/rfc822\n\nSubject: Old offer\n\nThe forwarded words\n"
        "--m\nContent-Type: text/plain\n\nMy own note on top\n--m--\n"
    )
    parsed = parse_message(mail('multipart/mixed; boundary="m"', parts))
    assert parsed.body_text == "My own note on top"
    assert parsed.attachment_names == ("Old offer.eml",)


# --- raw 8-bit file names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "sender", "subject", "file_name"),
    [
        ("koi8_r", "Иван Петров", "Отчёт за первый квартал, как обещал", "план.doc"),
        ("cp1250", "Jan Nowak", "Zażółć gęślą jaźń, raport kwartalny", "Łódź.pdf"),
    ],
)
def test_a_raw_8bit_file_name_is_read_in_the_charset_of_the_other_headers(
    charset, sender, subject, file_name
):
    # Four or five 8-bit bytes alone are too few to tell the charset; the sender's name and
    # the subject around them are not.
    raw = (
        f"From: {sender} <sender@example.com>\nTo: jane@example.org\nSubject: {subject}\n"
        "Date: Tue, 05 Mar 2024 10:15:00 +0100\nMessage-ID: <r1@example.com>\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\nAttached.\n"
        "--m\nContent-Type: application/pdf\n"
        f'Content-Disposition: attachment; filename="{file_name}"\n\nx\n--m--\n'
    ).encode(charset)
    parsed = parse_message(raw)
    assert parsed.subject == subject
    assert parsed.attachment_names == (file_name,)


# --- the size limit: what the cut note says ---------------------------------------------------


def cut_count(body_text: str) -> int:
    match = re.search(r"\n\n\[… message cut: (\d+) more characters not shown\]\Z", body_text)
    assert match, body_text[-100:]
    return int(match.group(1))


def test_a_body_three_times_the_limit_says_how_much_was_cut():
    parsed = parse_message(mail("text/plain; charset=utf-8", "x" * 300_000))
    assert (
        parsed.body_text == "x" * 100_000 + "\n\n[… message cut: 200000 more characters not shown]"
    )
    assert parsed.body_truncated_from == 300_000


def test_a_huge_html_newsletter_says_about_how_much_of_its_text_was_cut():
    # 1.2 million characters of text: the HTML past ten times the limit is not even converted,
    # yet the note still counts it.
    html = "<p>" + "abcd " * 240_000 + "</p>"
    parsed = parse_message(mail("text/html; charset=utf-8", html))
    assert parsed.body_text.startswith("abcd abcd")
    assert len(parsed.body_text.split("\n\n[…")[0]) <= 100_000
    assert abs(cut_count(parsed.body_text) - (len("abcd " * 240_000) - 1 - 100_000)) <= 10


# --- forwarded messages -----------------------------------------------------------------------


def test_a_forwarded_message_labelled_base64_but_sent_as_is_is_read_as_is():
    # Its headers are there for the parser to see: only a header-less part is really encoded.
    parts = (
        "--m\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
        "Subject: Plain inside\n\nNot really base64 at all.\n--m--\n"
    )
    parsed = parse_message(mail('multipart/mixed; boundary="m"', parts))
    assert parsed.body_text == "Not really base64 at all."
    assert parsed.attachment_names == ("Plain inside.eml",)


def test_a_cut_body_keeps_its_indentation_and_ends_at_its_last_word_before_the_note():
    text = "  Total: 12\n\n\nMore lines here"
    parsed = parse_message(mail("text/plain; charset=utf-8", text), max_body_chars=13)
    assert parsed.body_text == "  Total: 12\n\n[… message cut: 16 more characters not shown]"


def test_html_past_the_conversion_limit_is_counted_in_the_cut_note_and_no_more():
    # A million characters of markup (ten times the limit) with little text, then 5,000
    # characters of text the converter never sees: the note counts that tail, tags included.
    markup = "<div>Weekly news</div>" + "<i></i>" * 142_854
    assert len(markup) == 1_000_000
    tail = "<p>" + "y" * 5_000 + "</p>"
    parsed = parse_message(mail("text/html; charset=utf-8", markup + tail))
    assert parsed.body_text.startswith("Weekly news\n\n[… message cut: ")
    assert parsed.body_truncated is True
    assert 5_000 <= cut_count(parsed.body_text) <= len(tail)


# --- what is skipped, and why -----------------------------------------------------------------


def test_something_that_is_not_bytes_is_skipped_saying_what_it_was():
    with pytest.raises(MessageRejected) as rejected:
        parse_message("From: a@example.com\n\nhi")
    assert rejected.value.reason == "not an email: got str, not bytes"


def test_a_message_of_exactly_the_size_limit_is_kept():
    raw = mail("text/plain", "x" * 100)
    assert parse_message(raw, max_raw_bytes=len(raw)).body_text == "x" * 100
    with pytest.raises(MessageRejected):
        parse_message(raw, max_raw_bytes=len(raw) - 1)


def test_a_forwarded_internationalized_message_gives_its_text_and_is_listed():
    # message/global (RFC 6532): a forwarded message whose headers are raw UTF-8.
    parts = (
        "--m\nContent-Type: message/global\n\n"
        "Subject: Café à Zürich\nFrom: Zoë <zoe@example.ch>\n\nDas Angebot für Sie.\n--m--\n"
    )
    parsed = parse_message(mail('multipart/mixed; boundary="m"', parts))
    assert parsed.body_text == "Das Angebot für Sie."
    assert parsed.attachment_names == ("Café à Zürich.eml",)


def test_a_forwarded_message_encoded_quoted_printable_gives_its_text_and_subject():
    parts = (
        "--m\nContent-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n"
        "Subject=3A Offer 18\n\nThe offer text, caf=C3=A9 included.\n--m--\n"
    )
    parsed = parse_message(mail('multipart/mixed; boundary="m"', parts))
    assert parsed.body_text == "The offer text, café included."
    assert parsed.attachment_names == ("Offer 18.eml",)


def test_a_raw_8bit_letter_in_a_quoted_printable_forwarded_message_is_kept():
    # Mailers put raw Latin-1 bytes in quoted-printable; the forwarded text keeps its letter.
    raw = mail(
        'multipart/mixed; boundary="m"',
        "--m\nContent-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n"
        "Subject=3A Offer 18\n\nThe offer text, caf\xe9 included.\n--m--\n",
    )
    parsed = parse_message(raw.decode().encode("latin-1"))
    assert parsed.body_text == "The offer text, café included."


def test_a_forwarded_message_with_a_raw_utf8_subject_is_listed_by_that_subject():
    inner = "From: Zoë <zoe@example.ch>\nSubject: Café\n  au lait\n\nText inside.\n".encode()
    parts = (
        "--m\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(inner).decode()
        + "--m--\n"
    )
    parsed = parse_message(mail('multipart/mixed; boundary="m"', parts))
    assert parsed.body_text == "Text inside."
    assert parsed.attachment_names == ("Café au lait.eml",)


def test_html_reads_as_the_reader_saw_it_unwrapped_with_its_characters_links_and_rows():
    long = (
        "This paragraph is far longer than a line of seventy-eight characters, and stays one line."
    )
    html = (
        f"<p>{long}</p><p>Caf&eacute; &mdash; it&rsquo;s &ldquo;fine&rdquo;, &euro;5&nbsp;only</p>"
        '<p>Write to <a href="mailto:sales@example.com">our sales team</a>.</p>'
        "<table><tr><th>Item</th><th>Price</th></tr><tr><td>Tea</td><td>3</td></tr></table>"
    )
    assert parse_message(mail("text/html; charset=utf-8", html)).body_text == (
        f"{long}\n\nCafé — it’s “fine”, €5 only\n\n"
        "Write to [our sales team](mailto:sales@example.com).\n\nItem  Price\nTea  3"
    )


def test_a_table_without_rows_starts_on_its_own_line_with_its_cells_apart():
    html = "Your order:<table><td>Tea</td><td>3</td></table>Thanks"
    assert parse_message(mail("text/html", html)).body_text == "Your order:\nTea  3\nThanks"


def test_backslashes_in_html_text_are_kept():
    html = r"<p>Saved on \\fileserver\_archive\*.pdf, see \[1\].</p>"
    assert parse_message(mail("text/html", html)).body_text == (
        r"Saved on \\fileserver\_archive\*.pdf, see \[1\]."
    )


def test_only_a_style_hides_an_element_not_the_same_words_in_another_attribute():
    html = (
        '<p title="Tip: display: none hides a block">Visible tip</p>'
        '<table><tr><td nowrap><a href="https://example.com/offer">Our offer</a></td></tr></table>'
    )
    assert parse_message(mail("text/html", html)).body_text == (
        "Visible tip\n\n[Our offer](https://example.com/offer)"
    )


def test_linked_images_leave_no_empty_links_behind_even_inside_another_link():
    html = (
        '<a href="https://example.com/track"><img src="https://example.com/logo.png" alt=""></a>'
        '<a href="https://example.com/b"><a href="https://example.com/a"><img src="x.png"></a></a>'
        "<p>Hello Jane</p>"
    )
    assert parse_message(mail("text/html", html)).body_text == "Hello Jane"


# --- which charset a body is read in ----------------------------------------------------------


def test_an_html_body_without_charset_is_read_in_the_charset_its_meta_tag_names():
    greek = "Τιμολόγιο για τον Μάρτιο"
    html = f'<html><head><meta charset="iso-8859-7"></head><body><p>{greek}</p></body></html>'
    raw = mail("text/html", "{html}").replace(b"{html}", html.encode("iso-8859-7"))
    assert parse_message(raw).body_text == greek


def test_charset_words_in_a_plain_text_body_are_text_not_a_declaration():
    text = "Write charset=koi8-r in the header. Grüße, Jürgen"
    raw = mail("text/plain", "{text}").replace(b"{text}", text.encode("cp1252"))
    assert parse_message(raw).body_text == text


def test_charset_words_deep_in_an_html_body_do_not_change_how_it_is_read():
    # Only a meta tag near the top declares the charset; these words come after 4 KB of text.
    filler = "<p>" + "Agenda item and notes. " * 200 + "</p>"
    for words in (
        "Set charset=utf-16 there. Grüße, Jürgen",
        "Set charset=utf-16 here. Grüße, Jürgen",
    ):
        html = f"<html><body>{filler}<p>{words}</p></body></html>"
        parsed = parse_message(mail("text/html; format=flowed", html))
        assert parsed.body_text.endswith(f"\n\n{words}")


def test_a_style_block_after_the_first_paragraph_leaves_the_links_of_the_rest():
    html = (
        "<p>Hi Jane</p><style>p { color: red }</style>"
        "<p>See <a href='https://example.com/offer'>the offer</a>.</p>"
    )
    assert parse_message(mail("text/html", html)).body_text == (
        "Hi Jane\n\nSee [the offer](https://example.com/offer)."
    )


# --- the file name a forwarded message is listed under ---------------------------------------


def forwarded(inner: str, part_headers: str = "") -> bytes:
    """A note with a forwarded message after it (`with_parts` below)."""
    return with_parts(f"Content-Type: message/rfc822\n{part_headers}\n{inner}")


@pytest.mark.parametrize(
    ("inner", "name"),
    [
        ("Subject: Q3 / Q4 plan \\ draft\n\nNumbers.", "Q3 - Q4 plan - draft.eml"),
        ("From: a@example.com\n\nNo subject here.", "message.eml"),
        ("Subject: \n\nAn empty subject.", "message.eml"),
        ("", "message.eml"),
        ("Subject: " + "Long " * 80 + "\n\nText.", ("Long " * 80)[:251] + ".eml"),
    ],
)
def test_a_forwarded_message_is_listed_under_its_subject_as_a_safe_file_name(inner, name):
    names = parse_message(forwarded(inner)).attachment_names
    assert names == (name,)
    assert len(name) <= 255


def test_a_forwarded_message_part_holding_nothing_is_still_listed():
    # Labelled base64 but empty: no message can be read from it.
    raw = forwarded("", part_headers="Content-Transfer-Encoding: base64\n")
    assert parse_message(raw).attachment_names == ("message.eml",)


def test_a_forwarded_subject_in_raw_8bit_or_unlabelled_words_is_read_in_the_mails_charset():
    # The outer message says KOI8-R; the forwarded one's subject has raw bytes and an encoded
    # word without a charset (both seen from old Russian mailers). Detection alone would
    # read so few bytes as windows-1251.
    word = "".join(f"={b:02X}" for b in "счёт".encode("koi8_r"))
    inner = f"Subject: Счёт =??Q?{word}?=\n\nТекст."
    raw = (
        f'{HEAD}Content-Type: multipart/mixed; charset=koi8-r; boundary="m"\n\n'
        "--m\nContent-Type: text/plain; charset=koi8-r\n\nСмотрите ниже.\n"
        f"--m\nContent-Type: message/rfc822\n\n{inner}\n--m--\n"
    ).encode("koi8_r")
    assert parse_message(raw).attachment_names == ("Счёт счёт.eml",)


# --- attachment names ------------------------------------------------------------------------


def with_parts(*parts: str, kind: str = "mixed") -> bytes:
    body = "".join(f"--m\n{part}\n" for part in parts) + "--m--\n"
    return mail(f'multipart/{kind}; boundary="m"', "--m\nContent-Type: text/plain\n\nHi.\n" + body)


def test_an_attachment_without_a_file_name_is_listed_by_its_type():
    raw = with_parts("Content-Type: application/pdf\nContent-Disposition: attachment\n\n%PDF")
    assert parse_message(raw).attachment_names == ("attachment (application/pdf)",)


def test_an_inline_part_without_a_file_name_is_not_an_attachment():
    raw = with_parts("Content-Type: application/octet-stream\nContent-Disposition: inline\n\nx")
    assert parse_message(raw).attachment_names == ()


@pytest.mark.parametrize(
    ("kind", "disposition", "listed"),
    [
        ("related", "inline", False),  # an image the HTML shows (cid:), not an attachment
        ("related", "attachment", True),  # attached although the HTML could show it
        ("mixed", "inline", True),  # a Content-ID outside multipart/related means nothing
    ],
)
def test_a_part_with_a_content_id_is_listed_unless_the_html_shows_it(kind, disposition, listed):
    raw = with_parts(
        "Content-Type: image/png\nContent-ID: <logo@x>\n"
        f'Content-Disposition: {disposition}; filename="logo.png"\n\niVBOR',
        kind=kind,
    )
    assert parse_message(raw).attachment_names == (("logo.png",) if listed else ())


@pytest.mark.parametrize(
    ("filename", "listed_as"),
    [
        ("C:\\\\Users\\\\jane\\\\Documents\\\\report.pdf", "report.pdf"),
        ("/home/jane/docs/report.pdf", "report.pdf"),
        ("'Xmas list.txt'", "Xmas list.txt"),
        ("  quarterly  numbers.xlsx ", "quarterly numbers.xlsx"),
    ],
)
def test_an_attachment_is_listed_by_its_base_name_without_quotes(filename, listed_as):
    raw = with_parts(
        "Content-Type: application/octet-stream\n"
        f'Content-Disposition: attachment; filename="{filename}"\n\nx'
    )
    assert parse_message(raw).attachment_names == (listed_as,)


def test_an_attachment_name_in_unlabelled_encoded_words_is_read_in_the_mails_charset():
    word = "".join(f"={b:02X}" for b in "счёт".encode("koi8_r"))
    raw = (
        f'{HEAD}Content-Type: multipart/mixed; charset=koi8-r; boundary="m"\n\n'
        "--m\nContent-Type: text/plain; charset=koi8-r\n\nСмотрите вложение.\n"
        "--m\nContent-Type: application/pdf\n"
        f'Content-Disposition: attachment; filename="=??Q?{word}?=.pdf"\n\n%PDF\n--m--\n'
    ).encode("koi8_r")
    assert parse_message(raw).attachment_names == ("счёт.pdf",)


# --- what the skip reason and the detector say ----------------------------------------------


@pytest.mark.parametrize(
    "first",
    ["Minutes of the board meeting held on Tuesday the fifth of March in Lyon", "Minutes"],
)
def test_text_without_headers_is_skipped_quoting_at_most_60_characters_of_its_first_line(first):
    with pytest.raises(MessageRejected) as rejected:
        parse_message(f"{first}\nPresent: all members of the board.\nApologies: none.\n".encode())
    assert rejected.value.reason == (
        f"not an email: no header section (starts with {first[:60].strip()!r})"
    )


def test_utf16_text_with_a_big_endian_byte_order_mark_is_read_without_a_charset():
    text = "Grüße aus Köln, Jürgen"
    raw = mail("text/plain", "{body}").replace(b"{body}", b"\xfe\xff" + text.encode("utf-16-be"))
    assert parse_message(raw).body_text == text


def test_delimiter_lines_with_trailing_spaces_still_split_a_message_whose_boundary_is_wrong():
    # RFC 2046 allows whitespace after a boundary; the epilogue after the close stays out.
    parts = (
        '--real  \nContent-Type: application/pdf\nContent-Disposition: attachment; filename="a.pdf"'
        "\n\n%PDF\n--real  \nContent-Type: text/plain\n\nThe text.\n--real--\nMailer junk.\n"
    )
    parsed = parse_message(mail('multipart/mixed; boundary="declared"', parts))
    assert parsed.body_text == "The text."
    assert parsed.attachment_names == ("a.pdf",)


@pytest.mark.parametrize(
    ("word", "subject"),
    [
        ("UmVwb3J0IGZvciBNYXJjaA", "Report for March"),  # padding missing
        ("UmVwb3J0IGZvciBNYXJjaA==x", "Report for March"),  # one stray character after it
        ("UmVwb3J0IGZvciBNYXJj*aA", "Report for March"),  # a character that is not base64
    ],
)
def test_a_broken_base64_subject_keeps_every_letter_it_encodes(word, subject):
    head = HEAD.replace("Subject: Quarterly numbers", f"Subject: =?utf-8?b?{word}?=")
    assert parse_message(mail("text/plain", "Hi.\n", head)).subject == subject


def test_base64_utf16_text_with_a_big_endian_byte_order_mark_is_read():
    text = "Grüße aus Köln, Jürgen"
    payload = base64.b64encode(b"\xfe\xff" + text.encode("utf-16-be")).decode()
    raw = mail("text/plain\nContent-Transfer-Encoding: base64", payload)
    assert parse_message(raw).body_text == text


# --- the envelope of a message: leading blank lines, binary bodies, broken header folds -------


@pytest.mark.parametrize("prefix", [b"\n", b"\r\n", b" \n", b"\t\r\n", b"\n\n"])
def test_blank_lines_before_the_headers_are_skipped(prefix):
    parsed = parse_message(prefix + mail("text/plain", "Hi Jane.\n"))
    assert parsed.subject == "Quarterly numbers"
    assert parsed.body_text == "Hi Jane."


def test_a_display_name_in_raw_8bit_is_read_in_the_charset_the_message_declares():
    # KOI8-R bytes in a From header, the body labelled koi8-r: detection over so short a name
    # alone would take it for windows-1251.
    head = HEAD.replace("Bob Sender", "Иван Петров")
    raw = f"{head}Content-Type: text/plain; charset=koi8-r\n\nДобрый день.\n".encode("koi8_r")
    parsed = parse_message(raw)
    assert [address.name for role, address in parsed.participants if role == "from"] == [
        "Иван Петров"
    ]


def test_mime_nested_too_deeply_to_read_is_marked_cut_with_no_attachments():
    depth = 3000
    opening = "".join(
        f"--b{i}\nContent-Type: multipart/mixed; boundary=b{i + 1}\n\n" for i in range(depth)
    )
    parts = opening + f"--b{depth}\nContent-Type: text/plain\n\ndeep\n"
    parsed = parse_message(mail("multipart/mixed; boundary=b0", parts))
    assert parsed.body_text.startswith("[… message body not shown")
    assert parsed.body_truncated is True
    assert parsed.attachment_names == ()


def test_a_raw_binary_body_after_plain_headers_is_still_mail():
    # Old mailers sent files unencoded: the control bytes are in the body, not the headers.
    binary = bytes(range(32)) * 200
    raw = mail("application/octet-stream", "") + binary
    parsed = parse_message(raw)
    assert parsed.subject == "Quarterly numbers"


def with_control_bytes(controls: int, length: int = 1000) -> bytes:
    """A message whose header section is `length` bytes holding `controls` control bytes."""
    head = mail("text/plain", "").rstrip(b"\n") + b"\nX-Junk: " + b"\x01" * controls
    head += b"\nX-Pad: " + b"a" * (length - len(head) - 8)
    assert len(head) == length
    return head + b"\n\nbody\n"


def test_headers_are_binary_past_one_control_byte_in_twenty():
    assert parse_message(with_control_bytes(50)).subject == "Quarterly numbers"
    with pytest.raises(MessageRejected, match="binary data where the headers should be"):
        parse_message(with_control_bytes(51))


@pytest.mark.parametrize("where", ["after the first header", "before the last header"])
def test_a_header_line_that_lost_its_folding_anywhere_keeps_the_headers_whole(where):
    broken = b"X-Diagnostics: 1;AM4PR01MB1442;6:1Y77VdiYZvw\nP8FxVksOO2tmFWl+LxT0\n"
    raw = mail("text/plain", "The text.\n")
    if where == "after the first header":
        raw = broken + raw
    else:
        raw = raw.replace(b"Content-Type:", broken + b"Content-Type:")
    parsed = parse_message(raw)
    assert parsed.subject == "Quarterly numbers"
    assert parsed.body_text == "The text."


# --- how deep and how wide the parser looks (MAX_DEPTH, MAX_PARTS in body.py) ----------------

PDF_PART = 'Content-Type: application/pdf\nContent-Disposition: attachment; filename="{}"\n\n%PDF\n'


def nested(levels: int, innermost: str, *, through_message: bool = False) -> bytes:
    """A message whose innermost part sits `levels` MIME levels below the top (the top is 0);
    with `through_message`, level 1 is a forwarded message (message/rfc822)."""
    inner = innermost
    for level in reversed(range(1, levels)):
        if through_message and level == 1:
            inner = f"Content-Type: message/rfc822\n\nSubject: Fwd\n{inner}"
        else:
            boundary = f"b{level}"
            inner = (
                f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
                f"--{boundary}\n{inner}\n--{boundary}--\n"
            )
    return mail('multipart/mixed; boundary="b0"', f"--b0\n{inner}\n--b0--\n")


@pytest.mark.parametrize("through_message", [False, True])
def test_text_30_levels_deep_is_the_body_and_31_levels_deep_is_not(through_message):
    text = "Content-Type: text/plain\n\nDeep down."
    assert parse_message(nested(30, text, through_message=through_message)).body_text == (
        "Deep down."
    )
    assert parse_message(nested(31, text, through_message=through_message)).body_text == ""


def test_attachments_are_listed_down_to_30_levels():
    assert parse_message(nested(30, PDF_PART.format("deep.pdf"))).attachment_names == ("deep.pdf",)
    assert parse_message(nested(31, PDF_PART.format("deeper.pdf"))).attachment_names == ()


def test_attachments_are_listed_from_the_first_5000_parts():
    # The top part and 4,998 empty inline parts: the first PDF is the 5,000th part looked at.
    empties = "--m\nContent-Type: text/plain\n\n\n" * 4998
    pdfs = f"--m\n{PDF_PART.format('kept.pdf')}--m\n{PDF_PART.format('dropped.pdf')}--m--\n"
    parsed = parse_message(mail('multipart/mixed; boundary="m"', empties + pdfs))
    assert parsed.attachment_names == ("kept.pdf",)


def test_the_text_of_a_message_forwarded_inside_a_forwarded_message_is_found():
    innermost = "Subject: Original\n\nThe original offer."
    middle = f"Subject: Fwd: Original\nContent-Type: message/rfc822\n\n{innermost}"
    parts = f"--m\nContent-Type: message/rfc822\n\n{middle}\n--m--\n"
    assert parse_message(mail('multipart/mixed; boundary="m"', parts)).body_text == (
        "The original offer."
    )


def test_a_multipart_without_a_boundary_shows_its_text():
    assert parse_message(mail("multipart/mixed", "Plain words.\n")).body_text == "Plain words."


def test_an_attached_multipart_is_not_the_body():
    parts = (
        "--m\nContent-Type: multipart/alternative; boundary=a\nContent-Disposition: attachment\n\n"
        "--a\nContent-Type: text/plain\n\nAttached text.\n--a--\n"
        "--m\nContent-Type: text/plain\n\nThe sender's words.\n--m--\n"
    )
    assert parse_message(mail('multipart/mixed; boundary="m"', parts)).body_text == (
        "The sender's words."
    )


@pytest.mark.parametrize(
    ("part_headers", "body"),
    [
        ("", "Forwarded words."),  # inline: the forward is what the sender sent
        ("Content-Disposition: attachment\n", ""),  # an attached .eml is a file, not the text
        ('Content-Disposition: inline; filename="fwd.eml"\n', "Forwarded words."),
    ],
)
def test_a_forwarded_message_alone_is_the_body_unless_attached(part_headers, body):
    parts = (
        f"--m\nContent-Type: message/rfc822\n{part_headers}\n"
        "Subject: Fwd\n\nForwarded words.\n--m--\n"
    )
    assert parse_message(mail('multipart/mixed; boundary="m"', parts)).body_text == body


def test_adjacent_encoded_words_in_different_charsets_each_keep_their_own():
    word = "".join(f"={b:02X}" for b in "счёт".encode("koi8_r"))
    head = HEAD.replace("Quarterly numbers", f"=?iso-8859-1?q?Caf=E9?= =?koi8-r?q?{word}?=")
    assert parse_message(mail("text/plain", "Hi.\n", head)).subject == "Caféсчёт"


@pytest.mark.parametrize(
    ("part_headers", "names"),
    [
        ("Content-Disposition: attachment\n", ("attachment (application/pdf)",)),
        ('Content-Disposition: inline; filename="offer.pdf"\n', ("offer.pdf",)),
        ("", ()),  # neither attached nor named: nothing a reader could open
    ],
)
def test_a_message_that_is_one_file_lists_it_when_attached_or_named(part_headers, names):
    raw = f"{HEAD}Content-Type: application/pdf\n{part_headers}\n%PDF-1.4 data\n".encode()
    assert parse_message(raw).attachment_names == names


# --- headers: folds, dates, references, unlabelled words, odd charsets ------------------------


def test_a_header_folded_with_crlf_reads_as_one_line():
    raw = mail("text/plain", "Hi.\n").replace(b"\n", b"\r\n")
    raw = raw.replace(b"Subject: Quarterly numbers", b"Subject: Quarterly\r\n numbers")
    assert parse_message(raw).subject == "Quarterly numbers"


def test_a_signature_line_in_a_plain_text_body_is_not_taken_for_a_mime_boundary():
    # "-- " then "Phone: ..." looks like a delimiter line and a part header; only a multipart
    # whose declared boundary matches nothing is re-split.
    text = "Thanks,\nJane\n-- \nPhone: +33 1 23 45 67 89\nAcme Ltd"
    shown = text.replace("-- \n", "--\n")  # trailing spaces are trimmed from every line
    assert parse_message(mail("text/plain; charset=utf-8", text)).body_text == shown


def test_an_unlabelled_encoded_word_in_a_subject_or_name_is_read_in_the_mails_charset():
    word = "".join(f"={b:02X}" for b in "счёт".encode("koi8_r"))
    head = HEAD.replace("Quarterly numbers", f"=??Q?{word}?=").replace(
        "Bob Sender", f"=??Q?{word}?="
    )
    raw = f"{head}Content-Type: text/plain; charset=koi8-r\n\nДобрый день.\n".encode("koi8_r")
    parsed = parse_message(raw)
    assert parsed.subject == "счёт"
    assert [a.name for role, a in parsed.participants if role == "from"] == ["счёт"]


def test_encoded_words_in_two_charsets_side_by_side_each_decode_in_their_own():
    word = "".join(f"={b:02X}" for b in "счёт".encode("koi8_r"))
    head = HEAD.replace("Quarterly numbers", f"=?koi8-r?q?{word}?= =?iso-8859-1?q?caf=E9?=")
    assert parse_message(mail("text/plain", "Hi.\n", head)).subject == "счётcafé"


@pytest.mark.parametrize("name", ["Malcolm X", "Xavier Roux"])
def test_a_display_name_keeps_a_capital_x_at_either_end(name):
    head = HEAD.replace("Bob Sender", name)
    parsed = parse_message(mail("text/plain", "Hi.\n", head))
    assert [a.name for role, a in parsed.participants if role == "from"] == [name]


def test_a_date_up_to_a_day_ahead_is_kept_and_later_ones_are_dropped():
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    from mailsync.parsing.headers import sent_at

    now = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    cases = [
        (timedelta(0), True),
        (timedelta(days=1), True),
        (timedelta(days=1, seconds=1), False),
        (timedelta(hours=36), False),
    ]
    for ahead, kept in cases:
        assert (sent_at([format_datetime(now + ahead)], now=now) is not None) is kept, ahead
    fresh = format_datetime(datetime.now(UTC) - timedelta(minutes=5))
    head = HEAD.replace("Tue, 05 Mar 2024 10:15:00 +0100", fresh)
    assert parse_message(mail("text/plain", "Hi.\n", head)).sent_at is not None


@pytest.mark.parametrize(
    "references",
    [
        "<root@example.com>",
        "<> <root@example.com>",  # an empty id is no id
        "root@example.com",  # without brackets (old clients)
        "<root@exa\n mple.com>",  # folded inside the id
    ],
)
def test_a_reply_joins_its_thread_however_its_references_are_written(references):
    original = parse_message(mail("text/plain", "Hi.\n", HEAD.replace("abc123", "root")))
    head = HEAD.replace("abc123", "reply1") + f"References: {references}\n"
    reply = parse_message(mail("text/plain", "Re.\n", head))
    assert reply.thread_key == original.thread_key


def test_a_charset_that_is_a_codec_but_no_text_encoding_falls_back_to_windows_1252():
    # "charset=hex" names a Python codec that is not for text; 0x81 is undefined in cp1252.
    assert decode_bytes(b"caf\xe9 \x81", "hex") == "café \ufffd"


def test_text_with_a_blank_line_but_no_headers_is_skipped_as_not_mail():
    with pytest.raises(MessageRejected, match="no header section"):
        parse_message(b"Just some text\nacross lines\n\nand a paragraph.\n")


def test_a_first_line_of_utf8_text_is_quoted_readably_in_the_skip_reason():
    with pytest.raises(MessageRejected) as rejected:
        parse_message("Réunion du conseil\nOrdre du jour : budget.\n".encode())
    assert "(starts with 'Réunion du conseil')" in rejected.value.reason


# The key of the message below as released: a change here means duplicates after an upgrade.
KEY_WITHOUT_MESSAGE_ID = "932e9ec4bf2b12e882a5ef2d24a114925aff94f79cc92a1b5011ac16cad931d6"


def test_a_message_without_message_id_keeps_its_key_from_release_to_release():
    # Its key is how the mirror knows it already holds it: if the recipe changed, every such
    # message would be stored again after an upgrade. Two From and To headers, raw 8-bit names.
    head = (
        "From: Иван <ivan@example.com>\nFrom: Bob <bob@example.com>\n"
        "To: Пётр <petr@example.org>\nTo: Joe <joe@example.org>\nSubject: Numbers\n"
        "Date: Tue, 05 Mar 2024 10:15:00 +0100\nMIME-Version: 1.0\n"
    )
    raw = f"{head}Content-Type: text/plain; charset=koi8-r\n\nСчёт.\n".encode("koi8_r")
    assert parse_message(raw).dedupe_key == KEY_WITHOUT_MESSAGE_ID
