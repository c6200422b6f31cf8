"""Create the database cache's table, `postcard_cache`, whatever CACHES says today.

Without it, `migrate` alone left an install whose first save failed on the missing table
(CACHES uses Django's DatabaseCache when REDIS_URL is unset). The table is made even when Redis
is configured, so an install migrated with Redis and later run without it still works. Tables
that exist are left alone.
"""

from typing import Any

from django.core.management.commands.createcachetable import Command as CreateCacheTable
from django.db import migrations

TABLE = "postcard_cache"  # as CACHES names it in crm/settings.py


def create_cache_table(apps: Any, schema_editor: Any) -> None:
    command = CreateCacheTable()
    command.verbosity = 0
    command.create_table(schema_editor.connection.alias, TABLE, dry_run=False)


class Migration(migrations.Migration):
    dependencies: list[tuple[str, str]] = []

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
