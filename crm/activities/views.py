from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from crm.activities.forms import MeetingForm, TaskForm
from crm.activities.models import Meeting, Task
from crm.activities.services import (
    meeting_create,
    meeting_delete,
    meeting_update,
    task_create,
    task_delete,
    task_update,
)
from crm.core.views import form_page, safe_next


def _initial_links(request: HttpRequest) -> dict[str, object]:
    """Prefill the contact or account a new activity was started from."""
    initial: dict[str, object] = {}
    if contact := request.GET.get("contact", "").strip():
        initial["contacts"] = [contact] if contact.isdigit() else []
    if account := request.GET.get("account", "").strip():
        initial["account"] = account if account.isdigit() else None
    return initial


@login_required
def meeting_create_page(request: HttpRequest) -> HttpResponse:
    def save(data: dict[str, Any]) -> Meeting:
        return meeting_create(owner=request.user, **data)  # type: ignore[arg-type]

    return form_page(
        request,
        form_class=MeetingForm,
        initial=_initial_links(request),
        save=save,
        template="activities/form.html",
        context={"title": "New meeting"},
        saved_message="Meeting created.",
    )


@login_required
def meeting_edit_page(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = get_object_or_404(Meeting, pk=meeting_id)

    def save(data: dict[str, Any]) -> Meeting:
        return meeting_update(meeting=meeting, **data)

    return form_page(
        request,
        form_class=MeetingForm,
        initial=MeetingForm.initial_for(meeting),
        save=save,
        template="activities/form.html",
        context={"title": "Edit meeting", "activity": meeting, "delete_url": "meeting-delete"},
        saved_message="Meeting saved.",
    )


@login_required
def task_create_page(request: HttpRequest) -> HttpResponse:
    def save(data: dict[str, Any]) -> Task:
        return task_create(owner=request.user, **data)  # type: ignore[arg-type]

    return form_page(
        request,
        form_class=TaskForm,
        initial=_initial_links(request),
        save=save,
        template="activities/form.html",
        context={"title": "New task"},
        saved_message="Task created.",
    )


@login_required
def task_edit_page(request: HttpRequest, task_id: int) -> HttpResponse:
    task = get_object_or_404(Task, pk=task_id)

    def save(data: dict[str, Any]) -> Task:
        return task_update(task=task, **data)

    return form_page(
        request,
        form_class=TaskForm,
        initial=TaskForm.initial_for(task),
        save=save,
        template="activities/form.html",
        context={"title": "Edit task", "activity": task, "delete_url": "task-delete"},
        saved_message="Task saved.",
    )


@login_required
@require_POST
def meeting_delete_page(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting_delete(meeting=get_object_or_404(Meeting, pk=meeting_id))
    messages.success(request, "Meeting deleted.")
    return redirect(safe_next(request) or "contact-list")


@login_required
@require_POST
def task_delete_page(request: HttpRequest, task_id: int) -> HttpResponse:
    task_delete(task=get_object_or_404(Task, pk=task_id))
    messages.success(request, "Task deleted.")
    return redirect(safe_next(request) or "contact-list")
