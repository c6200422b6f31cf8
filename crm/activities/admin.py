from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from calendars.models import ItemKind
from calendars.services import calendar_push_soon
from crm.activities.models import Meeting, Task


class PushesToCalendar(admin.ModelAdmin):  # type: ignore[type-arg]
    """Support staff editing a meeting or task here (another owner, say): its copy in an
    external calendar follows, as for a change made on the item's page."""

    kind: str

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)  # contacts saved: then push
        item = form.instance
        calendar_push_soon(
            self.kind, item.pk, item.owner if item.show_in_external_calendar else None
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        item_id = obj.pk
        super().delete_model(request, obj)
        calendar_push_soon(self.kind, item_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        item_ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        for item_id in item_ids:
            calendar_push_soon(self.kind, item_id)


@admin.register(Meeting)
class MeetingAdmin(PushesToCalendar):
    kind = ItemKind.MEETING
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
class TaskAdmin(PushesToCalendar):
    kind = ItemKind.TASK
    list_display = ("title", "due_at", "done_at", "owner", "account", "show_in_external_calendar")
    list_filter = ("show_in_external_calendar",)
    search_fields = ("title",)
    list_select_related = ("owner", "account")
    autocomplete_fields = ("owner", "account", "contacts")
