from django import template
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

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
