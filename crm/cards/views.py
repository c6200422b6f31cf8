import re

from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from crm.accounts.models import Account
from crm.activities.selectors import (
    CountOf,
    account_activity_counts,
    contact_activity_counts,
    meetings_for_account,
    meetings_for_contact,
    tasks_for_account,
    tasks_for_contact,
)
from crm.cards.selectors import (
    card_activity,
    conversation_on_card,
    message_back_link,
    message_participants,
)
from crm.contacts.models import Contact
from crm.core.pagination import querystring_without_page
from mailsync.card_pages import CardOf, PagePosition, parse_cursor
from mailsync.views import opened_message_or_404


def _position(request: HttpRequest) -> PagePosition:
    """The keyset page asked for; a mangled link shows the newest page rather than an error."""
    try:
        return PagePosition(
            before=parse_cursor(request.GET.get("before")),
            after=parse_cursor(request.GET.get("after")),
        )
    except ValueError:
        return PagePosition()


ACCOUNT_CONTACTS_SHOWN = 20


@login_required
def contact_card(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = get_object_or_404(
        Contact.objects.select_related("account", "owner")
        .prefetch_related("emails")
        .annotate(**contact_activity_counts()),
        pk=contact_id,
    )
    activity = card_activity(
        viewer=request.user,  # type: ignore[arg-type]
        card=CardOf.contact(contact.pk),
        tab=request.GET.get("tab", "emails"),
        page_number=request.GET.get("page"),
        position=_position(request),
        meetings=meetings_for_contact(contact.pk),
        tasks=tasks_for_contact(contact.pk),
        meeting_count=contact.meeting_count,  # type: ignore[attr-defined]
        task_count=contact.task_count,  # type: ignore[attr-defined]
    )
    return render(
        request,
        "cards/contact.html",
        {
            "contact": contact,
            "activity": activity,
            "querystring": querystring_without_page(request),
            "conversation_url": _conversation_url("contact-conversation", contact.pk),
        },
    )


@login_required
def account_card(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(
        Account.objects.select_related("owner")
        .prefetch_related("domains")
        .annotate(
            contact_count=CountOf(Contact.objects.filter(account_id=OuterRef("pk"))),
            **account_activity_counts(),
        ),
        pk=account_id,
    )
    # A customer of long standing has hundreds of contacts: the card names the first ones.
    shown = account.contacts.order_by("last_name", "first_name", "pk")[:ACCOUNT_CONTACTS_SHOWN]
    activity = card_activity(
        viewer=request.user,  # type: ignore[arg-type]
        card=CardOf.account(account.pk),
        tab=request.GET.get("tab", "emails"),
        page_number=request.GET.get("page"),
        position=_position(request),
        meetings=meetings_for_account(account.pk),
        tasks=tasks_for_account(account.pk),
        meeting_count=account.meeting_count,  # type: ignore[attr-defined]
        task_count=account.task_count,  # type: ignore[attr-defined]
    )
    return render(
        request,
        "cards/account.html",
        {
            "account": account,
            "contacts": shown,
            "contact_count": account.contact_count,  # type: ignore[attr-defined]
            "activity": activity,
            "querystring": querystring_without_page(request),
            "conversation_url": _conversation_url("account-conversation", account.pk),
        },
    )


_THREAD_KEY = re.compile(r"[0-9a-f]{64}")  # Message.thread_key: a SHA-256 in hex
_KEY_PLACEHOLDER = "0" * 64


def _conversation_url(name: str, card_pk: int) -> str:
    """The URL of the card's conversations with "{}" for the key: one reverse() per page."""
    return reverse(name, args=[card_pk, _KEY_PLACEHOLDER]).replace(_KEY_PLACEHOLDER, "{}")


@login_required
def contact_conversation(request: HttpRequest, contact_id: int, thread_key: str) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=contact_id)
    card = CardOf.contact(contact.pk)
    return _conversation(request, card, thread_key, contact.get_absolute_url(), contact.full_name)


@login_required
def account_conversation(request: HttpRequest, account_id: int, thread_key: str) -> HttpResponse:
    account = get_object_or_404(Account, pk=account_id)
    card = CardOf.account(account.pk)
    return _conversation(request, card, thread_key, account.get_absolute_url(), account.name)


def _conversation(
    request: HttpRequest, card: CardOf, thread_key: str, card_url: str, card_name: str
) -> HttpResponse:
    """A conversation of a card opened: its rows for the card page (`?rows=1`, fetched when
    it is expanded), else a page of its own (without JavaScript, or a link kept)."""
    conversation = (
        conversation_on_card(viewer=request.user, card=card, thread_key=thread_key)  # type: ignore[arg-type]
        if _THREAD_KEY.fullmatch(thread_key)
        else None
    )
    if conversation is None:
        raise Http404("No such conversation in the mailboxes you may see.")
    rows_only = request.GET.get("rows") == "1"
    return render(
        request,
        "cards/_conversation_emails.html" if rows_only else "cards/conversation.html",
        {
            "conversation": conversation,
            "card_url": card_url,
            "card_name": card_name,
            # Where "Open the full message" comes back to: the card the rows are shown on.
            "came_from": card_url if rows_only else request.get_full_path(),
        },
    )


@login_required
def message_page(request: HttpRequest, message_id: int) -> HttpResponse:
    """A whole message, with a way back to the card it was opened from."""
    message = opened_message_or_404(request, message_id)
    participants = message_participants(message)
    back = message_back_link(came_from=_came_from(request), participants=participants)
    return render(
        request,
        "mailsync/message.html",
        {"message": message, "participants": participants, "back": back},
    )


def _came_from(request: HttpRequest) -> str | None:
    """`?from=`: the page of this site that linked here; anything else is ignored."""
    target = request.GET.get("from", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None
