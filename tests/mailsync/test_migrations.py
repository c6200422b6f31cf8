"""Migrations that move sync state keep every mailbox where it stood: no mailbox imports again."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from mailsync.providers.imap_sessions import ImapCursor
from tests.factories import UserFactory

BEFORE = ("mailsync", "0008_card_link_contact_sent")
AFTER = ("mailsync", "0009_folder_opaque_cursor")


def migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


@pytest.fixture
def back_to_latest():
    """Whatever the test did, the database ends on the latest migration for the next tests."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("mailsync"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_latest")
def test_imap_folder_state_becomes_the_cursor_the_provider_reads():
    user = UserFactory()  # the user table is not part of these migrations
    apps = migrate(BEFORE)
    mailbox = apps.get_model("mailsync", "Mailbox").objects.create(
        owner_id=user.pk, address="ann@acme.test", provider="imap"
    )
    Folder = apps.get_model("mailsync", "Folder")
    Folder.objects.create(
        mailbox=mailbox,
        name="INBOX",
        uidvalidity=1700000001,
        last_uid=4242,
        highest_modseq=99001,
        next_uid=4243,
    )
    Folder.objects.create(mailbox=mailbox, name="Half-imported", last_uid=17)
    Folder.objects.create(mailbox=mailbox, name="Never synced")

    apps = migrate(AFTER)

    cursors = dict(apps.get_model("mailsync", "Folder").objects.values_list("name", "cursor"))
    assert ImapCursor.decode(cursors["INBOX"]) == ImapCursor(1700000001, 4242, 99001, 4243)
    assert ImapCursor.decode(cursors["Half-imported"]) == ImapCursor(last_uid=17)
    assert cursors["Never synced"] == ""

    apps = migrate(BEFORE)  # and back, for a rollback of the release
    inbox = apps.get_model("mailsync", "Folder").objects.get(name="INBOX")
    assert (inbox.uidvalidity, inbox.last_uid, inbox.highest_modseq, inbox.next_uid) == (
        1700000001,
        4242,
        99001,
        4243,
    )


def test_an_unreadable_cursor_means_start_over():
    for text in ("", "garbage", "[1, 2]", '["x", 0, null, null]', "[true, 0, null, null]"):
        assert ImapCursor.decode(text) == ImapCursor()
    cursor = ImapCursor(validity=7, last_uid=3, highest_modseq=None, next_uid=4)
    assert ImapCursor.decode(cursor.encode()) == cursor
