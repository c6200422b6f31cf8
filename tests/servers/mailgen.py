"""Realistic mail for tests and benchmarks: generated business mail and the shared parser corpus.

- `business_message(n, rng=..., sender=..., to=...)`: one raw RFC 5322 message (CRLF), plain
  text or multipart/alternative with HTML, optionally multipart/related with an inline logo the
  HTML references by cid:. English, German and French, UTF-8 and ISO-8859-1, quoted-printable,
  8bit and base64, replies with In-Reply-To/References and quoted text. Deterministic per rng.
- `corpus_messages()`: the single-message files of ../shared/corpus/emails (MANIFEST.tsv kind
  `message`), raw bytes as stored. The mbox files are left out: splitting some of them
  (content-length.mbox.txt) is itself a parser test. Attachments are never decoded or unpacked.
- `with_fresh_message_id(raw, mid)`: the same bytes with one Message-ID, to load a corpus message
  many times as distinct messages.
"""

from __future__ import annotations

import base64
import html
import os
import quopri
import random
import re
import struct
import textwrap
import zlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path

CORPUS_DIR = Path(
    os.environ.get(
        "POSTCARD_EMAIL_CORPUS",
        Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "emails",
    )
)

CRLF = "\r\n"

_COMPANIES = [
    "Acme Logistics",
    "Northwind Traders",
    "Brightwater Energy",
    "Kessler & Sohn GmbH",
    "Dupont Conseil SARL",
    "Bluebird Analytics",
    "Meridian Health",
    "Summit Tooling Ltd",
    "Fjord Maritime AS",
    "Müller Präzisionstechnik",
    "Laboratoires Étoile",
    "Pinecrest Capital",
]
_PRODUCTS = [
    "industrial sensors",
    "fleet telematics",
    "cloud backup",
    "packaging line",
    "LED retrofit",
    "annual maintenance",
    "consulting hours",
    "spare parts",
    "software licences",
    "training",
]
_TOPICS = {
    "en": [
        "Quote {num} for {product}",
        "Meeting on {weekday}: {product} rollout",
        "Invoice {num} \u2013 {company}",
        "Follow-up: {product}",
        "Contract renewal {company} {year}",
        "Delivery schedule week {week}",
        "Pricing question about {product}",
        "Minutes of our call with {company}",
        "Updated proposal ({product})",
    ],
    "de": [
        "Angebot {num} für {product}",
        "Lieferung KW {week}",
        "Rechnung {num} \u2013 {company}",
        "Terminvorschlag {weekday}: Besprechung {product}",
        "Rückfrage zur Bestellung {num}",
    ],
    "fr": [
        "Devis {num} \u2013 {product}",
        "Proposition commerciale pour {company}",
        "Réunion de {weekday} : suivi du projet",
        "Facture {num} à régler",
    ],
}
_WEEKDAYS = {
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag"],
    "fr": ["lundi", "mardi", "mercredi", "jeudi", "vendredi"],
}
_GREETINGS = {
    "en": ["Hi {first},", "Dear {first},", "Hello {first},", "Good morning {first},"],
    "de": ["Hallo {first},", "Sehr geehrte Damen und Herren,", "Guten Tag {first},"],
    "fr": ["Bonjour {first},", "Madame, Monsieur,", "Cher {first},"],
}
_SENTENCES = {
    "en": [
        "Thanks for your time on the call yesterday.",
        "Please find our updated figures for {product} below.",
        "We can deliver the first batch within {days} working days of your order.",
        "The price of €{amount} per unit includes shipping and installation.",
        "Could you confirm the quantities before Friday so we can reserve capacity?",
        "Our finance team noticed that invoice {num} is still open.",
        "I have copied my colleague, who handles the technical questions.",
        "Let me know if a short call next week would help.",
        "We reviewed the contract and have two small remarks on section 4.2.",
        "The pilot at {company} went well and they would like to extend it.",
        "Attached to this thread you will find the minutes of our last meeting.",
        "As discussed, the discount applies to orders above {amount} units.",
    ],
    "de": [
        "Vielen Dank für das freundliche Gespräch am {weekday}.",
        "Anbei unser überarbeitetes Angebot für {product}.",
        "Die Lieferung erfolgt voraussichtlich in KW {week}.",
        "Der Preis beträgt {amount} € netto zzgl. MwSt.",
        "Bitte bestätigen Sie uns die Stückzahlen bis Freitag.",
        "Für Rückfragen stehe ich Ihnen gerne zur Verfügung.",
        "Die Rechnung {num} ist leider noch nicht beglichen.",
    ],
    "fr": [
        "Merci pour votre retour rapide concernant {product}.",
        "Vous trouverez ci-dessous notre proposition révisée.",
        "Le délai de livraison est de {days} jours ouvrés après réception de la commande.",
        "Le montant s'élève à {amount} € HT, frais de port compris.",
        "Pourriez-vous nous confirmer les quantités avant vendredi ?",
        "Je reste à votre disposition pour toute question complémentaire.",
    ],
}
_CLOSINGS = {
    "en": ["Best regards,", "Kind regards,", "Thanks,", "Cheers,"],
    "de": ["Mit freundlichen Grüßen", "Viele Grüße", "Beste Grüße"],
    "fr": ["Cordialement,", "Bien à vous,", "Meilleures salutations,"],
}
_TITLES = ["Account Manager", "Sales Director", "Head of Procurement", "Project Lead", "CFO"]
_MAILERS = [
    "Microsoft Outlook 16.0",
    "Apple Mail (2.3774.600.62)",
    "Mozilla Thunderbird 128.3.1",
    "Roundcube Webmail/1.6.9",
]
_ZONES = [
    UTC,
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
]
_BASE_DATE = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


