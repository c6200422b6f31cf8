"""The composer's form, the sending settings and the template editor."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from hierarchy.models import User
from mailsync.models import MessageTemplate, SenderSettings
from mailsync.sending.drafting import recipients, single_line
from mailsync.sending.mime import Attachment
from mailsync.sending.routes import from_choices

MAX_FILES = 20


class _MultipleFiles(forms.ClearableFileInput):
    allow_multiple_selected = True


class _FilesField(forms.FileField):
    widget = _MultipleFiles

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile[Any]]:
        files = data if isinstance(data, list | tuple) else [data] if data else []
        if len(files) > MAX_FILES:
            raise ValidationError(f"At most {MAX_FILES} attachments.")
        return [super(_FilesField, self).clean(one, initial) for one in files]


class ComposeForm(forms.Form):
    from_choice = forms.ChoiceField(label="From")
    to = forms.CharField(label="To", required=False, max_length=20_000)
    cc = forms.CharField(label="Cc", required=False, max_length=20_000)
    bcc = forms.CharField(label="Bcc", required=False, max_length=20_000)
    subject = forms.CharField(label="Subject", required=False, max_length=500)
    body = forms.CharField(
        label="Message",
        required=False,
        max_length=200_000,
        widget=forms.Textarea(attrs={"rows": 14}),
    )
    markdown = forms.BooleanField(
        label="Format with Markdown (sends text and HTML)", required=False
    )
    attachments = _FilesField(label="Attachments", required=False)
    bulk_confirmed = forms.BooleanField(
        label="Send one email to each recipient, at the pace my provider accepts", required=False
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choice = self.fields["from_choice"]
        assert isinstance(choice, forms.ChoiceField)
        choice.choices = from_choices(user)
        self.fields["to"].help_text = "Addresses separated by commas: Ann <ann@acme.com>, bob@x.org"

    def clean_subject(self) -> str:
        return single_line(self.cleaned_data["subject"], "The subject")

    def _addresses(self, name: str, label: str) -> list[tuple[str, str]]:
        try:
            return recipients(self.cleaned_data.get(name, ""), label)
        except ValidationError as error:
            self.add_error(name, error)
            return []

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["to_pairs"] = self._addresses("to", "To")
        data["cc_pairs"] = self._addresses("cc", "Cc")
        data["bcc_pairs"] = self._addresses("bcc", "Bcc")
        return data

    def attachment_list(self) -> list[Attachment]:
        return [
            Attachment(
                filename=(upload.name or "attachment")[:200],
                content_type=upload.content_type or "application/octet-stream",
                data=upload.read(),
            )
            for upload in self.cleaned_data.get("attachments") or []
        ]


class SenderSettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = SenderSettings
        fields = ["display_name", "signature", "quote_history"]
        labels = {
            "display_name": "Name on your email",
            "quote_history": "Replies quote the earlier messages",
        }
        help_texts = {
            "display_name": "Empty: your name, as the company's pattern writes it.",
            "signature": "Added below what you write, after a “-- ” line.",
        }
        widgets = {"signature": forms.Textarea(attrs={"rows": 4})}

    def clean_display_name(self) -> str:
        return single_line(self.cleaned_data["display_name"], "The name")


class MessageTemplateForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = MessageTemplate
        fields = ["name", "subject", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 12})}
        help_texts = {
            "body": "Placeholders: {contact.first_name}, {contact.last_name}, "
            "{contact.full_name}, {contact.title}, {contact.email}, {account.name}, "
            "{account.website}, {sender.first_name}, {sender.last_name}, {sender.full_name}, "
            "{sender.email}.",
        }

    def clean_subject(self) -> str:
        return single_line(self.cleaned_data["subject"], "The subject")
