"""CardLink: the index the cards read (mailsync/card_links.py).

The table is created bare, filled from the mail and contacts already there, and only then
indexed: on PostgreSQL every index is built CONCURRENTLY (atomic = False), so a large install
keeps syncing and serving cards while it migrates; the old code does not read this table.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from crm.core.migration_operations import AddIndexConcurrently, AddUniqueConstraintConcurrently

# As it stood when written (mailsync/card_links.py has the live copy).
BACKFILL = """
INSERT INTO mailsync_cardlink (contact_id, account_id, message_id, owner_id, sent_at, thread_key, dedupe_key)
SELECT DISTINCT ce.contact_id, c.account_id, m.id, mb.owner_id, m.sent_at, m.thread_key, m.dedupe_key
FROM contacts_contactemail ce
JOIN contacts_contact c ON c.id = ce.contact_id
JOIN mailsync_participant p ON p.address = ce.address
JOIN mailsync_message m ON m.id = p.message_id
JOIN mailsync_mailbox mb ON mb.id = m.mailbox_id
WHERE NOT m.is_internal
"""

NEWEST_FIRST = ["-sent_at", "-message"]
ACCOUNT_SET = models.Q(("account__isnull", False))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0002_initial"),
        ("contacts", "0002_initial"),
        ("mailsync", "0006_mailbox_is_demo"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CardLink",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("sent_at", models.DateTimeField()),
                ("thread_key", models.CharField(max_length=64)),
                ("dedupe_key", models.CharField(max_length=64)),
                ("account", models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="accounts.account")),
                ("contact", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="contacts.contact")),
                ("message", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="card_links", to="mailsync.message")),
                ("owner", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.RunSQL(BACKFILL, reverse_sql=migrations.RunSQL.noop),
        AddUniqueConstraintConcurrently(
            model_name="cardlink",
            constraint=models.UniqueConstraint(fields=("contact", "message"), name="card_link_unique"),
        ),
        AddIndexConcurrently(
            model_name="cardlink",
            index=models.Index(fields=["contact", "owner", *NEWEST_FIRST], include=("thread_key", "dedupe_key"), name="card_link_contact"),
        ),
        AddIndexConcurrently(
            model_name="cardlink",
            index=models.Index(condition=ACCOUNT_SET, fields=["account", "owner", *NEWEST_FIRST], include=("thread_key", "dedupe_key"), name="card_link_account"),
        ),
        AddIndexConcurrently(
            model_name="cardlink",
            index=models.Index(fields=["contact", "thread_key", *NEWEST_FIRST], include=("owner", "dedupe_key"), name="card_link_contact_thread"),
        ),
        AddIndexConcurrently(
            model_name="cardlink",
            index=models.Index(condition=ACCOUNT_SET, fields=["account", "thread_key", *NEWEST_FIRST], include=("owner", "dedupe_key"), name="card_link_account_thread"),
        ),
    ]
