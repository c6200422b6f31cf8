"""Sign a user in for a browser test without the login form (its lockout is tested elsewhere)."""

from django.conf import settings
from django.test import Client
from playwright.sync_api import Page

from hierarchy.models import User


def sign_in(page: Page, user: User, base_url: str) -> None:
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base_url}]
    )
