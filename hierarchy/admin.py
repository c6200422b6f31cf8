"""Support staff set visibility levels and move users in the tree here.

Tree and level changes go through hierarchy.services (under the tree lock) and report who a
change pushes past the mailbox cap. No page here shows a message body.
"""

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from mptt.admin import MPTTModelAdmin

from hierarchy.models import User
from hierarchy.selectors import load_tree, visible_mailbox_counts
from hierarchy.services import (
    CapWarning,
    sync_only_user_create,
    tree_lock,
    user_move,
    user_set_level,
)

HIERARCHY_FIELDS = ("parent", "visibility_level", "is_sync_only")


class OverCapFilter(admin.SimpleListFilter):
    title = "mailbox cap"
    parameter_name = "cap"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("over", f"Level allows more than {settings.VISIBILITY_MAILBOX_CAP} mailboxes")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
        if self.value() != "over":
            return queryset
        counts = visible_mailbox_counts(load_tree())
        over = [uid for uid, n in counts.items() if n > settings.VISIBILITY_MAILBOX_CAP]
        return queryset.filter(pk__in=over)


@admin.register(User)
class HierarchyUserAdmin(MPTTModelAdmin, UserAdmin):  # type: ignore[type-arg]
    list_display = (
        "username",
        "display_name",
        "visibility_level",
        "mailboxes_visible",
        "has_mailbox",
        "is_sync_only",
    )
    list_filter = (OverCapFilter, "visibility_level", "is_sync_only", "is_staff", "is_active")
    search_fields = ("username", "first_name", "last_name", "email")
    ordering = ("tree_id", "lft")
    list_select_related = ("mailbox",)
    mptt_level_indent = 24
    actions = ["create_sync_only_user"]
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Hierarchy and visibility", {"fields": HIERARCHY_FIELDS}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        if request.user.is_superuser or obj is None:
            return super().get_fieldsets(request, obj)
        # Support staff manage the tree and levels, not permissions or passwords.
        return (
            (None, {"fields": ("username", "first_name", "last_name", "email", "is_active")}),
            ("Hierarchy and visibility", {"fields": HIERARCHY_FIELDS}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        if request.user.is_superuser:
            return ("is_sync_only",) if obj else ()
        return ("username", "is_sync_only")

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        # One O(n) pass for the whole page instead of a visibility per row.
        self._counts = visible_mailbox_counts(load_tree())
        return super().changelist_view(request, extra_context)

    @admin.display(description="mailboxes visible")
    def mailboxes_visible(self, user: User) -> str:
        total = getattr(self, "_counts", {}).get(user.pk, 0)
        cap = settings.VISIBILITY_MAILBOX_CAP
        return f"{cap} of {total} (capped)" if total > cap else str(total)

    @admin.display(boolean=True, description="mailbox")
    def has_mailbox(self, user: User) -> bool:
        return hasattr(user, "mailbox")

    def save_model(
        self, request: HttpRequest, obj: User, form: "ModelForm[User]", change: bool
    ) -> None:
        if not change:
            with tree_lock():
                super().save_model(request, obj, form, change)
            return
        new_parent, new_level = obj.parent, obj.visibility_level
        stored = User.objects.get(pk=obj.pk)
        obj.parent, obj.visibility_level = stored.parent, stored.visibility_level
        super().save_model(request, obj, form, change)
        warnings: list[CapWarning] = []
        if "parent" in form.changed_data:
            try:
                warnings += user_move(user=obj, new_parent=new_parent)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
        if "visibility_level" in form.changed_data:
            warnings += user_set_level(user=obj, level=new_level)
        for warning in warnings:
            self.message_user(request, f"Mailbox cap: {warning}", messages.WARNING)

    @admin.action(description="Create a sync-only user for a second mailbox")
    def create_sync_only_user(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset.filter(is_sync_only=False):
            try:
                created = sync_only_user_create(serves=user)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Created {created.username} under {user}: it cannot log in; connect its "
                    "mailbox with manage.py mailbox_connect_imap or the admin.",
                    messages.SUCCESS,
                )
