# ruff: noqa: RUF001 - the fixtures are CJK text, whose full-width punctuation is the point.
"""8-bit text with no charset, or a wrong one, in bodies and raw headers (issue 8, point 10).

Mail seen in the wild: Big5, Shift_JIS, GBK and windows-1251 text sent without a charset or
labelled us-ascii, which used to be read as Latin-1 (mojibake). The charset is now detected.
"""

import pytest

from mailsync.parsing import parse_message
from mailsync.parsing.charsets import decode_bytes, detect

HEAD = (
    b"From: Bob Sender <bob@example.com>\n"
    b"To: Jane Doe <jane@example.org>\n"
    b"Subject: Quarterly numbers\n"
    b"Date: Tue, 05 Mar 2024 10:15:00 +0100\n"
    b"Message-ID: <abc123@example.com>\n"
    b"MIME-Version: 1.0\n"
)

TEXTS = {
    "big5": "您好，這是一封測試郵件，請查收附件中的報價單。",
    "shift_jis": "こんにちは、会議の議事録を送ります。ご確認ください。",
    "gbk": "你好！我公司可代开各类增值税发票，欢迎来电咨询。",
    "windows-1251": "Здравствуйте! Высылаю вам счёт за март, проверьте, пожалуйста.",
    "koi8-r": "Привет, как дела? Это тестовое письмо от Ивана Петрова.",
    "windows-1252": "Grüße aus Köln, “à bientôt” — 50 €",
    "euc-kr": "안녕하세요, 회의록을 보내드립니다. 확인 부탁드립니다.",
}


def body_with(content_type: bytes, payload: bytes) -> bytes:
    return (
        HEAD
        + b"Content-Type: "
        + content_type
        + b"\nContent-Transfer-Encoding: 8bit\n\n"
        + (payload)
    )


@pytest.mark.parametrize("charset", sorted(TEXTS))
def test_a_body_without_charset_is_read_in_the_detected_one(charset):
    text = TEXTS[charset]
    raw = body_with(b"text/plain", text.encode(charset))
    assert parse_message(raw).body_text == text


@pytest.mark.parametrize("charset", ["big5", "shift_jis", "gbk", "windows-1251"])
def test_a_body_labelled_us_ascii_is_read_in_the_detected_charset(charset):
    text = TEXTS[charset]
    raw = body_with(b"text/plain; charset=us-ascii", text.encode(charset))
    assert parse_message(raw).body_text == text


def test_a_body_labelled_utf8_that_is_not_is_detected():
    text = TEXTS["windows-1251"]
    raw = body_with(b"text/plain; charset=utf-8", text.encode("windows-1251"))
    assert parse_message(raw).body_text == text


def test_an_unknown_charset_name_is_detected():
    text = TEXTS["shift_jis"]
    raw = body_with(b"text/plain; charset=x-no-such-charset", text.encode("shift_jis"))
    assert parse_message(raw).body_text == text


def test_a_declared_multibyte_charset_survives_one_broken_byte():
    text = TEXTS["shift_jis"] * 3
    data = text.encode("shift_jis")
    broken = data[:10] + b"\x81 " + data[10:]  # a lead byte without its second byte
    parsed = parse_message(body_with(b"text/plain; charset=shift_jis", broken))
    assert parsed.body_text == text[:5] + "\ufffd " + text[5:]


def test_a_declared_multibyte_charset_that_does_not_fit_at_all_is_detected():
    text = TEXTS["windows-1251"]  # every second byte breaks a GBK/Big5 reading
    parsed = parse_message(body_with(b"text/plain; charset=big5", text.encode("windows-1251")))
    assert parsed.body_text == text


LETTER = "こんにちは、会議の議事録を送ります。\nご確認ください。よろしくお願いいたします。\n山田\n"


def test_shift_jis_with_a_stray_byte_and_no_charset_is_read_as_japanese():
    # No candidate decodes every byte: the least garbled reading wins (seen in spam).
    data = LETTER.encode("shift_jis")
    broken = data[:20] + b"\xfc " + data[20:]  # a lead byte without its second byte
    decoded = parse_message(body_with(b"text/plain", broken)).body_text
    assert decoded == (LETTER[:10] + "\ufffd " + LETTER[10:]).strip()


def test_iso_2022_jp_without_charset_is_read_as_japanese():
    text = TEXTS["shift_jis"]
    raw = body_with(b"text/plain", text.encode("iso2022_jp"))
    assert parse_message(raw).body_text == text


def test_a_declared_western_charset_is_still_trusted():
    # A declared single-byte charset never fails: it is kept, not second-guessed.
    raw = body_with(b"text/plain; charset=iso-8859-2", "Zażółć gęślą jaźń".encode("iso-8859-2"))
    assert parse_message(raw).body_text == "Zażółć gęślą jaźń"


def test_a_charset_that_is_a_codec_but_not_for_text_does_not_raise():
    raw = body_with(b"text/plain; charset=hex", "Grüße".encode("windows-1252"))
    assert parse_message(raw).body_text == "Grüße"


# --- raw 8-bit headers ---------------------------------------------------------------------

RAW_HEADERS = """\
From: Иван Петров <ivan@example.ru>
To: Мария Иванова <maria@example.ru>
Subject: Счёт за март и договор поставки
Date: Tue, 05 Mar 2024 10:15:00 +0300
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=m

--m
Content-Type: text/plain; charset=utf-8

Добрый день
--m--
"""


