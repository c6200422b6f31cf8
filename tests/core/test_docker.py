"""Docker: `docker compose config` works without a .env file (the containers then refuse to
start, naming the settings to set), and the image's build-time settings pass the startup
checks. Docker Compose is not installed here (nor in CI), so the file is read as YAML."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OURS = {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL"}


def compose() -> dict[str, dict[str, dict[str, object]]]:
    loaded: dict[str, dict[str, dict[str, object]]] = yaml.safe_load(
        (ROOT / "docker-compose.yml").read_text()
    )
    return loaded


def test_no_service_requires_a_dot_env_file():
    services = compose()["services"]
    postcard = [name for name, service in services.items() if "env_file" in service]
    assert set(postcard) == {"migrate", "web", "worker", "beat", "listener"}
    for name in postcard:
        entries = services[name]["env_file"]
        assert isinstance(entries, list), name
        for entry in entries:
            assert entry == {"path": ".env", "required": False}, name


def test_the_example_env_names_the_two_secrets_and_how_to_make_them():
    example = (ROOT / ".env.example").read_text()
    assert "manage.py generate_keys" in example
    assert re.search(r"^SECRET_KEY=", example, re.MULTILINE)
    assert re.search(r"^FIELD_ENCRYPTION_KEYS=", example, re.MULTILINE)


def test_the_image_build_settings_pass_the_startup_checks(tmp_path):
    # The Dockerfile runs collectstatic with throwaway values: they must satisfy the checks.
    dockerfile = (ROOT / "Dockerfile").read_text()
    build_env = dict(re.findall(r"\b(DEBUG|SECRET_KEY|FIELD_ENCRYPTION_KEYS)=(\S+)", dockerfile))
    assert set(build_env) == {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS"}
    env = {k: v for k, v in os.environ.items() if k not in OURS}
    result = subprocess.run(
        [sys.executable, "-c", "import crm.settings"],
        cwd=ROOT,
        env={**env, **build_env, "POSTCARD_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
