"""The parser over the shared corpus of 500+ real-world and torture-test messages.

Every message must parse or be rejected with a reason, never raise. Where the corpus holds
another parser's expected results (stalwart-mail-parser's full parses, MimeKit's mbox
summaries), the agreement per field is printed and held above a floor, so a regression fails.
Run with -s to see the report.

The corpus lives outside the repository (../shared/corpus/emails, or wherever
POSTCARD_EMAIL_CORPUS points); without it these tests skip, and CI (POSTCARD_REQUIRE_SERVERS=1)
fails instead.
"""

import csv
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from benchmarks.body_agreement import compare
from crm.core.addresses import normalize_address
from mailsync.parsing import MessageRejected, ParsedMessage, parse_message

DEFAULT_CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "emails"
CORPUS = Path(os.environ.get("POSTCARD_EMAIL_CORPUS") or DEFAULT_CORPUS)

# Rejections are few and each has a reason; any other rejection is a regression.
EXPECTED_REJECTIONS = {
    "james-mime4j/testmsgs/malformedHeader-noheader.msg": "no header section",
    "james-mime4j/testmsgs/malformedHeaderStartsBody-noheader.msg": "no header section",
    "spamassassin/spam/bsmtp": "no header section",  # an SMTP transcript (HELO, MAIL FROM...)
    "spamscope-mail-parser/mail_outlook_1": "Outlook .msg",  # binary OLE2, not MIME
}

# Floors just under the agreement reached when they were set (percent).
STALWART_FLOORS = {
    "from": 99.0, "to": 99.0, "cc": 99.0, "message-id": 99.0, "subject": 99.0, "date": 99.0,
    "body": 96.0,
}  # fmt: skip
# Of the messages where Python's email package finds a body (benchmarks/body_agreement.py).
PYTHON_BODY_FLOOR = 95.0
MIMEKIT_FLOORS = {"from": 96.0, "to": 96.0, "subject": 96.0, "date": 96.0}
# Differences examined by hand, printed with the report.
KNOWN_DIFFERENCES = {
    "stalwart-mail-parser/malformed/019.eml": "fuzz-mutated: Date cut mid-time, parts mangled",
    "stalwart-mail-parser/malformed/005.eml": "boundary-prefix torture test",
    # The "--a" line follows the end of the multipart it could delimit: Python's parser (and
    # ours) read it as the text of the next part, Dovecot's as a delimiter.
    "stalwart-mail-parser/malformed/001.eml": "boundary-prefix torture test",
    "mimekit/mbox/content-length.mbox.txt#6": "From: develop!nextmime@ebony@sblab.att.com, two @",
    "mimekit/mbox/content-length.mbox.txt#22": "zone 'cst' is -0600 (RFC 822), MimeKit took +0000",
}

# An mbox "From " separator: "From sender date" or "From -", followed by a header line. A body
# line like "From Russia with love" (unmunged mboxes) is not one.
_MBOX_SEPARATOR = re.compile(
    rb"^From (?:\S+ *|\S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [^\n]*)\r?\n(?=[!-9;-~]+:)",
    re.MULTILINE,
)


def split_mbox(data: bytes) -> list[bytes]:
    data = data.removeprefix(b"\xef\xbb\xbf")
    starts = [match.start() for match in _MBOX_SEPARATOR.finditer(data)]
    ends = [*starts[1:], len(data)]
    return [data[start:end].split(b"\n", 1)[1] for start, end in zip(starts, ends, strict=True)]


def load_corpus() -> list[tuple[str, bytes]]:
    if not CORPUS.is_dir():
        pytest.skip(f"the email corpus is missing at {CORPUS} (set POSTCARD_EMAIL_CORPUS)")
    messages = []
    with (CORPUS / "MANIFEST.tsv").open(newline="") as manifest:
        for row in csv.DictReader(manifest, delimiter="\t"):
            name = f"{row['source']}/{row['path']}"
            path = CORPUS / name
            if row["kind"] == "message":
                messages.append((name, path.read_bytes()))
            elif row["kind"] == "mbox":
                for index, raw in enumerate(split_mbox(path.read_bytes())):
                    messages.append((f"{name}#{index}", raw))
    return messages


@pytest.fixture(scope="module")
def results() -> dict[str, ParsedMessage | MessageRejected]:
    parsed: dict[str, ParsedMessage | MessageRejected] = {}
    for name, raw in load_corpus():
        try:
            parsed[name] = parse_message(raw)
        except MessageRejected as rejection:
            parsed[name] = rejection
        # Any other exception propagates and fails the run: that is the point.
    return parsed


def test_every_message_parses_or_is_rejected_with_a_reason(results):
    rejected = {n: r for n, r in results.items() if isinstance(r, MessageRejected)}
    print(
        f"\ncorpus: {len(results)} messages, {len(results) - len(rejected)} parsed, "
        f"{len(rejected)} rejected"
    )
    for name, rejection in sorted(rejected.items()):
        print(f"  rejected {name}: {rejection.reason}")
    assert len(results) >= 540
    assert all(rejection.reason for rejection in rejected.values())
    unexpected = {n: r.reason for n, r in rejected.items() if n not in EXPECTED_REJECTIONS}
    assert not unexpected
    for name, reason in EXPECTED_REJECTIONS.items():
        assert reason in rejected[name].reason


