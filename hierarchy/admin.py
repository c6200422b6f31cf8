from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from mptt.admin import MPTTModelAdmin

from hierarchy.models import User


@admin.register(User)
class HierarchyUserAdmin(MPTTModelAdmin, UserAdmin):  # type: ignore[type-arg]
    list_display = ("username", "display_name", "email", "visibility_level", "is_sync_only")
    list_filter = ("visibility_level", "is_sync_only", "is_staff", "is_active")
    search_fields = ("username", "first_name", "last_name", "email")
    ordering = ("tree_id", "lft")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Hierarchy and visibility", {"fields": ("parent", "visibility_level", "is_sync_only")}),
    )
    mptt_level_indent = 24
