"""A text field encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

Keys come from settings.FIELD_ENCRYPTION_KEYS, newest first: the first encrypts and every key
decrypts, so a key can be rotated by prepending a new one and re-saving rows.
"""

from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models
from django.db.models.query_utils import DeferredAttribute


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in keys])


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


class DecryptionError(Exception):
    """The stored value cannot be read with any configured key."""


class Ciphertext(str):
    """A value as stored, not decrypted yet: saved again as it is."""


class DecryptOnRead(DeferredAttribute):
    """Decrypts the first time the attribute is read, not when the row is loaded.

    A page that loads a row with an encrypted field but never reads it (a card showing whose
    mailbox holds an email) never decrypts it, so a missing or rotated-away key breaks only
    what really needs the secret (the sync, the settings page), with a clear error there.
    """

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, Ciphertext):
            value = self.field.decrypt(value)  # type: ignore[attr-defined]
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    description = "Text encrypted at rest"
    descriptor_class = DecryptOnRead

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Ciphertext):
            return str(value)
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return fernet().encrypt(str(value).encode()).decode("ascii")

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value in (None, ""):
            return value
        return Ciphertext(value)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # The value as held: saving a row whose secret was never read needs no key.
        if self.attname in model_instance.__dict__:
            return model_instance.__dict__[self.attname]
        return super().pre_save(model_instance, add)

    def decrypt(self, value: str) -> str:
        try:
            return fernet().decrypt(value.encode("ascii")).decode()
        except InvalidToken:
            raise DecryptionError(
                f"{self.model.__name__}.{self.name} cannot be decrypted: FIELD_ENCRYPTION_KEYS "
                "does not hold the key it was written with."
            ) from None

    def is_set(self, instance: models.Model) -> bool:
        """Whether the row holds a value, without decrypting it."""
        value = instance.__dict__.get(self.attname)
        if self.attname not in instance.__dict__:
            value = DeferredAttribute.__get__(getattr(type(instance), self.attname), instance)
        return bool(value)
