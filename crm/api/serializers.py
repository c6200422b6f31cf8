"""Shapes of the REST API.

Input serializers check only the shape of what a client sends (types, required keys, ids that
exist, ranges the database can hold); the services own every business rule (lengths, address
syntax, domain ownership, spans), and crm.api.errors turns their ValidationErrors into 400s.
The one question asked here is the API's form of the contact form's confirmation: an address
another contact has is a 409 unless the client sends `force`. Output serializers only render.
Nothing here saves: views hand `validated_data` to the services.
"""

from datetime import UTC, datetime
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from calendars.models import PushState
from calendars.selectors import calendar_place, push_status, status_of
from crm.accounts.models import Account, AccountDomain
from crm.accounts.selectors import ACCOUNT_SORTS
from crm.activities.models import Meeting, Task
from crm.api.errors import AddressConflict
from crm.contacts.models import Contact, ContactEmail
from crm.contacts.selectors import CONTACT_SORTS, address_holders
from crm.contacts.services import clean_addresses
from crm.core.ids import MAX_ID
from hierarchy.selectors import Reason
from mailsync.card_pages import COUNT_CAP, Cursor, parse_cursor
from mailsync.models import Direction, Message, Participant

# --- Query parameters of the lists -----------------------------------------------------------

# A number outside the primary keys' range names nothing, and the database refuses it with an
# error (SQLite: "Python int too large"): it is a 400 here instead.
MAX_SEARCH_LENGTH = 200


def id_filter(help_text: str) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text=help_text
    )


def search_filter(help_text: str) -> serializers.CharField:
    # CharField refuses NUL characters (PostgreSQL cannot hold them: a 500 otherwise).
    return serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=MAX_SEARCH_LENGTH,
        help_text=help_text,
    )


class PageQuerySerializer(serializers.Serializer[Any]):
    page = serializers.IntegerField(
        required=False, min_value=1, default=1, help_text="Page number, from 1."
    )


class CursorField(serializers.CharField):
    """A keyset page position, as the `next` and `previous` links carry it."""

    def run_validation(self, data: Any = serializers.empty) -> Cursor | None:
        text = super().run_validation(data)  # a string of at most max_length first
        try:
            return parse_cursor(text)
        except ValueError:
            raise serializers.ValidationError(
                "Not a page position: follow the next and previous links of a page."
            ) from None


class CardEmailQuerySerializer(serializers.Serializer[Any]):
    before = CursorField(
        required=False, max_length=40, help_text="Emails older than this position (`next` link)."
    )
    after = CursorField(
        required=False, max_length=40, help_text="Emails newer than this (`previous` link)."
    )


class ContactQuerySerializer(serializers.Serializer[Any]):
    search = search_filter("Words that must all appear in a name, job title, account or address.")
    ordering = serializers.ChoiceField(choices=list(CONTACT_SORTS), default="name")
    account = id_filter("Only contacts of this account.")


class AccountQuerySerializer(serializers.Serializer[Any]):
    search = search_filter("Text found in the name, website or a domain.")
    ordering = serializers.ChoiceField(choices=list(ACCOUNT_SORTS), default="name")


