#!/usr/bin/env python3
"""The two commands a newcomer needs (standard library only, Python 3.11+).

    python3 dev.py start   # install, migrate, load demo data, run web + worker + beat on :8000
    python3 dev.py test    # install dev tools, then ruff, mypy and the whole pytest suite

Both create ./.venv on first use and reinstall only when pyproject.toml or constraints.txt change.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def ensure_venv(extras: str) -> None:
    if not PYTHON.exists():
        print("Creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256(
        (ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes()
    ).hexdigest()
    marker = VENV / f".installed-{extras or 'base'}"
    if marker.exists() and marker.read_text() == digest:
        return
    print("Installing dependencies (first run takes a minute) ...", flush=True)
    target = f".[{extras}]" if extras else "."
    run([PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([PYTHON, "-m", "pip", "install", "-q", "-c", "constraints.txt", "-e", target])
    marker.write_text(digest)


def run(args: list[object], env: dict[str, str] | None = None) -> None:
    subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def start() -> int:
    ensure_venv("")
    env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "1")}
    (ROOT / "var").mkdir(exist_ok=True)
    manage = [PYTHON, "manage.py"]
    run([*manage, "migrate", "--no-input", "-v", "0"], env)
    run([*manage, "createcachetable"], env)
    run([*manage, "seed_demo", "--if-empty"], env)
    celery = [str(BIN / "celery"), "-A", "crm"]
    where: dict[str, Any] = {"cwd": ROOT, "env": env}
    processes = [
        subprocess.Popen(
            [str(PYTHON), "manage.py", "runserver", "127.0.0.1:8000"], cwd=ROOT, env=env
        ),
        # Threads: syncs wait on the network; a first import parses on every core itself.
        subprocess.Popen(
            [*celery, "worker", "-l", "info", "--pool", "threads", "-c", "4"], **where
        ),
        subprocess.Popen([*celery, "beat", "-l", "info"], **where),
    ]
    # `kill` stops everything as Ctrl-C does, instead of orphaning the worker and beat.
    signal.signal(signal.SIGTERM, _interrupt)
    print("\nPostcard is starting at http://127.0.0.1:8000  (Ctrl-C stops web, worker and beat)")
    print("Log in as  manager / postcard-demo   (admin: admin / postcard-demo)\n", flush=True)
    try:
        while all(p.poll() is None for p in processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                processes[0].wait(timeout=1)
    except KeyboardInterrupt:
        pass
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait()
    return 0


def test(pytest_args: list[str]) -> int:
    ensure_venv("dev")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    for check in (
        [BIN / "ruff", "check", "."],
        [BIN / "ruff", "format", "--check", "."],
        [BIN / "mypy", "."],
    ):
        if subprocess.run([str(a) for a in check], cwd=ROOT, env=env).returncode != 0:
            return 1
    return subprocess.run([str(PYTHON), "-m", "pytest", *pytest_args], cwd=ROOT, env=env).returncode


def main() -> int:
    command, *rest = sys.argv[1:] or ["help"]
    if command == "start":
        return start()
    if command == "test":
        return test(rest)
    print(__doc__)
    return 0 if command == "help" else 2


if __name__ == "__main__":
    sys.exit(main())
