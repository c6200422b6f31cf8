"""Every page carries a Content-Security-Policy that allows scripts and styles from Postcard's own
static files only, and no template needs more: no inline <script> or <style>, no on…= handler,
no style="" attribute (each would be blocked by the browser and silently stop working)."""

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from hierarchy.services import SUPPORT_GROUP
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))

# What a strict policy blocks in markup: inline script and style, in every form they take.
BLOCKED = {
    "inline <script>": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "<style> element": re.compile(r"<style\b", re.IGNORECASE),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split("; ")}


def test_no_template_holds_what_the_policy_blocks():
    found = []
    for template in TEMPLATES:
        for number, line in enumerate(template.read_text().splitlines(), start=1):
            for what, pattern in BLOCKED.items():
                if pattern.search(line):
                    found.append(f"{template.relative_to(ROOT)}:{number}: {what}")
    assert found == []


@pytest.mark.django_db
def test_pages_allow_only_their_own_scripts_and_styles(logged_in_client):
    for url in (reverse("contact-list"), reverse("account-list"), reverse("login")):
        directives = policy(logged_in_client.get(url))
        assert directives["default-src"] == ["'self'"]
        assert directives["script-src"] == ["'self'"]
        assert directives["style-src"] == ["'self'"]
        assert "style-src-attr" not in directives
        assert directives["object-src"] == ["'none'"]
        assert directives["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_admin_allows_style_attributes_and_nothing_else_inline(client):
    # django-mptt indents the user tree in admin with style="" attributes.
    agent = UserFactory(is_staff=True)
    agent.groups.add(Group.objects.get(name=SUPPORT_GROUP))
    client.force_login(agent)
    response = client.get(reverse("admin:hierarchy_user_changelist"))
    assert response.status_code == 200
    directives = policy(response)
    assert directives["style-src-attr"] == ["'unsafe-inline'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
