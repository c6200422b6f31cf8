"""Time mirroring one IMAP mailbox: mbsync, offlineimap, the bare FETCH floor and Postcard's import.

    .venv/bin/python benchmarks/imap_import.py [--messages 10000] [--seed 1] [--skip offlineimap]

Starts a throwaway Dovecot (tests/servers/dovecot.py), loads `--messages` varied messages into
alice's INBOX (80% generated business mail, 20% messages cycled from ../shared/corpus/emails with
fresh Message-IDs; seeded, so every run loads the same mailbox) and times, in one run, with
time.perf_counter() around each whole client run:

- the FETCH floor: imapclient fetching BODY.PEEK[] of every message, 500 UIDs a request, nothing
  parsed (cold: Dovecot's cache is built; warm: again);
- mbsync (isync) mirroring INBOX to a Maildir;
- offlineimap mirroring INBOX to a Maildir;
- Postcard's first import into PostgreSQL (DATABASE_URL, default postcard_bench_imap): the
  sync service a worker runs, fetching, parsing, matching and storing every message.

Absolute times vary between machines: compare the ratios of one run (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers.dovecot import Dovecot  # noqa: E402
from tests.servers.mailgen import (  # noqa: E402
    business_message,
    corpus_messages,
    with_fresh_message_id,
)

USER, PASSWORD = "alice", "secret"
FOLDER = "INBOX"
ALICE = "Alice Archer <alice@postcard.example>"
SENDERS = [
    "Carla Müller <carla.mueller@kessler.example>",
    "Jean Dupont <j.dupont@dupont-conseil.example>",
    "Priya Natarajan <priya@bluebird-analytics.example>",
    "Tom O'Neill <tom.oneill@northwind.example>",
    "Ingrid Solberg <ingrid.solberg@fjord-maritime.example>",
    "sales@acme-logistics.example",
]
COLLEAGUES = ["Bob Baker <bob@postcard.example>", "dana.lee@postcard.example"]
FETCH_CHUNK = 500
CORPUS_SHARE = 5  # every 5th message comes from the corpus: 20%
TOOLS = ("mbsync", "offlineimap")
MBSYNC = shutil.which("mbsync") or "/usr/bin/mbsync"
OFFLINEIMAP = shutil.which("offlineimap") or "/usr/bin/offlineimap"


@dataclass(frozen=True)
class Run:
    name: str
    seconds: float
    messages: int
    note: str = ""


def mailbox_messages(count: int, seed: int) -> Iterator[bytes]:
    """The benchmark mailbox: 80% business_message, 20% corpus mail with fresh Message-IDs."""
    rng = random.Random(seed)
    corpus = list(corpus_messages())
    for n in range(count):
        if n % CORPUS_SHARE == CORPUS_SHARE - 1 and corpus:
            raw = corpus[(n // CORPUS_SHARE) % len(corpus)]
            yield with_fresh_message_id(raw, f"bench-corpus-{n}@postcard.example")
            continue
        html = rng.random() < 0.6
        cc = rng.sample(COLLEAGUES, rng.choice([0, 0, 0, 1, 2]))
        yield business_message(
            n,
            rng=rng,
            sender=rng.choice(SENDERS),
            to=ALICE,
            cc=cc,
            html=html,
            inline_image=html and rng.random() < 0.35,
        )


def load_mailbox(dovecot: Dovecot, count: int, seed: int) -> None:
    started = time.perf_counter()
    uids = dovecot.append_many(USER, FOLDER, mailbox_messages(count, seed))
    seconds = time.perf_counter() - started
    size = sum(path.stat().st_size for path in dovecot.mail_dir.rglob("*") if path.is_file())
    print(
        f"loaded {len(uids)} messages into {USER}'s {FOLDER} in {seconds:.1f} s "
        f"(Dovecot Maildir {size / 1e6:.0f} MB)"
    )


def time_fetch_floor(dovecot: Dovecot, label: str) -> Run:
    """FETCH BODY.PEEK[] of every message in chunks of 500 UIDs; the bytes are only counted."""
    started = time.perf_counter()
    fetched = 0
    with dovecot.client(USER) as imap:
        imap.select_folder(FOLDER, readonly=True)
        uids = sorted(imap.search(["ALL"]))
        for i in range(0, len(uids), FETCH_CHUNK):
            response = imap.fetch(uids[i : i + FETCH_CHUNK], ["BODY.PEEK[]"])
            fetched += sum(1 for data in response.values() if b"BODY[]" in data)
    return Run(f"fetch floor ({label})", time.perf_counter() - started, fetched)


def maildir_count(folder: Path) -> int:
    return sum(
        1 for sub in ("cur", "new") if (folder / sub).is_dir() for _ in (folder / sub).iterdir()
    )


def time_mbsync(dovecot: Dovecot, workdir: Path) -> Run:
    maildir = workdir / "mbsync"
    maildir.mkdir()
    rc = workdir / "mbsyncrc"
    # isync 1.4 syntax (1.5 renamed SSLType to TLSType).
    rc.write_text(
        "IMAPAccount bench\n"
        f"Host {dovecot.host}\nPort {dovecot.port}\nUser {USER}\nPass {PASSWORD}\n"
        "AuthMechs LOGIN\nSSLType None\n\n"
        "IMAPStore bench-remote\nAccount bench\n\n"
        f"MaildirStore bench-local\nPath {maildir}/\nInbox {maildir}/INBOX\n\n"
        "Channel bench\nFar :bench-remote:\nNear :bench-local:\n"
        f"Patterns {FOLDER}\nCreate Near\nSync Pull\nSyncState *\n"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [MBSYNC, "-c", str(rc), "-q", "bench"], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"mbsync failed ({result.returncode}):\n{result.stderr}")
    return Run("mbsync", seconds, maildir_count(maildir / "INBOX"))


def time_offlineimap(dovecot: Dovecot, workdir: Path) -> Run:
    maildir = workdir / "offlineimap"
    rc = workdir / "offlineimaprc"
    rc.write_text(
        "[general]\naccounts = bench\n"
        f"metadata = {workdir / 'offlineimap-meta'}\n\n"
        "[Account bench]\nlocalrepository = bench-local\nremoterepository = bench-remote\n\n"
        f"[Repository bench-local]\ntype = Maildir\nlocalfolders = {maildir}\n\n"
        "[Repository bench-remote]\ntype = IMAP\n"
        f"remotehost = {dovecot.host}\nremoteport = {dovecot.port}\n"
        f"remoteuser = {USER}\nremotepass = {PASSWORD}\n"
        "ssl = no\nstarttls = no\nreadonly = True\n"
        f"folderfilter = lambda folder: folder == {FOLDER!r}\n"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [OFFLINEIMAP, "-c", str(rc), "-o", "-u", "quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    note = ""
    if result.returncode != 0:
        # offlineimap refuses malformed corpus messages ("has defects preventing it from being
        # processed"), carries on and exits 1; it reports them on stdout.
        output = result.stdout + result.stderr
        if not (maildir / FOLDER).is_dir():
            raise SystemExit(f"offlineimap failed ({result.returncode}):\n{output}")
        refused = set(re.findall(r"ERROR: UID (\d+) .*has defects", output))
        note = f"exit {result.returncode}; refused {len(refused)} messages with defects"
    return Run("offlineimap", seconds, maildir_count(maildir / FOLDER), note)


# -- Postcard --------------------------------------------------------------------------------


POSTCARD_DB = "postgres://postgres@127.0.0.1:5432/postcard_bench_imap"


def setup_postcard() -> None:
    """Django on PostgreSQL (DATABASE_URL, by default a postcard_bench_imap database)."""
    import os

    from benchmarks.card_page import ensure_database, setup_django

    url = os.environ.setdefault("DATABASE_URL", POSTCARD_DB)
    if url.startswith(("postgres://", "postgresql://")):
        ensure_database(url)
    setup_django()


def postcard_connect(dovecot: Dovecot) -> int:
    """A fresh database holding one user whose mailbox is alice's on this Dovecot."""
    from django.core.management import call_command

    from hierarchy.models import User
    from mailsync.connections import ImapAccount
    from mailsync.services import mailbox_connect_imap

    call_command("flush", interactive=False, verbosity=0)
    owner = User.objects.create_user("alice", email="alice@postcard.example")
    account = ImapAccount(
        address="alice@postcard.example",
        username=USER,
        password=PASSWORD,
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_security="plain",
        smtp_host="",
        smtp_port=25,
        smtp_security="plain",
    )
    mailbox = mailbox_connect_imap(owner=owner, account=account, sync_since_days=None)
    return mailbox.pk


