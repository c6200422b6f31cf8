"""The endpoints Microsoft and Google post to (no login: each proves itself). Thin: they check
the request's shape, call push services, and answer fast (Graph wants an answer within 3 s)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from mailsync.push.gmail_push import PushRefused, gmail_push_received
from mailsync.push.graph_webhooks import graph_lifecycle_received, graph_notifications_received

MAX_TOKEN = 2048


def _validation(request: HttpRequest) -> HttpResponse | None:
    """learn.microsoft.com/graph/change-notifications-delivery-webhooks#notificationurl-
    validation: the token echoed, as text/plain, within 10 seconds."""
    token = request.GET.get("validationToken")
    if token is None:
        return None
    return HttpResponse(token[:MAX_TOKEN], content_type="text/plain; charset=utf-8")


def _items(request: HttpRequest) -> list[dict[str, Any]] | None:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return None
    items = body.get("value") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return None
    return [item for item in items if isinstance(item, dict)]


@csrf_exempt
@require_POST
def graph_notification(request: HttpRequest) -> HttpResponse:
    answer = _validation(request)
    if answer is not None:
        return answer
    items = _items(request)
    if items is None:
        return HttpResponse("Not a change notification.", status=400, content_type="text/plain")
    if items and not graph_notifications_received(items):
        return HttpResponse("Unknown subscription or clientState.", status=403)
    return HttpResponse(status=202)


@csrf_exempt
@require_POST
def graph_lifecycle(request: HttpRequest) -> HttpResponse:
    answer = _validation(request)
    if answer is not None:
        return answer
    items = _items(request)
    if items is None:
        return HttpResponse("Not a lifecycle notification.", status=400, content_type="text/plain")
    from mailsync.tasks import graph_lifecycle_task

    for subscription_pk, event in graph_lifecycle_received(items):
        graph_lifecycle_task.delay(subscription_pk, event)
    return HttpResponse(status=202)


@csrf_exempt
@require_POST
def gmail_push(request: HttpRequest) -> HttpResponse:
    try:
        gmail_push_received(
            authorization=request.headers.get("Authorization", ""), body=request.body
        )
    except PushRefused as refused:
        status = 400 if "envelope" in str(refused) or "notification" in str(refused) else 403
        return HttpResponse(str(refused), status=status, content_type="text/plain")
    return HttpResponse(status=204)
