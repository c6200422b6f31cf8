"""Parsed messages through the real storage path to the pages and the API (issue 8, points 12
and 24): a shortened body says so with its original size; a malformed message keeps all that
can be recovered."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from mailsync.matching import match_context
from mailsync.models import Message
from mailsync.parsing import parse_message
from mailsync.storage import Incoming, messages_store
from tests.api import client_for
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def store(mailbox, raw: bytes) -> Message:
    incoming = Incoming("1", parse_message(raw), None)
    messages_store(mailbox, mailbox.folders.get(), [incoming], match_context(mailbox))
    return Message.objects.get(mailbox=mailbox)


def test_a_shortened_body_says_so_with_its_original_size(logged_in_client, user):
    mailbox = make_mailbox(user)
    text = "A very long report line.\n" * 46_000  # 1,150,000 bytes: 1.1 MB
    raw = (
        f"From: jane@acme.test\nTo: {mailbox.address}\nSubject: Report\n"
        "Date: Tue, 05 Mar 2024 10:15:00 +0100\nContent-Type: text/plain; charset=utf-8\n\n"
    ).encode() + text.encode()
    message = store(mailbox, raw)
    assert message.body_truncated is True
    assert message.body_truncated_from == 1_150_000

    page = logged_in_client.get(reverse("message-body", args=[message.pk])).content.decode()
    assert "Message shortened: the original text is 1.1\xa0MB; only its beginning is shown." in page

    detail = client_for(user).get(f"/api/emails/{message.pk}/").json()
    assert detail["body_truncated"] is True
    assert detail["body_truncated_from"] == 1_150_000


def test_a_whole_body_shows_no_shortening_note(logged_in_client, user):
    mailbox = make_mailbox(user)
    raw = (
        f"From: jane@acme.test\nTo: {mailbox.address}\nSubject: Short\n"
        "Date: Tue, 05 Mar 2024 10:15:00 +0100\n\n" + "Short text.\n" * 5_000
    ).encode()
    message = store(mailbox, raw)
    assert (message.body_truncated, message.body_truncated_from) == (False, None)
    page = logged_in_client.get(reverse("message-body", args=[message.pk])).content.decode()
    assert "shortened" not in page
    assert client_for(user).get(f"/api/emails/{message.pk}/").json()["body_truncated_from"] is None


MALFORMED = (
    b"From: Ivan <ivan@example.ru> maria@example.ru\n"
    b"To: \xd0\xe0\xe1\xee\xf2\xe0 <team@example.ru>\n"  # raw windows-1251, no charset anywhere
    b"Subject: =?utf-8?B?0J7RgtGH0ZHRgg==?= \xe7\xe0 \xec\xe0\xf0\xf2\n"
    b"Date: Tue, 05 Mar 124 10:15:00 +0300\n"
    b"this line lost its colon\n"
    b"MIME-Version: 1.0\n"
    b'Content-Type: multipart/mixed; boundary="outer"\n'
    b"\n"
    b"--outer\n"
    b'Content-Type: multipart/alternative; boundary="outer"\n'
    b"\n"
    b"--outer\n"
    b"Content-Type: text/plain\n"
    b"Content-Transfer-Encoding: base64\n"
    b"\n"
    + "Добрый день, счёт во вложении.\n".encode("windows-1251")  # raw, and not base64
    + b"--outer\n"
    b"Content-Type: application/pdf; name=schet.pdf\n"
    b"Content-Transfer-Encoding: base64\n"
    b"\n"
    b"JVBERi0x"  # cut: no closing boundary
)


def test_a_malformed_message_is_stored_with_all_that_can_be_recovered(user):
    mailbox = make_mailbox(user, address="team@example.ru")
    message = store(mailbox, MALFORMED)
    assert message.subject == "Отчёт за март"
    assert message.sent_at == datetime(2024, 3, 5, 7, 15, tzinfo=UTC)
    assert message.body_text == "Добрый день, счёт во вложении."
    assert message.attachment_names == ["schet.pdf"]
    participants = sorted(message.participants.values_list("role", "address", "name"))
    assert participants == [
        ("from", "ivan@example.ru", "Ivan"),
        ("from", "maria@example.ru", ""),
        ("to", "team@example.ru", "Работа"),
    ]
