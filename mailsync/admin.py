"""Mailbox admin for support staff. Message bodies are never shown here, and credentials never."""

from django.contrib import admin

from mailsync.models import (
    BodyAccess,
    CompanyAddress,
    Folder,
    Mailbox,
    MailboxWatch,
    Message,
    MessageLocation,
    MessageTemplate,
    OutgoingMessage,
    Participant,
    PushSubscription,
    SkippedMessage,
    SyncRun,
)


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("address", "owner", "provider", "state", "last_synced_at")
    list_filter = ("provider", "state")
    search_fields = ("address", "owner__username")
    list_select_related = ("owner",)
    exclude = ("credentials",)  # never shown, never sent to a browser
    readonly_fields = (
        "progress_done",
        "progress_total",
        "last_synced_at",
        "next_sync_at",
        "failures",
        "paused_until",
        "lease_until",
        "lease_token",
    )


@admin.register(Folder)
class FolderAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "mailbox", "role", "synced")
    list_select_related = ("mailbox",)
    search_fields = ("name", "mailbox__address")

    @admin.display(boolean=True, description="synced")
    def synced(self, folder: Folder) -> bool:
        return bool(folder.cursor)  # where the sync stands, in the provider's own terms


class ParticipantInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Participant
    extra = 0
    can_delete = False
    readonly_fields = ("role", "address", "name")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("subject", "mailbox", "direction", "sent_at")
    list_filter = ("direction", "is_internal")
    search_fields = ("subject", "message_id")
    list_select_related = ("mailbox",)
    date_hierarchy = "sent_at"
    exclude = ("body_text",)  # support staff never read mail bodies
    readonly_fields = (
        "mailbox",
        "dedupe_key",
        "message_id",
        "thread_key",
        "sent_at",
        "received_at",
    )
    inlines = [ParticipantInline]

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(MessageLocation)
class MessageLocationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("message", "folder", "remote_id")
    list_select_related = ("message", "folder")
    raw_id_fields = ("message", "folder")


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("address", "role", "message")
    search_fields = ("address",)
    raw_id_fields = ("message",)


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("mailbox", "started_at", "finished_at", "added", "removed", "errors")
    list_select_related = ("mailbox",)


@admin.register(BodyAccess)
class BodyAccessAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Who opened which colleague's message, and when. Read-only, and no bodies."""

    list_display = ("opened_at", "viewer", "mailbox_owner", "message_id_header")
    list_filter = ("opened_at",)
    search_fields = ("viewer__username", "mailbox_owner__username", "message_id_header")
    list_select_related = ("viewer", "mailbox_owner")
    readonly_fields = ("viewer", "mailbox_owner", "message", "message_id_header", "opened_at")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(SkippedMessage)
class SkippedMessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Remote messages not stored (not an email), with the reason: for support."""

    list_display = ("folder", "remote_id", "reason", "seen_at")
    list_select_related = ("folder__mailbox",)
    search_fields = ("folder__mailbox__address", "reason")
    readonly_fields = ("folder", "remote_id", "reason", "seen_at")


# --- sending ----------------------------------------------------------------------------------


@admin.register(CompanyAddress)
class CompanyAddressAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Who may send as sales@, support@...: the permission is the `senders` list."""

    list_display = ("address", "display_name", "mailbox")
    search_fields = ("address", "display_name")
    filter_horizontal = ("senders",)
    raw_id_fields = ("mailbox",)


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Company templates have no owner; users keep their own on the Sending page."""

    list_display = ("name", "owner", "updated_at")
    list_filter = (("owner", admin.EmptyFieldListFilter),)
    search_fields = ("name", "subject")
    raw_id_fields = ("owner",)


@admin.register(OutgoingMessage)
class OutgoingMessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The outbox as support sees it: states and reasons, never the body or the bytes."""

    list_display = ("subject", "sender", "state", "route", "from_address", "created_at", "sent_at")
    list_filter = ("state", "route")
    search_fields = ("subject", "sender__username", "from_address", "message_id")
    list_select_related = ("sender",)
    fields = (
        "sender",
        "state",
        "route",
        "from_address",
        "subject",
        "message_id",
        "attempts",
        "last_error",
        "note",
        "not_before",
        "handed_over_at",
        "created_at",
        "sent_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(MailboxWatch)
class MailboxWatchAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The IMAP listener's health: which process watches which mailbox, and the last event."""

    list_display = ("mailbox", "listener", "connected", "since", "seen_at", "last_event_at")
    list_filter = ("connected", "listener")
    search_fields = ("mailbox__address", "listener")
    list_select_related = ("mailbox",)
    readonly_fields = (
        "mailbox", "listener", "connected", "since", "seen_at", "last_event_at", "last_error",
    )  # fmt: skip

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Graph subscriptions and Gmail watches: when each ends, and why one could not be made.
    The clientState secret is never shown."""

    list_display = ("mailbox", "kind", "folder", "expires_at", "renewed_at", "last_error")
    list_filter = ("kind",)
    search_fields = ("mailbox__address", "remote_id")
    list_select_related = ("mailbox",)
    exclude = ("client_state",)
    readonly_fields = ("mailbox", "kind", "folder", "remote_id", "expires_at", "last_error")

    def has_add_permission(self, request: object) -> bool:
        return False
