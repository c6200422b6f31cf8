"""Playwright fixtures: Debian's Chromium, headless, against pytest-django's live server.

No browser is ever downloaded (no `playwright install`): the tests drive the system Chromium at
/usr/bin/chromium, or the one named by POSTCARD_CHROMIUM. A missing browser skips the tests, and
POSTCARD_REQUIRE_SERVERS=1 (CI) turns that skip into a failure.
"""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

# Playwright's sync API runs an event loop in this thread, so Django's async-safety check would
# refuse every ORM call a test makes after the browser started. The calls are still synchronous.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("POSTCARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1366, "height": 900}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"Chromium not found at {CHROMIUM}; apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test, its relative URLs on the live server."""
    context = browser.new_context(
        viewport={"width": VIEWPORT["width"], "height": VIEWPORT["height"]},
        base_url=live_server.url,
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def sign_in_page(browser: Browser, live_server) -> Iterator[Page]:
    """`page` for tests that go through a fake sign-in service (Microsoft's, Google's): those
    serve HTTPS with a test CA Chromium does not know, so certificate errors are ignored (the
    product's own calls verify it, through the CA file)."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        base_url=live_server.url,
        ignore_https_errors=True,
    )
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
