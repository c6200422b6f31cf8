"""Pages for sending: the composer, the outbox, sending settings and templates. Thin: they
parse, call a service (outbox.py) or a selector, and answer."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from crm.accounts.models import Account
from crm.contacts.models import Contact
from crm.core.views import safe_next
from hierarchy.models import User
from mailsync.models import Message, MessageTemplate, OutgoingMessage, OutgoingState
from mailsync.sending import outbox
from mailsync.sending.drafting import (
    BULK_RECIPIENTS,
    PlaceholderValues,
    fill_placeholders,
    own_addresses,
    recipient_text,
    reply_start,
)
from mailsync.sending.forms import ComposeForm, MessageTemplateForm, SenderSettingsForm
from mailsync.sending.routes import OWN, from_choices, route_for
from mailsync.sending.selectors import (
    outbox_of,
    pace_warning,
    sender_settings_of,
    templates_for,
)
from mailsync.views import opened_message_or_404

REPLY_KINDS = {"reply": "Reply", "reply_all": "Reply all", "forward": "Forward"}


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]  # login_required ran first


def _int(value: str | None) -> int | None:
    # ASCII digits only: "³".isdigit() is True, and int() refuses it.
    return int(value) if value and value.isascii() and value.isdigit() and len(value) < 12 else None


# --- the composer ------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def compose_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    context = _Context.of(request)
    existing = context.draft
    if request.method == "POST":
        form = ComposeForm(request.POST, request.FILES, user=user)
        if request.POST.get("action") == "template":
            return _with_template(request, form, context)
        if form.is_valid():
            done = _submit(request, form, context, existing)
            if done is not None:
                return done
    else:
        form = ComposeForm(initial=context.initial(user), user=user)
    return _render(request, form, context)


def _submit(
    request: HttpRequest, form: ComposeForm, context: _Context, existing: OutgoingMessage | None
) -> HttpResponse | None:
    user = _user(request)
    data = form.cleaned_data
    draft = outbox.Draft(
        from_choice=data["from_choice"],
        to=data["to_pairs"],
        cc=data["cc_pairs"],
        bcc=data["bcc_pairs"],
        subject=data["subject"],
        body_text=data["body"],
        markdown=data["markdown"],
        attachments=form.attachment_list(),
        replied_message=context.replied,
        reply_kind=context.kind if context.replied else "",
        in_reply_to=context.start.in_reply_to if context.start else "",
        references=context.start.references if context.start else "",
        bulk_confirmed=data["bulk_confirmed"],
    )
    try:
        if request.POST.get("action") == "draft":
            outbox.outgoing_draft_save(sender=user, draft=draft, existing=existing)
            messages.success(request, "Draft saved in your outbox.")
            return redirect("outbox")
        rows = outbox.outgoing_send(sender=user, draft=draft, existing=existing)
    except ValidationError as error:
        form.add_error(None, error)
        return None
    messages.success(request, _sent_sentence(rows))
    return redirect(safe_next(request) or reverse("outbox"))


def _sent_sentence(rows: list[OutgoingMessage]) -> str:
    last = max((r.not_before or timezone.now()) for r in rows)
    if len(rows) == 1 and last <= timezone.now() + timedelta(seconds=5):
        return "Sending. It is on the card now; the outbox shows when it has left."
    when = timezone.localtime(last).strftime("%H:%M on %b %d")
    return f"{len(rows)} emails queued at your provider's pace; the last leaves at {when}."


def _with_template(request: HttpRequest, form: ComposeForm, context: _Context) -> HttpResponse:
    """ "Use template": the chosen template's subject and body, placeholders filled for the
    card's contact (or the first To), the ones without a value flagged."""
    user = _user(request)
    template = templates_for(user).filter(pk=_int(request.POST.get("template")) or 0).first()
    data = request.POST.copy()
    empty: list[str] = []
    if template is not None:
        values = PlaceholderValues(
            contact=context.contact or _first_contact(data.get("to", "")),
            account=context.account,
            sender=user,
        )
        subject, empty_subject = fill_placeholders(template.subject, values)
        body, empty_body = fill_placeholders(template.body, values)
        data["subject"] = subject or data.get("subject", "")
        data["body"] = body + _signature_block(user)
        empty = sorted(set(empty_subject + empty_body))
    form = ComposeForm(initial=data.dict(), user=user)
    return _render(request, form, context, empty_placeholders=empty)


def _first_contact(to_text: str) -> Contact | None:
    from mailsync.sending.drafting import recipients

    try:
        pairs = recipients(to_text, "To")
    except ValidationError:
        return None
    addresses = [a for _, a in pairs]
    return Contact.objects.filter(emails__address__in=addresses[:1]).first()


def _signature_block(user: User) -> str:
    signature = sender_settings_of(user).signature.strip()
    return f"\n\n-- \n{signature}" if signature else ""


def _render(
    request: HttpRequest, form: ComposeForm, context: _Context, **extra: Any
) -> HttpResponse:
    user = _user(request)
    routes = []
    for value, label in from_choices(user):
        try:
            routes.append((value, label, route_for(user, value).sentence))
        except ValidationError as error:
            routes.append((value, label, " ".join(error.messages)))
    chosen = form["from_choice"].value() or OWN
    return render(
        request,
        "mailsync/compose.html",
        {
            "form": form,
            "context": context,
            "routes": routes,
            "route_sentence": next((s for v, _, s in routes if v == chosen), ""),
            "pace_warning": pace_warning(user, str(chosen)),
            "templates": templates_for(user),
            "bulk_limit": BULK_RECIPIENTS,
            "next": safe_next(request),
            **extra,
        },
    )


