"""The endpoints Microsoft and Google post to (no login: each proves itself). Thin: they check
the request's shape, call push services, and answer fast (Graph wants an answer within 3 s)."""

from __future__ import annotations

import json
from collections.abc import Callable
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


def _graph_hook(
    request: HttpRequest, received: Callable[[list[dict[str, Any]]], bool]
) -> HttpResponse:
    """Graph's validation handshake, or its notifications handed to `received` (False: none
    was genuine)."""
    answer = _validation(request)
    if answer is not None:
        return answer
    items = _items(request)
    if items is None:
        return HttpResponse("Not a Graph notification.", status=400, content_type="text/plain")
    if items and not received(items):
        return HttpResponse("Unknown subscription or clientState.", status=403)
    return HttpResponse(status=202)


@csrf_exempt
@require_POST
def graph_notification(request: HttpRequest) -> HttpResponse:
    return _graph_hook(request, lambda items: bool(graph_notifications_received(items)))


@csrf_exempt
@require_POST
def graph_lifecycle(request: HttpRequest) -> HttpResponse:
    return _graph_hook(request, _lifecycle)


def _lifecycle(items: list[dict[str, Any]]) -> bool:
    """Acted on in a task (Graph calls); always acknowledged."""
    from mailsync.tasks import graph_lifecycle_task

    for subscription_pk, event in graph_lifecycle_received(items):
        graph_lifecycle_task.delay(subscription_pk, event)
    return True


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
