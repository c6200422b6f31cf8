#!/usr/bin/env python3
"""The two commands a newcomer needs (standard library only, Python 3.11+).

    python3 dev.py start   # install, migrate, demo data; web + worker + beat + listener on :8000
    python3 dev.py test    # install dev tools, then ruff, mypy and the whole pytest suite

`start --port N` (or the PORT environment variable; the option wins) serves on another port.

Both create ./.venv on first use and reinstall only when pyproject.toml or constraints.txt change.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import signal
import socket
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


DEFAULT_PORT = 8000


def start_port(args: list[str], environ: dict[str, str]) -> int:
    """The port of `start [--port N]`, else $PORT, else 8000; SystemExit with a message if bad."""
    parser = argparse.ArgumentParser(prog="dev.py start")
    parser.add_argument("--port", help=f"port to serve on (default: $PORT or {DEFAULT_PORT})")
    value = parser.parse_args(args).port or environ.get("PORT") or str(DEFAULT_PORT)
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        parser.error(f"the port must be a number from 1 to 65535, not {value!r}")
    return int(value)


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as runserver binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(args: list[str]) -> int:
    port = start_port(args, dict(os.environ))
    # Say so before installing and migrating, not after as runserver's traceback.
    if not port_is_free(port):
        print(f"Port {port} is in use. Free it or pick another: dev.py start --port {port + 1}")
        return 1
    ensure_venv("")
    env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "1")}
    (ROOT / "var").mkdir(exist_ok=True)
    manage = [PYTHON, "manage.py"]
    # migrate also creates the database cache's table (crm/core/migrations/0001_cache_table.py).
    run([*manage, "migrate", "--no-input", "-v", "0"], env)
    run([*manage, "seed_demo", "--if-empty"], env)
    celery = [str(BIN / "celery"), "-A", "crm"]
    where: dict[str, Any] = {"cwd": ROOT, "env": env}
    processes = [
        subprocess.Popen(
            [str(PYTHON), "manage.py", "runserver", f"127.0.0.1:{port}"], cwd=ROOT, env=env
        ),
        # Threads: syncs wait on the network; a first import parses on every core itself.
        subprocess.Popen(
            [*celery, "worker", "-l", "info", "--pool", "threads", "-c", "4"], **where
        ),
        subprocess.Popen([*celery, "beat", "-l", "info"], **where),
        # IDLE on every IMAP mailbox: new mail synced within seconds (mailsync/push/).
        subprocess.Popen([str(PYTHON), "manage.py", "mailbox_listen"], **where),
    ]
    # `kill` stops everything as Ctrl-C does, instead of orphaning the worker and beat.
    signal.signal(signal.SIGTERM, _interrupt)
    print(f"\nPostcard is starting at http://127.0.0.1:{port}  (Ctrl-C stops every process)")
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
        return start(rest)
    if command == "test":
        return test(rest)
    print(__doc__)
    return 0 if command == "help" else 2


if __name__ == "__main__":
    sys.exit(main())
