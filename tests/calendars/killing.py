"""A calendar push worker SIGKILLed at a random point, for the no-duplicate tests."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

from tests.mailsync.test_sync_service import ROOT, database_url


def push_killed_at_random(
    username: str, pushed: Callable[[], int], total: int, settings: Mapping[str, str]
) -> None:
    """Run `manage.py calendar_push USERNAME` in another process with these settings, and
    SIGKILL it once `pushed()` (copies in the calendar) reaches a random count below `total`."""
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "calendar_push", username],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            **settings,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    kill_after = random.Random().randint(5, total * 4 // 5)
    while worker.poll() is None and pushed() < kill_after:
        time.sleep(0.005)  # polling the calendar, not waiting for a guess
    worker.kill()
    worker.wait()
    assert pushed() < total, "the worker finished before it was killed"


def settings_named(settings: object, prefix: str) -> dict[str, str]:
    return {name: str(getattr(settings, name)) for name in dir(settings) if name.startswith(prefix)}
