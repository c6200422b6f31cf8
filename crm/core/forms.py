from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from hierarchy.models import time_zone_choices


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError next to the fields it names (others at the top)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, messages in error.message_dict.items():
        form.add_error(field if field in form.fields else None, messages)


def split_lines(text: str) -> list[str]:
    """One entry per line or comma, as people paste lists of addresses or domains."""
    return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]


def _grouped_time_zones() -> list[tuple[str, Any]]:
    """UTC, then the zones under their area ("Europe": "Paris", ...), as people look for them."""
    single: list[tuple[str, Any]] = []
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, label in time_zone_choices():
        area, _, place = label.partition("/")
        if place:
            # The whole name: a closed select shows only the option, and "Paris" alone is vague.
            groups.setdefault(area, []).append((name, label.replace("/", " / ")))
        else:
            single.append((name, label))
    return [*single, *groups.items()]


class PreferencesForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=_grouped_time_zones,
        help_text="Meetings, tasks and emails show their times in this zone, and times you type "
        "are read in it. Times are always shown on the 24-hour clock.",
    )
