from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from crm.accounts.models import Account
from crm.activities.models import Meeting, Task
from crm.contacts.models import Contact
from crm.contacts.selectors import contact_list
from crm.core.ids import MAX_ID


class NativeDateInput(forms.DateInput):
    input_type = "date"


class DateAndTimeInput(forms.SplitDateTimeWidget):
    """The browser's date picker beside a 24-hour "HH:MM" box.

    Not <input type="datetime-local"> or type="time": browsers show those in their own locale's
    clock (12-hour with AM/PM in an en-US Chromium) while every page shows 24-hour times. The
    field reads both parts in the current (the user's) time zone.
    """

    def __init__(self, label: str) -> None:
        super().__init__()
        self.widgets = (
            NativeDateInput(format="%Y-%m-%d", attrs={"aria-label": f"{label}: date"}),
            forms.TimeInput(
                format="%H:%M",
                attrs={
                    "aria-label": f"{label}: time, 24-hour",
                    "placeholder": "HH:MM",
                    "size": 5,
                    "maxlength": 5,
                    "autocomplete": "off",
                    "class": "time-24h",
                },
            ),
        )


def date_and_time_field(label: str) -> forms.SplitDateTimeField:
    return forms.SplitDateTimeField(
        label=label,
        widget=DateAndTimeInput(label),
        input_time_formats=["%H:%M", "%H.%M", "%H:%M:%S"],
        error_messages={"invalid_time": "Enter a 24-hour time such as 09:30 or 17:00."},
    )


class ContactPickerInput(forms.SelectMultiple):
    """A plain multiple select: contact-picker.js turns it into a search box and checkboxes."""

    def __init__(self) -> None:
        super().__init__(attrs={"size": 8, "data-contact-picker": ""})


class ContactChoiceField(forms.ModelMultipleChoiceField):  # type: ignore[type-arg]
    def _check_values(self, value: Any) -> Any:
        # Django looks the ids up with `pk IN (...)`, which passes a number beyond the BigAutoField
        # range to the database (SQLite: OverflowError, a 500). Such an id names no contact.
        for pk in value:
            if not str(pk).isdigit() or not 0 < int(pk) <= MAX_ID:
                raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super()._check_values(value)  # type: ignore[misc]  # not in django-stubs

    def label_from_instance(self, obj: Contact) -> str:
        # Name, company and addresses: what people type to find someone.
        emails = [email.address for email in obj.emails.all()]
        parts = [obj.full_name, obj.account.name if obj.account else "", *emails[:2]]
        return " · ".join(part for part in parts if part)


class ActivityForm(forms.Form):
    title = forms.CharField(max_length=200)
    account = forms.ModelChoiceField(
        queryset=Account.objects.order_by("name"), required=False, empty_label="No account"
    )
    # The same contacts, in the same order, as the Contacts page shows the user.
    contacts = ContactChoiceField(
        queryset=contact_list(),
        required=False,
        widget=ContactPickerInput(),
        help_text="Hold Ctrl (⌘ on a Mac) to pick several.",
        error_messages={"invalid_choice": "That contact no longer exists: pick another one."},
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    show_in_external_calendar = forms.BooleanField(
        label="Show in my external calendar", required=False
    )

    @staticmethod
    def _links(activity: Meeting | Task) -> dict[str, Any]:
        return {
            "title": activity.title,
            "account": activity.account_id,
            "contacts": list(activity.contacts.all()),
            "notes": activity.notes,
            "show_in_external_calendar": activity.show_in_external_calendar,
        }


class MeetingForm(ActivityForm):
    starts_at = date_and_time_field("Starts")
    ends_at = date_and_time_field("Ends")
    location = forms.CharField(max_length=200, required=False)

    field_order = ["title", "starts_at", "ends_at", "location", "account", "contacts", "notes"]

    @classmethod
    def initial_for(cls, meeting: Meeting) -> dict[str, object]:
        return {
            **cls._links(meeting),
            "starts_at": meeting.starts_at,
            "ends_at": meeting.ends_at,
            "location": meeting.location,
        }


class TaskForm(ActivityForm):
    due_at = date_and_time_field("Due")
    done = forms.BooleanField(required=False)

    field_order = ["title", "due_at", "account", "contacts", "notes", "done"]

    @classmethod
    def initial_for(cls, task: Task) -> dict[str, object]:
        return {**cls._links(task), "due_at": task.due_at, "done": task.is_done}
