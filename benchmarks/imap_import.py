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
- Postcard's import (time_postcard_import, to be filled in with the sync engine).

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


def time_postcard_import(dovecot: Dovecot, messages: int) -> float | None:
    """LEAD: import alice's INBOX with Postcard's sync engine; return the wall time in seconds.

    Connect a mailbox to imap://{dovecot.host}:{dovecot.port} as alice/secret, run one full
    sync, check that `messages` emails were stored, and time it with time.perf_counter().
    """
    print("postcard import: not available yet")
    return None


# --------------------------------------------------------------------------------------------


def report(runs: list[Run], postcard: float | None, expected: int) -> None:
    print()
    for run in runs:
        missing = "" if run.messages == expected else f" ({expected - run.messages} missing)"
        note = f" [{run.note}]" if run.note else ""
        print(f"{run.name:<22} {run.seconds:8.2f} s  {run.messages:>6} messages{missing}{note}")
    if postcard is not None:
        print(f"{'postcard import':<22} {postcard:8.2f} s")
    floor = next((run for run in runs if run.name == "fetch floor (warm)"), None)
    print()
    for run in runs:
        if floor is not None and run is not floor:
            print(f"{run.name} / {floor.name}: {run.seconds / floor.seconds:.1f}x")
    if postcard is not None:
        for run in runs:
            print(f"postcard / {run.name}: {postcard / run.seconds:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip", action="append", choices=TOOLS, default=[])
    args = parser.parse_args()

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
