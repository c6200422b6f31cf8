"""Support staff set visibility levels and move users in the tree here.

An edit that changes who sees which mailboxes first shows a confirmation page listing, per user,
the mailboxes gained and lost (hierarchy.selectors.visibility_change_preview); only the confirmed
POST saves. Tree and level changes go through hierarchy.services (under the tree lock) and report
who a change pushes past the mailbox cap. No page here shows a message body.
"""

import hashlib
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from mptt.admin import MPTTModelAdmin
from mptt.forms import MPTTAdminForm

from hierarchy.models import User
from hierarchy.selectors import (
    VisibilityChange,
    load_tree,
    node_name,
    visibility_change_preview,
    visible_mailbox_counts,
)
from hierarchy.services import (
    CapWarning,
    sync_only_user_create,
    tree_lock,
    user_move,
    user_set_level,
)

HIERARCHY_FIELDS = ("parent", "visibility_level", "is_sync_only")
# Carries the reviewed preview's fingerprint from the confirmation page back to the change view.
CONFIRMED_PREVIEW = "_visibility_preview"


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


class HierarchyUserChangeForm(MPTTAdminForm, UserChangeForm):  # type: ignore[type-arg]
    """Django's user form (the password as a read-only hash summary with a link to the password
    form) plus mptt's check that nobody is put under someone who reports to them.

    MPTTModelAdmin sets `form = MPTTAdminForm`, which, first in the admin's bases, replaced
    UserChangeForm: the password became a text box holding the hash, stored raw when edited.
    """

    class Meta(UserChangeForm.Meta):
        model = User


class HierarchyUserCreationForm(AdminUserCreationForm):  # type: ignore[type-arg]
    """Two password fields (or no password at all), hashed on save."""

    class Meta(AdminUserCreationForm.Meta):
        model = User


@admin.register(User)
class HierarchyUserAdmin(MPTTModelAdmin, UserAdmin):  # type: ignore[type-arg]
    # Named here, not inherited, so the order of the two admin bases can never pick mptt's form.
    form = HierarchyUserChangeForm
    add_form = HierarchyUserCreationForm
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
    # Postcard's own fields right after the name, before Django's permissions and dates.
    fieldsets = (
        *(UserAdmin.fieldsets or ())[:2],
        ("Hierarchy and visibility", {"fields": HIERARCHY_FIELDS}),
        ("Preferences", {"fields": ("time_zone",)}),
        *(UserAdmin.fieldsets or ())[2:],
    )

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        if request.user.is_superuser or obj is None:
            return super().get_fieldsets(request, obj)
        # Support staff manage the tree and levels, not permissions or passwords.
        return (
            (None, {"fields": ("username", "first_name", "last_name", "email", "is_active")}),
            ("Preferences", {"fields": ("time_zone",)}),
            ("Hierarchy and visibility", {"fields": HIERARCHY_FIELDS}),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        if request.user.is_superuser:
            return ("is_sync_only",) if obj else ()
        return ("username", "is_sync_only")

    @method_decorator(sensitive_post_parameters())
    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        # Support staff manage the tree and levels, not credentials: a password they could set
        # would let them log in as anyone, a superuser included.
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        if request.method == "POST":
            confirmation = self._visibility_confirmation(request, object_id)
            if confirmation is not None:
                return confirmation
        return super().change_view(request, object_id, form_url, extra_context)

    def _visibility_confirmation(self, request: HttpRequest, object_id: str) -> HttpResponse | None:
        """The page asking to confirm who gains or loses which mailboxes; None: save as usual.

        Like Django's delete confirmation: nothing is written until the same data comes back
        with the fingerprint of the changes the person saw. If the tree changed meanwhile, the
        fingerprint no longer matches and the new list is shown instead.
        """
        user = self.get_object(request, unquote(object_id))
        if user is None or not self.has_change_permission(request, user):
            return None  # Django's change view answers 404 or 403
        form = self.get_form(request, user, change=True)(request.POST, request.FILES, instance=user)
        if not form.is_valid():
            return None  # the change form shows the errors
        # A valid form has written the edit onto `user` (unsaved): what save_model will apply.
        changes = visibility_change_preview(
            user,
            new_level=user.visibility_level,
            new_parent=user.parent,
            new_name=node_name(user.first_name, user.last_name, user.username),
        )
        fingerprint = _fingerprint(changes)
        confirmed = request.POST.get(CONFIRMED_PREVIEW)
        if not changes or confirmed == fingerprint:
            return None
        carried = [
            (name, value)
            for name, values in request.POST.lists()
            if name not in ("csrfmiddlewaretoken", CONFIRMED_PREVIEW)
            for value in values
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Confirm who sees which mailboxes",
            "opts": self.opts,
            "original": User.objects.get(pk=user.pk),
            "changes": [(change, change.describe()) for change in changes],
            "carried": carried,
            "fingerprint": fingerprint,
            "fingerprint_field": CONFIRMED_PREVIEW,
            "stale": confirmed is not None,
            "change_url": reverse("admin:hierarchy_user_change", args=[user.pk]),
        }
        return TemplateResponse(
            request, "admin/hierarchy/user/visibility_confirmation.html", context
        )

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


def _fingerprint(changes: list[VisibilityChange]) -> str:
    """Identifies what the confirmation page said, so a confirmation applies to nothing else."""
    shown = [
        (c.user_id, [o.user_id for o in c.gained], [o.user_id for o in c.lost], c.describe())
        for c in changes
    ]
    return hashlib.sha256(repr(shown).encode()).hexdigest()[:32]
