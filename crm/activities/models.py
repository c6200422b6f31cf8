from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from crm.accounts.models import Account
from crm.contacts.models import Contact


class Activity(models.Model):
    """What meetings and tasks share: who owns it, whom it concerns, whether to push it out."""

    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="%(class)ss"
    )
    account = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="%(class)ss"
    )
    contacts = models.ManyToManyField(Contact, blank=True, related_name="%(class)ss")
    show_in_external_calendar = models.BooleanField(
        "show in my external calendar",
        default=False,
        help_text="Push this to the calendar of your connected mailbox (one way).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.title


class Meeting(Activity):
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    location = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-starts_at", "id"]
        indexes = [models.Index(fields=["starts_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="meeting_ends_after_start"
            )
        ]

    def get_absolute_url(self) -> str:
        return reverse("meeting-detail", args=[self.pk])


class Task(Activity):
    due_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [models.Index(fields=["due_at"])]

    def get_absolute_url(self) -> str:
        return reverse("task-detail", args=[self.pk])

    @property
    def is_done(self) -> bool:
        return self.done_at is not None

    @property
    def is_overdue(self) -> bool:
        return not self.is_done and self.due_at < timezone.now()
