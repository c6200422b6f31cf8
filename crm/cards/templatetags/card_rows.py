"""The email rows of a card, rendered in Python.

A card page shows up to 25 conversations, each with every email in it: as template includes
that was some 400 includes and 40,000 variable lookups per page, most of a card's time (the
benchmark in benchmarks/card_page.py measured it). Same markup, a tenth of the work. User text
goes through the same `isolate` filters as in templates, so it can neither inject markup nor
reorder the page (crm/core/bidi.py).
"""

from __future__ import annotations

from functools import cache
from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils import dateformat
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime

from crm.core.templatetags.postcard import isolate, isolate_text
from hierarchy.selectors import Reason
from mailsync.models import Direction
from mailsync.selectors import CardEmail, Holder

register = template.Library()

RECIPIENTS_SHOWN = 3
CHIPS_SHOWN = 2  # from three holders on: the closest one and "+N"


@cache
def _url_pattern(name: str) -> str:
    # One reverse() per page instead of one per row: ids are the only part that changes.
    return reverse(name, args=[987654321]).replace("987654321", "{}")


def _role(holder: Holder) -> str:
    return "you" if holder.reason == Reason.OWN else str(holder.reason.label)


@register.simple_tag
def people(item: CardEmail) -> SafeString:
    """Sender → the first recipients, "+N" for the rest."""
    sender = item.sender
    recipients = item.recipients
    shown = format_html_join(
        ", ", "{}", ((isolate(p.name or p.address),) for p in recipients[:RECIPIENTS_SHOWN])
    )
    more = len(recipients) - RECIPIENTS_SHOWN
    return format_html(
        '<span class="people">{} → {}{}</span>',
        isolate(sender.name or sender.address) if sender else "",
        shown,
        f" +{more}" if more > 0 else "",
    )


def _chip(holder: Holder) -> SafeString:
    return format_html(
        '<span class="holder" title="Visible to you as: {}">{} · {}</span>',
        holder.reason.label,
        isolate(holder.name),
        _role(holder),
    )


@register.simple_tag
def holders(chips: list[Holder]) -> SafeString:
    """Two mailboxes as chips; from three on, the closest one and "+N" (all in a tooltip)."""
    if len(chips) <= CHIPS_SHOWN:
        return format_html(
            '<span class="holders">{}</span>',
            format_html_join("", "{}", ((_chip(h),) for h in chips)),
        )
    others = ", ".join(f"{isolate_text(h.name)} ({_role(h)})" for h in chips[1:])
    return format_html(
        '<span class="holders">{}<span class="holder more" title="Also in the mailboxes of {}">'
        "+{}</span></span>",
        _chip(chips[0]),
        others,
        len(chips) - 1,
    )


def _when(item: CardEmail) -> SafeString:
    sent_at = localtime(item.message.sent_at)  # the viewer's zone (UserTimeZoneMiddleware)
    return format_html(
        '<time datetime="{}">{}</time>',
        dateformat.format(sent_at, "c"),
        dateformat.format(sent_at, "M j, Y, H:i"),
    )


@register.simple_tag(takes_context=True)
def email_row(context: template.Context, item: CardEmail) -> SafeString:
    """One email: a summary line that opens on its body (fetched when opened)."""
    message = item.message
    came_from = quote(context["request"].get_full_path(), safe="/")  # as |urlencode does
    outgoing = message.direction == Direction.OUTGOING
    held_by = ""
    if len(item.holders) > CHIPS_SHOWN:
        held_by = format_html(
            '<p class="held-by">In the mailboxes of {}</p>',
            format_html_join(", ", "{} ({})", ((isolate(h.name), _role(h)) for h in item.holders)),
        )
    return format_html(
        '<details class="email" data-body-url="{}">\n'
        '  <summary class="email-summary">\n'
        '    <span class="dir {}" title="{}">{}</span>\n'
        '    <span class="email-main">\n'
        '      <span class="subject">{}</span>\n'
        "      {}\n"
        "    </span>\n"
        '    <span class="email-meta">\n'
        "      {}\n"
        "      {}\n"
        "    </span>\n"
        "  </summary>\n"
        "  {}\n"
        '  <div class="email-body" aria-live="polite"></div>\n'
        '  <p class="open-full"><a href="{}?from={}">Open the full message</a></p>\n'
        "</details>",
        _url_pattern("message-body").format(message.pk),
        message.direction,
        message.get_direction_display(),
        "↗ Sent" if outgoing else "↙ Received",
        isolate(message.subject or "(no subject)"),
        people(item),
        _when(item),
        holders(item.holders),
        held_by,
        _url_pattern("message").format(message.pk),
        came_from,
    )