class _Context:
    """Where the composer was opened from: a card, a message to answer, a saved draft."""

    def __init__(self) -> None:
        self.contact: Contact | None = None
        self.account: Account | None = None
        self.replied: Message | None = None
        self.kind = ""
        self.start: Any = None
        self.draft: OutgoingMessage | None = None

    @classmethod
    def of(cls, request: HttpRequest) -> _Context:
        user = _user(request)
        found = cls()
        params = request.GET
        if _int(params.get("contact")):
            found.contact = get_object_or_404(Contact, pk=_int(params.get("contact")))
            found.account = found.contact.account
        if _int(params.get("account")):
            found.account = get_object_or_404(Account, pk=_int(params.get("account")))
        if _int(params.get("reply")):
            found.kind = params.get("kind", "reply")
            if found.kind not in REPLY_KINDS:
                raise Http404("No such kind of reply.")
            found.replied = opened_message_or_404(request, _int(params.get("reply")) or 0)
            found.start = reply_start(
                found.replied,
                found.kind,
                own_addresses=own_addresses(user),
                quote_history=sender_settings_of(user).quote_history,
            )
        if _int(params.get("draft")):
            found.draft = get_object_or_404(
                OutgoingMessage,
                pk=_int(params.get("draft")),
                sender=user,
                state=OutgoingState.DRAFT,
            )
        return found

    @property
    def title(self) -> str:
        if self.replied is not None:
            return REPLY_KINDS[self.kind]
        if self.contact is not None:
            return f"Email to {self.contact.full_name}"
        if self.account is not None:
            return f"Email to {self.account.name}"
        return "New email"

    def initial(self, user: User) -> dict[str, Any]:
        signature = _signature_block(user)
        if self.draft is not None:
            d = self.draft
            return {
                "from_choice": f"company:{d.company_address_id}" if d.company_address_id else OWN,
                "to": recipient_text(tuple(p) for p in d.to),
                "cc": recipient_text(tuple(p) for p in d.cc),
                "bcc": recipient_text(tuple(p) for p in d.bcc),
                "subject": d.subject,
                "body": d.body_text,
                "markdown": d.markdown,
            }
        if self.start is not None:
            quote = f"\n\n{self.start.quote}" if self.start.quote else ""
            return {
                "from_choice": self._answering_as(user),
                "to": recipient_text(self.start.to),
                "cc": recipient_text(self.start.cc),
                "subject": self.start.subject,
                "body": f"\n{signature}{quote}",
            }
        to = ""
        if self.contact is not None:
            primary = self.contact.emails.order_by("-is_primary", "pk").first()
            to = recipient_text([(self.contact.full_name, primary.address)]) if primary else ""
        return {"from_choice": OWN, "to": to, "body": signature}

    def _answering_as(self, user: User) -> str:
        """A reply to mail that came to a company address the user may send from goes from
        that address."""
        assert self.replied is not None
        permitted = dict(from_choices(user))
        company = getattr(self.replied.mailbox, "company_address", None)
        if company is not None and f"company:{company.pk}" in permitted:
            return f"company:{company.pk}"
        return OWN

    def account_contacts(self) -> list[Contact]:
        if self.account is None or self.contact is not None:
            return []
        return list(self.account.contacts.prefetch_related("emails").order_by("last_name")[:20])


# --- the outbox ------------------------------------------------------------------------------


@login_required
def outbox_page(request: HttpRequest) -> HttpResponse:
    return render(request, "mailsync/outbox.html", {"rows": outbox_of(_user(request))})


OUTBOX_ACTIONS = {
    "retry": (outbox.outgoing_retry, "Sending again."),
    "crm": (outbox.outgoing_use_crm_mailer, "Sending from the CRM's mailer."),
    "cancel": (outbox.outgoing_cancel, "Cancelled: it will not be sent."),
}


@login_required
@require_POST
def outbox_action(request: HttpRequest, outgoing_id: int, action: str) -> HttpResponse:
    if action not in OUTBOX_ACTIONS:
        raise Http404("No such action.")
    row = get_object_or_404(OutgoingMessage, pk=outgoing_id, sender=_user(request))
    service, done = OUTBOX_ACTIONS[action]
    try:
        service(outgoing=row)
        messages.success(request, done)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    return redirect("outbox")


# --- settings: the name, the signature, templates ------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def sending_settings_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = SenderSettingsForm(request.POST or None, instance=sender_settings_of(user))
    if request.method == "POST" and form.is_valid():
        settings_row = form.save(commit=False)
        settings_row.user = user
        settings_row.save()
        messages.success(request, "Sending settings saved.")
        return redirect("sending-settings")
    own = MessageTemplate.objects.filter(owner=user)
    company = MessageTemplate.objects.filter(owner__isnull=True)
    return render(
        request,
        "mailsync/sending_settings.html",
        {"form": form, "own_templates": own, "company_templates": company},
    )


@login_required
@require_http_methods(["GET", "POST"])
def template_edit_page(request: HttpRequest, template_id: int | None = None) -> HttpResponse:
    user = _user(request)
    template = (
        get_object_or_404(MessageTemplate, pk=template_id, owner=user) if template_id else None
    )
    form = MessageTemplateForm(request.POST or None, instance=template)
    if request.method == "POST":
        if request.POST.get("action") == "delete" and template is not None:
            template.delete()
            messages.success(request, "Template deleted.")
            return redirect("sending-settings")
        if form.is_valid():
            saved = form.save(commit=False)
            saved.owner = user
            saved.save()
            messages.success(request, "Template saved.")
            return redirect("sending-settings")
    return render(request, "mailsync/template_form.html", {"form": form, "template": template})
