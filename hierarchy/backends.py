from typing import TYPE_CHECKING

from django.contrib.auth.backends import ModelBackend

from hierarchy.models import User

if TYPE_CHECKING:
    from django.contrib.auth.models import _AnyUser


class PostcardBackend(ModelBackend):
    """Django's backend, refusing sync-only users: they hold a mailbox, not a login."""

    def user_can_authenticate(self, user: "_AnyUser | None") -> bool:
        if isinstance(user, User) and user.is_sync_only:
            return False
        return super().user_can_authenticate(user)
