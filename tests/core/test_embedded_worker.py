"""With no REDIS_URL, a real Celery worker runs tasks through the filesystem broker."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def django_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
    return {
        **env,
        "DEBUG": "1",
        "POSTCARD_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "crm.settings",
    }


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_worker_consumes_a_task_from_the_embedded_broker(tmp_path):
    env = django_env(tmp_path)
    manage(env, "migrate", "-v", "0")
    manage(env, "createcachetable")
    read_heartbeat = (
        "from django.core.cache import cache; from crm.core.tasks import WORKER_HEARTBEAT_KEY;"
        "print(cache.get(WORKER_HEARTBEAT_KEY) or '')"
    )
    assert manage(env, "shell", "--no-imports", "-c", read_heartbeat).strip() == ""
    manage(
        env,
        "shell",
        "--no-imports",
        "-c",
        "from crm.core.tasks import worker_heartbeat; worker_heartbeat.delay()",
    )
    assert list((tmp_path / "broker" / "queue").iterdir()), "the task was not queued on disk"

    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "crm", "worker", "--pool", "solo", "-l", "warning"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        beat = ""
        while not beat and time.monotonic() < deadline and worker.poll() is None:
            beat = manage(env, "shell", "--no-imports", "-c", read_heartbeat).strip()
        assert beat, "the worker did not run the queued task within 60 s"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
