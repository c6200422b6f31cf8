"""Tiny helpers that read settings from the environment (healthchecks style)."""

import os

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# The fix for every refused secret below; it runs even while the settings refuse to load.
KEYS_HINT = "Run `python manage.py generate_keys` to print fresh values."


def require_fernet_keys(name: str, keys: list[str]) -> None:
    """Refuse a key Fernet cannot use, instead of failing later at the first stored password."""
    from cryptography.fernet import Fernet

    if not keys:
        raise ImproperlyConfigured(f"{name} is empty: it needs a Fernet key. {KEYS_HINT}")
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except ValueError:
            # Never echo the value: it may be a real key with a typo.
            raise ImproperlyConfigured(
                f"{name}: key {position} of {len(keys)} is not a Fernet key (44 characters of "
                f"URL-safe base64 encoding 32 bytes). {KEYS_HINT}"
            ) from None


def require_strong_secret_key(name: str, value: str) -> None:
    """Refuse placeholders such as `change-me`, by the rule of Django's own deploy check (W009)."""
    if len(value) < 50 or len(set(value)) < 5 or value.startswith("django-insecure-"):
        raise ImproperlyConfigured(
            f"{name} looks like a placeholder: it needs at least 50 random characters. {KEYS_HINT}"
        )
