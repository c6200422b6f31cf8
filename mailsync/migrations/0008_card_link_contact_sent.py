"""CardLink.contact_sent: whether the contact sent the message, for the home page's "recent
email from contacts" (one index range per visible mailbox instead of grouping all their mail).

Filled from the participants, then indexed CONCURRENTLY on PostgreSQL (atomic = False).
"""

from django.db import migrations, models

from crm.core.migration_operations import AddIndexConcurrently

FILL = """
UPDATE mailsync_cardlink SET contact_sent = TRUE
WHERE EXISTS (
    SELECT 1 FROM mailsync_participant p
    JOIN contacts_contactemail ce ON ce.address = p.address
    WHERE p.message_id = mailsync_cardlink.message_id AND p.role = 'from'
      AND ce.contact_id = mailsync_cardlink.contact_id)
"""


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("mailsync", "0007_card_links"),
    ]

    operations = [
        migrations.AddField(
            model_name="cardlink",
            name="contact_sent",
            field=models.BooleanField(default=False),
        ),
        migrations.RunSQL(FILL, reverse_sql=migrations.RunSQL.noop),
        AddIndexConcurrently(
            model_name="cardlink",
            index=models.Index(
                condition=models.Q(("contact_sent", True)),
                fields=["owner", "-sent_at", "-message"],
                include=("dedupe_key",),
                name="card_link_from_contact",
            ),
        ),
    ]
