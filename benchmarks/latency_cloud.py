"""Time from delivery to the card with push, for Microsoft 365 (Graph change notifications) and
Gmail (Pub/Sub push) against the project's fakes, with the product running as production runs it.

    .venv/bin/python benchmarks/latency_cloud.py [--sizes 1,20] [--deliveries 30] [--seconds 30]

For each provider and size: fresh fakes (tests/servers/microsoft.py or google.py, with that many
users), a fresh PostgreSQL database (DATABASE_URL, default postcard_bench_latency_cloud) and
gunicorn (DEBUG off) on a port chosen first, so that PUSH_BASE_URL names it. Each user signs in
through the product's own connect flow (django.test.Client in this process, on the same settings
and database), then each mailbox's first sync and its push set-up (mailbox_sync, push_ensure) run
here: Graph subscriptions validated by gunicorn, or a Gmail watch on a Pub/Sub topic whose
authenticated push subscription posts to gunicorn's /hooks/gmail/. Then one Celery worker
(threads, 8) and beat start, and `--deliveries` messages arrive at random moments over
`--seconds`, each to a random mailbox and from a sender who is a contact of its own; each is timed
until it appears in that contact's emails through the API (GET /api/contacts/{id}/emails/ with
the owner's token, polled every 50 ms). The minute poll (beat) runs throughout.

Every subprocess gets the settings the fakes need through its environment: every MICROSOFT_* and
GOOGLE_* setting as this process has it, PUSH_BASE_URL, and REQUESTS_CA_BUNDLE (the fakes' CA).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.card_page import (  # noqa: E402
    ensure_database,
    free_port,
    gunicorn,
    percentile,
    production_env,
)
from benchmarks.latency import VisibleTimer, message  # noqa: E402

POSTCARD_DB = "postgres://postgres@127.0.0.1:5432/postcard_bench_latency_cloud"
BROKER = "redis://127.0.0.1:6379/8"
PYTHON = Path(sys.executable)
PASSWORD = "secret"  # noqa: S105  (the fakes' users)
PROVIDERS = ("microsoft", "google")


@dataclass
class Owner:
    """A Postcard user, the address of the mailbox they connected, and their API token."""

    address: str
    token: str
    mailbox_id: int = 0


# --- Django in this process ----------------------------------------------------------------------


def django_ready(env: dict[str, str]) -> None:
    """Django on the environment the subprocesses get (same database and keys); once."""
    os.environ.update(env)
    import django
    from django.conf import settings

    django.setup()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test client's host


def fresh_database(url: str) -> None:
    from django import db
    from django.core.management import call_command

    db.connections.close_all()  # the previous run's: its database is dropped now
    ensure_database(url, fresh=True)
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)


def settings_named(prefix: str) -> dict[str, str]:
    """The settings whose names start with `prefix`, as they stand in this process (the fakes'
    values included), for another process's environment (as tests/calendars/killing.py)."""
    from django.conf import settings

    import crm.settings as declared

    names = [name for name in dir(declared) if name.startswith(prefix)]
    return {name: str(getattr(settings, name)) for name in names}


def callback_path(provider: str) -> str:
    from django.urls import reverse

    return reverse("mailbox-oauth-callback", args=[provider])


# --- the fakes -----------------------------------------------------------------------------------


@contextmanager
def cloud_for(provider: str, size: int, port: int) -> Iterator[tuple[Any, list[str], list[str]]]:
    """The provider's fakes with `size` users, Postcard's settings (this process's) pointing at
    them and push set up for gunicorn on `port`: (cloud, sign-in names, mailbox addresses)."""
    from django.conf import settings

    base = f"http://127.0.0.1:{port}"
    callback = "http://testserver" + callback_path(provider)
    if provider == "microsoft":
        from tests.servers.microsoft import MicrosoftCloud
        from tests.servers.microsoft import point_postcard_at as point_microsoft

        with MicrosoftCloud() as m365:
            point_microsoft(m365, settings, callback)
            logins, addresses = [], []
            for n in range(size):
                user = m365.tenant.add_user(
                    f"u{n}@contoso.onmicrosoft.com", mail=f"u{n}@contoso.com"
                )
                logins.append(user.upn)
                addresses.append(user.mail)
            settings.PUSH_BASE_URL = base
            os.environ["REQUESTS_CA_BUNDLE"] = m365.ca_pem_path
            os.environ.pop("CURL_CA_BUNDLE", None)
            yield m365, logins, addresses
    else:
        from tests.servers.google import GoogleCloud
        from tests.servers.google import point_postcard_at as point_google
        from tests.servers.pubsub import DEFAULT_PUSH_SERVICE_ACCOUNT

        with GoogleCloud() as gcloud:
            point_google(gcloud, settings, callback)
            addresses = []
            for n in range(size):
                gcloud.accounts.add_user(f"u{n}@acme.test", workspace_domain="acme.test")
                addresses.append(f"u{n}@acme.test")
            # The operator's set-up (README): a topic Gmail may publish to, an authenticated
            # push subscription to Postcard's endpoint, and the settings naming them.
            endpoint = f"{base}/hooks/gmail/"
            topic = gcloud.pubsub.create_topic("gmail-changes")
            gcloud.pubsub.grant_gmail_publisher(topic)
            gcloud.pubsub.create_push_subscription(topic, endpoint, audience=endpoint)
            settings.PUSH_BASE_URL = base
            settings.GOOGLE_PUBSUB_TOPIC = topic
            settings.GOOGLE_PUSH_SERVICE_ACCOUNT = DEFAULT_PUSH_SERVICE_ACCOUNT
            settings.GOOGLE_PUSH_AUDIENCE = endpoint
            settings.GOOGLE_CERTS_URL = gcloud.x509_certs_uri
            os.environ["REQUESTS_CA_BUNDLE"] = gcloud.ca_pem_path
            os.environ.pop("CURL_CA_BUNDLE", None)
            yield gcloud, addresses, addresses


