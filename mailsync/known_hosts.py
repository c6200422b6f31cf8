"""IMAP and SMTP settings of well-known mail services, to prefill the "Custom IMAP settings" form.

Only a starting point: the user can change every value, and the connection is checked before
anything is saved. For an unknown domain nothing is prefilled; `imap.<domain>` and
`smtp.<domain>` are only shown as placeholders, since guessing wrong would look authoritative.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AppPasswordHint:
    """Where a provider lets people create an app password (needed with 2-step verification)."""

    where: str  # the path through the provider's account pages, as a sentence fragment
    url: str = ""


@dataclass(frozen=True)
class KnownHost:
    name: str
    imap_host: str
    imap_port: int
    imap_security: str
    smtp_host: str
    smtp_port: int
    smtp_security: str
    app_password: AppPasswordHint | None = None
    note: str = ""


@dataclass(frozen=True)
class Guess:
    """Placeholders only, for a domain this module does not know."""

    imap_host: str
    smtp_host: str


GMAIL = KnownHost(
    name="Gmail",
    imap_host="imap.gmail.com",
    imap_port=993,
    imap_security="ssl",
    smtp_host="smtp.gmail.com",
    smtp_port=465,
    smtp_security="ssl",
    app_password=AppPasswordHint(
        where="Google Account → Security → 2-Step Verification → App passwords",
        url="https://myaccount.google.com/apppasswords",
    ),
)
OUTLOOK = KnownHost(
    name="Outlook.com",
    imap_host="outlook.office365.com",
    imap_port=993,
    imap_security="ssl",
    smtp_host="smtp-mail.outlook.com",
    smtp_port=587,
    smtp_security="starttls",
    app_password=AppPasswordHint(
        where="Microsoft account → Security → Advanced security options → App passwords",
        url="https://account.microsoft.com/security",
    ),
    note=(
        "Microsoft is retiring password sign-in over IMAP for Outlook.com. If a correct app "
        "password is refused, use the Microsoft option once it is available."
    ),
)
YAHOO = KnownHost(
    name="Yahoo Mail",
    imap_host="imap.mail.yahoo.com",
    imap_port=993,
    imap_security="ssl",
    smtp_host="smtp.mail.yahoo.com",
    smtp_port=465,
    smtp_security="ssl",
    app_password=AppPasswordHint(
        where="Yahoo Account security → Generate app password",
        url="https://login.yahoo.com/account/security",
    ),
)
ICLOUD = KnownHost(
    name="iCloud Mail",
    imap_host="imap.mail.me.com",
    imap_port=993,
    imap_security="ssl",
    smtp_host="smtp.mail.me.com",
    smtp_port=587,
    smtp_security="starttls",
    app_password=AppPasswordHint(
        where="Apple Account → Sign-In and Security → App-Specific Passwords",
        url="https://account.apple.com/",
    ),
)
AOL = KnownHost(
    name="AOL Mail",
    imap_host="imap.aol.com",
    imap_port=993,
    imap_security="ssl",
    smtp_host="smtp.aol.com",
    smtp_port=465,
    smtp_security="ssl",
    app_password=AppPasswordHint(
        where="AOL Account security → Generate app password",
        url="https://login.aol.com/account/security",
    ),
)
GMX_NET = KnownHost(
    name="GMX",
    imap_host="imap.gmx.net",
    imap_port=993,
    imap_security="ssl",
    smtp_host="mail.gmx.net",
    smtp_port=587,
    smtp_security="starttls",
    note="Allow IMAP first: GMX settings → POP3 & IMAP → “Enable access via POP3 and IMAP”.",
)
GMX_COM = KnownHost(
    name="GMX",
    imap_host="imap.gmx.com",
    imap_port=993,
    imap_security="ssl",
    smtp_host="mail.gmx.com",
    smtp_port=587,
    smtp_security="starttls",
    note=GMX_NET.note,
)
WEB_DE = KnownHost(
    name="WEB.DE",
    imap_host="imap.web.de",
    imap_port=993,
    imap_security="ssl",
    smtp_host="smtp.web.de",
    smtp_port=587,
    smtp_security="starttls",
    note="Allow IMAP first: WEB.DE settings → POP3/IMAP → “Enable access via POP3 and IMAP”.",
)
FASTMAIL = KnownHost(
    name="Fastmail",
    imap_host="imap.fastmail.com",
    imap_port=993,
    imap_security="ssl",
    smtp_host="smtp.fastmail.com",
    smtp_port=465,
    smtp_security="ssl",
    app_password=AppPasswordHint(
        where="Fastmail Settings → Privacy & Security → Manage app passwords and access "
        "(Fastmail asks for one for every mail app)",
    ),
)
ZOHO = KnownHost(
    name="Zoho Mail",
    imap_host="imap.zoho.com",
    imap_port=993,
    imap_security="ssl",
    smtp_host="smtp.zoho.com",
    smtp_port=465,
    smtp_security="ssl",
    app_password=AppPasswordHint(
        where="Zoho Accounts → Security → App Passwords",
        url="https://accounts.zoho.com/",
    ),
    note="Allow IMAP first: Zoho Mail settings → Mail Accounts → IMAP Access.",
)
POSTEO = KnownHost(
    name="Posteo",
    imap_host="posteo.de",
    imap_port=993,
    imap_security="ssl",
    smtp_host="posteo.de",
    smtp_port=587,
    smtp_security="starttls",
)
MAILBOX_ORG = KnownHost(
    name="mailbox.org",
    imap_host="imap.mailbox.org",
    imap_port=993,
    imap_security="ssl",
    smtp_host="smtp.mailbox.org",
    smtp_port=465,
    smtp_security="ssl",
)
PROTON = KnownHost(
    name="Proton Mail",
    imap_host="127.0.0.1",
    imap_port=1143,
    imap_security="starttls",
    smtp_host="127.0.0.1",
    smtp_port=1025,
    smtp_security="starttls",
    note=(
        "Proton Mail has no direct IMAP access: it needs Proton Mail Bridge (paid plans) "
        "running on the same machine as Postcard, which listens on 127.0.0.1:1143 (IMAP) and "
        "127.0.0.1:1025 (SMTP). Use the password Bridge shows, not your Proton password. "
        "Bridge uses its own certificate; if STARTTLS fails on it, choose None, which is "
        "allowed because the connection never leaves this machine."
    ),
)

BY_DOMAIN: dict[str, KnownHost] = {
    "gmail.com": GMAIL,
    "googlemail.com": GMAIL,
    "outlook.com": OUTLOOK,
    "hotmail.com": OUTLOOK,
    "live.com": OUTLOOK,
    "msn.com": OUTLOOK,
    "yahoo.com": YAHOO,
    "icloud.com": ICLOUD,
    "me.com": ICLOUD,
    "mac.com": ICLOUD,
    "aol.com": AOL,
    "gmx.com": GMX_COM,
    "gmx.us": GMX_COM,
    "web.de": WEB_DE,
    "fastmail.com": FASTMAIL,
    "fastmail.fm": FASTMAIL,
    "zoho.com": ZOHO,
    "posteo.de": POSTEO,
    "mailbox.org": MAILBOX_ORG,
    "proton.me": PROTON,
    "protonmail.com": PROTON,
    "pm.me": PROTON,
}


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().rstrip(".").lower()


def known_host(address: str) -> KnownHost | None:
    """The settings of the service behind an address, if it is a well-known one."""
    domain = domain_of(address)
    if domain in BY_DOMAIN:
        return BY_DOMAIN[domain]
    # GMX runs one service under many country domains: gmx.de, gmx.at, gmx.ch, gmx.net ...
    if domain.startswith("gmx."):
        return GMX_NET
    return None


def guess(address: str) -> Guess | None:
    """Placeholder host names for an unknown domain (never prefilled as values)."""
    domain = domain_of(address)
    if not domain or "." not in domain:
        return None
    return Guess(imap_host=f"imap.{domain}", smtp_host=f"smtp.{domain}")
