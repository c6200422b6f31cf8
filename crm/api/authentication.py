from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from hierarchy.models import User


class PostcardTokenAuthentication(TokenAuthentication):
    """DRF tokens, refused for sync-only users (they hold a mailbox, not a login)."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        user, token = super().authenticate_credentials(key)
        if isinstance(user, User) and user.is_sync_only:
            raise exceptions.AuthenticationFailed("This account cannot sign in.")
        return user, token
