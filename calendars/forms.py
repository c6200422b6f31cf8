from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms

from calendars.providers.base import RemoteCalendar
from calendars.providers.caldav import plain_http_allowed

# Where the big CalDAV services are (RFC 6764 discovery finds the rest from a host name), and
# the server filled in for a mailbox of theirs.
KNOWN_SERVERS = [
    ("https://caldav.fastmail.com/", "Fastmail"),
    ("https://caldav.icloud.com/", "iCloud (app-specific password)"),
    ("https://your-nextcloud.example.com/remote.php/dav/", "Nextcloud (your server's address)"),
    ("https://your-server:5232/", "Radicale (your server's address)"),
]
SERVER_FOR_MAIL_DOMAIN = {
    "fastmail.com": "https://caldav.fastmail.com/",
    "fastmail.fm": "https://caldav.fastmail.com/",
    "icloud.com": "https://caldav.icloud.com/",
    "me.com": "https://caldav.icloud.com/",
    "mac.com": "https://caldav.icloud.com/",
}


class CalDavLoginForm(forms.Form):
    server_url = forms.CharField(
        label="Server address",
        max_length=500,
        help_text="A host name is enough where the server supports discovery (.well-known/caldav).",
        widget=forms.TextInput(attrs={"list": "known-caldav-servers", "autocomplete": "url"}),
    )
    username = forms.CharField(label="User name", max_length=254)
    password = forms.CharField(
        label="App password",
        max_length=500,
        strip=False,
        help_text="Stored encrypted, never shown again. iCloud and Fastmail need an app password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )

    def clean_server_url(self) -> str:
        value = str(self.cleaned_data["server_url"]).strip()
        if any(c.isspace() for c in value) or value.startswith(("javascript:", "file:")):
            raise forms.ValidationError("Enter a server address such as caldav.fastmail.com.")
        if "://" not in value:
            value = f"https://{value}"
        if not value.startswith(("https://", "http://")):
            raise forms.ValidationError("The address must start with https://.")
        try:
            host = urlsplit(value).hostname or ""
            urlsplit(value).port  # noqa: B018  (raises for a port out of range)
        except ValueError:
            raise forms.ValidationError(
                "Enter a server address such as caldav.fastmail.com."
            ) from None
        if not host:
            raise forms.ValidationError("Enter a server address such as caldav.fastmail.com.")
        # The password goes with every request: unencrypted only to this machine (as for IMAP).
        if not plain_http_allowed(value):
            raise forms.ValidationError(
                "Unencrypted connections are only allowed to this machine: use https://."
            )
        return value


class CalendarChoiceForm(forms.Form):
    calendar = forms.ChoiceField(label="Calendar", widget=forms.RadioSelect)

    def __init__(self, *args: Any, calendars: list[RemoteCalendar], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["calendar"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(c.key, c.name) for c in calendars]
        # The main calendar unless the user picks another (the first one where none says so).
        main = next((c for c in calendars if c.is_default), calendars[0] if calendars else None)
        field.initial = main.key if main is not None else None
