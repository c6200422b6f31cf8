"""How fast mailsync.parsing.parse_message is, over the shared corpus and on typical mail.

    .venv/bin/python benchmarks/parse_corpus.py [--runs 5] [--corpus PATH] [--reference]

The corpus defaults to $POSTCARD_EMAIL_CORPUS, else ../shared/corpus/emails.

Parses every message of the corpus (single files and the messages of the mbox files) `--runs`
times and prints the best run in messages per second, then times two typical business messages
(a short plain-text reply, and multipart/alternative with HTML and an inline logo). With
`--reference`, also times the stdlib's modern policy (`email.policy.default` with `get_body()`)
over the corpus, the approach the parser avoids. No database or Django settings needed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import email
import email.policy
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mailsync.parsing import MessageRejected, parse_message

DEFAULT_CORPUS = Path(
    os.environ.get("POSTCARD_EMAIL_CORPUS")
    or Path(__file__).resolve().parents[2] / "shared" / "corpus" / "emails"
)
MBOX_SEPARATOR = re.compile(
    rb"^From (?:\S+ *|\S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [^\n]*)\r?\n(?=[!-9;-~]+:)",
    re.MULTILINE,
)

PLAIN_REPLY = b"""\
From: Jane Buyer <jane.buyer@customer.example>
To: Bob Seller <bob@vendor.example>
Cc: procurement@customer.example
Subject: Re: Offer 2024-117 for the Hamburg site
Date: Tue, 05 Mar 2024 10:15:00 +0100
Message-ID: <CAF7x1=reply-117@mail.customer.example>
In-Reply-To: <offer-117@vendor.example>
References: <offer-117@vendor.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hi Bob,

thanks for the offer. We would like to go ahead with option B, but need delivery
before the end of April. Can you confirm the date and send the updated quote?

Best regards,
Jane

> On Mon, 4 Mar 2024 at 17:02, Bob Seller <bob@vendor.example> wrote:
> Please find our offer for the Hamburg site attached. Option A ships in May,
> option B in April at a 4 % surcharge.
"""

HTML_PARAGRAPH = (
    "<p style='font-family:Calibri,sans-serif;font-size:11pt'>Thanks for your time today. "
    "As discussed, here is the summary of the <b>next steps</b> and the "
    "<a href='https://vendor.example/offers/117'>offer page</a>.</p>\n"
)
ALTERNATIVE = (
    "From: Bob Seller <bob@vendor.example>\n"
    "To: Jane Buyer <jane.buyer@customer.example>,\n"
    " =?utf-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@customer.example>\n"
    "Subject: =?utf-8?Q?N=C3=A4chste_Schritte?= for offer 2024-117\n"
    "Date: Tue, 05 Mar 2024 16:40:00 +0100\n"
    "Message-ID: <offer-117-followup@vendor.example>\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/related; boundary="rel"\n\n'
    "--rel\n"
    'Content-Type: multipart/alternative; boundary="alt"\n\n'
    "--alt\nContent-Type: text/plain; charset=utf-8\n\n"
    + "Thanks for your time today. As discussed, here is the summary of the next steps.\n" * 6
    + "\n--alt\nContent-Type: text/html; charset=utf-8\n\n<html><body>"
    + HTML_PARAGRAPH * 6
    + "<img src='cid:logo'></body></html>\n--alt--\n"
    "--rel\nContent-Type: image/png\nContent-ID: <logo>\nContent-Transfer-Encoding: base64\n\n"
    + "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5E\n"
    * 8
    + "--rel--\n"
).encode()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--reference", action="store_true", help="also time email.policy.default")
    args = parser.parse_args(argv)

    messages = load(args.corpus)
    size_mb = sum(len(raw) for _, raw in messages) / 1e6
    print(f"corpus: {len(messages)} messages, {size_mb:.1f} MB, best of {args.runs} runs")
    best, median, slowest = time_corpus(messages, parse_one, args.runs)
    print(
        f"  parse_message: {best:.3f} s, {len(messages) / best:,.0f} messages/s, "
        f"{1000 * best / len(messages):.2f} ms/message on average, {1000 * median:.2f} ms median"
    )
    print("  slowest: " + ", ".join(f"{name} {1000 * sec:.1f} ms" for sec, name in slowest))
    if args.reference:
        reference, _, _ = time_corpus(messages, parse_modern, args.runs)
        slower = reference / best
        print(f"  email.policy.default + get_body(): {reference:.3f} s ({slower:.1f}x slower)")

    for label, raw in (
        ("plain-text reply", PLAIN_REPLY),
        ("multipart/alternative + logo", ALTERNATIVE),
    ):
        per_message = time_one(raw)
        print(
            f"typical {label} ({len(raw):,} bytes): {1000 * per_message:.3f} ms/message, "
            f"{1 / per_message:,.0f} messages/s"
        )
    return 0


def load(corpus: Path) -> list[tuple[str, bytes]]:
    messages = []
    with (corpus / "MANIFEST.tsv").open(newline="") as manifest:
        for row in csv.DictReader(manifest, delimiter="\t"):
            path = corpus / row["source"] / row["path"]
            name = f"{row['source']}/{row['path']}"
            if row["kind"] == "message":
                messages.append((name, path.read_bytes()))
            elif row["kind"] == "mbox":
                data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
                starts = [match.start() for match in MBOX_SEPARATOR.finditer(data)]
                ends = [*starts[1:], len(data)]
                for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
                    messages.append((f"{name}#{index}", data[start:end].split(b"\n", 1)[1]))
    return messages


def parse_one(raw: bytes) -> None:
    with contextlib.suppress(MessageRejected):
        parse_message(raw)


def parse_modern(raw: bytes) -> None:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for name in ("from", "to", "cc", "subject", "date", "message-id"):
        try:
            str(msg[name])
        except Exception:  # noqa: S112 - the modern policy raises on some real headers
            continue
    try:
        found = msg.get_body(("plain", "html"))
        if found is not None:
            found.get_content()
    except Exception:  # noqa: S110
        pass


def time_corpus(
    messages: list[tuple[str, bytes]], parse: Callable[[bytes], None], runs: int
) -> tuple[float, float, list[tuple[float, str]]]:
    """Best total time of the runs, median time per message and the slowest three messages."""
    best = median = float("inf")
    slowest: list[tuple[float, str]] = []
    for _ in range(runs):
        durations = []
        started = time.perf_counter()
        for name, raw in messages:
            begin = time.perf_counter()
            parse(raw)
            durations.append((time.perf_counter() - begin, name))
        best = min(best, time.perf_counter() - started)
        median = min(median, statistics.median(seconds for seconds, _ in durations))
        slowest = sorted(durations, reverse=True)[:3]
    return best, median, slowest


def time_one(raw: bytes, seconds: float = 1.0) -> float:
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        begin = time.perf_counter()
        for _ in range(100):
            parse_message(raw)
        samples.append((time.perf_counter() - begin) / 100)
    return statistics.median(samples)


if __name__ == "__main__":
    raise SystemExit(main())
