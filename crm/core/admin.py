"""Login lockouts in admin: superusers and support staff see who is locked out and unlock them.

django-axes' own admin pages, with one action added (AXES_ENABLE_ADMIN is off so that these
registrations are the only ones).
"""

from axes.admin import AccessAttemptAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessLog
from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest


@admin.register(AccessAttempt)
class LockoutAdmin(AccessAttemptAdmin):
    actions = ["unlock"]

    @admin.action(description="Unlock: let these usernames log in again", permissions=["delete"])
    def unlock(self, request: HttpRequest, queryset: QuerySet[AccessAttempt]) -> None:
        # A lockout counts every attempt of a username+address pair (one row per browser), so
        # unlocking a row clears its whole pair.
        pairs = set(queryset.values_list("username", "ip_address"))
        match = Q()
        for username, ip_address in pairs:
            match |= Q(username=username, ip_address=ip_address)
        AccessAttempt.objects.filter(match).delete()
        names = ", ".join(sorted({username or "(no username)" for username, _ in pairs}))
        self.message_user(request, f"Unlocked {names}: they can log in again.")


admin.site.register(AccessLog, AccessLogAdmin)