def cloud_env() -> dict[str, str]:
    """What the subprocesses need to reach the fakes, from this process's settings."""
    from django.conf import settings

    env = {**settings_named("MICROSOFT_"), **settings_named("GOOGLE_")}
    env["PUSH_BASE_URL"] = settings.PUSH_BASE_URL
    env["REQUESTS_CA_BUNDLE"] = os.environ["REQUESTS_CA_BUNDLE"]
    return env


def pushes(provider: str, cloud: Any) -> tuple[int, int]:
    """Pushes the fake sent to gunicorn so far: (attempts, acknowledged)."""
    if provider == "microsoft":
        with cloud.tenant.lock:
            sent = [n for n in cloud.tenant.notifications_sent if n.kind == "change"]
        return len(sent), sum(1 for n in sent if n.delivered)
    with cloud.pubsub.lock:
        attempts = list(cloud.pubsub.deliveries)
    return len(attempts), sum(1 for d in attempts if d.acknowledged)


def deliver(provider: str, cloud: Any, address: str, raw: bytes) -> None:
    if provider == "microsoft":
        cloud.tenant.deliver(address, raw)
    else:
        cloud.accounts.deliver(address, raw, labels=("INBOX",))


# --- connecting, as a user clicks through it -----------------------------------------------------


def connect(provider: str, login: str, address: str) -> int:
    """The user `address` signs in through Postcard's connect flow; the new mailbox's id."""
    import requests
    from django.contrib.messages import get_messages
    from django.test import Client
    from django.urls import reverse

    from hierarchy.models import User
    from mailsync.models import Mailbox

    user = User.objects.get(email=address)
    client = Client()
    client.force_login(user)
    started = client.post(
        reverse("mailbox-connect-oauth", args=[provider]),
        {"address": address, "sync_since": "all"},
    )
    if started.status_code != 302:
        raise SystemExit(f"{address}: connect answered {started.status_code}")
    auth_uri = started["Location"]
    if provider == "microsoft":
        from tests.servers.microsoft_identity import form_fields as ms_fields

        requests.get(auth_uri, timeout=10).raise_for_status()  # Microsoft's sign-in page
        answer = requests.post(
            auth_uri,
            data={"username": login, "password": PASSWORD, "consent": "accept"},
            allow_redirects=False,
            timeout=10,
        )
        # form_post: Microsoft's page posts the answer to Postcard (without Postcard's cookies)
        posted = Client().post(callback_path(provider), ms_fields(answer.text))
        done = client.get(posted["Location"])
    else:
        from tests.servers.google_identity import form_fields as g_fields

        page = requests.get(auth_uri, timeout=10)
        page.raise_for_status()
        fields = {**g_fields(page.text), "email": login, "password": PASSWORD}
        fields.update(action="allow", decline="")
        answer = requests.post(page.url, data=fields, allow_redirects=False, timeout=10)
        back = urlsplit(answer.headers["Location"])
        query = {k: v[0] for k, v in parse_qs(back.query).items()}
        parked = client.get(back.path, query)
        done = client.get(parked["Location"])
    if done.get("Location") != reverse("mailbox-settings"):
        said = [str(m) for m in get_messages(done.wsgi_request)]
        raise SystemExit(f"{address}: not connected: {said}")
    return int(Mailbox.objects.get(address=address).pk)


def setup(provider: str, logins: list[str], addresses: list[str]) -> list[Owner]:
    """Users, tokens, mailboxes connected, first-synced and pushed (gunicorn must be up)."""
    from rest_framework.authtoken.models import Token

    from hierarchy.models import User
    from mailsync.models import Mailbox, PushSubscription
    from mailsync.push.services import push_ensure
    from mailsync.services import mailbox_sync

    owners = []
    for n, (login, address) in enumerate(zip(logins, addresses, strict=True)):
        user = User.objects.create_user(username=f"u{n}", email=address)
        owner = Owner(address=address, token=Token.objects.create(user=user).key)
        owner.mailbox_id = connect(provider, login, address)
        outcome = mailbox_sync(mailbox_id=owner.mailbox_id)
        if outcome.error:
            raise SystemExit(f"{address}: first sync failed: {outcome.error}")
        push_ensure(mailbox_id=owner.mailbox_id)
        if not PushSubscription.objects.filter(mailbox_id=owner.mailbox_id).exists():
            raise SystemExit(f"{address}: no push subscription after push_ensure")
        owners.append(owner)
    Mailbox.objects.update(wake_pending=False)
    return owners


