from django import forms

from crm.accounts.models import Account
from crm.activities.models import Meeting, Task
from crm.contacts.models import Contact
from crm.core.forms import DateTimeLocalInput


class ActivityForm(forms.Form):
    title = forms.CharField(max_length=200)
    account = forms.ModelChoiceField(
        queryset=Account.objects.order_by("name"), required=False, empty_label="No account"
    )
    contacts = forms.ModelMultipleChoiceField(
        queryset=Contact.objects.select_related("account"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    show_in_external_calendar = forms.BooleanField(
        label="Show in my external calendar", required=False
    )


class MeetingForm(ActivityForm):
    starts_at = forms.DateTimeField(label="Starts", widget=DateTimeLocalInput())
    ends_at = forms.DateTimeField(label="Ends", widget=DateTimeLocalInput())
    location = forms.CharField(max_length=200, required=False)

    field_order = ["title", "starts_at", "ends_at", "location", "account", "contacts", "notes"]

    @classmethod
    def initial_for(cls, meeting: Meeting) -> dict[str, object]:
        return {
            "title": meeting.title,
            "starts_at": meeting.starts_at,
            "ends_at": meeting.ends_at,
            "location": meeting.location,
            "account": meeting.account_id,
            "contacts": list(meeting.contacts.all()),
            "notes": meeting.notes,
            "show_in_external_calendar": meeting.show_in_external_calendar,
        }


class TaskForm(ActivityForm):
    due_at = forms.DateTimeField(label="Due", widget=DateTimeLocalInput())
    done = forms.BooleanField(required=False)

    field_order = ["title", "due_at", "account", "contacts", "notes", "done"]

    @classmethod
    def initial_for(cls, task: Task) -> dict[str, object]:
        return {
            "title": task.title,
            "due_at": task.due_at,
            "account": task.account_id,
            "contacts": list(task.contacts.all()),
            "notes": task.notes,
            "show_in_external_calendar": task.show_in_external_calendar,
            "done": task.is_done,
        }