class ActivityQuerySerializer(serializers.Serializer[Any]):
    contact = id_filter("Only those linked to it.")
    account = id_filter("Those of the account or of one of its contacts.")


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
    force = serializers.BooleanField(
        default=False,
        write_only=True,
        help_text=(
            "Add an address even if another contact already has it. Mail is matched to "
            "contacts by address, so a shared address shows its mail on both cards: without "
            "`force`, such a request is refused with 409 Conflict naming the other contacts."
        ),
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        force = attrs.pop("force", False)
        if "emails" in attrs and not force:
            # clean_addresses' ValidationError names each bad address (a 400).
            addresses = clean_addresses(attrs["emails"])
            holders = address_holders(addresses, contact=self.context.get("contact"))
            if holders:
                raise AddressConflict(holders)
        return attrs


class AddressHolderSerializer(serializers.Serializer[Any]):
    address = serializers.CharField()
    contact = serializers.IntegerField(help_text="The id of the contact who has it.")
    name = serializers.CharField(help_text="That contact's full name.")


class AddressConflictSerializer(serializers.Serializer[Any]):
    """409: an address is already another contact's; send `force: true` to add it anyway."""

    detail = serializers.CharField()
    conflicts = AddressHolderSerializer(many=True)


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
    # Not a URLField: a blank website renders as "", which is no URI.
    website = serializers.CharField(read_only=True, help_text='Its web address, or "" if unknown.')
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


# A date far from now is a typo, and near datetime's limits (years 1 and 9999) the shift to the
# viewer's time zone overflows when the activity is shown: such a record could never be read.
EARLIEST_DATE = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_DATE = datetime(2199, 12, 31, 23, 59, 59, tzinfo=UTC)
_DATE_RANGE = "Dates must fall between the years 1900 and 2199."


def activity_datetime() -> serializers.DateTimeField:
    return serializers.DateTimeField(
        validators=[
            MinValueValidator(EARLIEST_DATE, message=_DATE_RANGE),
            MaxValueValidator(LATEST_DATE, message=_DATE_RANGE),
        ],
        help_text="ISO 8601 with a time zone, between the years 1900 and 2199.",
    )


class MeetingInputSerializer(ActivityInputSerializer):
    starts_at = activity_datetime()
    ends_at = activity_datetime()
    location = serializers.CharField(default="", allow_blank=True)


class TaskInputSerializer(ActivityInputSerializer):
    due_at = activity_datetime()
    done = serializers.BooleanField(default=False)


_ACTIVITY_FIELDS = [
    "id", "title", "notes", "owner", "account", "contacts", "show_in_external_calendar",
    "created_at", "updated_at",
]  # fmt: skip


class CalendarPushSerializer(serializers.Serializer[Any]):
    """Where the item's copy in its owner's external calendar stands (calendars/)."""

    state = serializers.ChoiceField(
        choices=["", *PushState.values],
        help_text="pushed, waiting, failed, removed (deleted in the calendar), off; '' never.",
    )
    text = serializers.CharField(help_text='What the page says: "In your calendar (Work)".')
    detail = serializers.CharField()


class _WithCalendarPush(serializers.Serializer[Any]):
    calendar_push = serializers.SerializerMethodField()

    @extend_schema_field(CalendarPushSerializer)
    def get_calendar_push(self, item: Meeting | Task) -> dict[str, str]:
        if hasattr(item, "push_state"):  # annotated by calendars.selectors.with_push_status
            calendar = getattr(item, "push_calendar", None)
            provider = getattr(item, "push_provider", None) or ""
            where = f" ({calendar_place(provider, calendar)})" if calendar else ""
            status = status_of(item.push_state, getattr(item, "push_error", ""), where)
        else:
            kind = "meeting" if isinstance(item, Meeting) else "task"
            status = push_status(kind, item.pk)
        return {"state": status.state, "text": status.label, "detail": status.detail}


class MeetingSerializer(_WithCalendarPush, serializers.ModelSerializer[Meeting]):
    class Meta:
        model = Meeting
        fields = [*_ACTIVITY_FIELDS, "starts_at", "ends_at", "location", "calendar_push"]
        read_only_fields = fields


class TaskSerializer(_WithCalendarPush, serializers.ModelSerializer[Task]):
    done = serializers.BooleanField(source="is_done", read_only=True)

    class Meta:
        model = Task
        fields = [*_ACTIVITY_FIELDS, "due_at", "done", "done_at", "calendar_push"]
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
    participants = ParticipantSerializer(many=True)
    holders = HolderSerializer(many=True)
    attachment_names = serializers.ListField(
        child=serializers.CharField(), source="message.attachment_names"
    )


class PaginatedCardEmailListSerializer(serializers.Serializer[Any]):
    """A page of card emails: newest first, each page starting where the last one ended."""

    count = serializers.IntegerField(
        help_text=f"Distinct emails, exact up to {COUNT_CAP:,}; past it, a lower bound."
    )
    count_is_lower_bound = serializers.BooleanField(
        help_text=f"True when there are more than {COUNT_CAP:,} and counting stopped."
    )
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
            "body_truncated_from",  # bytes of the body as sent, when it was cut (else null)
        ]  # fmt: skip
        read_only_fields = fields