def business_message(
    n: int,
    *,
    rng: random.Random,
    sender: str,
    to: str | Sequence[str],
    cc: Sequence[str] = (),
    html: bool = False,
    inline_image: bool = False,
    message_id: str | None = None,
    date: datetime | None = None,
) -> bytes:
    """Message number `n` of a generated mailbox; addresses as "Name <addr>" or bare addr."""
    recipients = [to] if isinstance(to, str) else list(to)
    lang = rng.choices(["en", "de", "fr"], weights=[70, 20, 10])[0]
    words = _words(n, rng, lang)
    sender_name, sender_addr = parseaddr(sender)
    sender_name = sender_name or _name_from_address(sender_addr)
    first = parseaddr(recipients[0])[0] or _name_from_address(parseaddr(recipients[0])[1])
    words["first"] = first.split()[0] if first else "there"
    domain = sender_addr.rpartition("@")[2] or "example.com"
    if date is None:
        date = (_BASE_DATE + timedelta(minutes=47 * n + rng.randrange(40))).astimezone(
            rng.choice(_ZONES)
        )
    if message_id is None:
        message_id = f"<{date:%Y%m%d%H%M%S}.{n}.{rng.getrandbits(48):012x}@{domain}>"
    elif not message_id.startswith("<"):
        message_id = f"<{message_id}>"

    subject = rng.choice(_TOPICS[lang]).format(**words)
    paragraphs = _paragraphs(rng, lang, words)
    signature = [
        sender_name,
        rng.choice(_TITLES),
        words["company"],
        f"+{rng.randrange(1, 99)} {rng.randrange(100, 999)} {rng.randrange(1000000, 9999999)}",
    ]
    reply_to_ids: list[str] = []
    quoted: list[str] = []
    if rng.random() < 0.35:
        prefix = {"en": "Re: ", "de": rng.choice(["AW: ", "Re: "]), "fr": "RE : "}[lang]
        subject = prefix + subject
        reply_to_ids = [
            f"<{rng.getrandbits(64):016x}@{rng.choice(['mail.example.net', domain])}>"
            for _ in range(rng.randint(1, 4))
        ]
        earlier = (date - timedelta(hours=rng.randint(1, 72))).strftime("%a, %d %b %Y %H:%M")
        quoted = [f"On {earlier}, {first} wrote:"]
        for paragraph in _paragraphs(rng, lang, words):
            quoted += ["> " + line for line in textwrap.wrap(paragraph, 72)] + [">"]

    charset = "utf-8"
    if lang != "en" and rng.random() < 0.3:
        charset = "iso-8859-1"
    # Some clients hard-wrap plain text at 72 columns (Thunderbird, Apple Mail), others send one
    # line per paragraph (Outlook).
    wrap = rng.random() < 0.5
    text_lines = [rng.choice(_GREETINGS[lang]).format(**words), ""]
    for paragraph in paragraphs:
        text_lines += [*(textwrap.wrap(paragraph, 72) if wrap else [paragraph]), ""]
    text_lines += [rng.choice(_CLOSINGS[lang]), "", "-- ", *signature]
    if quoted:
        text_lines += ["", *quoted]
    text = "\n".join(text_lines) + "\n"

    headers = _headers(
        rng,
        sender=formataddr((sender_name, sender_addr), charset="utf-8"),
        sender_addr=sender_addr,
        recipients=recipients,
        cc=list(cc),
        subject=subject,
        date=date,
        message_id=message_id,
        reply_to_ids=reply_to_ids,
        lang=lang,
    )
    text_part = _text_part("plain", text, charset, rng)
    if not html:
        return _join(headers, text_part)

    boundary_alt = _boundary(rng, n, "alt")
    cid = f"image001.png@01DC{rng.getrandbits(32):08X}.{rng.getrandbits(32):08X}"
    html_text = _html_body(text_lines, signature, cid if inline_image else None, words)
    html_part = _text_part("html", html_text, charset, rng)
    alternative = _multipart("alternative", boundary_alt, [text_part, html_part])
    if not inline_image:
        return _join(headers, alternative)
    boundary_rel = _boundary(rng, n, "rel")
    image = _image_part(rng, cid)
    related = _multipart(
        'related; type="multipart/alternative"', boundary_rel, [alternative, image]
    )
    return _join(headers, related)


