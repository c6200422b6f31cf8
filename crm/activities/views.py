"""Meeting and task pages. Both kinds share one shape, carried by the helpers at the bottom."""

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from calendars.selectors import push_status
from crm.activities.forms import MeetingForm, TaskForm
from crm.activities.models import Meeting, Task
from crm.activities.selectors import (
    MEETING_PERIODS,
    SCOPES,
    TASK_STATES,
    meeting_list,
    meetings_with_links,
    task_list,
    tasks_with_links,
)
from crm.activities.services import (
    meeting_create,
    meeting_delete,
    meeting_update,
    task_create,
    task_delete,
    task_set_done,
    task_update,
)
from crm.core.views import form_page, paginated, safe_next
from hierarchy.models import User


def _viewer(request: HttpRequest) -> User:
    assert isinstance(request.user, User)  # every view here is behind login_required
    return request.user


# --- Meetings -----------------------------------------------------------------------------------


@login_required
def meeting_list_page(request: HttpRequest) -> HttpResponse:
    return _list_page(
        request,
        template="activities/meeting_list.html",
        filters=MEETING_PERIODS,
        rows=lambda scope, show: meeting_list(viewer=_viewer(request), scope=scope, period=show),
    )


@login_required
def meeting_detail_page(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = get_object_or_404(meetings_with_links(), pk=meeting_id)
    return _detail_page(request, meeting, "meeting")


@login_required
def meeting_create_page(request: HttpRequest) -> HttpResponse:
    def save(data: dict[str, Any]) -> Meeting:
        return meeting_create(owner=_viewer(request), **data)

    return _form_page(request, "meeting", MeetingForm, _initial_links(request), save)


@login_required
def meeting_edit_page(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = get_object_or_404(Meeting, pk=meeting_id)

    def save(data: dict[str, Any]) -> Meeting:
        return meeting_update(meeting=meeting, **data)

    initial = MeetingForm.initial_for(meeting)
    return _form_page(request, "meeting", MeetingForm, initial, save, activity=meeting)


@login_required
def meeting_delete_page(request: HttpRequest, meeting_id: int) -> HttpResponse:
    meeting = get_object_or_404(Meeting, pk=meeting_id)
    return _delete_page(request, meeting, "meeting", lambda: meeting_delete(meeting=meeting))


# --- Tasks --------------------------------------------------------------------------------------


@login_required
def task_list_page(request: HttpRequest) -> HttpResponse:
    return _list_page(
        request,
        template="activities/task_list.html",
        filters=TASK_STATES,
        rows=lambda scope, show: task_list(viewer=_viewer(request), scope=scope, state=show),
    )


@login_required
def task_detail_page(request: HttpRequest, task_id: int) -> HttpResponse:
    task = get_object_or_404(tasks_with_links(), pk=task_id)
    return _detail_page(request, task, "task")


@login_required
def task_create_page(request: HttpRequest) -> HttpResponse:
    def save(data: dict[str, Any]) -> Task:
        return task_create(owner=_viewer(request), **data)

    return _form_page(request, "task", TaskForm, _initial_links(request), save)


@login_required
def task_edit_page(request: HttpRequest, task_id: int) -> HttpResponse:
    task = get_object_or_404(Task, pk=task_id)

    def save(data: dict[str, Any]) -> Task:
        return task_update(task=task, **data)

    return _form_page(request, "task", TaskForm, TaskForm.initial_for(task), save, activity=task)


@login_required
@require_POST
def task_done_page(request: HttpRequest, task_id: int) -> HttpResponse:
    task = get_object_or_404(Task, pk=task_id)
    done = request.POST.get("done") == "1"
    task_set_done(task=task, done=done)
    messages.success(request, f"“{task.title}” is {'done' if done else 'open again'}.")
    return redirect(safe_next(request) or task)


@login_required
def task_delete_page(request: HttpRequest, task_id: int) -> HttpResponse:
    task = get_object_or_404(Task, pk=task_id)
    return _delete_page(request, task, "task", lambda: task_delete(task=task))


# --- The shape both kinds share -----------------------------------------------------------------


def _initial_links(request: HttpRequest) -> dict[str, object]:
    """Prefill the contact or account a new activity was started from."""
    initial: dict[str, object] = {}
    if contact := request.GET.get("contact", "").strip():
        initial["contacts"] = [contact] if contact.isdigit() else []
    if account := request.GET.get("account", "").strip():
        initial["account"] = account if account.isdigit() else None
    return initial


def _list_page(
    request: HttpRequest,
    *,
    template: str,
    filters: dict[str, str],
    rows: Callable[[str, str], QuerySet[Any]],
) -> HttpResponse:
    """Mine or my team's, filtered (upcoming/past, open/done), one page at a time."""
    scope = request.GET.get("scope", "")
    scope = scope if scope in SCOPES else "mine"
    show = request.GET.get("show", "")
    show = show if show in filters else next(iter(filters))
    context = paginated(request, rows(scope, show))
    return render(
        request,
        template,
        {**context, "scope": scope, "scopes": SCOPES, "show": show, "filters": filters},
    )


def _detail_page(request: HttpRequest, activity: Meeting | Task, kind: str) -> HttpResponse:
    back = safe_next(request)
    return render(
        request,
        "activities/detail.html",
        {
            "activity": activity,
            "kind": kind,
            "next": back,
            "list_url": reverse(f"{kind}-list"),
            "push": push_status(kind, activity.pk),
        },
    )


def _form_page(
    request: HttpRequest,
    kind: str,
    form_class: type[MeetingForm | TaskForm],
    initial: dict[str, object],
    save: Callable[[dict[str, Any]], Meeting | Task],
    *,
    activity: Meeting | Task | None = None,
) -> HttpResponse:
    return form_page(
        request,
        form_class=form_class,
        initial=initial,
        save=save,
        template="activities/form.html",
        context={
            "title": f"Edit {kind}" if activity else f"New {kind}",
            "kind": kind,
            "activity": activity,
            "cancel_url": activity.get_absolute_url() if activity else reverse(f"{kind}-list"),
        },
        saved_message=f"{kind.capitalize()} {'saved' if activity else 'created'}.",
    )


def _delete_page(
    request: HttpRequest, activity: Meeting | Task, kind: str, delete: Callable[[], None]
) -> HttpResponse:
    """GET asks for confirmation (no script needed), POST deletes."""
    if request.method != "POST":
        return render(
            request,
            "activities/confirm_delete.html",
            {"activity": activity, "kind": kind, "next": safe_next(request)},
        )
    delete()
    messages.success(request, f"{kind.capitalize()} “{activity.title}” deleted.")
    return redirect(safe_next(request) or f"{kind}-list")
