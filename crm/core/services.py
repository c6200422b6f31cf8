"""Writes of the signed-in user's own preferences."""

from django.core.exceptions import ValidationError

from hierarchy.models import User


def user_preferences_update(*, user: User, time_zone: str) -> User:
    # The model field's own checks (a known zone, the length): a bad name never gets stored.
    try:
        user.time_zone = User._meta.get_field("time_zone").clean(time_zone, user)
    except ValidationError as error:
        raise ValidationError({"time_zone": error.messages}) from error
    user.save(update_fields=["time_zone"])
    return user
