"""Shapes of the REST API.

Input serializers check only the shape of what a client sends (types, required keys, ids that
exist); the services own every business rule (lengths, address syntax, domain ownership, spans),
and crm.api.errors turns their ValidationErrors into 400s. Output serializers only render.
Nothing here saves: views hand `validated_data` to the services.
"""

from typing import Any

from rest_framework import serializers

from crm.accounts.models import Account, AccountDomain
from crm.accounts.selectors import ACCOUNT_SORTS
from crm.activities.models import Meeting, Task
from crm.contacts.models import Contact, ContactEmail
from crm.contacts.selectors import CONTACT_SORTS
from hierarchy.selectors import Reason
from mailsync.models import Direction, Message, Participant

# --- Query parameters of the lists -----------------------------------------------------------


class ContactQuerySerializer(serializers.Serializer[Any]):
    search = serializers.CharField(required=False, default="", allow_blank=True)
    ordering = serializers.ChoiceField(choices=list(CONTACT_SORTS), default="name")
    account = serializers.IntegerField(required=False, help_text="Only contacts of this account.")


class AccountQuerySerializer(serializers.Serializer[Any]):
    search = serializers.CharField(required=False, default="", allow_blank=True)
    ordering = serializers.ChoiceField(choices=list(ACCOUNT_SORTS), default="name")


class ActivityQuerySerializer(serializers.Serializer[Any]):
    contact = serializers.IntegerField(required=False, help_text="Only those linked to it.")
    account = serializers.IntegerField(
        required=False, help_text="Those of the account or of one of its contacts."
    )


# --- Contacts and accounts -------------------------------------------------------------------


class ContactInputSerializer(serializers.Serializer[Any]):
    first_name = serializers.CharField(default="", allow_blank=True)
    last_name = serializers.CharField()
    title = serializers.CharField(default="", allow_blank=True)
    phone = serializers.CharField(default="", allow_blank=True)
    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.all(), allow_null=True, default=None
    )
    # Raw as typed: the service normalizes them and names the culprit in its errors.
    emails = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        default=list,
        help_text="Email addresses; the first is the primary one.",
    )


class ContactEmailSerializer(serializers.ModelSerializer[ContactEmail]):
    class Meta:
        model = ContactEmail
        fields = ["address", "is_primary"]
        read_only_fields = fields


class ContactSerializer(serializers.ModelSerializer[Contact]):
    full_name = serializers.CharField(read_only=True)
    emails = ContactEmailSerializer(many=True, read_only=True)
    primary_email = serializers.SerializerMethodField()

    class Meta:
        model = Contact
        fields = [
            "id", "first_name", "last_name", "full_name", "title", "phone", "account", "owner",
            "emails", "primary_email", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_primary_email(self, contact: Contact) -> str | None:
        # Iterates the prefetched emails instead of querying again.
        return next((email.address for email in contact.emails.all() if email.is_primary), None)


class AccountInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    website = serializers.CharField(default="", allow_blank=True)
    domains = serializers.ListField(child=serializers.CharField(), default=list)


class AccountSerializer(serializers.ModelSerializer[Account]):
    domains = serializers.SlugRelatedField[AccountDomain](
        many=True, read_only=True, slug_field="domain"
    )
    contact_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Account
        fields = [
            "id", "name", "website", "domains", "owner", "contact_count", "created_at",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


# --- Meetings and tasks ----------------------------------------------------------------------


class ActivityInputSerializer(serializers.Serializer[Any]):
    title = serializers.CharField()
    notes = serializers.CharField(default="", allow_blank=True, trim_whitespace=False)
    account = serializers.PrimaryKeyRelatedField(
        queryset=Account.objects.all(), allow_null=True, default=None
    )
    contacts = serializers.PrimaryKeyRelatedField(
        queryset=Contact.objects.all(), many=True, default=list
    )
    show_in_external_calendar = serializers.BooleanField(default=False)


class MeetingInputSerializer(ActivityInputSerializer):
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    location = serializers.CharField(default="", allow_blank=True)


class TaskInputSerializer(ActivityInputSerializer):
    due_at = serializers.DateTimeField()
    done = serializers.BooleanField(default=False)


_ACTIVITY_FIELDS = [
    "id", "title", "notes", "owner", "account", "contacts", "show_in_external_calendar",
    "created_at", "updated_at",
]  # fmt: skip


class MeetingSerializer(serializers.ModelSerializer[Meeting]):
    class Meta:
        model = Meeting
        fields = [*_ACTIVITY_FIELDS, "starts_at", "ends_at", "location"]
        read_only_fields = fields


class TaskSerializer(serializers.ModelSerializer[Task]):
    done = serializers.BooleanField(source="is_done", read_only=True)

    class Meta:
        model = Task
        fields = [*_ACTIVITY_FIELDS, "due_at", "done", "done_at"]
        read_only_fields = fields


# --- Synchronized emails ---------------------------------------------------------------------


class ReasonField(serializers.ChoiceField):
    """A visibility Reason as its lowercase name ("own", "employee", ...)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=[reason.name.lower() for reason in Reason], **kwargs)

    def to_representation(self, value: Any) -> str:
        return Reason(value).name.lower()


class ParticipantSerializer(serializers.ModelSerializer[Participant]):
    class Meta:
        model = Participant
        fields = ["role", "address", "name"]
        read_only_fields = fields


class HolderSerializer(serializers.Serializer[Any]):
    user_id = serializers.IntegerField()
    name = serializers.CharField()
    reason = ReasonField(help_text="Why the viewer may see this mailbox.")


class CardEmailSerializer(serializers.Serializer[Any]):
    """One email of a card (a CardEmail): the copy shown, and every visible mailbox holding it."""

    id = serializers.IntegerField(source="message.pk")
    message_id = serializers.CharField(source="message.message_id")
    subject = serializers.CharField(source="message.subject")
    sent_at = serializers.DateTimeField(source="message.sent_at")
    direction = serializers.ChoiceField(choices=Direction.choices, source="message.direction")
    thread_key = serializers.CharField(source="message.thread_key")
    participants = ParticipantSerializer(many=True, source="message.participants")
    holders = HolderSerializer(many=True)
    attachment_names = serializers.ListField(
        child=serializers.CharField(), source="message.attachment_names"
    )


class PaginatedCardEmailListSerializer(serializers.Serializer[Any]):
    """The envelope of the other paginated lists, for a page of card emails."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CardEmailSerializer(many=True)


class EmailSerializer(serializers.ModelSerializer[Message]):
    participants = ParticipantSerializer(many=True, read_only=True)
    attachment_names = serializers.ListField(child=serializers.CharField(), read_only=True)
    mailbox_owner = serializers.IntegerField(source="mailbox.owner_id", read_only=True)

    class Meta:
        model = Message
        fields = [
            "id", "message_id", "subject", "sent_at", "received_at", "direction", "thread_key",
            "mailbox_owner", "participants", "attachment_names", "body_text", "body_truncated",
        ]  # fmt: skip
        read_only_fields = fields
