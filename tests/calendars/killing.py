"""A calendar push worker SIGKILLed at a random point, for the no-duplicate tests."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

from tests.mailsync.test_sync_service import ROOT, database_url


def manage_py_process(arguments: list[str], settings: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """`manage.py ARGUMENTS` in another process, on this test's database, with these settings
    (overrides the test made, by name) in its environment."""
    return subprocess.Popen(
        [sys.executable, "manage.py", *arguments],
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


def push_killed_at_random(
    username: str, pushed: Callable[[], int], total: int, settings: Mapping[str, str]
) -> None:
    """Run `manage.py calendar_push USERNAME` in another process with these settings, and
    SIGKILL it once `pushed()` (copies in the calendar) reaches a random count below `total`."""
    worker = manage_py_process(["calendar_push", username], settings)
    kill_after = random.Random().randint(5, total * 4 // 5)
    while worker.poll() is None and pushed() < kill_after:
        time.sleep(0.005)  # polling the calendar, not waiting for a guess
    worker.kill()
    worker.wait()
    assert pushed() < total, "the worker finished before it was killed"
    assert pushed() >= kill_after, "the worker stopped on its own before it was killed"


def settings_named(settings: object, prefix: str) -> dict[str, str]:
    """The settings whose names start with `prefix`, as they stand in this test (overrides
    included), for another process's environment. The names come from the project's settings
    module: pytest-django's wrapper lists none of them."""
    import crm.settings as declared

    names = [name for name in dir(declared) if name.startswith(prefix)]
    return {name: str(getattr(settings, name)) for name in names}
