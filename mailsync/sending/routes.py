"""Which way a message leaves, decided before it is queued and said in the composer.

own mailbox, connected and allowed to send  -> through it ("through Microsoft 365")
own mailbox disconnected, not allowed, none -> the CRM's mailer, replies to the user
a company address the user is permitted     -> its shared mailbox, else the CRM's mailer
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

from django.conf import settings
from django.core.exceptions import ValidationError

from crm.core.addresses import normalize_address
from hierarchy.models import User
from mailsync.models import (
    CompanyAddress,
    Mailbox,
    MailboxState,
    Provider,
    SenderSettings,
    SendRoute,
)

OWN = "own"


@dataclass(frozen=True)
class RoutePlan:
    route: SendRoute
    mailbox: Mailbox | None  # the mailbox it leaves through
    company_address: CompanyAddress | None
    from_address: str
    from_name: str
    reply_to: str  # set when the CRM's mailer speaks for someone
    sentence: str  # "from ann@acme.com through Microsoft 365"


def sender_name(user: User) -> str:
    chosen = SenderSettings.objects.filter(user=user).values_list("display_name", flat=True).first()
    if chosen:
        return chosen
    values = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "full_name": user.get_full_name(),
        "company": settings.COMPANY_NAME,
    }
    try:
        name = settings.SENDER_NAME_PATTERN.format(**values)
    except (KeyError, IndexError, ValueError):
        name = user.get_full_name()
    return " ".join(name.split()) if user.get_full_name() else ""


def from_choices(user: User) -> list[tuple[str, str]]:
    """What the From menu offers this user: their own address, then permitted company ones."""
    choices = [(OWN, _own_address(user) or "Your address")]
    for company in CompanyAddress.objects.filter(senders=user).order_by("address"):
        choices.append((f"company:{company.pk}", company.address))
    return choices


def _own_address(user: User) -> str:
    mailbox = Mailbox.objects.filter(owner=user).first()
    return mailbox.address if mailbox else normalize_address(user.email) if user.email else ""


def why_not_usable(mailbox: Mailbox | None) -> str:
    """ "" when mail can leave through this mailbox; else why not, as the end of a sentence."""
    if mailbox is None:
        return "you have not connected a mailbox"
    if mailbox.state == MailboxState.DISCONNECTED or not mailbox.has_credentials:
        return f"{mailbox.address} is disconnected"
    if mailbox.is_demo:
        return f"{mailbox.address} is demo data"
    if mailbox.provider == Provider.EXCHANGE:
        return "sending through Exchange (on-premises) is not available yet"
    if mailbox.provider == Provider.IMAP and not mailbox.connection_settings.get("smtp_host"):
        return f"no SMTP server is set for {mailbox.address}"
    if mailbox.provider in (
        Provider.MICROSOFT,
        Provider.GOOGLE,
    ) and not mailbox.connection_settings.get("send_allowed"):
        return (
            f"{mailbox.get_provider_display()} has not allowed Postcard to send from "
            f"{mailbox.address} yet (Allow sending, on the Mailbox sync page)"
        )
    return ""


def route_for(user: User, choice: str) -> RoutePlan:
    """The route for the From the user chose; ValidationError for one they may not use."""
    if choice == OWN:
        return _own_route(user)
    company = _permitted_company_address(user, choice)
    name = company.display_name or sender_name(user)
    blocked = why_not_usable(company.mailbox) if company.mailbox else "it has no shared mailbox"
    if company.mailbox is not None and not blocked:
        return RoutePlan(
            route=SendRoute.COMPANY,
            mailbox=company.mailbox,
            company_address=company,
            from_address=company.address,
            from_name=name,
            reply_to="",
            sentence=f"from {company.address} through {_through(company.mailbox)}",
        )
    return _crm_mailer(name, company.address, blocked, company=company)


def _own_route(user: User) -> RoutePlan:
    mailbox = Mailbox.objects.filter(owner=user).first()
    name = sender_name(user)
    blocked = why_not_usable(mailbox)
    if mailbox is not None and not blocked:
        return RoutePlan(
            route=SendRoute.MAILBOX,
            mailbox=mailbox,
            company_address=None,
            from_address=mailbox.address,
            from_name=name,
            reply_to="",
            sentence=f"from {mailbox.address} through {_through(mailbox)}",
        )
    own = _own_address(user)
    if not own:
        raise ValidationError(
            "Your account has no email address: add one, or connect a mailbox, before sending."
        )
    return _crm_mailer(name, own, blocked, company=None)


def _crm_mailer(
    name: str, reply_to: str, because: str, *, company: CompanyAddress | None
) -> RoutePlan:
    crm_address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or "postcard@localhost"
    return RoutePlan(
        route=SendRoute.CRM_MAILER,
        mailbox=None,
        company_address=company,
        from_address=crm_address,
        from_name=f"{name} via Postcard" if name else "Postcard",
        reply_to=reply_to,
        sentence=f"from the CRM's mailer, replies to {reply_to}, because {because}",
    )


def _permitted_company_address(user: User, choice: str) -> CompanyAddress:
    _, _, pk = choice.partition(":")
    company = (
        CompanyAddress.objects.filter(pk=int(pk), senders=user).select_related("mailbox").first()
        if choice.startswith("company:") and pk.isascii() and pk.isdigit() and len(pk) < 12
        else None
    )
    if company is None:
        raise ValidationError(
            "You may not send from that address. Company addresses are granted in admin."
        )
    return company


def size_limit(plan: RoutePlan) -> tuple[int, str]:
    """The most bytes an email may hold on this route, and who sets that limit: the providers'
    APIs take less than their mailboxes (senders/graph.py, senders/gmail.py)."""
    from mailsync.senders.gmail import MAX_MIME_BYTES as GMAIL
    from mailsync.senders.graph import MAX_MIME_BYTES as GRAPH

    mailbox = plan.mailbox
    if mailbox is not None and mailbox.provider == Provider.MICROSOFT:
        return GRAPH, "Microsoft 365"
    if mailbox is not None and mailbox.provider == Provider.GOOGLE:
        return GMAIL, "Gmail"
    return settings.SEND_MAX_ATTACHMENTS_BYTES, "Postcard"


def _through(mailbox: Mailbox) -> str:
    if mailbox.provider == Provider.IMAP:
        return str(mailbox.connection_settings.get("smtp_host") or "your mail server")
    return mailbox.get_provider_display()


@dataclass(frozen=True)
class SendingStatus:
    sentence: str  # how the user's email leaves now
    may_allow: bool  # a provider sign-in would let Postcard send through the mailbox


def sending_status(user: User, mailbox: Mailbox) -> SendingStatus:
    try:
        sentence = _own_route(user).sentence
    except ValidationError as error:
        sentence = " ".join(error.messages)
    may_allow = (
        mailbox.provider in (Provider.MICROSOFT, Provider.GOOGLE)
        and mailbox.state != MailboxState.DISCONNECTED
        and mailbox.has_credentials
        and not mailbox.is_demo
        and not mailbox.connection_settings.get("send_allowed")
    )
    return SendingStatus(sentence=sentence, may_allow=may_allow)
