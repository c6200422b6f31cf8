"""Writes about synchronized mail that are not the sync itself."""

from hierarchy.models import User
from mailsync.models import BodyAccess, Message


def message_body_opened(*, viewer: User, message: Message) -> None:
    """Record that `viewer` read a colleague's message body (own mail is not audited)."""
    owner_id = message.mailbox.owner_id
    if owner_id == viewer.pk:
        return
    BodyAccess.objects.create(
        viewer=viewer,
        message=message,
        mailbox_owner_id=owner_id,
        message_id_header=message.message_id,
    )
