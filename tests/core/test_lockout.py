"""Brute-force protection: after LOGIN_FAILURE_LIMIT wrong passwords, a username is locked out
from that address on the login page, the admin login and the API token endpoint alike, with a
message saying so, until the cooling-off period ends or support staff unlock it in admin."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from hierarchy.models import User
from hierarchy.services import SUPPORT_GROUP

pytestmark = pytest.mark.django_db

LIMIT = settings.AXES_FAILURE_LIMIT
RIGHT = {"username": "alice", "password": "the-right-password"}
WRONG = {"username": "alice", "password": "a-wrong-guess"}
LOGIN = "/login/"
ADMIN_LOGIN = "/admin/login/"
TOKEN = "/api/auth/token/"
MESSAGE = "Too many failed logins for this username from your address. Try again in 15 minutes"


@pytest.fixture
def alice() -> User:
    return User.objects.create_user(username="alice", password=RIGHT["password"], is_staff=True)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail_login(client: Client, url: str, times: int, **headers: str) -> list[int]:
    return [client.post(url, WRONG, headers=headers).status_code for _ in range(times)]


def test_login_page_locks_the_username_at_this_address_and_says_so(alice):
    client = Client(REMOTE_ADDR="203.0.113.10")
    assert fail_login(client, LOGIN, LIMIT - 1) == [200] * (LIMIT - 1)  # the form, with its error

    locked = client.post(LOGIN, WRONG)
    assert locked.status_code == 429
    page = locked.content.decode()
    assert MESSAGE in page
    assert 'role="alert"' in page
    assert locked["Retry-After"] == "900"

    # While locked, even the right password is refused, and nobody is logged in.
    again = client.post(LOGIN, RIGHT)
    assert again.status_code == 429
    assert MESSAGE in again.content.decode()
    assert not logged_in(client)

    # The lock is per username and address: alice elsewhere still logs in.
    elsewhere = Client(REMOTE_ADDR="203.0.113.11")
    assert elsewhere.post(LOGIN, RIGHT).status_code == 302
    assert logged_in(elsewhere)


def test_a_success_before_the_limit_starts_the_count_again(alice):
    client = Client(REMOTE_ADDR="203.0.113.12")
    fail_login(client, LOGIN, LIMIT - 1)
    assert client.post(LOGIN, RIGHT).status_code == 302
    client.logout()
    assert fail_login(client, LOGIN, LIMIT - 1) == [200] * (LIMIT - 1)
    assert client.post(LOGIN, RIGHT).status_code == 302


def test_the_lock_ends_after_the_cooling_off_period_and_tries_do_not_extend_it(alice):
    client = Client(REMOTE_ADDR="203.0.113.15")
    fail_login(client, LOGIN, LIMIT)

    def minutes_pass(minutes: int) -> None:
        for attempt in AccessAttempt.objects.filter(username="alice"):
            attempt.attempt_time -= timedelta(minutes=minutes)
            attempt.save(update_fields=["attempt_time"])

    minutes_pass(14)
    assert fail_login(client, LOGIN, 3) == [429] * 3  # still locked, and counted from the start
    minutes_pass(2)
    assert client.post(LOGIN, RIGHT).status_code == 302
    assert logged_in(client)


def test_admin_login_locks_too_and_keeps_where_it_was_going(alice):
    client = Client(REMOTE_ADDR="203.0.113.20")
    form = {**WRONG, "next": "/admin/"}
    statuses = [client.post(ADMIN_LOGIN, form).status_code for _ in range(LIMIT)]
    assert statuses == [200] * (LIMIT - 1) + [429]

    locked = client.post(ADMIN_LOGIN, {**RIGHT, "next": "/admin/"})
    assert locked.status_code == 429
    page = locked.content.decode()
    assert MESSAGE in page
    assert 'name="next" value="/admin/"' in page
    assert not logged_in(client)


def test_token_endpoint_locks_with_a_json_error(alice):
    client = APIClient(REMOTE_ADDR="203.0.113.30")
    statuses = [client.post(TOKEN, WRONG, format="json").status_code for _ in range(LIMIT - 1)]
    assert statuses == [400] * (LIMIT - 1)

    for credentials in (WRONG, RIGHT):
        locked = client.post(TOKEN, credentials, format="json")
        assert locked.status_code == 429
        assert locked["Content-Type"] == "application/json"
        assert locked.json()["detail"].startswith(MESSAGE)
        assert locked["Retry-After"] == "900"
        assert "token" not in locked.json()

    assert APIClient(REMOTE_ADDR="203.0.113.31").post(TOKEN, RIGHT, format="json").json()["token"]


def test_failures_on_one_endpoint_count_on_the_others(alice):
    client = Client(REMOTE_ADDR="203.0.113.35")
    fail_login(client, LOGIN, LIMIT - 1)
    api = APIClient(REMOTE_ADDR="203.0.113.35")
    assert api.post(TOKEN, WRONG, format="json").status_code == 429
    assert client.post(ADMIN_LOGIN, {**RIGHT, "next": "/admin/"}).status_code == 429


def test_token_endpoint_is_throttled_per_address(db):
    # Different usernames each time: no lockout applies, only the throttle (10 a minute).
    client = APIClient(REMOTE_ADDR="203.0.113.40")
    statuses = [
        client.post(TOKEN, {"username": f"nobody{n}", "password": "x"}, format="json").status_code
        for n in range(11)
    ]
    assert statuses == [400] * 10 + [429]
    throttled = client.post(TOKEN, {"username": "nobody", "password": "x"}, format="json")
    assert "throttled" in throttled.json()["detail"]
    assert int(throttled["Retry-After"]) > 0


def staff_client(kind: str) -> Client:
    if kind == "superuser":
        staff = User.objects.create_superuser(username="root", password="root-password")
    else:
        staff = User.objects.create_user(username="helpdesk", is_staff=True)
        staff.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    client = Client()
    client.force_login(staff)
    return client


@pytest.mark.parametrize("kind", ["superuser", "support staff"])
def test_unlocking_in_admin_lets_the_user_log_in_again(alice, kind):
    client = Client(REMOTE_ADDR="203.0.113.50")
    fail_login(client, LOGIN, LIMIT)
    assert client.post(LOGIN, RIGHT).status_code == 429

    admin = staff_client(kind)
    url = reverse("admin:axes_accessattempt_changelist")
    listing = admin.get(url)
    assert listing.status_code == 200
    assert "alice" in listing.content.decode()
    assert "Locked Out" in listing.content.decode()

    attempts = AccessAttempt.objects.filter(username="alice")
    done = admin.post(
        url, {"action": "unlock", "_selected_action": [a.pk for a in attempts]}, follow=True
    )
    assert "Unlocked alice: they can log in again." in [str(m) for m in done.context["messages"]]

    assert client.post(LOGIN, RIGHT).status_code == 302
    assert logged_in(client)


def test_forwarded_for_is_ignored_unless_behind_a_proxy(alice, settings):
    settings.BEHIND_PROXY = False
    client = Client(REMOTE_ADDR="198.51.100.1")
    # A new forged address on every try does not escape the lock.
    statuses = [
        client.post(LOGIN, WRONG, headers={"x-forwarded-for": f"192.0.2.{n}"}).status_code
        for n in range(LIMIT)
    ]
    assert statuses == [200] * (LIMIT - 1) + [429]
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.1"}


def test_behind_a_proxy_the_address_it_appended_is_the_one_locked(alice, settings):
    settings.BEHIND_PROXY = True
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    # The client's own first entry changes every time; the proxy appends the real address.
    statuses = [
        proxy.post(
            LOGIN, WRONG, headers={"x-forwarded-for": f"192.0.2.{n}, 203.0.113.60"}
        ).status_code
        for n in range(LIMIT)
    ]
    assert statuses == [200] * (LIMIT - 1) + [429]
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.60"}

    # Someone else behind the same proxy is not locked out of alice's account.
    other = proxy.post(LOGIN, RIGHT, headers={"x-forwarded-for": "203.0.113.61"})
    assert other.status_code == 302

    # A header that holds no address falls back to the connection's address, never a 500.
    garbage = Client(REMOTE_ADDR="10.0.0.3")
    assert garbage.post(LOGIN, WRONG, headers={"x-forwarded-for": "not-an-ip"}).status_code == 200
    assert AccessAttempt.objects.filter(ip_address="10.0.0.3").exists()
