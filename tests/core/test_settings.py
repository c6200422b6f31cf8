"""Settings come from the environment and refuse the public development secrets in production."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL"}
    }
    code = (
        "import crm.settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.DEBUG)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_development_defaults_refuse_to_start_when_debug_is_off():
    result = load_settings(DEBUG="0")
    assert result.returncode != 0
    assert "public development defaults" in result.stderr


def test_production_settings_start_with_real_secrets():
    result = load_settings(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),  # "x" * 50 is refused: see test_keys.py
        FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DATABASE_URL="postgres://u:p@db.example:5432/postcard",
        REDIS_URL="redis://cache.example:6379/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "redis://cache.example:6379/0",
        "False",
    ]


def test_embedded_defaults_use_sqlite_and_the_filesystem_broker():
    result = load_settings(DEBUG="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "filesystem://", "True"]


def test_a_number_setting_that_is_not_a_number_names_the_setting():
    result = load_settings(DEBUG="1", MAILBOX_KEPT_CONNECTIONS="lots")
    assert result.returncode != 0
    assert "MAILBOX_KEPT_CONNECTIONS must be a whole number, not 'lots'." in result.stderr
