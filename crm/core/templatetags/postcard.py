from django import template
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeData, SafeString, mark_safe

from crm.core.bidi import FIRST_STRONG_ISOLATE, POP_DIRECTIONAL_ISOLATE, contained

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_header(context: template.Context, key: str, label: str) -> SafeString:
    """A column header linking to this list sorted by `key`, toggling the direction."""
    request: HttpRequest = context["request"]
    current = request.GET.get("sort", "name")
    params = request.GET.copy()
    params.pop("page", None)
    params["sort"] = f"-{key}" if current == key else key
    arrow = " ↑" if current == key else " ↓" if current == f"-{key}" else ""
    return format_html('<a href="?{}">{}{}</a>', params.urlencode(), label, arrow)


@register.filter
def break_after_at(address: str) -> SafeString:
    """An address that may wrap after the @ rather than in the middle of the domain."""
    local, at, domain = str(address).rpartition("@")
    if not at:
        return format_html("{}", address)
    return format_html("{}@<wbr>{}", local, domain)


@register.filter
def initials(name: str) -> str:
    parts = [p for p in str(name).split() if p[:1].isalnum()]
    return "".join(p[0] for p in parts[:2]).upper() or "?"


@register.filter
def avatar_hue(name: str) -> int:
    """A stable colour per name, so the same person always gets the same avatar."""
    return sum(map(ord, str(name))) * 47 % 360


@register.filter
def avatar_tone(name: str) -> str:
    """The avatar's colour as a class (hue-0 … hue-11): a style attribute would break the CSP."""
    return f"hue-{avatar_hue(name) // 30}"


# Bidirectional text (crm/core/bidi.py): every user-supplied inline value goes through
# `isolate` so a U+202E in a name cannot reverse the rest of the line.


@register.filter
def isolate(value: object) -> SafeString:
    """User-supplied text in <bdi>: shown as written, unable to reorder what surrounds it."""
    return format_html("<bdi>{}</bdi>", _contained(value))


@register.filter
def isolate_text(value: object) -> SafeString:
    """The same for places that take no markup (<title>, attributes): FSI … PDI characters."""
    return format_html("{}{}{}", FIRST_STRONG_ISOLATE, _contained(value), POP_DIRECTIONAL_ISOLATE)


def _contained(value: object) -> str:
    text = contained(str(value))
    # Only bidi controls were dropped or added: markup already marked safe stays safe.
    return mark_safe(text) if isinstance(value, SafeData) else text  # noqa: S308
