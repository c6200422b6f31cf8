from django.contrib import admin

from calendars.models import CalendarConnection, PushedItem


@admin.register(CalendarConnection)
class CalendarConnectionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("owner", "provider", "calendar_name", "state", "created_at")
    list_filter = ("provider", "state")
    search_fields = ("owner__username", "owner__email", "calendar_name")
    # The password never reaches a page, not even for support staff.
    exclude = ("credentials",)
    readonly_fields = ("server_url", "username", "calendar_key", "state_reason")


@admin.register(PushedItem)
class PushedItemAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("kind", "item_id", "owner", "state", "attempts", "pushed_at")
    list_filter = ("kind", "state")
    readonly_fields = [f.name for f in PushedItem._meta.fields]
