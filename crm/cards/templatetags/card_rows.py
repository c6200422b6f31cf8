"""The email rows of a card, rendered in Python.

A card page shows up to 25 conversations, each summed up by its newest email (the emails of
one are fetched when it is opened). As template includes a page of rows was some 400 includes
and 40,000 variable lookups, most of a card's time (benchmarks/card_page.py). This builds
the same markup from plain strings: every piece of user text is escaped with `_text` and
isolated with `_bdi` (the `isolate` filter's rule, from crm/core/bidi.py), so it can neither
inject markup nor reorder the page. Django's own format_html and date filter cost more than
the rest of the row together.
"""

from __future__ import annotations

from functools import cache
from html import escape
from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import localtime

from crm.core.bidi import FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE, contained
from hierarchy.selectors import Reason
from mailsync.models import Direction
from mailsync.selectors import CardConversation, CardEmail, Holder

register = template.Library()

RECIPIENTS_SHOWN = 3
CHIPS_SHOWN = 2  # from three holders on: the closest one and "+N"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _bdi(value: object) -> str:
    """User text in <bdi>, as the `isolate` filter writes it."""
    return f"<bdi>{_text(contained(str(value)))}</bdi>"


def _bdi_text(value: object) -> str:
    """User text between FSI and PDI, for attributes, as `isolate_text` writes it."""
    return f"{FIRST_STRONG_ISOLATE}{_text(contained(str(value)))}{POP_DIRECTIONAL_ISOLATE}"


def _safe(html: str) -> SafeString:
    return mark_safe(html)  # noqa: S308 (every value in it went through _text, _bdi or _bdi_text)


@cache
def _url_pattern(name: str) -> str:
    # One reverse() per process instead of one per row: the id is the only part that changes.
    return reverse(name, args=[987654321]).replace("987654321", "{}")


def _role(holder: Holder) -> str:
    return "you" if holder.reason == Reason.OWN else str(holder.reason.label)


def _people(item: CardEmail) -> str:
    """Sender → the first recipients, "+N" for the rest."""
    sender = item.sender
    recipients = item.recipients
    shown = ", ".join(_bdi(p.name or p.address) for p in recipients[:RECIPIENTS_SHOWN])
    more = len(recipients) - RECIPIENTS_SHOWN
    return (
        f'<span class="people">{_bdi(sender.name or sender.address) if sender else ""} → '
        f"{shown}{f' +{more}' if more > 0 else ''}</span>"
    )


def _chip(holder: Holder) -> str:
    return (
        f'<span class="holder" title="Visible to you as: {_text(holder.reason.label)}">'
        f"{_bdi(holder.name)} · {_text(_role(holder))}</span>"
    )


def _holders(chips: list[Holder]) -> str:
    """Two mailboxes as chips; from three on, the closest one and "+N" (all in a tooltip)."""
    if len(chips) <= CHIPS_SHOWN:
        return f'<span class="holders">{"".join(_chip(h) for h in chips)}</span>'
    others = ", ".join(f"{_bdi_text(h.name)} ({_text(_role(h))})" for h in chips[1:])
    return (
        f'<span class="holders">{_chip(chips[0])}<span class="holder more" '
        f'title="Also in the mailboxes of {others}">+{len(chips) - 1}</span></span>'
    )


def _when(item: CardEmail) -> str:
    """The date as the `date` filter writes "M j, Y, H:i", in the viewer's time zone."""
    at = localtime(item.message.sent_at)
    shown = f"{MONTHS[at.month - 1]} {at.day}, {at.year}, {at:%H:%M}"
    return f'<time datetime="{at.isoformat()}">{shown}</time>'


def _summary(label: str, item: CardEmail, holders: list[Holder]) -> str:
    """The line a row shows closed: what it is, subject, people, date and mailboxes."""
    return (
        '  <summary class="email-summary">\n'
        f"    {label}\n"
        '    <span class="email-main">\n'
        f'      <span class="subject">{_bdi(item.message.subject or "(no subject)")}</span>\n'
        f"      {_people(item)}\n"
        "    </span>\n"
        '    <span class="email-meta">\n'
        f"      {_when(item)}\n"
        f"      {_holders(holders)}\n"
        "    </span>\n"
        "  </summary>\n"
    )


@register.simple_tag(takes_context=True)
def email_row(context: template.Context, item: CardEmail) -> SafeString:
    """One email: a summary line that opens on its body (fetched when opened)."""
    message = item.message
    back_to = context.get("came_from") or context["request"].get_full_path()
    came_from = quote(back_to, safe="/")  # as |urlencode does
    outgoing = message.direction == Direction.OUTGOING
    direction = (
        f'<span class="dir {_text(message.direction)}" '
        f'title="{_text(message.get_direction_display())}">'
        f"{'↗ Sent' if outgoing else '↙ Received'}</span>"
    )
    held_by = ""
    if len(item.holders) > CHIPS_SHOWN:
        named = ", ".join(f"{_bdi(h.name)} ({_text(_role(h))})" for h in item.holders)
        held_by = f'<p class="held-by">In the mailboxes of {named}</p>'
    body_url = _url_pattern("message-body").format(message.pk)
    return _safe(
        f'<details class="email" data-fragment-url="{body_url}" '
        'data-fragment-error="The message could not be loaded.">\n'
        f"{_summary(direction, item, item.holders)}"
        f"  {held_by}\n"
        '  <div class="email-body fragment" aria-live="polite"></div>\n'
        f'  <p class="open-full"><a href="{_url_pattern("message").format(message.pk)}'
        f'?from={came_from}">Open the full message</a></p>\n'
        "</details>"
    )


@register.simple_tag(takes_context=True)
def conversation_row(context: template.Context, conversation: CardConversation) -> SafeString:
    """A conversation summed up by its newest email; its emails are fetched when it is opened,
    and without JavaScript its link opens them on a page of their own."""
    count = conversation.email_count
    # The view's `conversation_url`: this card's conversation page, "{}" for the key.
    link = _text(str(context["conversation_url"]).format(conversation.latest.message.thread_key))
    label = (
        f'<span class="dir thread-count" title="{count} emails in this conversation">'
        f"{count} emails</span>"
    )
    return _safe(
        f'<details class="thread" data-fragment-url="{link}?rows=1" '
        'data-fragment-error="The conversation could not be loaded.">\n'
        f"{_summary(label, conversation.latest, conversation.holders)}"
        '  <ul class="emails thread-emails fragment" '
        'aria-label="Emails in this conversation, newest first" aria-live="polite"></ul>\n'
        f'  <p class="open-full"><a href="{link}">Open the conversation ({count} emails)</a></p>\n'
        "</details>"
    )
