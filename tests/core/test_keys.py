"""Secrets are checked at startup: a FIELD_ENCRYPTION_KEYS entry that is not a Fernet key, or a
placeholder SECRET_KEY with DEBUG off, stops the process with a message naming the setting and
`manage.py generate_keys`, which prints fresh values even while the settings refuse to load."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
HINT = "Run `python manage.py generate_keys` to print fresh values."
OURS = {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL"}


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in OURS}
    clean.update(DJANGO_SETTINGS_MODULE="crm.settings", POSTCARD_VAR_DIR=str(tmp_path))
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def generated(tmp_path: Path, **env: str) -> dict[str, str]:
    result = run(["manage.py", "generate_keys"], tmp_path, **env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_generate_keys_prints_values_the_production_settings_accept(tmp_path):
    # Run on exactly the settings it is the fix for: DEBUG off and change-me secrets.
    keys = generated(tmp_path, DEBUG="0", SECRET_KEY="change-me", FIELD_ENCRYPTION_KEYS="change-me")
    assert set(keys) == {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS"}
    Fernet(keys["FIELD_ENCRYPTION_KEYS"].encode())  # a usable key
    assert keys != generated(tmp_path)  # fresh every time

    check = run(["manage.py", "check"], tmp_path, DEBUG="0", ALLOWED_HOSTS="crm.test", **keys)
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("debug", ["0", "1"])
def test_a_field_key_that_is_not_a_fernet_key_stops_check_naming_the_setting(tmp_path, debug):
    # Before: `check` passed and the first stored mailbox password failed with a Fernet error.
    keys = f"{Fernet.generate_key().decode()},change-me"
    result = run(
        ["manage.py", "check"],
        tmp_path,
        DEBUG=debug,
        SECRET_KEY="s" + Fernet.generate_key().decode() * 2,
        FIELD_ENCRYPTION_KEYS=keys,
    )
    assert result.returncode != 0
    assert (
        "FIELD_ENCRYPTION_KEYS: key 2 of 2 is not a Fernet key (44 characters of URL-safe base64 "
        f"encoding 32 bytes). {HINT}"
    ) in result.stderr
    assert "change-me" not in result.stderr  # a key is never echoed, even a wrong one


def test_an_empty_field_key_list_is_refused(tmp_path):
    result = run(["-c", "import crm.settings"], tmp_path, DEBUG="1", FIELD_ENCRYPTION_KEYS=" , ")
    assert result.returncode != 0
    assert f"FIELD_ENCRYPTION_KEYS is empty: it needs a Fernet key. {HINT}" in result.stderr


@pytest.mark.parametrize("secret", ["change-me", "x" * 60, "django-insecure-" + "a1b2c3d4e5" * 5])
def test_a_placeholder_secret_key_is_refused_when_debug_is_off(tmp_path, secret):
    field_key = Fernet.generate_key().decode()
    load = ["-c", "import crm.settings"]
    result = run(load, tmp_path, DEBUG="0", SECRET_KEY=secret, FIELD_ENCRYPTION_KEYS=field_key)
    assert result.returncode != 0
    expected = "SECRET_KEY looks like a placeholder: it needs at least 50 random characters."
    assert f"{expected} {HINT}" in result.stderr
    # In development any key will do.
    assert run(load, tmp_path, DEBUG="1", SECRET_KEY=secret).returncode == 0