def test_parsed_values_are_storable(results):
    for name, parsed in results.items():
        if isinstance(parsed, MessageRejected):
            continue
        texts = [parsed.subject, parsed.body_text, parsed.message_id, *parsed.attachment_names]
        texts += [
            part for _, address in parsed.participants for part in (address.address, address.name)
        ]
        for text in texts:
            assert "\x00" not in text, name
            assert not re.search(r"[\ud800-\udfff]", text), name
        assert "\r" not in parsed.body_text, name
        assert "\n" not in parsed.subject, name
        assert len(parsed.subject) <= 998, name
        assert re.fullmatch(r"[0-9a-f]{64}", parsed.dedupe_key), name
        assert re.fullmatch(r"[0-9a-f]{64}", parsed.thread_key), name
        assert parsed.sent_at is None or parsed.sent_at.utcoffset() == timedelta(0), name
        assert len(parsed.attachment_names) <= 50, name
        for role, address in parsed.participants:
            assert role in {"from", "to", "cc", "bcc", "reply_to"}, name
            assert "@" in address.address, name
            assert address.address == address.address.lower(), name
        roles_and_addresses = [(role, a.address) for role, a in parsed.participants]
        assert len(roles_and_addresses) == len(set(roles_and_addresses)), name


# --- stalwart-mail-parser: NNN.json is the full expected parse of NNN.eml -------------------


def _stalwart_addresses(value) -> list[str]:
    if not isinstance(value, dict) or "Address" not in value:
        return []
    entries = list(value["Address"].get("List", []))
    for group in value["Address"].get("Group", []):
        entries += group.get("addresses") or []
    return _unique(
        [normalize_address(e["address"]) for e in entries if "@" in (e.get("address") or "")]
    )


def _stalwart_date(value) -> datetime | None:
    if not isinstance(value, dict) or "DateTime" not in value:
        return None
    d = value["DateTime"]
    offset = timedelta(hours=d["tz_hour"], minutes=d["tz_minute"])
    zone = timezone(-offset if d["tz_before_gmt"] else offset)
    try:
        return datetime(
            d["year"], d["month"], d["day"], d["hour"], d["minute"], d["second"], tzinfo=zone
        )
    except ValueError:
        return None


def stalwart_expected(path: Path) -> dict[str, Any]:
    expected: dict[str, Any] = {
        "from": [],
        "to": [],
        "cc": [],
        "message-id": "",
        "subject": "",
        "date": None,
    }
    seen = set()
    data = json.loads(path.read_text())
    for header in data["parts"][0]["headers"]:
        name, value = header["name"], header["value"]
        if not isinstance(name, str):
            continue
        if name in ("from", "to", "cc"):
            expected[name] += _stalwart_addresses(value)
        elif name in ("message_id", "subject", "date") and name not in seen:
            seen.add(name)
            if name == "date":
                expected["date"] = _stalwart_date(value)
            elif isinstance(value, dict) and "Text" in value:
                text = value["Text"] if name == "message_id" else " ".join(value["Text"].split())
                expected["message-id" if name == "message_id" else name] = text
    for role in ("from", "to", "cc"):
        expected[role] = _unique(expected[role])
    expected["body"] = _stalwart_plain_body(data)
    return expected


def _stalwart_plain_body(data: dict[str, Any]) -> str | None:
    """The start of the expected body when it is a text/plain part, else None (not compared:
    HTML-to-text conversions differ by design)."""
    if not data.get("text_body"):
        return None
    part = data["parts"][data["text_body"][0]]
    content_types = [h["value"] for h in part["headers"] if h["name"] == "content_type"]
    ctype = content_types[0].get("ContentType", {}) if content_types else {}
    if (ctype.get("c_type", "text"), ctype.get("c_subtype", "plain")) != ("text", "plain"):
        return None
    text = part["body"].get("Text") if isinstance(part["body"], dict) else None
    return _body_start(text) if text is not None else None


def _body_start(text: str) -> str:
    return " ".join(text.replace("\x00", "").split())[:300]  # NUL is dropped by design


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def actual_fields(parsed: ParsedMessage) -> dict[str, Any]:
    fields: dict[str, Any] = {
        role: [a.address for r, a in parsed.participants if r == role]
        for role in ("from", "to", "cc")
    }
    fields["message-id"] = parsed.message_id
    fields["subject"] = parsed.subject
    fields["date"] = parsed.sent_at
    fields["body"] = _body_start(parsed.body_text)
    return fields


def _same(field: str, expected, actual) -> bool:
    if field == "date" and expected is not None and actual is not None:
        return bool(
            expected.astimezone(UTC).replace(microsecond=0) == actual.replace(microsecond=0)
        )
    if isinstance(expected, str) and "\ufffd" in expected:
        # The oracle could not decode these bytes (raw 8-bit headers); any character will do.
        pattern = ".".join(re.escape(chunk) for chunk in expected.split("\ufffd"))
        return re.fullmatch(pattern, actual or "") is not None
    return bool(expected == actual)


