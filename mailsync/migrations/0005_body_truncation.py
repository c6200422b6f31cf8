from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mailsync", "0004_orphans_pending"),
    ]
    # 0006 was written against 0004 while this one was being written: keep one line of history.
    run_before = [
        ("mailsync", "0006_mailbox_is_demo"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="body_truncated_from",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