def _words(n: int, rng: random.Random, lang: str) -> dict[str, str]:
    return {
        "num": f"{rng.choice(['Q', 'INV', 'PO', 'A'])}-{2026}-{n:05d}",
        "company": rng.choice(_COMPANIES),
        "product": rng.choice(_PRODUCTS),
        "weekday": rng.choice(_WEEKDAYS[lang]),
        "week": str(rng.randint(1, 52)),
        "year": str(rng.choice([2026, 2027])),
        "days": str(rng.randint(3, 30)),
        "amount": f"{rng.randint(10, 9_999):,}",
    }


def _paragraphs(rng: random.Random, lang: str, words: dict[str, str]) -> list[str]:
    pool = _SENTENCES[lang]
    paragraphs = []
    for _ in range(rng.randint(1, 5)):
        sentences = [rng.choice(pool).format(**words) for _ in range(rng.randint(1, 4))]
        paragraphs.append(" ".join(sentences))
    return paragraphs


def _name_from_address(address: str) -> str:
    local = address.partition("@")[0]
    return " ".join(part.capitalize() for part in re.split(r"[._-]+", local) if part)


def _encode_header(value: str) -> str:
    if value.isascii():
        return value
    return Header(value, "utf-8", maxlinelen=76, header_name="Subject").encode(linesep=CRLF)


