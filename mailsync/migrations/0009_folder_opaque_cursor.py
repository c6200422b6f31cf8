"""Folder cursors become one opaque string written by the provider (issue 10): IMAP's
UIDVALIDITY, last UID, HIGHESTMODSEQ and UIDNEXT columns move into it, in the form
mailsync.providers.imap_sessions.ImapCursor.encode() writes, so no mailbox syncs again."""

import json

from django.db import migrations, models


def columns_to_cursor(apps, schema_editor):
    Folder = apps.get_model("mailsync", "Folder")
    synced = Folder.objects.exclude(uidvalidity=None, last_uid=0)
    for folder in synced.iterator(chunk_size=2000):
        folder.cursor = json.dumps(
            [folder.uidvalidity, folder.last_uid, folder.highest_modseq, folder.next_uid]
        )
        folder.save(update_fields=["cursor"])


def cursor_to_columns(apps, schema_editor):
    Folder = apps.get_model("mailsync", "Folder")
    for folder in Folder.objects.exclude(cursor="").iterator(chunk_size=2000):
        try:
            validity, last_uid, modseq, next_uid = json.loads(folder.cursor)
        except (TypeError, ValueError):
            continue  # not an IMAP cursor: that folder syncs from scratch
        folder.uidvalidity, folder.last_uid = validity, last_uid
        folder.highest_modseq, folder.next_uid = modseq, next_uid
        folder.save(update_fields=["uidvalidity", "last_uid", "highest_modseq", "next_uid"])


class Migration(migrations.Migration):
    dependencies = [("mailsync", "0008_card_link_contact_sent")]

    operations = [
        migrations.AddField(
            model_name="folder", name="cursor", field=models.TextField(blank=True)
        ),
        migrations.RunPython(columns_to_cursor, cursor_to_columns, elidable=True),
        migrations.RemoveField(model_name="folder", name="uidvalidity"),
        migrations.RemoveField(model_name="folder", name="last_uid"),
        migrations.RemoveField(model_name="folder", name="next_uid"),
        migrations.RemoveField(model_name="folder", name="highest_modseq"),
        migrations.RemoveField(model_name="folder", name="delta_token"),
    ]