def postcard_sync(mailbox_id: int) -> tuple[float, str]:
    """One sync through the service the worker runs; (seconds, counts)."""
    from mailsync.services import mailbox_sync

    started = time.perf_counter()
    outcome = mailbox_sync(mailbox_id=mailbox_id)
    seconds = time.perf_counter() - started
    if outcome.counts is None:
        raise SystemExit(f"postcard sync failed: {outcome.error}")
    c = outcome.counts
    return seconds, f"added {c.added}, removed {c.removed}, skipped {c.skipped}"


def time_postcard_import(dovecot: Dovecot, messages: int) -> Run:
    """Postcard's first import of alice's INBOX into PostgreSQL: fetch, parse, match, store."""
    from mailsync.models import Message

    mailbox_id = postcard_connect(dovecot)
    seconds, counts = postcard_sync(mailbox_id)
    return Run("postcard import", seconds, Message.objects.count(), counts)


# --------------------------------------------------------------------------------------------


def report(runs: list[Run], postcard: Run | None, expected: int) -> None:
    print()
    for run in runs:
        missing = "" if run.messages == expected else f" ({expected - run.messages} missing)"
        note = f" [{run.note}]" if run.note else ""
        print(f"{run.name:<22} {run.seconds:8.2f} s  {run.messages:>6} messages{missing}{note}")
    if postcard is not None:
        print(
            f"{postcard.name:<22} {postcard.seconds:8.2f} s  {postcard.messages:>6} messages "
            f"[{postcard.note}]"
        )
    floor = next((run for run in runs if run.name == "fetch floor (warm)"), None)
    print()
    for run in runs:
        if floor is not None and run is not floor:
            print(f"{run.name} / {floor.name}: {run.seconds / floor.seconds:.1f}x")
    if postcard is not None:
        for run in runs:
            print(f"postcard import / {run.name}: {postcard.seconds / run.seconds:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip", action="append", choices=TOOLS, default=[])
    args = parser.parse_args()
    setup_postcard()

    workdir = Path(tempfile.mkdtemp(prefix="postcard-imap-bench-"))
    try:
        with Dovecot(users={USER: PASSWORD}) as dovecot:
            load_mailbox(dovecot, args.messages, args.seed)
            runs = [time_fetch_floor(dovecot, "cold"), time_fetch_floor(dovecot, "warm")]
            if "mbsync" not in args.skip:
                runs.append(time_mbsync(dovecot, workdir))
            if "offlineimap" not in args.skip:
                runs.append(time_offlineimap(dovecot, workdir))
            postcard = time_postcard_import(dovecot, args.messages)
            report(runs, postcard, args.messages)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
