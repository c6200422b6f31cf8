"""The CalDAV test servers, checked with the caldav 1.x client: what the calendar push relies on.

Every test runs on Radicale and on Xandikos (see tests/servers/caldav_servers.py for how they
differ); where they answer differently, the test pins each answer.

caldav 1.6 never sends If-Match or If-None-Match itself: `save_event(ics, no_overwrite=True)`
first looks the UID up (a calendar-query REPORT) and raises ConsistencyError if it is there, then
PUTs unconditionally (two requests, and a race); without it, save_event PUTs to <uid>.ics and
silently replaces what is there. Conditional writes go through `client.put(url, ics, headers)` /
`client.request(url, "DELETE", "", headers)`, which return the DAVResponse (status, ETag header)
without raising on 412; only 401 and 403 raise (AuthorizationError).
"""

from __future__ import annotations

from urllib.parse import quote, urljoin

import icalendar
import pytest
import requests
from caldav.elements import ical
from caldav.lib.error import AuthorizationError, ConsistencyError, PropfindError

from tests.servers import conftest_fixtures
from tests.servers.caldav_servers import CalDAVServer, Radicale, Xandikos

pytestmark = pytest.mark.server

# The fixtures, bound by name for pytest (an import would be shadowed by each test's argument).
radicale = conftest_fixtures.radicale
xandikos = conftest_fixtures.xandikos

ICS = {"Content-Type": "text/calendar; charset=utf-8"}
CREATE = {**ICS, "If-None-Match": "*"}
UID = "meeting-1@postcard.test"


@pytest.fixture(params=["radicale", "xandikos"])
def server(request: pytest.FixtureRequest) -> CalDAVServer:
    found: CalDAVServer = request.getfixturevalue(request.param)
    return found


def component(uid: str, summary: str = "Kick-off", *, kind: str = "VEVENT") -> str:
    when = "DTSTART:20260112T090000Z\r\nDTEND:20260112T100000Z\r\n" if kind == "VEVENT" else ""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Postcard//tests//EN\r\n"
        f"BEGIN:{kind}\r\nUID:{uid}\r\nDTSTAMP:20260105T080000Z\r\n{when}"
        f"SUMMARY:{summary}\r\nEND:{kind}\r\nEND:VCALENDAR\r\n"
    )


def object_url(calendar_url: str, uid: str) -> str:
    # Where caldav's save_event puts it too: <calendar>/<quoted uid>.ics ("@" -> %40).
    return f"{calendar_url}{quote(uid)}.ics"


def summaries(server: CalDAVServer, calendar_url: str) -> list[tuple[str, str]]:
    return [
        (str(item["UID"]), str(item["SUMMARY"]))
        for calendar in server.events("alice", calendar_url)
        for item in calendar.walk()
        if item.name in ("VEVENT", "VTODO")
    ]


def resolve_well_known(url: str) -> str:
    """RFC 6764 by hand: the well-known URL's redirect, without letting requests follow it.

    requests re-sends a PROPFIND that got 301 as a PROPFIND, but one that got 302 (Xandikos) as
    a GET, which the server refuses; so ask once without redirects and start from Location."""
    response = requests.request(
        "PROPFIND", url, headers={"Depth": "0"}, allow_redirects=False, timeout=10
    )
    assert response.status_code in (301, 302, 303, 307, 308), response.status_code
    return urljoin(url, response.headers["Location"])


def test_a_user_finds_principal_and_calendars_from_the_root(server: CalDAVServer) -> None:
    url = server.make_calendar("alice", "Work", color="#FF0000", components=("VEVENT", "VTODO"))
    assert url.startswith(server.calendar_home_url("alice"))

    with server.client("alice") as client:
        principal = client.principal()
        assert str(principal.url) == server.principal_url("alice")
        assert str(principal.calendar_home_set.url) == server.calendar_home_url("alice")
        calendar = client.calendar(url=url)
        # Apple's calendar-color (http://apple.com/ns/ical/), as set: both keep "#RRGGBB".
        assert calendar.get_property(ical.CalendarColor()) == "#FF0000"
        assert sorted(calendar.get_supported_components()) == ["VEVENT", "VTODO"]

    assert ("Work", url) in server.calendars("alice")
    if isinstance(server, Xandikos):  # --defaults made one
        assert ("calendar", f"{server.calendar_home_url('alice')}calendar/") in server.calendars(
            "alice"
        )
    else:
        assert len(server.calendars("alice")) == 1


def test_a_wrong_password_is_refused_with_401_where_there_is_authentication(
    server: CalDAVServer,
) -> None:
    wrong = requests.request(
        "PROPFIND", server.url, auth=("alice", "wrong"), headers={"Depth": "0"}, timeout=10
    )
    with server.client("alice", "wrong") as client:
        if server.authenticates:
            assert wrong.status_code == 401
            assert "Basic" in wrong.headers["WWW-Authenticate"]
            with pytest.raises(AuthorizationError):
                client.principal()
        else:  # Xandikos: no authentication at all
            assert wrong.status_code == 207
            assert str(client.principal().url) == server.principal_url("alice")


def test_a_user_reaches_only_their_own_calendars(radicale: Radicale) -> None:
    alices = radicale.make_calendar("alice", "Work")
    with radicale.client("bob") as bob:
        assert str(bob.principal().url) == radicale.principal_url("bob")
        assert bob.principal().calendars() == []
        with pytest.raises(AuthorizationError):  # 403
            bob.put(object_url(alices, UID), component(UID), CREATE)
    assert radicale.events("alice", alices) == []


