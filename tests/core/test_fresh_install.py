"""`manage.py migrate` alone leaves a working install whatever the cache: without REDIS_URL the
cache lives in a database table, which migrate creates (crm/core/migrations/0001_cache_table.py),
so the first saved user does not fail on a missing postcard_cache table."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]

# What a first user does to a fresh install: the save bumps the hierarchy's cached version.
FIRST_SAVE = """
from django.core.cache import caches
from hierarchy.models import User
User.objects.create_user("first", password="a-first-password")
cache = caches["default"]
cache.set("fresh-install", "works")
print(User.objects.count(), cache.get("fresh-install"), type(cache).__name__)
"""


def fresh_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    ours = {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "POSTCARD_VAR_DIR", "DEBUG"}
    env = {k: v for k, v in os.environ.items() if k not in ours}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "crm.settings",  # the product's, not the tests' locmem cache
        "DEBUG": "1",
        "POSTCARD_VAR_DIR": str(tmp_path),
        "DATABASE_URL": database_url,
    }


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def migrate_then_save(env: dict[str, str]) -> None:
    migrated = manage(env, "migrate", "--no-input", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    saved = manage(env, "shell", "-c", FIRST_SAVE)
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.split()[-3:] == ["1", "works", "DatabaseCache"]
    # Running migrate again (as every start does) changes nothing and fails on nothing.
    again = manage(env, "migrate", "--no-input", "-v", "0")
    assert again.returncode == 0, again.stderr


def test_migrate_on_fresh_sqlite_without_redis_leaves_a_working_cache(tmp_path):
    migrate_then_save(fresh_env(tmp_path, f"sqlite:///{tmp_path / 'fresh.sqlite3'}"))


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """An empty database next to the test database, dropped afterwards."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL to a PostgreSQL server")
    params = connection.settings_dict
    server = {
        "host": params["HOST"] or "127.0.0.1",
        "port": params["PORT"] or 5432,
        "user": params["USER"],
        "password": params["PASSWORD"] or None,
    }
    name = f"postcard_fresh_{os.getpid()}"
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    password = f":{server['password']}" if server["password"] else ""
    try:
        yield f"postgres://{server['user']}{password}@{server['host']}:{server['port']}/{name}"
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_on_fresh_postgres_without_redis_leaves_a_working_cache(tmp_path, fresh_postgres):
    migrate_then_save(fresh_env(tmp_path, fresh_postgres))


def test_an_install_migrated_with_redis_then_run_without_it_keeps_working(tmp_path):
    env = fresh_env(tmp_path, f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    with_redis = {**env, "REDIS_URL": "redis://127.0.0.1:1/0"}  # never reached by migrate
    migrated = manage(with_redis, "migrate", "--no-input", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    saved = manage(env, "shell", "-c", FIRST_SAVE)
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.split()[-3:] == ["1", "works", "DatabaseCache"]
