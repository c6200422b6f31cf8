"""Does Postcard find the body that Python's own email package finds, over the shared corpus?

    .venv/bin/python benchmarks/body_agreement.py [--corpus PATH] [--verbose]

The reference is the stdlib's modern API: `email.message_from_bytes(raw, policy=policy.default)`,
`get_body(preferencelist=("plain", "html"))` and `get_content()`; when `get_content()` raises
(an unknown charset, say) the part's decoded bytes are read as UTF-8 with replacement. HTML
references are turned into text with a plain tag stripper (script, style and head dropped,
entities unescaped), so the measure does not depend on Postcard's own HTML converter.

The measure, per message where the reference body holds at least one word:

- words: `\\w+` runs of the NFKC-normalized, casefolded text (whitespace, punctuation and
  Markdown-ish link syntax do not count). Reference words holding U+FFFD are left out: the
  reference could not decode those bytes (undeclared charsets), so any reading of them will do;
- *agrees* when at least 90% of the reference's first 500 words occur in Postcard's body (as a
  multiset: a word repeated five times must be there five times). The first 500 words, because
  Postcard cuts bodies over 100,000 characters by design; 90%, because Postcard drops what a mail
  client hides (display:none preview text, zero-width padding) and the reference keeps it;
- *lost* when Postcard's body holds no word at all (or the message was rejected): the failure
  users notice, a body that Python's email package finds and Postcard does not show. A body that
  is there but reads differently (another part chosen, another charset guessed) *differs*.

Messages where the reference finds no body (or raises) are counted apart and not compared.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import html
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage, MIMEPart
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.parse_corpus import DEFAULT_CORPUS, load
from mailsync.parsing import MessageRejected, parse_message

COMPARED_WORDS = 500
AGREEMENT_SHARE = 0.9

_WORD = re.compile(r"[\w\ufffd]+")
_INVISIBLE_BLOCKS = re.compile(
    r"<(script|style|head|title)\b.*?(?:</\1\s*>|\Z)", re.IGNORECASE | re.DOTALL
)
_COMMENTS = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_TAGS = re.compile(r"<[^>]*(?:>|\Z)")


@dataclass(frozen=True)
class Outcome:
    name: str
    verdict: str  # "agrees", "differs", "lost", "no reference"
    share: float  # of the reference's words found in Postcard's body


def reference_body(raw: bytes) -> str | None:
    """The body text Python's email package finds, or None when it finds none (or raises)."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        part = msg.get_body(preferencelist=("plain", "html"))
        if part is None:
            return None
        text = _content(part)
        return _strip_html(text) if part.get_content_subtype() == "html" else text
    except Exception:  # the modern policy raises on some real headers and structures
        return None


def _content(part: MIMEPart) -> str:
    try:
        content = part.get_content()
    except Exception:  # unknown charset, broken encoding: what a lenient reader would show
        data = part.get_payload(decode=True)
        content = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else ""
    return content if isinstance(content, str) else ""


def _strip_html(markup: str) -> str:
    text = _INVISIBLE_BLOCKS.sub(" ", markup)
    text = _COMMENTS.sub(" ", text)
    return html.unescape(_TAGS.sub(" ", text))


def words(text: str) -> list[str]:
    found = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    return [word for word in found if "\ufffd" not in word]


def compare(name: str, raw: bytes) -> Outcome:
    reference = words(reference_body(raw) or "")[:COMPARED_WORDS]
    if not reference:
        return Outcome(name, "no reference", 0.0)
    try:
        ours = Counter(words(parse_message(raw).body_text))
    except MessageRejected:
        return Outcome(name, "lost", 0.0)
    if not ours:
        return Outcome(name, "lost", 0.0)
    share = sum((Counter(reference) & ours).values()) / len(reference)
    return Outcome(name, "agrees" if share >= AGREEMENT_SHARE else "differs", share)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--verbose", action="store_true", help="list every message that differs")
    args = parser.parse_args(argv)

    outcomes = [compare(name, raw) for name, raw in load(args.corpus)]
    tally = Counter(outcome.verdict for outcome in outcomes)
    compared = len(outcomes) - tally["no reference"]
    print(f"corpus: {len(outcomes)} messages; Python's email package finds a body in {compared}")
    print(
        f"  body agreement: {tally['agrees']}/{compared} "
        f"({100 * tally['agrees'] / compared:.1f}%), differs {tally['differs']}, "
        f"lost {tally['lost']}"
    )
    for outcome in outcomes:
        if outcome.verdict == "lost" or (args.verbose and outcome.verdict == "differs"):
            print(f"  {outcome.verdict}: {outcome.name} ({100 * outcome.share:.0f}% of words)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
