"""Shared fixtures.

POSTCARD_REQUIRE_SERVERS=1 (set by .ci/run) turns every skipped test into a failure, so a test
that needs Dovecot, Radicale, Chromium or PostgreSQL can never silently skip in CI.
"""

import os
from collections.abc import Generator

import pytest
from hypothesis import settings as hypothesis_settings

REQUIRE_SERVERS = os.environ.get("POSTCARD_REQUIRE_SERVERS") == "1"

# HYPOTHESIS_PROFILE=ci explores many more random inputs than a laptop run. Property tests that
# pin a small number for laptops use the profile's own number under it (tests/hierarchy).
# 300: the two slowest property tests (visibility, admin preview) take about 1.5 min each then.
hypothesis_settings.register_profile("ci", max_examples=300, deadline=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if REQUIRE_SERVERS and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"Skipped while POSTCARD_REQUIRE_SERVERS=1: {reason}"
    return report


@pytest.fixture
def user(db):
    from tests.factories import UserFactory

    return UserFactory(username="alice", first_name="Alice", last_name="Archer")


@pytest.fixture
def logged_in_client(client, user):
    client.force_login(user)
    return client
