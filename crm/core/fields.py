"""A text field encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

Keys come from settings.FIELD_ENCRYPTION_KEYS, newest first: the first encrypts and every key
decrypts, so a key can be rotated by prepending a new one and re-saving rows.
"""

from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


class DecryptionError(Exception):
    """The stored value cannot be read with any configured key."""


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    description = "Text encrypted at rest"

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return fernet().encrypt(str(value).encode()).decode("ascii")

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value in (None, ""):
            return value
        try:
            return fernet().decrypt(value.encode("ascii")).decode()
        except InvalidToken:
            raise DecryptionError(
                f"{self.model.__name__}.{self.name} cannot be decrypted: FIELD_ENCRYPTION_KEYS "
                "does not hold the key it was written with."
            ) from None