def test_discovery_through_the_well_known_url(server: CalDAVServer) -> None:
    # Both redirect to the root, before any authentication (Radicale 301, Xandikos 302).
    assert resolve_well_known(server.well_known_url) == server.url
    with server.client("alice", url=resolve_well_known(server.well_known_url)) as client:
        assert str(client.principal().url) == server.principal_url("alice")

    with server.client("alice", url=server.well_known_url) as client:
        if isinstance(server, Radicale):  # a 301 keeps the PROPFIND
            assert str(client.principal().url) == server.principal_url("alice")
        else:  # the 302 made requests send a GET: "406 Not Acceptable"
            with pytest.raises(PropfindError):
                client.principal()


def test_a_create_with_a_fixed_uid_never_makes_a_duplicate(server: CalDAVServer) -> None:
    url = server.make_calendar("alice", "Work")
    with server.client("alice") as client:
        created = client.put(object_url(url, UID), component(UID), CREATE)
        assert created.status == 201
        assert created.headers["ETag"]

        # If-None-Match: * on the same URL: 412, nothing written.
        again = client.put(object_url(url, UID), component(UID, "Replaced"), CREATE)
        assert again.status == 412
        # The same UID under another name: refused as a UID conflict (RFC 4791 5.3.2.1).
        elsewhere = client.put(f"{url}other.ics", component(UID, "Copy"), CREATE)
        assert elsewhere.status == (409 if isinstance(server, Radicale) else 412)
        assert "no-uid-conflict" in elsewhere.raw

        # caldav's no_overwrite: a UID lookup first, then ConsistencyError.
        calendar = client.calendar(url=url)
        with pytest.raises(ConsistencyError):
            calendar.save_event(component(UID, "Replaced"), no_overwrite=True)
        assert summaries(server, url) == [(UID, "Kick-off")]

        # Without it, save_event overwrites the same <uid>.ics: still one object.
        saved = calendar.save_event(component(UID, "Overwritten"))
        assert str(saved.url) == object_url(url, UID)
    assert summaries(server, url) == [(UID, "Overwritten")]


def test_an_update_needs_the_current_etag(server: CalDAVServer) -> None:
    url = server.make_calendar("alice", "Work")
    href = object_url(url, UID)
    with server.client("alice") as client:
        first = client.put(href, component(UID), CREATE).headers["ETag"]
        fetched = client.request(href)  # GET
        assert fetched.status == 200
        assert fetched.headers["ETag"] == first
        event = client.calendar(url=url).event_by_uid(UID).load()  # load() keeps the GET's ETag
        assert event.props["{DAV:}getetag"] == first

        updated = client.put(href, component(UID, "Moved"), {**ICS, "If-Match": first})
        assert updated.status == 204
        second = updated.headers["ETag"]
        assert second != first

        stale = client.put(href, component(UID, "Lost update"), {**ICS, "If-Match": first})
        assert stale.status == 412
        assert client.request(href, "DELETE", "", {"If-Match": first}).status == 412
        assert summaries(server, url) == [(UID, "Moved")]

        assert client.request(href, "DELETE", "", {"If-Match": second}).status in (200, 204)
        assert client.request(href).status == 404
    assert server.events("alice", url) == []


def test_todos_and_the_helpers(server: CalDAVServer) -> None:
    url = server.make_calendar("alice", "Tasks and meetings")
    with server.client("alice") as client:
        calendar = client.calendar(url=url)
        calendar.save_todo(component("todo-1", "Send the offer", kind="VTODO"))
        calendar.save_event(component(UID))
    assert summaries(server, url) == [(UID, "Kick-off"), ("todo-1", "Send the offer")]
    parsed = server.events("alice", url)
    assert all(isinstance(item, icalendar.Calendar) for item in parsed)

    server.delete_object("alice", url, "todo-1")
    assert summaries(server, url) == [(UID, "Kick-off")]
    server.delete_calendar("alice", url)
    assert ("Tasks and meetings", url) not in server.calendars("alice")


def test_a_todo_in_a_calendar_made_for_events_only(server: CalDAVServer) -> None:
    url = server.make_calendar("alice", "Meetings", components=("VEVENT",))
    with server.client("alice") as client:
        if isinstance(server, Xandikos):  # 403 supported-calendar-component
            with pytest.raises(AuthorizationError):
                client.put(object_url(url, "todo-1"), component("todo-1", kind="VTODO"), CREATE)
        else:  # Radicale stores it anyway
            put = client.put(object_url(url, "todo-1"), component("todo-1", kind="VTODO"), CREATE)
            assert put.status == 201


def test_data_survives_a_stop_and_start_on_the_same_port(server: CalDAVServer) -> None:
    url = server.make_calendar("alice", "Work", color="#00AA00")
    port = server.port
    with server.client("alice") as client:
        etag = client.put(object_url(url, UID), component(UID), CREATE).headers["ETag"]

    server.stop()
    assert not server.running
    with server.client("alice") as client, pytest.raises(requests.ConnectionError):
        client.principal()

    server.start()
    assert server.port == port
    assert ("Work", url) in server.calendars("alice")
    assert summaries(server, url) == [(UID, "Kick-off")]
    with server.client("alice") as client:
        assert client.request(object_url(url, UID)).headers["ETag"] == etag  # unchanged
        assert client.calendar(url=url).get_property(ical.CalendarColor()) == "#00AA00"
