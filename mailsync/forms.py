"""Forms of Settings > Mailbox sync: they parse and check input; the services do the rest."""

from __future__ import annotations

import ipaddress
from typing import Any

from django import forms

from mailsync.connections import SECURITY_CHOICES, ImapAccount
from mailsync.known_hosts import guess, known_host
from mailsync.providers.imap import is_loopback

EVERYTHING = "all"
SINCE_CHOICES = [
    ("0", "New mail only"),
    ("30", "30 days"),
    ("90", "90 days"),
    ("365", "365 days"),
    (EVERYTHING, "Everything"),
]
PLAIN_REFUSED = (
    "Unencrypted connections are only allowed to this machine (127.0.0.1 or localhost). "
    "Choose SSL/TLS or STARTTLS."
)


def _password_field(label: str, help_text: str) -> forms.CharField:
    # Never rendered back into the page; "new-password" keeps browsers from offering the
    # Postcard login password, which is saved for this same site.
    return forms.CharField(
        label=label,
        strip=False,
        max_length=1000,
        help_text=help_text,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )


class AddressForm(forms.Form):
    """Step 1: the address alone, which decides the provider suggestions and the prefill."""

    address = forms.EmailField(
        label="Email address",
        max_length=320,
        widget=forms.EmailInput(
            attrs={"autocomplete": "email", "autofocus": True, "placeholder": "you@example.com"}
        ),
    )


class HostField(forms.CharField):
    """A host name or IP address: no scheme, no path, no port (the port has its own field)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 253)
        super().__init__(**kwargs)
        self.widget.attrs.update({"autocapitalize": "off", "spellcheck": "false"})

    def clean(self, value: Any) -> str:
        host = str(super().clean(value)).strip().rstrip(".").lower()
        if "://" in host or "/" in host:
            raise forms.ValidationError("Only the host name, such as imap.example.com.")
        if any(c.isspace() for c in host) or "@" in host:
            raise forms.ValidationError("Enter a host name, such as imap.example.com.")
        if ":" in host and not _is_ip(host.strip("[]")):
            raise forms.ValidationError("Enter the port in the port field, not after the host.")
        return host.strip("[]")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _port_field(label: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        min_value=1,
        max_value=65535,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "port"}),
    )


class ImapForm(forms.Form):
    """Step 3: "Custom IMAP settings". Prefilled for well-known services."""

    address = forms.EmailField(
        label="Email address", max_length=320, widget=forms.EmailInput(attrs={"readonly": True})
    )
    username = forms.CharField(
        label="Login name",
        required=False,
        max_length=320,
        help_text="Usually your full email address.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "off"}),
    )
    password = _password_field(
        "Password", "Your mail password, or an app password. Stored encrypted."
    )
    imap_host = HostField(label="IMAP server")
    imap_port = _port_field("Port")
    imap_security = forms.ChoiceField(
        label="Security",
        choices=SECURITY_CHOICES,
        help_text="SSL/TLS usually uses port 993, STARTTLS port 143. None sends your password "
        "unencrypted and is only allowed to this machine (127.0.0.1 or localhost).",
    )
    smtp_host = HostField(label="SMTP server")
    smtp_port = _port_field("Port")
    smtp_security = forms.ChoiceField(
        label="Security",
        choices=SECURITY_CHOICES,
        help_text="SSL/TLS usually uses port 465, STARTTLS port 587. None is only allowed to "
        "this machine (127.0.0.1 or localhost).",
    )
    sync_since = forms.ChoiceField(
        label="How far back",
        choices=SINCE_CHOICES,
        widget=forms.RadioSelect,
        help_text="Older emails are not imported. New mail is always synchronized.",
    )

    def __init__(self, *args: Any, address: str, **kwargs: Any) -> None:
        kwargs.setdefault("initial", self.initial_for(address))
        super().__init__(*args, **kwargs)
        placeholders = guess(address)
        if placeholders and known_host(address) is None:
            self.fields["imap_host"].widget.attrs["placeholder"] = placeholders.imap_host
            self.fields["smtp_host"].widget.attrs["placeholder"] = placeholders.smtp_host

    @staticmethod
    def initial_for(address: str) -> dict[str, object]:
        initial: dict[str, object] = {
            "address": address,
            "username": address,
            "imap_port": 993,
            "imap_security": "ssl",
            "smtp_port": 587,
            "smtp_security": "starttls",
            "sync_since": "90",
        }
        known = known_host(address)
        if known:
            initial.update(
                imap_host=known.imap_host,
                imap_port=known.imap_port,
                imap_security=known.imap_security,
                smtp_host=known.smtp_host,
                smtp_port=known.smtp_port,
                smtp_security=known.smtp_security,
            )
        return initial

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for kind in ("imap", "smtp"):
            host, security = data.get(f"{kind}_host"), data.get(f"{kind}_security")
            if host and security == "plain" and not is_loopback(host):
                self.add_error(f"{kind}_security", PLAIN_REFUSED)
        return data

    def account(self) -> ImapAccount:
        data = self.cleaned_data
        return ImapAccount(
            address=data["address"],
            username=data["username"] or data["address"],
            password=data["password"],
            imap_host=data["imap_host"],
            imap_port=data["imap_port"],
            imap_security=data["imap_security"],
            smtp_host=data["smtp_host"],
            smtp_port=data["smtp_port"],
            smtp_security=data["smtp_security"],
        )

    def sync_since_days(self) -> int | None:
        value = self.cleaned_data["sync_since"]
        return None if value == EVERYTHING else int(value)


class HistoryForm(forms.Form):
    """How far back the first import reaches, for a mailbox connected by signing in."""

    sync_since = forms.ChoiceField(
        label="How far back",
        choices=SINCE_CHOICES,
        initial="90",
        widget=forms.RadioSelect,
        help_text="Older emails are not imported. New mail is always synchronized.",
    )

    def sync_since_days(self) -> int | None:
        value = self.cleaned_data["sync_since"]
        return None if value == EVERYTHING else int(value)


class ReconnectForm(forms.Form):
    password = _password_field(
        "New password", "Your mail password, or a new app password if the old one was revoked."
    )


class DisconnectForm(forms.Form):
    emails = forms.ChoiceField(
        label="What should happen to the synchronized emails?",
        choices=[
            ("keep", "Keep the synchronized emails"),
            ("delete", "Delete the synchronized emails"),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose whether to keep or delete the emails."},
    )

    def __init__(self, *args: Any, can_keep: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not can_keep:
            # Already disconnected, or demo data: removing is the only thing left to do.
            field = self.fields["emails"]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [("delete", "Delete the synchronized emails")]
            field.initial = "delete"
            field.widget = forms.HiddenInput()

    @property
    def keep_emails(self) -> bool:
        return bool(self.cleaned_data["emails"] == "keep")