def agreement(
    pairs: list[tuple[str, dict[str, Any], dict[str, Any]]], fields
) -> tuple[dict[str, str], dict[str, float], list[str]]:
    """Percentage of messages where each field agrees, over the messages where it is known."""
    labels, rates, misses = {}, {}, []
    for field in fields:
        compared = matches = 0
        for name, expected, actual in pairs:
            if field == "body" and expected[field] is None:
                continue
            compared += 1
            if _same(field, expected[field], actual[field]):
                matches += 1
            else:
                known = f" (known: {KNOWN_DIFFERENCES[name]})" if name in KNOWN_DIFFERENCES else ""
                misses.append(
                    f"{field} {name}: expected {expected[field]!r}, got {actual[field]!r}{known}"
                )
        rates[field] = 100.0 * matches / compared if compared else 100.0
        of = f" of {compared}" if compared != len(pairs) else ""
        labels[field] = f"{field} {rates[field]:.1f}%{of}"
    return labels, rates, misses


def _report(label: str, count: int, labels: dict[str, str], misses: list[str]) -> None:
    print(f"\n{label} ({count} messages): {', '.join(labels.values())}")
    for miss in misses:
        print(f"  differs: {miss}")


def test_agrees_with_stalwart_expected_parses(results):
    pairs = []
    for expected_path in sorted((CORPUS / "stalwart-mail-parser").glob("*/[0-9][0-9][0-9].json")):
        name = f"stalwart-mail-parser/{expected_path.parent.name}/{expected_path.stem}.eml"
        parsed = results[name]
        assert isinstance(parsed, ParsedMessage), name
        pairs.append((name, stalwart_expected(expected_path), actual_fields(parsed)))
    assert len(pairs) == 107
    fields = ["from", "to", "cc", "message-id", "subject", "date", "body"]
    labels, rates, misses = agreement(pairs, fields)
    _report("stalwart agreement", len(pairs), labels, misses)
    for field, floor in STALWART_FLOORS.items():
        assert rates[field] >= floor, field


# --- MimeKit: *-summary.txt gives From/To/Subject/Date of every message of the mbox ----------


def mimekit_summary(path: Path) -> list[dict[str, Any]]:
    entries = []
    for block in re.split(r"^From .*\n", path.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        headers = dict(re.findall(r"^(From|To|Subject|Date): ?(.*)$", block, flags=re.MULTILINE))
        date = parsedate_to_datetime(headers["Date"]) if headers.get("Date") else None
        entries.append(
            {
                "from": _summary_addresses(headers.get("From", "")),
                "to": _summary_addresses(headers.get("To", "")),
                "subject": " ".join(headers.get("Subject", "").split()),
                "date": date.astimezone(UTC) if date else None,
            }
        )
    return entries


def _summary_addresses(text: str) -> list[str]:
    return _unique([normalize_address(a) for _, a in getaddresses([text]) if "@" in a])


def test_agrees_with_mimekit_mbox_summaries(results):
    pairs = []
    for mbox in ("content-length", "issue1189"):
        expected = mimekit_summary(CORPUS / "mimekit" / "mbox" / f"{mbox}-summary.txt")
        names = sorted(
            (n for n in results if n.startswith(f"mimekit/mbox/{mbox}.mbox.txt#")),
            key=lambda n: int(n.rpartition("#")[2]),
        )
        assert len(names) == len(expected), mbox
        for name, fields in zip(names, expected, strict=True):
            pairs.append((name, fields, actual_fields(results[name])))
    labels, rates, misses = agreement(pairs, ["from", "to", "subject", "date"])
    _report("mimekit agreement", len(pairs), labels, misses)
    for field, floor in MIMEKIT_FLOORS.items():
        assert rates[field] >= floor, field


# --- Python's email package: wherever it finds a body, so must we ----------------------------


def test_finds_the_body_pythons_email_package_finds():
    outcomes = [compare(name, raw) for name, raw in load_corpus()]
    compared = [outcome for outcome in outcomes if outcome.verdict != "no reference"]
    agreeing = sum(1 for outcome in compared if outcome.verdict == "agrees")
    rate = 100.0 * agreeing / len(compared)
    print(f"\nbody agreement with Python's email package: {agreeing}/{len(compared)} ({rate:.1f}%)")
    lost = {outcome.name for outcome in compared if outcome.verdict == "lost"}
    # Only the deliberate rejections (not mail) lose a body Python's parser reads.
    assert lost <= set(EXPECTED_REJECTIONS)
    assert rate >= PYTHON_BODY_FLOOR


def test_the_corpus_can_live_anywhere_named_by_postcard_email_corpus(tmp_path):
    probe = "import tests.mailsync.test_corpus as t, benchmarks.parse_corpus as b; print(t.CORPUS)"
    env = {**os.environ, "POSTCARD_EMAIL_CORPUS": str(tmp_path)}
    env.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    result = subprocess.run(
        [sys.executable, "-c", probe + "; print(b.DEFAULT_CORPUS)"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == [str(tmp_path), str(tmp_path)]
