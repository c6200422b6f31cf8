"""`python3 dev.py start --port N` (or PORT=N) serves on another port than 8000, and a port
already taken is named before anything is installed or started."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402  (dev.py is a script at the root, not a package)


@pytest.mark.parametrize(
    ("args", "environ", "port"),
    [
        ([], {}, 8000),
        ([], {"PORT": "8123"}, 8123),
        (["--port", "9001"], {}, 9001),
        (["--port=9002"], {"PORT": "8123"}, 9002),  # the option wins over PORT
    ],
)
def test_start_port_comes_from_the_option_then_port_then_8000(args, environ, port):
    assert dev.start_port(args, environ) == port


@pytest.mark.parametrize(
    ("args", "environ"),
    [(["--port", "eighty"], {}), (["--port", "0"], {}), ([], {"PORT": "70000"})],
)
def test_a_port_that_is_not_a_port_is_refused_with_a_message(args, environ, capsys):
    with pytest.raises(SystemExit) as exit_:
        dev.start_port(args, environ)
    assert exit_.value.code == 2
    assert "the port must be a number from 1 to 65535" in capsys.readouterr().err


def test_start_on_a_taken_port_says_so_and_suggests_another():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "dev.py", "start", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"Port {port} is in use." in result.stdout
    assert f"dev.py start --port {port + 1}" in result.stdout