# --- the product's processes ---------------------------------------------------------------------


@contextmanager
def worker_and_beat(env: dict[str, str]) -> Iterator[None]:
    """A Celery worker (threads) and beat, as README's "Running on PostgreSQL and Redis"."""
    celery = [str(PYTHON), "-m", "celery", "-A", "crm"]
    commands = [
        [*celery, "worker", "-l", "warning", "--pool", "threads", "-c", "8", "--without-gossip",
         "--without-mingle"],
        [*celery, "beat", "-l", "warning", "-s", str(ROOT / "var" / "bench-beat-cloud")],
    ]  # fmt: skip
    started: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            started.append(subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}))
        yield
    finally:
        for process in started:
            stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def flush_broker(url: str) -> None:
    """A previous run's queued tasks name mailboxes of a dropped database."""
    import redis

    redis.Redis.from_url(url).flushdb()


# --- deliveries ----------------------------------------------------------------------------------


def deliveries(
    provider: str, cloud: Any, port: int, owners: list[Owner], count: int, seconds: float
) -> list[float]:
    from crm.contacts.services import contact_create

    plan = sorted(random.uniform(0, seconds) for _ in range(count))
    timer = VisibleTimer(port)
    started = time.monotonic()
    for n, at in enumerate(plan):
        owner = random.choice(owners)
        sender = f"sender{n}@customer.test"
        contact = contact_create(last_name=f"Sender {n}", emails=[sender])
        subject, raw = message(n, sender, owner.address)
        time.sleep(max(0.0, started + at - time.monotonic()))  # the planned moment
        delivered = time.monotonic()
        deliver(provider, cloud, owner.address, raw)
        timer.watch(owner.token, contact.pk, subject, delivered)
    return timer.latencies()


def run(
    provider: str, size: int, count: int, seconds: float, env: dict[str, str]
) -> dict[str, Any]:
    fresh_database(env["DATABASE_URL"])
    flush_broker(env["REDIS_URL"])
    port = free_port()
    with ExitStack() as stack:
        cloud, logins, addresses = stack.enter_context(cloud_for(provider, size, port))
        extra = cloud_env()
        stack.enter_context(gunicorn({**env, **extra}, workers=2, port=port))
        connecting = time.monotonic()
        owners = setup(provider, logins, addresses)
        connected_in = time.monotonic() - connecting
        stack.enter_context(worker_and_beat({**env, **extra}))
        time.sleep(5)  # the worker up, the connect flow's queued first syncs done
        before = pushes(provider, cloud)
        latencies = deliveries(provider, cloud, port, owners, count, seconds)
        after = pushes(provider, cloud)
    return {
        "provider": provider,
        "mailboxes": size,
        "median": statistics.median(latencies) if latencies else float("nan"),
        "p95": percentile(latencies, 95) if latencies else float("nan"),
        "max": max(latencies) if latencies else float("nan"),
        "delivered": len(latencies),
        "sent": count,
        "connected_in": connected_in,
        "pushes": after[0] - before[0],
        "pushes_acknowledged": after[1] - before[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,20")
    parser.add_argument("--deliveries", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--providers", default=",".join(PROVIDERS))
    args = parser.parse_args()
    # One environment (and keys) for every run: this process's Django keeps the first.
    env = production_env(os.environ.get("DATABASE_URL", POSTCARD_DB))
    env.update(REDIS_URL=os.environ.get("REDIS_URL", BROKER), ALLOWED_HOSTS="127.0.0.1")
    os.environ.pop("CURL_CA_BUNDLE", None)  # requests would fall back to it over the fakes' CA
    django_ready(env)
    results = []
    for provider in args.providers.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            result = run(provider, size, args.deliveries, args.seconds, env)
            results.append(result)
            print(json.dumps(result), flush=True)
    names = {"microsoft": "Microsoft 365 (Graph)", "google": "Gmail (Pub/Sub)"}
    for r in results:
        print(
            f"{names[r['provider']]:<22} {r['mailboxes']:>3} mailboxes: delivery to the API "
            f"median {r['median'] * 1000:.0f} ms, p95 {r['p95'] * 1000:.0f} ms, max "
            f"{r['max'] * 1000:.0f} ms ({r['delivered']} of {r['sent']} messages); "
            f"{r['pushes_acknowledged']} of {r['pushes']} pushes acknowledged; connected, "
            f"synced and push set up in {r['connected_in']:.1f} s"
        )


if __name__ == "__main__":
    main()
