import pytest
from django.db import connection

from mailsync.models import Mailbox
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_credentials_are_encrypted_in_the_database_row():
    mailbox = Mailbox.objects.create(
        owner=UserFactory(),
        address="a@x.test",
        provider="imap",
        credentials='{"password": "hunter2-secret"}',
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM mailsync_mailbox WHERE id = %s", [mailbox.pk])
        (raw,) = cursor.fetchone()
    assert "hunter2" not in raw
    assert raw.startswith("gAAAA")  # a Fernet token
    assert Mailbox.objects.get(pk=mailbox.pk).credentials == '{"password": "hunter2-secret"}'
