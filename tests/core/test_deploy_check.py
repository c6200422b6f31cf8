"""Production settings (DEBUG off, real secrets, HTTPS) pass `manage.py check --deploy` without a
single warning, and their responses carry the security headers: HSTS, the HTTPS redirect and
the Content-Security-Policy."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]
HOST = "crm.example.com"
# Read from the environment by crm/settings.py; a test run's own values must not leak in.
OURS = {
    "DEBUG",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "DATABASE_URL",
    "REDIS_URL",
    "ALLOWED_HOSTS",
    "SECURE_COOKIES",
    "BEHIND_PROXY",
    "DJANGO_SETTINGS_MODULE",
    "POSTCARD_VAR_DIR",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set by the browser tests' conftest in this process
}


def production(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The README's production settings ("Running on PostgreSQL and Redis"), on SQLite."""
    env = {k: v for k, v in os.environ.items() if k not in OURS and not k.startswith("HSTS_")}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "crm.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": HOST,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'postcard.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:6379/0",  # never connected to by these tests
        "POSTCARD_VAR_DIR": str(tmp_path),
        **overrides,
    }


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_check_deploy_passes_without_a_warning(tmp_path):
    check = ["manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    result = run(check, production(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_still_flags_a_plain_http_trial(tmp_path):
    # The one setting that turns the HTTPS protections off is reported, not silenced.
    env = production(tmp_path, SECURE_COOKIES="0")
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode != 0
    assert "security.W008" in result.stderr  # SECURE_SSL_REDIRECT
    assert "security.W004" in result.stderr  # SECURE_HSTS_SECONDS


# Three requests through Django's test client in a process on the production settings: plain
# HTTP, HTTPS, and plain HTTP that a proxy says arrived over HTTPS.
PROBE = f"""
import json, django
django.setup()
from django.test import Client
client = Client(headers={{"host": "{HOST}"}})
answers = {{
    "http": client.get("/api/contacts/"),
    "https": client.get("/api/contacts/", secure=True),
    "proxied": client.get("/api/contacts/", headers={{"x-forwarded-proto": "https"}}),
}}
print(json.dumps({{
    name: {{"status": r.status_code, "headers": dict(r.headers)}} for name, r in answers.items()
}}))
"""


def probe(env: dict[str, str]) -> dict[str, dict[str, object]]:
    result = run(["-c", PROBE], env)
    assert result.returncode == 0, result.stderr
    answers: dict[str, dict[str, object]] = json.loads(result.stdout.splitlines()[-1])
    return answers


def test_production_responses_carry_hsts_csp_and_redirect_to_https(tmp_path):
    answers = probe(production(tmp_path))

    http = answers["http"]
    assert http["status"] == 301
    assert http["headers"]["Location"] == f"https://{HOST}/api/contacts/"

    https = answers["https"]
    headers = https["headers"]
    assert https["status"] == 403  # reached the API: not logged in
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    policy = {
        directive.split()[0]: directive.split()[1:]
        for directive in headers["Content-Security-Policy"].split("; ")
    }
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert headers["X-Content-Type-Options"] == "nosniff"

    # Without BEHIND_PROXY, a client's own X-Forwarded-Proto is not believed.
    assert answers["proxied"]["status"] == 301


def test_behind_a_proxy_its_forwarded_proto_counts(tmp_path):
    answers = probe(production(tmp_path, BEHIND_PROXY="1"))
    assert answers["proxied"]["status"] == 403
    assert "Strict-Transport-Security" in answers["proxied"]["headers"]
    assert answers["http"]["status"] == 301


def test_a_plain_http_trial_is_not_redirected(tmp_path):
    answers = probe(production(tmp_path, SECURE_COOKIES="0"))
    assert answers["http"]["status"] == 403
    assert "Strict-Transport-Security" not in answers["https"]["headers"]
    assert "Content-Security-Policy" in answers["http"]["headers"]
