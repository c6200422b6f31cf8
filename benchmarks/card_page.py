"""Time the contact and account cards and their API endpoints over HTTP, as production serves them.

    .venv/bin/python benchmarks/card_page.py [--quick] [--rebuild] [--runs 20] [--workers 3]

Loads (once; kept between runs) the company of `benchmarks/card_data.py` into PostgreSQL: 5,000
users, 2,000,000 messages, contacts with 500, 5,000 and 50,000 emails and an account with 500,000
(`--quick`: 500 users, 50,000 messages, 50/500/5,000 and 20,000, in its own database). Then starts
gunicorn with DEBUG off on the production settings, logs the two viewers in through the login
form, and times, for each viewer, the first and a later page of every card and of
/api/contacts/{id}/emails/ and /api/accounts/{id}/emails/; the first page with the visibility
cold (cache invalidated as a tree change does); and 8 clients for 20 s on a mix of cards. Query
counts and the slowest query's EXPLAIN (ANALYZE, BUFFERS) come from the same requests run
in-process (django.test.Client) on the same database. Targets: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import html
import http.client
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import card_data  # noqa: E402
from benchmarks.card_data import Dataset, Params, Target  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/postcard_bench_cards"
QUICK_URL = "postgres://postgres@127.0.0.1:5432/postcard_bench_cards_quick"
DEFAULT_REDIS = "redis://127.0.0.1:6379/4"
VAR_DIR = ROOT / "var" / "bench_cards"  # static files and the gunicorn log
PYTHON = Path(sys.executable)  # the project's virtualenv (.venv/bin/python)
GUNICORN = PYTHON.parent / "gunicorn"
WARMUP = 5  # measure() (in-process, also used by visibility.py)
HTTP_WARMUP = 2
TIMEOUT = 300.0  # seconds, per request (gunicorn's --timeout too): the old code is slow at 500k
CONCURRENCY = 8
CONCURRENCY_SECONDS = 20.0
TARGETS = {"median": 30.0, "p90": 50.0, "cold": 50.0, "rate": 100.0, "p99": 150.0}


# --- in-process helpers, shared with visibility.py ---------------------------------------------


@dataclass(frozen=True)
class Timing:
    median: float
    p90: float
    queries: int
    runs: int = 0


def ensure_database(url: str, *, fresh: bool = False) -> None:
    """CREATE DATABASE through the `postgres` maintenance database when it does not exist.

    `fresh`: drop it first (WITH FORCE: closes other sessions on it).
    """
    import dj_database_url
    import psycopg
    from psycopg import sql

    params = dj_database_url.parse(url)
    name = params["NAME"]
    connection = psycopg.connect(
        dbname="postgres",
        host=params.get("HOST") or None,
        port=params.get("PORT") or None,
        user=params.get("USER") or None,
        password=params.get("PASSWORD") or None,
        autocommit=True,
    )
    with connection:
        if fresh:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if found.fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def setup_django() -> None:
    """Django on the product's settings with DEBUG on (visibility.py's in-process timings)."""
    sys.path.insert(0, str(ROOT))
    os.environ["DEBUG"] = "1"
    # The product's settings, not the tests' (which swap the cache and the password hasher).
    os.environ["DJANGO_SETTINGS_MODULE"] = "crm.settings"
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test client's host
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)


def analyze() -> None:
    """Fresh statistics, as autovacuum would have gathered on a live database."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def measure(call: Callable[[], object], runs: int) -> Timing:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    for _ in range(WARMUP):
        call()
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        call()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return Timing(median(samples), p90(samples), len(captured.captured_queries), runs)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def p90(samples: Sequence[float]) -> float:
    return percentile(samples, 90)


def percentile(samples: Sequence[float], pct: int) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


