"""CalDAV calendars (RFC 4791): Radicale, Nextcloud, Fastmail, iCloud and the like, through the
`caldav` package for discovery and its HTTP client for conditional writes.

Each pushed item is one resource, `<calendar>/<uid>.ics`, named after its stable UID: a create is
a PUT with `If-None-Match: *` (RFC 4791 5.3.2: never overwrites), so a retry after a crash finds
the resource it made and updates it instead; updates carry `If-Match` with the stored ETag, and a
412 tells a copy deleted or edited in the calendar apart with one GET (the CRM is the source: an
edited copy is overwritten; a deleted one is reported, not re-created).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit

import caldav
import requests
from caldav.elements.ical import CalendarColor
from caldav.lib import error as caldav_error

from calendars.ical import to_ical
from calendars.providers.base import (
    CalendarGone,
    CalendarItem,
    ItemRefused,
    LoginRefused,
    RemoteCalendar,
    Stored,
    TemporaryPushFailure,
)
from mailsync.providers.imap import is_loopback

TIMEOUT = 15
T = TypeVar("T")
ICAL = {"Content-Type": "text/calendar; charset=utf-8"}


class CalDavProvider:
    def __init__(self, url: str, username: str, password: str) -> None:
        self.url = url
        self.client = _client(url, username, password)

    def calendars(self) -> list[RemoteCalendar]:
        found = []
        for calendar in self._call(lambda: self._principal().calendars()):
            components = self._call(calendar.get_supported_components)
            found.append(
                RemoteCalendar(
                    key=str(calendar.url),
                    name=str(self._call(calendar.get_display_name) or calendar.url),
                    color=_color(calendar),
                    supports_events="VEVENT" in components,
                    supports_tasks="VTODO" in components,
                )
            )
        return found

    def create(self, calendar_key: str, item: CalendarItem) -> Stored:
        href = _href(calendar_key, item.uid)
        body = to_ical(item)
        response = self._put(href, body, {"If-None-Match": "*"})
        if response.status == 412:  # made by an earlier attempt that died before its commit
            response = self._put(href, body, {})
        return self._stored(calendar_key, href, response)

    def update(self, calendar_key: str, stored: Stored, item: CalendarItem) -> Stored | None:
        if not self._on_this_server(stored.href):
            return None  # not a copy this login can reach
        body = to_ical(item)
        condition = {"If-Match": stored.etag} if stored.etag else {}
        response = self._put(stored.href, body, condition)
        if response.status in (404, 412):
            if self._status(stored.href) == 404:
                return None  # deleted in the calendar
            response = self._put(stored.href, body, {})  # edited there: the CRM is the source
        return self._stored(calendar_key, stored.href, response)

    def delete(self, calendar_key: str, stored: Stored) -> None:
        if not self._on_this_server(stored.href):
            return  # not a copy this login can reach: nothing is sent elsewhere
        response = self._call(lambda: self.client.request(stored.href, "DELETE", "", {}))
        if response.status not in (200, 204, 404, 410):
            raise TemporaryPushFailure(
                f"The calendar server answered {response.status} when asked to delete an event."
            )

    def close(self) -> None:
        pass  # the client stays for this thread's next push (see _client)

    def _on_this_server(self, href: str) -> bool:
        """The credentials go only to the server they belong to."""
        try:
            where, own = urlsplit(href), urlsplit(self.url)
        except ValueError:
            return False
        return where.scheme in ("http", "https") and where.netloc == own.netloc

    def _principal(self) -> Any:
        return self.client.principal()  # type: ignore[no-untyped-call]

    # --- plumbing ---

    def _put(self, href: str, body: bytes, headers: dict[str, str]) -> caldav.davclient.DAVResponse:
        return self._call(
            lambda: self.client.request(href, "PUT", body.decode(), {**ICAL, **headers})
        )

    def _status(self, href: str) -> int:
        return int(self._call(lambda: self.client.request(href, "GET", "", {})).status)

    def _stored(
        self, calendar_key: str, href: str, response: caldav.davclient.DAVResponse
    ) -> Stored:
        if response.status in (200, 201, 204):
            etag = response.headers.get("ETag", "")
            return Stored(href=href, etag=etag)
        if response.status in (403, 404, 409) and self._status(calendar_key) == 404:
            raise CalendarGone(
                "The calendar was deleted on the server. Choose another in Calendar settings."
            )
        if response.status in (400, 413, 415, 422):
            raise ItemRefused(
                f"The calendar server refused this item ({response.status} {response.reason})."
            )
        raise TemporaryPushFailure(
            f"The calendar server refused the event ({response.status} {response.reason})."
        )

    def _call(self, call: Callable[[], T]) -> T:
        try:
            return call()
        except caldav_error.AuthorizationError as refused:
            if "forbidden" in str(getattr(refused, "reason", "")).lower():  # 403, not 401
                raise CalendarGone(
                    "The calendar server does not let this login write to that calendar "
                    "(read-only, or shared with you). Choose another in Calendar settings."
                ) from None
            raise LoginRefused(
                "The calendar server refused the login: check the user name and app password."
            ) from None
        except requests.Timeout:
            raise TemporaryPushFailure("The calendar server did not answer in time.") from None
        except requests.ConnectionError:
            raise TemporaryPushFailure(f"Could not reach the calendar server {self.url}.") from None
        except caldav_error.DAVError as failure:
            raise TemporaryPushFailure(
                f"The calendar server answered an error: {failure}."
            ) from None
        except (requests.RequestException, ValueError):
            raise TemporaryPushFailure(f"Could not reach the calendar server {self.url}.") from None
        except (TypeError, AttributeError, NotImplementedError, LookupError):
            # The caldav package trips over answers that are not CalDAV (a web page, a login
            # scheme it does not speak): the address is not a calendar server it can use.
            raise TemporaryPushFailure(
                f"{self.url} did not answer as a CalDAV calendar server. Check the address."
            ) from None


_kept = threading.local()
KEPT_CLIENTS = 50  # per worker thread


def _client(url: str, username: str, password: str) -> caldav.DAVClient:
    """This thread's client for a login, kept between pushes: the caldav package learns the
    server's authentication scheme from a first 401 (Basic or Digest) and then sends it with
    every request, so a kept client costs one request per push instead of two."""
    kept: dict[tuple[str, str, str], caldav.DAVClient] = _kept.__dict__.setdefault("clients", {})
    key = (url, username, hashlib.sha256(password.encode()).hexdigest())
    client = kept.pop(key, None)
    if client is None:
        if len(kept) >= KEPT_CLIENTS:
            kept.pop(next(iter(kept))).session.close()  # the least recently used
        client = caldav.DAVClient(url=url, username=username, password=password, timeout=TIMEOUT)
    kept[key] = client  # most recently used last
    return client


def plain_http_allowed(url: str) -> bool:
    """https everywhere; plain http only to this machine (the password goes with every
    request, as for IMAP)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or ""))


