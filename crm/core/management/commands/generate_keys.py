"""`manage.py generate_keys`: fresh SECRET_KEY and FIELD_ENCRYPTION_KEYS, in env-file format.

It needs no working settings (manage.py runs it before loading them), since it is the fix the
settings' refusals point to.
"""

import secrets
from typing import Any

from cryptography.fernet import Fernet
from django.core.management.base import BaseCommand


def fresh_keys() -> str:
    return (
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"FIELD_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
    )


class Command(BaseCommand):
    help = "Print a fresh SECRET_KEY and Fernet key as lines for .env (nothing is stored)."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(
            "# Fresh secrets for .env or the environment. To rotate FIELD_ENCRYPTION_KEYS, put\n"
            "# the new key first and keep the old ones after it (comma-separated).\n"
            + fresh_keys(),
            ending="",
        )
