"""The production path: a real Celery prefork worker runs a queued mailbox sync end to end."""

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers.mailgen import business_message

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
COUNT = 120


def test_a_prefork_worker_imports_a_connected_mailbox(dovecot, tmp_path):
    rng = random.Random(3)
    dovecot.append_many(
        "alice",
        "INBOX",
        [
            business_message(n, rng=rng, sender="jane@customer.test", to=["alice@x.test"])
            for n in range(COUNT)
        ],
    )
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {
        "DEBUG": "1",
        "POSTCARD_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "crm.settings",
    }

    def manage(*args: str, stdin: str = "") -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    manage("migrate", "-v", "0")
    manage("createcachetable")
    manage(
        "shell",
        "--no-imports",
        "-c",
        "from hierarchy.models import User; User.objects.create_user('alice')",
    )
    manage(
        "mailbox_connect_imap",
        "alice",
        "alice@x.test",
        "--login",
        "alice",
        "--imap-host",
        dovecot.host,
        "--imap-port",
        str(dovecot.port),
        "--imap-security",
        "plain",
        "--since-days",
        "all",
        stdin="secret\n",
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "crm",
            "worker",
            "--pool",
            "prefork",
            "-c",
            "1",
            "-l",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline, status = time.monotonic() + 90, ""
        while f"{COUNT:>7} msgs" not in status:
            assert time.monotonic() < deadline, f"not imported by the worker: {status}"
            assert worker.poll() is None, "the worker died"
            status = manage("mailbox_status")
        assert "active" in status
    finally:
        worker.terminate()
        worker.wait(timeout=30)
