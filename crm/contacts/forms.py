from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.html import format_html, format_html_join

from crm.accounts.models import Account
from crm.contacts.models import Contact, ContactEmail
from crm.contacts.selectors import address_holders
from crm.contacts.services import clean_addresses
from crm.core.forms import split_lines
from hierarchy.models import User


def _max(name: str) -> int | None:
    field = Contact._meta.get_field(name)
    assert isinstance(field, models.CharField)
    return field.max_length


class ContactForm(forms.Form):
    """A contact's details. An address another contact already holds is refused until the user
    ticks "Add it anyway", with a link to that contact: its mail would show on both cards."""

    # The contact being edited (None for a new one): its own addresses are no conflict.
    contact: Contact | None = None
    first_name = forms.CharField(max_length=_max("first_name"), required=False)
    last_name = forms.CharField(max_length=_max("last_name"))
    title = forms.CharField(label="Job title", max_length=_max("title"), required=False)
    phone = forms.CharField(max_length=_max("phone"), required=False)
    account = forms.ModelChoiceField(
        queryset=Account.objects.order_by("name"), required=False, empty_label="No account"
    )
    emails = forms.CharField(
        label="Email addresses",
        required=False,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "jane@acme.com\njane.doe@gmail.com"}
        ),
        help_text="One per line. The first is the primary address.",
    )
    owner = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True, is_sync_only=False), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address_holders: list[ContactEmail] = []
        if self.data.get("add_anyway"):  # ticked: bind it, so clean() can read it
            self._add_confirmation_field()

    @classmethod
    def editing(cls, contact: Contact) -> type["ContactForm"]:
        """This form for editing `contact` (form_page builds the form from a class)."""
        return type(cls.__name__, (cls,), {"contact": contact})

    def clean_emails(self) -> list[str]:
        return split_lines(self.cleaned_data["emails"])

    @classmethod
    def initial_for(cls, contact: Contact) -> dict[str, object]:
        return {
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "title": contact.title,
            "phone": contact.phone,
            "account": contact.account_id,
            "owner": contact.owner_id,
            "emails": "\n".join(e.address for e in contact.emails.all()),
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        confirmed = bool(cleaned.pop("add_anyway", False))
        try:
            addresses = clean_addresses(cleaned.get("emails", []))
        except ValidationError:
            return cleaned  # the service names each bad address when saving
        self.address_holders = address_holders(addresses, contact=self.contact)
        if not self.address_holders:
            self.fields.pop("add_anyway", None)
            return cleaned
        self._add_confirmation_field()
        self.fields["add_anyway"].help_text = self._holders_html()
        if not confirmed:
            self.add_error("emails", "Already the address of another contact: see below.")
            self.add_error("add_anyway", "Tick this box to add it anyway, or change the address.")
        return cleaned

    def _add_confirmation_field(self) -> None:
        if "add_anyway" in self.fields:
            return
        self.fields["add_anyway"] = forms.BooleanField(label="Add it anyway", required=False)
        # Right below the addresses it is about.
        self.order_fields(
            ["first_name", "last_name", "title", "phone", "account", "emails", "add_anyway"]
        )

    def _holders_html(self) -> str:
        sentences = format_html_join(
            " ",
            '{} is already the address of <a href="{}"><bdi>{}</bdi></a>.',
            (
                (holder.address, holder.contact.get_absolute_url(), holder.contact.full_name)
                for holder in self.address_holders
            ),
        )
        return format_html("{} Mail with a shared address shows on both cards.", sentences)