# --- settings, data, server ----------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small dataset (50k messages), its own database"
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="drop the database and load it again"
    )
    parser.add_argument("--runs", type=int, default=20, help="timed requests per line")
    parser.add_argument(
        "--budget", type=float, default=15.0, help="seconds per line before stopping early"
    )
    parser.add_argument(
        "--workers", type=int, default=3, help="gunicorn workers (README and Dockerfile: 3)"
    )
    parser.add_argument("--clients", type=int, default=CONCURRENCY)
    parser.add_argument("--seconds", type=float, default=CONCURRENCY_SECONDS)
    parser.add_argument("--no-explain", action="store_true", help="skip the in-process EXPLAIN")
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="profile 20 in-process views of PATH as the level-4 viewer (where the time goes: "
        "queries, view code, template) and stop",
    )
    parser.add_argument("--build-only", action="store_true", help="load the data and stop")
    parser.add_argument(
        "--concurrency-only", action="store_true", help="only the run of concurrent clients"
    )
    return parser.parse_args(argv)


def production_env(url: str) -> dict[str, str]:
    """What a production deployment sets (README, "Running on PostgreSQL and Redis")."""
    keys = subprocess.run(
        [str(PYTHON), "manage.py", "generate_keys"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "DEBUG": "0"},
    ).stdout
    env = dict(
        line.split("=", 1) for line in keys.splitlines() if "=" in line and not line.startswith("#")
    )
    env.update(
        DEBUG="0",
        DJANGO_SETTINGS_MODULE="crm.settings",
        DATABASE_URL=url,
        REDIS_URL=os.environ.get("REDIS_URL", DEFAULT_REDIS),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_COOKIES="0",  # plain HTTP on 127.0.0.1; everything else as in production
        POSTCARD_VAR_DIR=str(VAR_DIR),
        LOG_LEVEL="WARNING",
    )
    return env


def prepare(url: str, params: Params, rebuild: bool) -> Dataset:
    """The dataset, loaded now unless the database already holds one with these parameters."""
    ensure_database(url)
    dataset = None if rebuild else card_data.stored(url, params)
    if dataset is None:
        ensure_database(url, fresh=True)
    django_production()
    if dataset is None:
        print(f"building {params} ...", flush=True)
        dataset = card_data.build(url, params)
        print(f"built in {dataset.build_seconds:.0f} s", flush=True)
    elif dataset.card_links is None and _links_table_empty():
        # The product gained its link table since the data was built: fill it now.
        links = card_data.card_links_rebuild(url)
        if links is not None:
            dataset.card_links = links
    invalidate_visibility()  # rows loaded with COPY sent no signals
    return dataset


def django_production() -> None:
    """Django in this process, on the environment gunicorn gets (DEBUG off)."""
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]  # the test client's host
    call_command("migrate", verbosity=0, interactive=False)
    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        call_command("collectstatic", interactive=False, verbosity=0)


def _links_table_empty() -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('mailsync_cardlink') IS NOT NULL")
        row = cursor.fetchone()
        if not row or not row[0]:
            return False
        cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM mailsync_cardlink)")
        row = cursor.fetchone()
    return bool(row and row[0])


def invalidate_visibility() -> None:
    """What a change of the tree or of a mailbox does: every cached visibility is stale."""
    from hierarchy.signals import bump_tree_version

    bump_tree_version()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str], workers: int, port: int | None = None) -> Iterator[int]:
    """gunicorn as README documents it, on `port` or a free one; stopped (its own pid) on the
    way out."""
    port = port or free_port()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    log = (VAR_DIR / "gunicorn.log").open("w")
    command = [str(GUNICORN), "crm.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--timeout", str(int(TIMEOUT))]
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if Browser(port).get("/login/").status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start: see {VAR_DIR / 'gunicorn.log'}")
            time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    location: str


class Browser:
    """One client: an HTTP/1.1 connection to 127.0.0.1 and its cookies."""

    def __init__(self, port: int, cookies: dict[str, str] | None = None) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        self.cookies = dict(cookies or {})

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Response:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.connection.request(method, path, body=body, headers=headers)
            answer = self.connection.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.connection.close()  # the server closed a kept connection: once more, fresh
            self.connection.request(method, path, body=body, headers=headers)
            answer = self.connection.getresponse()
        content = answer.read()
        for header in answer.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return Response(answer.status, content, answer.headers.get("Location", ""))

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def login(self, username: str, password: str) -> None:
        """The login form: GET for the CSRF token, POST, follow the redirect home."""
        page = self.get("/login/").body.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if token is None:
            raise SystemExit("no CSRF token on /login/")
        form = {
            "csrfmiddlewaretoken": token.group(1),
            "username": username,
            "password": password,
            "next": "",
        }
        answer = self.request("POST", "/login/", form)
        if answer.status != 302 or "sessionid" not in self.cookies:
            raise SystemExit(f"login of {username} failed: {answer.status}")
        home = self.get(urlsplit(answer.location).path or "/")
        if home.status != 200:
            raise SystemExit(f"home page after login answered {home.status}")


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Explained:
    ms: float  # the slowest query as captured
    execution_ms: float  # EXPLAIN ANALYZE's execution time
    rows: int  # rows through every plan node (actual rows x loops)
    buffers: int  # shared blocks hit + read (8 kB each)
    read: int  # of those, read from outside PostgreSQL's buffer cache


