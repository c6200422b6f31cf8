"""Issue 8.1: admin never shows the password hash in a box, never stores a typed password raw.

Every edit here posts what the rendered page holds, as a browser would.
"""

import re
from html import unescape
from urllib.parse import urljoin

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from hierarchy.models import User
from hierarchy.services import SUPPORT_GROUP
from tests.factories import UserFactory
from tests.hierarchy.html_forms import Form, read_form

pytestmark = pytest.mark.django_db


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def can_log_in(username: str, password: str) -> bool:
    # Checked on the stored row rather than by logging in: failed logins would count towards the
    # brute-force lockout (issue 8.2), which is not what these tests are about.
    return User.objects.get(username=username).check_password(password)


def open_change_form(client: Client, user: User) -> Form:
    response = client.get(reverse("admin:hierarchy_user_change", args=[user.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    user.refresh_from_db()
    form = read_form(html, "user_form")
    assert [v for v in form.field_values if user.password in unescape(v)] == []
    assert user.password not in html
    return form


def save_as_browser(client: Client, user: User, form: Form, **typed: str) -> None:
    data = form.post_data(submit="_save")
    data.update({name: [value] for name, value in typed.items()})
    response = client.post(reverse("admin:hierarchy_user_change", args=[user.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser("root", "root@postcard.test", "root-pass")


@pytest.fixture
def support_agent():
    agent = UserFactory(username="support-agent", is_staff=True)
    agent.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    return agent


def test_superuser_adds_edits_and_resets_a_password_without_ever_seeing_the_hash(superuser):
    admin = client_for(superuser)
    add = admin.get(reverse("admin:hierarchy_user_add"))
    add_form = read_form(add.content.decode(), "user_form")
    assert {"password1", "password2"} <= {name for name, _ in add_form.data}
    data = add_form.post_data(submit="_save")
    data |= {"username": ["laura"], "password1": ["Tr1cky-pass!"], "password2": ["Tr1cky-pass!"]}
    data["usable_password"] = ["true"]
    assert admin.post(reverse("admin:hierarchy_user_add"), data).status_code == 302
    laura = User.objects.get(username="laura")
    assert can_log_in("laura", "Tr1cky-pass!")

    # Save the change form as it is, then with a password typed in by hand: both keep the password.
    save_as_browser(admin, laura, open_change_form(admin, laura), first_name="Laura")
    save_as_browser(admin, laura, open_change_form(admin, laura), password="typed-raw")
    laura.refresh_from_db()
    assert laura.first_name == "Laura"
    assert can_log_in("laura", "Tr1cky-pass!")
    assert not can_log_in("laura", "typed-raw")
    assert laura.password != "typed-raw"

    # The change form links to Django's own password form, which sets a new (hashed) password.
    links = [link for link in open_change_form(admin, laura).links if "password/" in link]
    assert links == ["../password/"]
    change_url = reverse("admin:hierarchy_user_change", args=[laura.pk])
    password_url = urljoin(change_url, links[0])
    page = admin.get(password_url)
    assert page.status_code == 200
    data = read_form(page.content.decode()).post_data()
    data |= {"password1": ["N3w-pass-word"], "password2": ["N3w-pass-word"]}
    assert admin.post(password_url, data).status_code == 302
    assert can_log_in("laura", "N3w-pass-word")
    assert not can_log_in("laura", "Tr1cky-pass!")


def test_support_staff_edit_a_user_but_cannot_see_or_set_passwords(support_agent, superuser):
    laura = UserFactory(username="laura", password="Tr1cky-pass!")
    support = client_for(support_agent)
    form = open_change_form(support, laura)
    assert not [link for link in form.links if "password" in link]
    save_as_browser(support, laura, form, last_name="Novak")
    save_as_browser(support, laura, open_change_form(support, laura), password="typed-raw")
    laura.refresh_from_db()
    assert laura.last_name == "Novak"
    assert can_log_in("laura", "Tr1cky-pass!")

    # Support staff manage the tree, not credentials: setting anyone's password (a superuser's
    # included) would let them take over that account.
    for target in (laura, superuser):
        url = reverse("admin:auth_user_password_change", args=[target.pk])
        assert support.get(url).status_code == 403
        data = {"password1": ["Taken-0ver!"], "password2": ["Taken-0ver!"]}
        assert support.post(url, data).status_code == 403
    assert can_log_in("root", "root-pass")
    assert can_log_in("laura", "Tr1cky-pass!")


def test_the_hash_is_not_in_the_page_even_for_a_user_without_a_usable_password(superuser):
    # A sync-only user has an unusable password: the form says so instead of showing a box.
    sync_only = UserFactory(username="dana-mailbox-2", is_sync_only=True)
    sync_only.set_unusable_password()
    sync_only.save()
    admin = client_for(superuser)
    form = open_change_form(admin, sync_only)
    html = admin.get(reverse("admin:hierarchy_user_change", args=[sync_only.pk])).content.decode()
    assert re.search(r"No password set", html)
    save_as_browser(admin, sync_only, form)
    sync_only.refresh_from_db()
    assert not sync_only.has_usable_password()
