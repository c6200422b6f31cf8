from django import forms
from django.db import models

from crm.accounts.models import Account
from crm.contacts.models import Contact
from crm.core.forms import split_lines
from hierarchy.models import User


def _max(name: str) -> int | None:
    field = Contact._meta.get_field(name)
    assert isinstance(field, models.CharField)
    return field.max_length


class ContactForm(forms.Form):
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
