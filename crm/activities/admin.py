from django.contrib import admin

from crm.activities.models import Meeting, Task


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "title",
        "starts_at",
        "ends_at",
        "owner",
        "account",
        "show_in_external_calendar",
    )
    list_filter = ("show_in_external_calendar",)
    search_fields = ("title",)
    list_select_related = ("owner", "account")
    autocomplete_fields = ("owner", "account", "contacts")


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("title", "due_at", "done_at", "owner", "account", "show_in_external_calendar")
    list_filter = ("show_in_external_calendar",)
    search_fields = ("title",)
    list_select_related = ("owner", "account")
    autocomplete_fields = ("owner", "account", "contacts")
