from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mailsync", "0004_orphans_pending"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="body_truncated_from",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
