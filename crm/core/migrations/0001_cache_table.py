"""Create the database cache table when CACHES uses Django's DatabaseCache (no REDIS_URL).

Without it, `migrate` alone left an install whose first save failed on the missing table.
createcachetable skips tables that exist and caches of other backends, so this is a no-op with
Redis. Switching to the database cache later needs `manage.py createcachetable` once (README).
"""

from typing import Any

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps: Any, schema_editor: Any) -> None:
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies: list[tuple[str, str]] = []

    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop)]