def discovered_url(address: str) -> str:
    """Where the CalDAV service is (RFC 6764 section 5): a bare host or site root is asked for
    `/.well-known/caldav`, whose redirect names the service (on the same terms as the address:
    https, or this machine); any other address is kept."""
    try:
        parts = urlsplit(address if "://" in address else f"https://{address}")
        root = f"{parts.scheme}://{parts.netloc}"
        if parts.path not in ("", "/"):
            return address
        response = requests.request(
            "PROPFIND",
            f"{root}/.well-known/caldav",
            headers={"Depth": "0"},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
    except (ValueError, requests.RequestException):
        raise TemporaryPushFailure(f"Could not reach a calendar server at {address}.") from None
    if response.is_redirect and response.headers.get("Location"):
        found = urljoin(f"{root}/", response.headers["Location"])
        if plain_http_allowed(found):
            return found
    return f"{root}/"


def _href(calendar_key: str, uid: str) -> str:
    base = calendar_key if calendar_key.endswith("/") else calendar_key + "/"
    return urljoin(base, quote(f"{uid}.ics"))


def _color(calendar: caldav.Calendar) -> str:
    """Apple's calendar-color property (http://apple.com/ns/ical/), which CalDAV servers and
    clients use for a calendar's colour; "" when there is none."""
    try:
        props = calendar.get_properties([CalendarColor()])
    except (caldav_error.DAVError, requests.RequestException):
        return ""
    value = str(props.get(CalendarColor.tag, "") or "")  # "#RRGGBB" or "#RRGGBBAA"
    return value[:7] if value.startswith("#") else ""
