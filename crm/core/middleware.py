"""Per-request settings taken from the signed-in user."""

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class UserTimeZoneMiddleware:
    """Show times, and read typed times, in the signed-in user's time zone.

    Django converts aware datetimes to the *current* time zone in templates and form fields, so
    activating the user's zone here is all pages and forms need. Must follow
    AuthenticationMiddleware. API token requests are authenticated later, by DRF, and so keep the
    default zone; their datetimes carry an explicit offset anyway.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = _user_zone(request)
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            # Threads are reused between requests: never leak one user's zone into the next.
            timezone.deactivate()


def _user_zone(request: HttpRequest) -> zoneinfo.ZoneInfo | None:
    user = getattr(request, "user", None)
    name = getattr(user, "time_zone", "") if user is not None and user.is_authenticated else ""
    if not name:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # A zone dropped from a later tzdata release: fall back to the site's zone, not a 500.
        return None