@dataclass
class Line:
    viewer: str
    what: str
    emails: int
    page: str
    samples: list[float] = field(default_factory=list)
    queries: int | None = None
    slowest: Explained | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return median(self.samples)

    @property
    def p90(self) -> float:
        return p90(self.samples)


class Bench:
    def __init__(self, args: argparse.Namespace, dataset: Dataset, port: int) -> None:
        self.args = args
        self.dataset = dataset
        self.port = port
        self.lines: list[Line] = []
        self.cookies: dict[str, dict[str, str]] = {}

    def _timed(
        self,
        browser: Browser,
        path: str,
        before: Callable[[], None] | None,
        samples: list[float],
    ) -> tuple[Response, list[float]]:
        answer = None
        for _ in range(HTTP_WARMUP):
            if before:
                before()
            answer = browser.get(path)
            check(answer, path)
        started_all = time.monotonic()
        while len(samples) < self.args.runs:
            if before:
                before()
            started = time.perf_counter()
            answer = browser.get(path)
            samples.append((time.perf_counter() - started) * 1000)
            check(answer, path)
            if len(samples) >= 3 and time.monotonic() - started_all > self.args.budget:
                break
        assert answer is not None
        return answer, samples

    def line(
        self,
        browser: Browser,
        viewer: str,
        what: str,
        target: Target,
        page: str,
        path: str,
        cold: bool = False,
    ) -> Response:
        before = invalidate_visibility if cold else None
        entry = Line(viewer, what, target.emails, page)
        answer, entry.samples = self._timed(browser, path, before, [])
        if not self.args.no_explain:
            entry.queries, entry.slowest = in_process(viewer, path, cold)
        self.lines.append(entry)
        print(format_line(entry), flush=True)
        return answer

    def login(self, username: str) -> Browser:
        browser = Browser(self.port)
        browser.login(username, card_data.PASSWORD)
        self.cookies[username] = dict(browser.cookies)
        return browser

    def viewer(self, username: str) -> None:
        browser = self.login(username)
        cards = [("contact card", t, f"/contacts/{t.pk}/") for t in self.dataset.contacts]
        cards += [("account card", t, f"/accounts/{t.pk}/") for t in self.dataset.accounts]
        for what, target, path in cards:
            first = self.line(browser, username, what, target, "1", path)
            found = re.search(r'<a href="([^"]+)" rel="next"', first.body.decode())
            later, how = (
                (urljoin(path, html.unescape(found.group(1))), "next")
                if found
                else (path + "?page=2", "?page=2")
            )
            self.line(browser, username, what, target, f"2 ({how})", later)
            self.line(browser, username, what + ", cold", target, "1", path, cold=True)
        apis = [("API contact", t, f"/api/contacts/{t.pk}/emails/") for t in self.dataset.contacts]
        apis += [("API account", t, f"/api/accounts/{t.pk}/emails/") for t in self.dataset.accounts]
        for what, target, path in apis:
            first = self.line(browser, username, what, target, "1", path)
            following = json.loads(first.body).get("next")
            later, how = (
                (urlsplit(following).path + "?" + urlsplit(following).query, "next")
                if following
                else (path + "?page=2", "?page=2")
            )
            self.line(browser, username, what, target, f"2 ({how})", later)

    def concurrency(self) -> tuple[int, int, float, list[float]]:
        """`clients` threads for `seconds` on the cards' first and later pages, both viewers."""
        paths = [f"/contacts/{t.pk}/" for t in self.dataset.contacts]
        paths += [f"/accounts/{t.pk}/" for t in self.dataset.accounts]
        paths += [p + "?page=2" for p in paths]
        viewers = list(self.cookies)
        samples: list[float] = []
        errors = [0]
        lock = threading.Lock()
        deadline = time.monotonic() + self.args.seconds

        def client(n: int) -> None:
            browser = Browser(self.port, self.cookies[viewers[n % len(viewers)]])
            rng = random.Random(n)
            while time.monotonic() < deadline:
                path = rng.choice(paths)
                started = time.perf_counter()
                try:
                    ok = browser.get(path).status == 200
                except OSError:
                    ok = False
                    browser = Browser(self.port, browser.cookies)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if ok:
                        samples.append(elapsed)
                    else:
                        errors[0] += 1

        started = time.monotonic()
        workers = [threading.Thread(target=client, args=(n,)) for n in range(self.args.clients)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return len(samples), errors[0], time.monotonic() - started, samples


def check(answer: Response, path: str) -> None:
    if answer.status != 200:
        raise SystemExit(f"GET {path} answered {answer.status}")


def in_process(username: str, path: str, cold: bool) -> tuple[int, Explained | None]:
    """The same request through django.test.Client: its queries, the slowest one EXPLAINed."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from hierarchy.models import User

    client = Client()
    client.force_login(User.objects.get(username=username))
    client.get(path)  # warm, as the HTTP runs were
    if cold:
        invalidate_visibility()
    with CaptureQueriesContext(connection) as captured:
        answer = client.get(path)
    if answer.status_code != 200:
        raise SystemExit(f"in-process GET {path} answered {answer.status_code}")
    queries = captured.captured_queries
    if not queries:
        return 0, None
    slowest = max(queries, key=lambda q: float(q["time"]))
    return len(queries), explain(slowest["sql"], float(slowest["time"]) * 1000)


def profile(path: str, views: int = 20) -> None:
    """Where one page's time goes, in process: database, Postcard's code, template rendering."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from hierarchy.models import User

    client = Client()
    client.force_login(User.objects.get(username=card_data.VIEWERS[0]))
    check_status = client.get(path).status_code
    if check_status != 200:
        raise SystemExit(f"in-process GET {path} answered {check_status}")
    with CaptureQueriesContext(connection) as captured:
        started = time.perf_counter()
        client.get(path)
        total = (time.perf_counter() - started) * 1000
    database = sum(float(q["time"]) for q in captured.captured_queries) * 1000
    print(f"{path}: {total:.1f} ms, {len(captured)} queries, {database:.1f} ms in the database")
    for query in captured.captured_queries:
        print(f"  {float(query['time']) * 1000:5.1f} ms  {' '.join(query['sql'].split())[:150]}")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(views):
        client.get(path)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(r"crm/|mailsync/|hierarchy/|shortcuts.py", 25)
    stats.sort_stats("tottime").print_stats(25)  # the hottest functions, any library


def explain(query: str, ms: float) -> Explained | None:
    from django.db import connection

    if not query.lstrip().upper().startswith(("SELECT", "WITH")):
        return None
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query)
        row = cursor.fetchone()
    assert row is not None
    document = row[0] if isinstance(row[0], list) else json.loads(row[0])
    plan = document[0]
    root = plan["Plan"]

    def rows(node: dict[str, Any]) -> int:
        own = int(node.get("Actual Rows", 0) * node.get("Actual Loops", 1))
        return own + sum(rows(child) for child in node.get("Plans", []))

    hit, read = root.get("Shared Hit Blocks", 0), root.get("Shared Read Blocks", 0)
    return Explained(ms, plan.get("Execution Time", 0.0), rows(root), hit + read, read)


