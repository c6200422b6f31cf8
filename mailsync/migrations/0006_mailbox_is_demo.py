from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("mailsync", "0005_body_truncation"),
    ]

    operations = [
        migrations.AddField(
            model_name="mailbox",
            name="is_demo",
            field=models.BooleanField(default=False),
        ),
    ]
