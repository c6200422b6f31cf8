"""The outbox over the API: the composer's send and draft, with the same checks (the same
services, mailsync/sending/outbox.py), and the routes a user may send from."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from crm.core.ids import MAX_ID
from hierarchy.models import User
from mailsync.models import OutgoingMessage, OutgoingState
from mailsync.selectors import visible_message
from mailsync.sending import outbox
from mailsync.sending.drafting import own_addresses, recipients, reply_start
from mailsync.sending.mime import Attachment
from mailsync.sending.routes import OWN, from_choices, route_for
from mailsync.sending.selectors import own_outgoing, sender_settings_of


def _viewer(request: Request) -> User:
    assert isinstance(request.user, User)
    return request.user


class AttachmentInputSerializer(serializers.Serializer[Any]):
    filename = serializers.CharField(max_length=200)
    content_type = serializers.RegexField(
        r"^[\w.+-]+/[\w.+-]+$", max_length=100, default="application/octet-stream"
    )
    content_base64 = serializers.CharField()


class OutgoingInputSerializer(serializers.Serializer[Any]):
    from_choice = serializers.CharField(
        default=OWN, max_length=40, help_text='"own", or "company:<id>" from /api/outbox/routes/'
    )
    to = serializers.ListField(child=serializers.CharField(max_length=400), default=list,
                               max_length=5000)  # fmt: skip
    cc = serializers.ListField(child=serializers.CharField(max_length=400), default=list,
                               max_length=5000)  # fmt: skip
    bcc = serializers.ListField(child=serializers.CharField(max_length=400), default=list,
                                max_length=5000)  # fmt: skip
    subject = serializers.CharField(default="", allow_blank=True, max_length=500)
    body = serializers.CharField(
        default="", allow_blank=True, max_length=200_000, trim_whitespace=False
    )
    markdown = serializers.BooleanField(default=False)
    reply_to_email = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    reply_kind = serializers.ChoiceField(["reply", "reply_all", "forward"], default="reply")
    attachments = AttachmentInputSerializer(many=True, default=list)
    bulk_confirmed = serializers.BooleanField(default=False)
    draft = serializers.BooleanField(default=False, help_text="Keep as a draft, unsent.")


class OutgoingSerializer(serializers.ModelSerializer[OutgoingMessage]):
    class Meta:
        model = OutgoingMessage
        fields = [
            "id", "state", "route", "from_address", "from_name", "to", "cc", "bcc", "subject",
            "body_text", "markdown", "attachment_names", "message_id", "not_before",
            "sent_at", "last_error", "note", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class QueuedSerializer(serializers.Serializer[Any]):
    outgoing = OutgoingSerializer(many=True, help_text="One, or one per recipient (bulk send).")


class RouteSerializer(serializers.Serializer[Any]):
    from_choice = serializers.CharField()
    address = serializers.CharField()
    route = serializers.CharField(help_text="The way an email from this address leaves now.")


class RoutesSerializer(serializers.Serializer[Any]):
    routes = RouteSerializer(many=True)


def _pairs(values: list[str], label: str) -> list[tuple[str, str]]:
    return recipients(", ".join(values), label) if values else []


def _attachments(items: list[dict[str, Any]]) -> list[Attachment]:
    found = []
    for item in items:
        try:
            data = base64.b64decode(item["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError(f"{item['filename']}: content_base64 is not base64.") from None
        found.append(Attachment(item["filename"], item["content_type"], data))
    return found


def _draft(viewer: User, data: dict[str, Any]) -> outbox.Draft:
    replied, start = None, None
    if data.get("reply_to_email"):
        replied = visible_message(viewer=viewer, message_id=data["reply_to_email"])
        if replied is None:
            raise NotFound("No such email, or it is not in a mailbox you may see.")
        start = reply_start(
            replied,
            data["reply_kind"],
            own_addresses=own_addresses(viewer),
            quote_history=sender_settings_of(viewer).quote_history,
        )
    return outbox.Draft(
        from_choice=data["from_choice"],
        to=_pairs(data["to"], "to"),
        cc=_pairs(data["cc"], "cc"),
        bcc=_pairs(data["bcc"], "bcc"),
        subject=data["subject"] or (start.subject if start else ""),
        body_text=data["body"],
        markdown=data["markdown"],
        attachments=_attachments(data["attachments"]),
        replied_message=replied,
        reply_kind=data["reply_kind"] if replied else "",
        in_reply_to=start.in_reply_to if start else "",
        references=start.references if start else "",
        bulk_confirmed=data["bulk_confirmed"],
    )


class OutboxViewSet(viewsets.GenericViewSet[OutgoingMessage]):
    """Email written in Postcard by the signed-in user: drafts, queued, not sent, sent."""

    serializer_class = OutgoingSerializer
    filter_backends = ()

    def get_queryset(self) -> QuerySet[OutgoingMessage]:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the types
            return OutgoingMessage.objects.none()
        return own_outgoing(_viewer(self.request)).defer("raw").order_by("-created_at", "-pk")

    def get_object(self) -> OutgoingMessage:
        pk = str(self.kwargs.get("pk", ""))
        if not (pk.isascii() and pk.isdigit()) or int(pk) > MAX_ID:
            raise NotFound
        found = self.get_queryset().filter(pk=int(pk)).first()
        if found is None:
            raise NotFound
        return found

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(OutgoingSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(OutgoingSerializer(self.get_object()).data)

    @extend_schema(
        summary="Send an email (or keep a draft): one, or one per recipient for a bulk send",
        request=OutgoingInputSerializer,
        responses={201: QueuedSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = OutgoingInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        viewer = _viewer(request)
        draft = _draft(viewer, data)
        if data["draft"]:
            rows = [outbox.outgoing_draft_save(sender=viewer, draft=draft)]
        else:
            rows = outbox.outgoing_send(sender=viewer, draft=draft)
        body = {"outgoing": OutgoingSerializer(rows, many=True).data}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Send a draft as it was saved",
        request=None,
        responses={200: QueuedSerializer},
    )
    @action(detail=True, methods=["post"])
    def send(self, request: Request, pk: str) -> Response:
        row = self.get_object()
        if row.state != OutgoingState.DRAFT:
            raise ValidationError("Only a draft can be sent this way.")
        draft = outbox.Draft(
            from_choice=f"company:{row.company_address_id}" if row.company_address_id else OWN,
            to=[(n, a) for n, a in row.to],
            cc=[(n, a) for n, a in row.cc],
            bcc=[(n, a) for n, a in row.bcc],
            subject=row.subject,
            body_text=row.body_text,
            markdown=row.markdown,
        )
        rows = outbox.outgoing_send(sender=_viewer(request), draft=draft, existing=row)
        return Response({"outgoing": OutgoingSerializer(rows, many=True).data})

    @extend_schema(summary="Cancel a draft, a queued or a held email", request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        row = self.get_object()
        outbox.outgoing_cancel(outgoing=row)
        row.refresh_from_db()
        return Response(OutgoingSerializer(row).data)

    @extend_schema(
        summary="The addresses the user may send from, and the way each leaves now",
        responses=RoutesSerializer,
    )
    @action(detail=False, methods=["get"])
    def routes(self, request: Request) -> Response:
        viewer = _viewer(request)
        answer = []
        for value, label in from_choices(viewer):
            try:
                sentence = route_for(viewer, value).sentence
            except ValidationError as error:
                sentence = " ".join(error.messages)
            answer.append({"from_choice": value, "address": label, "route": sentence})
        return Response({"routes": answer})
