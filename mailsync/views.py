from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from hierarchy.models import User
from mailsync.models import Message
from mailsync.selectors import visible_message
from mailsync.services import message_body_opened


def opened_message_or_404(request: HttpRequest, message_id: int) -> Message:
    """The message whose body is about to be shown, audited when it is a colleague's.

    Also used by the full message page (crm/cards/views.py), which links to contact cards.
    """
    viewer: User = request.user  # type: ignore[assignment]
    message = visible_message(viewer=viewer, message_id=message_id)
    if message is None:
        raise Http404("No such message, or it is not in a mailbox you may see.")
    message_body_opened(viewer=viewer, message=message)
    return message


@login_required
def message_body_fragment(request: HttpRequest, message_id: int) -> HttpResponse:
    """The plain-text body alone, fetched when a card row is expanded (progressive enhancement)."""
    message = opened_message_or_404(request, message_id)
    return render(request, "mailsync/_body.html", {"message": message})
