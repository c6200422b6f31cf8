"""Login lockout (django-axes) and the Content-Security-Policy (django-csp), set up for Postcard.

The settings are in crm/settings.py (AXES_*, CONTENT_SECURITY_POLICY); this module holds the
few pieces those libraries let a project supply: how to find the client's address, what a
locked-out person sees, and which library-made pages need a looser policy.
"""

import ipaddress
from typing import Any

from axes.backends import AxesStandaloneBackend
from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.urls import reverse


class LockoutBackend(AxesStandaloneBackend):
    """Refuses a locked-out username+address before any password is checked."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        # Every login over the web (login page, admin, API token) passes its request. Only
        # in-process callers pass none (the test client's login(), a shell): they have no
        # address to lock, so the password check alone decides, as without this backend.
        if request is None:
            return None
        super().authenticate(request, username, password, **kwargs)
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The address lockouts count by (AXES_CLIENT_IP_CALLABLE).

    X-Forwarded-For is anyone's to send, so it counts only behind our own proxy (BEHIND_PROXY),
    and then only its last entry: the one that proxy appended. Earlier entries are the client's
    own claims. Anything that is not an address falls back to the connection's.
    """
    if settings.BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            pass
    remote: str | None = request.META.get("REMOTE_ADDR")
    return remote


def lockout_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_message() -> str:
    minutes = lockout_minutes()
    return (
        "Too many failed logins for this username from your address. Try again in "
        f"{minutes} minute{'s' if minutes != 1 else ''}, or ask an administrator to unlock it."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """A locked-out login's answer (AXES_LOCKOUT_CALLABLE): JSON on the API, else the login form."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": lockout_message()}, status=429)
    else:
        # The admin login posts here too: the same page, whose form posts back to this URL.
        username = credentials.get("username", "") if isinstance(credentials, dict) else ""
        context = {
            "form": AuthenticationForm(request, initial={"username": username}),
            "lockout_message": lockout_message(),
            "next": request.POST.get("next", request.GET.get("next", "")),
        }
        response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(lockout_minutes() * 60)
    return response


class PostcardCSPMiddleware(CSPMiddleware):
    """The policy of settings.CONTENT_SECURITY_POLICY, with inline styles allowed only where a
    library writes them (admin, the API docs). Scripts stay same-origin on every page."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        extra = _library_page_extras(request.path)
        if extra:
            parts.update = {**extra, **(parts.update or {})}
        return parts


def _library_page_extras(path: str) -> dict[str, list[str]]:
    if path.startswith(reverse("admin:index")):
        # django-mptt indents the user tree with style="" attributes; style elements and
        # scripts stay same-origin only.
        return {"style-src-attr": [UNSAFE_INLINE]}
    if path.startswith(reverse("api-docs")):
        # Swagger UI's page template carries a <style> element; its scripts are static files.
        return {"style-src": [UNSAFE_INLINE]}
    return {}