# --- report --------------------------------------------------------------------------------------

HEADER = (
    f"{'viewer':<9}{'what':<21}{'emails':>8}  {'page':<11}{'median':>8}{'p90':>8}{'n':>4}"
    f"{'queries':>8}  slowest query: ms (EXPLAIN ANALYZE ms), rows touched, buffers (read)"
)


def format_line(line: Line) -> str:
    slowest = ""
    if line.slowest:
        s = line.slowest
        slowest = (
            f"{s.ms:.1f} ({s.execution_ms:.1f}), {s.rows:,} rows, {s.buffers:,} buf ({s.read:,})"
        )
    queries = "-" if line.queries is None else str(line.queries)
    return (
        f"{line.viewer:<9}{line.what:<21}{line.emails:>8,}  {line.page:<11}"
        f"{line.median:>8.1f}{line.p90:>8.1f}{len(line.samples):>4}{queries:>8}  {slowest}"
    )


def summary(bench: Bench) -> list[str]:
    """Flatness (largest contact against smallest) and the targets, line by line."""
    out = []
    for viewer in bench.cookies:
        for what in ("contact card", "API contact"):
            firsts = [
                line
                for line in bench.lines
                if line.viewer == viewer and line.what == what and line.page == "1"
            ]
            if len(firsts) >= 2:
                small, large = firsts[0], firsts[-1]
                out.append(
                    f"flat ({viewer}, {what} page 1): {large.emails:,} / {small.emails:,} emails "
                    f"= {large.median / small.median:.2f}x (target <= 1.5x)"
                )
    misses = [
        line
        for line in bench.lines
        if (
            line.median >= TARGETS["cold"]
            if line.what.endswith("cold")
            else line.median >= TARGETS["median"] or line.p90 >= TARGETS["p90"]
        )
    ]
    out.append(f"lines over target: {len(misses)} of {len(bench.lines)}")
    return out