def _headers(
    rng: random.Random,
    *,
    sender: str,
    sender_addr: str,
    recipients: list[str],
    cc: list[str],
    subject: str,
    date: datetime,
    message_id: str,
    reply_to_ids: list[str],
    lang: str,
) -> list[str]:
    first_rcpt = parseaddr(recipients[0])[1]
    received_at = date + timedelta(seconds=rng.randint(1, 90))
    relay = f"mx{rng.randint(1, 4)}.{first_rcpt.rpartition('@')[2] or 'example.org'}"
    headers = [
        f"Return-Path: <{sender_addr}>",
        f"Received: from {relay} ({relay} [10.{rng.randrange(256)}.{rng.randrange(256)}.7])"
        f"{CRLF}\tby imap.example.org with ESMTPS id {rng.getrandbits(40):010x}"
        f"{CRLF}\tfor <{first_rcpt}>; {format_datetime(received_at)}",
        f"From: {sender}",
        "To: " + _address_list(recipients),
    ]
    if cc:
        headers.append("Cc: " + _address_list(cc))
    headers += [
        f"Subject: {_encode_header(subject)}",
        f"Date: {format_datetime(date)}",
        f"Message-ID: {message_id}",
    ]
    if reply_to_ids:
        headers.append(f"In-Reply-To: {reply_to_ids[-1]}")
        headers.append("References: " + f"{CRLF} ".join(reply_to_ids))
    mailer = rng.choice(_MAILERS)
    headers.append(("X-Mailer: " if "Outlook" in mailer else "User-Agent: ") + mailer)
    if "Outlook" in mailer:
        thread_index = base64.b64encode(rng.randbytes(22)).decode()
        headers.append(f"Thread-Index: {thread_index}")
    headers += [
        f"Content-Language: {dict(en='en-US', de='de-DE', fr='fr-FR')[lang]}",
        "MIME-Version: 1.0",
    ]
    return headers


def _address_list(addresses: list[str]) -> str:
    encoded = []
    for address in addresses:
        name, addr = parseaddr(address)
        encoded.append(formataddr((name, addr), charset="utf-8"))
    return f",{CRLF} ".join(encoded)


def _text_part(subtype: str, text: str, charset: str, rng: random.Random) -> str:
    data = text.encode(charset, errors="replace")
    if data.isascii() and rng.random() < 0.5:
        encoding, body = "7bit", text.replace("\n", CRLF)
    elif rng.random() < 0.15:
        encoding = "base64"
        body = base64.encodebytes(data).decode("ascii").replace("\n", CRLF)
    elif rng.random() < 0.2 and subtype == "plain":
        # Raw 8-bit body in its charset: latin-1 decoding maps the bytes 1:1 into the str.
        encoding, body = "8bit", data.decode("latin-1").replace("\n", CRLF)
    else:
        encoding = "quoted-printable"
        body = quopri.encodestring(data).decode("ascii").replace("\n", CRLF)
    return (
        f'Content-Type: text/{subtype}; charset="{charset}"{CRLF}'
        f"Content-Transfer-Encoding: {encoding}{CRLF}{CRLF}{body}"
    )


def _html_body(
    text_lines: list[str], signature: list[str], cid: str | None, words: dict[str, str]
) -> str:
    body_lines = text_lines[: text_lines.index("-- ")] if "-- " in text_lines else text_lines
    paragraphs = "\n".join(
        f'<p class="MsoNormal">{html.escape(line) or "&nbsp;"}</p>' for line in body_lines
    )
    logo = (
        f'<img width="120" height="40" src="cid:{cid}" alt="{html.escape(words["company"])}">'
        if cid
        else ""
    )
    sig = "<br>\n".join(html.escape(line) for line in signature)
    return (
        "<html><head>\n"
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n'
        "<style>p.MsoNormal{margin:0cm;font-size:11.0pt;font-family:Calibri,sans-serif}"
        " table.sig td{padding:0 8px;color:#1F3864}</style>\n"
        '</head><body lang="EN-US" link="#0563C1"><div class="WordSection1">\n'
        f"{paragraphs}\n"
        '<table class="sig"><tr>'
        f"<td>{logo}</td><td><b>{sig}</b></td></tr></table>\n"
        "</div></body></html>\n"
    )