def test_raw_8bit_headers_without_charset_are_detected_over_all_of_them():
    parsed = parse_message(RAW_HEADERS.encode("windows-1251"))
    assert parsed.subject == "Счёт за март и договор поставки"
    names = [(role, a.address, a.name) for role, a in parsed.participants]
    assert names == [
        ("from", "ivan@example.ru", "Иван Петров"),
        ("to", "maria@example.ru", "Мария Иванова"),
    ]


def test_raw_utf8_headers_win_over_the_bodys_multibyte_charset():
    raw = (
        "From: Zhang <zhang@example.cn>\nTo: José Müller <jm@example.org>\n"
        "Subject: Grüße\nMIME-Version: 1.0\nContent-Type: text/plain; charset=gb2312\n\n"
    ).encode() + TEXTS["gbk"].encode("gbk")
    parsed = parse_message(raw)
    assert parsed.subject == "Grüße"
    assert [a.name for _, a in parsed.participants] == ["Zhang", "José Müller"]
    assert parsed.body_text == TEXTS["gbk"]


def test_a_big5_subject_in_a_message_without_charset():
    # (A few characters alone can be read as Big5 or as GBK alike; a subject line is enough.)
    subject = "回覆：報價單與會議記錄，請查收"
    raw = HEAD.replace(b"Quarterly numbers", subject.encode("big5")) + b"\nHi\n"
    assert parse_message(raw).subject == subject


# --- the detector itself ------------------------------------------------------------------


def test_detect_prefers_windows_1252_when_short_latin_text_fits_several():
    assert detect("Jürgen Müller".encode("latin-1")) == "cp1252"
    assert detect(b"plain ascii") is None


def test_decode_bytes_keeps_its_order_of_trust():
    assert decode_bytes("Grüße".encode(), "iso-8859-1") == "Grüße"  # UTF-8 beats Latin-1
    assert decode_bytes("日本語".encode("euc-jp"), "iso-2022-jp") == "日本語"  # a sibling
    assert decode_bytes(b"abc", None) == "abc"


def test_plain_ascii_labelled_with_a_multibyte_charset_reads_as_itself():
    for charset in ("shift_jis", "big5", "gb2312", "euc-kr", "euc-jp"):
        assert decode_bytes(b"See you at 3pm, Jane", charset) == "See you at 3pm, Jane"


# A mostly English note ending in a word of the declared charset whose last character was cut
# in half (a truncated message, a bad gateway): 99 characters read, then one U+FFFD.
CUT_WORDS = {"euc-kr": ("감사합니다 회의", "cp949"), "big5": ("會議謝謝", "cp950")}


def cut_note(word: str, codec: str, length: int) -> bytes:
    ascii_part = ("Meeting notes follow, see below. " * 5)[: length - len(word) - 1]
    return (ascii_part + word).encode(codec) + word.encode(codec)[:1]


@pytest.mark.parametrize("charset", CUT_WORDS)
def test_one_broken_character_in_a_hundred_keeps_the_declared_multibyte_charset(charset):
    word, codec = CUT_WORDS[charset]
    data = cut_note(word, codec, 100)
    assert decode_bytes(data, charset).endswith(word + "\ufffd")


@pytest.mark.parametrize("charset", CUT_WORDS)
def test_more_broken_characters_than_one_in_a_hundred_make_the_declaration_a_guess(charset):
    # Past 1% the declaration is not trusted; detection then misreads so short a sample (the
    # limit is what this shows: a text this short is usually whole).
    word, codec = CUT_WORDS[charset]
    assert word not in decode_bytes(cut_note(word, codec, 99), charset)


def test_utf8_cut_in_the_middle_of_its_last_character_stays_utf8():
    assert decode_bytes("Grüße, Jürgen".encode() + b"\xc3", None) == "Grüße, Jürgen\ufffd"


KOREAN = "회의는 내일 오후 세 시에 시작합니다. 관련 문서를 가지고 제시간에 참석해 주세요! "
HEBREW = "שלום רב. הפגישה נדחתה ליום חמישי בשעה שלוש אחר הצהריים. "
RUSSIAN = "Добрый день! Встреча переносится на четверг, в три часа дня. "


def test_hebrew_without_a_charset_is_read_as_hebrew_not_as_another_alphabet():
    # Several single-byte charsets read these bytes with as little "chaos"; only the language
    # coherence tells windows-1255 from Cyrillic or Thai.
    text = HEBREW + "נא לאשר השתתפות ולשלוח את המסמכים."
    assert decode_bytes(text.encode("cp1255"), None) == text


@pytest.mark.parametrize("prefix", [b"", b"\n", b"a\n", b"Hello,\n"])
def test_a_long_body_without_a_charset_is_detected_whatever_its_line_ends(prefix):
    # Over 64 KB only a sample is read; it must not end in half a character, nor shrink to the
    # few bytes before an early line end (long HTML often has none after its first lines).
    body = prefix + (KOREAN * 2000).encode("cp949")
    assert len(body) > 64 * 1024
    assert decode_bytes(body, None) == body.decode("cp949")


def test_only_the_first_64_kb_of_a_body_decide_its_charset():
    hebrew, russian = (HEBREW * 1200).encode("cp1255"), (RUSSIAN * 6000).encode("cp1251")
    assert 64 * 1024 < len(hebrew) < len(russian)
    assert detect(hebrew + b"\n" + russian) == "cp1255"


def test_cjk_text_without_punctuation_over_64_kb_is_still_detected():
    text = "会議は明日の午後三時からです" * 3000
    assert decode_bytes(text.encode("cp932"), None) == text