def environment(args: argparse.Namespace, dataset: Dataset, url: str) -> list[str]:
    import django
    from django.db import connection

    import crm

    code = Path(crm.__file__).resolve().parent.parent
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    p = dataset.params
    return [
        f"date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores; load average "
        f"{load} (other processes share the CPU); nice {os.nice(0)}",
        f"PostgreSQL {version[0] if version else '?'} ({urlsplit(url).path.lstrip('/')}), "
        f"Django {django.get_version()}, gunicorn {args.workers} sync workers, DEBUG off, "
        f"cache Redis; clients and server on the same machine; code {code}",
        f"data: {p.users:,} users, {p.messages:,} messages, contacts {p.contact_sizes}, account "
        f"{p.account_size:,} over {p.account_contacts} contacts; built {dataset.built_at} in "
        f"{dataset.build_seconds:.0f} s; card links: "
        + (
            "none (no mailsync.card_links)"
            if dataset.card_links is None
            else f"{dataset.card_links:,}"
        ),
        f"viewers: ceo (level 4) and director (level 1), each sees 25 mailboxes; the cards' mail "
        f"is in the {len(dataset.viewed_mailboxes)} both see; {args.runs} runs a line after "
        f"{HTTP_WARMUP} warm-ups (fewer past {args.budget:.0f} s); ms",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    params = card_data.QUICK if args.quick else card_data.FULL
    url = os.environ.get("DATABASE_URL") or (QUICK_URL if args.quick else DEFAULT_URL)
    env = production_env(url)
    os.environ.update(env)
    dataset = prepare(url, params, args.rebuild)
    if args.build_only:
        return 0
    if args.profile:
        django_production()
        profile(args.profile)
        return 0
    header = environment(args, dataset, url)
    print("\n".join(header), flush=True)
    with gunicorn(env, args.workers) as port:
        bench = Bench(args, dataset, port)
        print(HEADER, flush=True)
        for username in card_data.VIEWERS:
            if args.concurrency_only:
                bench.login(username)
            else:
                bench.viewer(username)
        done, errors, seconds, samples = bench.concurrency()
    rate = (
        f"{args.clients} clients, {args.seconds:.0f} s, mix of card pages 1 and 2, both viewers: "
        f"{done} cards in {seconds:.1f} s = {done / seconds:.1f} cards/s, {errors} errors"
    )
    if samples:
        rate += f", p50 {median(samples):.1f} ms, p99 {percentile(samples, 99):.1f} ms"
        met = done / seconds >= TARGETS["rate"] and percentile(samples, 99) < TARGETS["p99"]
        rate += f" (target >= {TARGETS['rate']:.0f} cards/s, p99 < {TARGETS['p99']:.0f} ms: " + (
            "met)" if met and not errors else "MISSED)"
        )
    print(rate)
    print("\n".join(summary(bench)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
