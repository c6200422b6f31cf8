"""Calendar push: where a user's CRM meetings and tasks go, and what was pushed where.

One way only: the CRM is the source. `CalendarConnection` is the user's external calendar (CalDAV
now; Microsoft 365 and Google reuse their mail sign-in later); `PushedItem` remembers, per meeting
or task, the stable id it carries remotely, where it sits, its ETag and the push state the user
sees ("In your calendar", "Waiting", "Failed: ...", "Removed from your calendar").
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from crm.core.fields import EncryptedTextField


class CalendarProvider(models.TextChoices):
    CALDAV = "caldav", "CalDAV"
    MICROSOFT = "microsoft", "Microsoft 365"
    GOOGLE = "google", "Google"


class ConnectionState(models.TextChoices):
    ACTIVE = "active", "Active"
    DISCONNECTED = "disconnected", "Disconnected"


class TasksAs(models.TextChoices):
    TASKS = "tasks", "Tasks"
    ALL_DAY_EVENTS = "events", "All-day events on the due date"


class CalendarConnection(models.Model):
    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_connection"
    )
    provider = models.CharField(max_length=20, choices=CalendarProvider.choices)
    # CalDAV: the server address (or what discovery found) and login; the password encrypted.
    server_url = models.URLField(max_length=500, blank=True)
    username = models.CharField(max_length=254, blank=True)
    credentials = EncryptedTextField(blank=True)
    # The chosen calendar: its key (CalDAV collection URL), name and colour as the server says.
    calendar_key = models.CharField(max_length=500, blank=True)
    calendar_name = models.CharField(max_length=200, blank=True)
    calendar_color = models.CharField(max_length=20, blank=True)
    tasks_as = models.CharField(max_length=10, choices=TasksAs.choices, default=TasksAs.TASKS)
    state = models.CharField(
        max_length=20, choices=ConnectionState.choices, default=ConnectionState.ACTIVE
    )
    state_reason = models.CharField(max_length=500, blank=True)
    # The owner was emailed about the current break (one email per break).
    break_notified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.owner} → {self.calendar_name or self.server_url}"


class ItemKind(models.TextChoices):
    MEETING = "meeting", "Meeting"
    TASK = "task", "Task"


class PushState(models.TextChoices):
    WAITING = "waiting", "Waiting"
    PUSHED = "pushed", "In your calendar"
    FAILED = "failed", "Failed"
    REMOVED = "removed", "Removed from your calendar"  # deleted there: not pushed again unasked
    OFF = "off", "Not in your calendar"  # the flag turned off: taken out


class PushedItem(models.Model):
    """One CRM meeting or task and its copy in an external calendar."""

    kind = models.CharField(max_length=10, choices=ItemKind.choices)
    item_id = models.PositiveBigIntegerField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pushed_items"
    )
    # Where the copy is now (None: nowhere). Kept when the owner's connection changes, so that
    # the copy can be taken out of the calendar it sits in.
    connection = models.ForeignKey(
        CalendarConnection, on_delete=models.SET_NULL, null=True, blank=True, related_name="items"
    )
    calendar_key = models.CharField(max_length=500, blank=True)
    remote_uid = models.CharField(max_length=255)  # stable: a retried create finds its copy
    remote_href = models.CharField(max_length=1000, blank=True)
    etag = models.CharField(max_length=255, blank=True)
    pushed_as = models.CharField(max_length=10, blank=True)  # VEVENT or VTODO
    state = models.CharField(max_length=10, choices=PushState.choices, default=PushState.WAITING)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "item_id"], name="one_push_per_item"),
        ]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.item_id}: {self.state}"