def _image_part(rng: random.Random, cid: str) -> str:
    png = _png(rng, rng.randint(60, 160), rng.randint(30, 60))
    data = base64.encodebytes(png).decode("ascii").replace("\n", CRLF)
    return (
        f'Content-Type: image/png; name="image001.png"{CRLF}'
        f"Content-Description: image001.png{CRLF}"
        f'Content-Disposition: inline; filename="image001.png"; size={len(png)}{CRLF}'
        f"Content-ID: <{cid}>{CRLF}"
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{data}"
    )


def _png(rng: random.Random, width: int, height: int) -> bytes:
    """A valid RGB PNG of noise (so its size is about width * height * 3 bytes)."""
    rows = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )


def _boundary(rng: random.Random, n: int, kind: str) -> str:
    return f"----=_NextPart_{kind}_{n:06d}_{rng.getrandbits(48):012X}"


def _multipart(subtype: str, boundary: str, parts: list[str]) -> str:
    body = "".join(f"--{boundary}{CRLF}{part}{CRLF}" for part in parts)
    return (
        f'Content-Type: multipart/{subtype};{CRLF}\tboundary="{boundary}"{CRLF}{CRLF}'
        f"This is a multi-part message in MIME format.{CRLF}{CRLF}"
        f"{body}--{boundary}--{CRLF}"
    )


def _join(headers: list[str], entity: str) -> bytes:
    # `entity` starts with its own Content-* headers, which belong to the top-level header.
    return (CRLF.join(headers) + CRLF + entity).encode("latin-1")


# -- the shared corpus -----------------------------------------------------------------------


def corpus_message_paths(corpus_dir: Path = CORPUS_DIR) -> list[Path]:
    """The single-message files listed in MANIFEST.tsv (kind `message`), in manifest order."""
    manifest = corpus_dir / "MANIFEST.tsv"
    paths = []
    for line in manifest.read_text(encoding="utf-8").splitlines()[1:]:
        source, path, kind, *_rest = line.split("\t")
        if kind == "message":
            paths.append(corpus_dir / source / path)
    return paths


def corpus_messages(corpus_dir: Path = CORPUS_DIR) -> Iterator[bytes]:
    """The raw bytes of every single-message corpus file, as stored."""
    for path in corpus_message_paths(corpus_dir):
        yield path.read_bytes()


_MESSAGE_ID = re.compile(rb"(?im)^message-id[ \t]*:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*")
_DUPLICATE_MESSAGE_ID = re.compile(rb"(?i)\r?\nmessage-id[ \t]*:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*")


def with_fresh_message_id(raw: bytes, mid: str) -> bytes:
    """`raw` with its Message-ID header(s) replaced by `mid`, or one added if it has none."""
    value = mid if mid.startswith("<") else f"<{mid}>"
    header = b"Message-ID: " + value.encode("ascii")
    end = _header_end(raw)
    head, rest = raw[:end], raw[end:]
    first = _MESSAGE_ID.search(head)
    if first is not None:
        # Replace the first; drop duplicates (malformed mail has them), each with the line
        # break before it, so exactly one Message-ID remains.
        tail = _DUPLICATE_MESSAGE_ID.sub(b"", head[first.end() :])
        return head[: first.start()] + header + tail + rest
    newline = raw.find(b"\n")
    eol = b"\r\n" if newline > 0 and raw[newline - 1] == 0x0D else b"\n"
    if raw.startswith(b"From ") and b"\n" in raw:
        # An mbox envelope line ("From sender date") precedes the headers: add after it.
        first_end = raw.index(b"\n") + 1
        return raw[:first_end] + header + eol + raw[first_end:]
    return header + eol + raw


def _header_end(raw: bytes) -> int:
    """Offset of the blank line that ends the header (the whole message if there is none)."""
    if raw.startswith((b"\r\n", b"\n")):
        return 0
    ends = [i for i in (raw.find(b"\r\n\r\n"), raw.find(b"\n\n")) if i != -1]
    return min(ends) if ends else len(raw)
