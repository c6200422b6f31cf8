"""REST API views, kept thin.

Reads go through the selectors (crm.api.filters composes them for the lists), writes through the
services; serializers check input shape and render output. A PATCH is a PUT whose missing fields
keep their current values, because the update services take the whole record.
"""

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from calendars.selectors import with_push_status
from crm.accounts.models import Account
from crm.accounts.services import account_create, account_delete, account_update
from crm.activities.models import Meeting, Task
from crm.activities.services import (
    meeting_create,
    meeting_delete,
    meeting_update,
    task_create,
    task_delete,
    task_update,
)
from crm.api.filters import filter_accounts, filter_contacts, filter_meetings, filter_tasks
from crm.api.serializers import (
    AccountInputSerializer,
    AccountQuerySerializer,
    AccountSerializer,
    ActivityQuerySerializer,
    AddressConflictSerializer,
    CardEmailQuerySerializer,
    ContactInputSerializer,
    ContactQuerySerializer,
    ContactSerializer,
    EmailSerializer,
    MeetingInputSerializer,
    MeetingSerializer,
    PaginatedCardEmailListSerializer,
    TaskInputSerializer,
    TaskSerializer,
)
from crm.contacts.models import Contact
from crm.contacts.services import contact_create, contact_delete, contact_update
from hierarchy.models import User
from hierarchy.selectors import mailbox_visibility
from mailsync.card_pages import CardOf, Cursor, PagePosition, card_emails, email_count
from mailsync.selectors import visible_message
from mailsync.services import message_body_opened

M = TypeVar("M", bound=Model)


def _viewer(request: Request) -> User:
    # IsAuthenticated has already refused anonymous requests.
    assert isinstance(request.user, User)
    return request.user


def _validated(
    serializer_class: type[serializers.Serializer[Any]],
    data: Any,
    *,
    partial: bool = False,
    context: dict[str, Any] | None = None,
) -> dict[str, Any]:
    serializer = serializer_class(data=data, partial=partial, context=context or {})
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class _ServiceViewSet(viewsets.GenericViewSet[M]):
    # Pagination, rendering, retrieve and destroy shared by the CRUD endpoints;
    # `serializer_class` renders. (A comment, not a docstring: spectacular would publish it.)

    # Search and ordering go through the selectors, not DRF's generic filter backends.
    filter_backends = ()

    def _render(self, instance: M) -> dict[str, Any]:
        return dict(self.get_serializer(instance).data)

    def _render_fresh(self, instance: M) -> dict[str, Any]:
        # Read back through the selector, so a write answers with annotations and prefetches
        # (contact_count, ordered emails) exactly as a GET would.
        return self._render(self.get_queryset().get(pk=instance.pk))

    def _page(self, queryset: QuerySet[M]) -> Response:
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(responses={status.HTTP_204_NO_CONTENT: None})
    def destroy(self, request: Request, pk: str) -> Response:
        self._delete(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(self._render(self.get_object()))

    def _delete(self, instance: M) -> None:
        raise NotImplementedError


def _cursor_link(request: Request, name: str, cursor: Cursor | None) -> str | None:
    if cursor is None:
        return None
    url = request.build_absolute_uri()
    for other in ("before", "after", "page"):
        url = remove_query_param(url, other)
    return replace_query_param(url, name, cursor.token())


def _card_emails(request: Request, card: CardOf) -> Response:
    query = _validated(CardEmailQuerySerializer, request.query_params)
    position = PagePosition(before=query.get("before"), after=query.get("after"))
    visibility = mailbox_visibility(_viewer(request))
    page = card_emails(card, visibility, position)
    count = email_count(card, visibility)
    envelope = {
        "count": count.value,
        "count_is_lower_bound": count.at_least,
        "next": _cursor_link(request, "before", page.older),
        "previous": _cursor_link(request, "after", page.newer),
        "results": page.items,
    }
    return Response(PaginatedCardEmailListSerializer(envelope).data)


# --- Contacts --------------------------------------------------------------------------------


def _contact_values(contact: Contact) -> dict[str, Any]:
    return {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "title": contact.title,
        "phone": contact.phone,
        "account": contact.account,
        # Prefetched primary first, so the primary survives a PATCH that leaves emails out.
        "emails": [email.address for email in contact.emails.all()],
    }


class ContactViewSet(_ServiceViewSet[Contact]):
    """People the team deals with, each with email addresses (the first is primary)."""

    serializer_class = ContactSerializer

    def get_queryset(self) -> QuerySet[Contact]:
        return filter_contacts()

    @extend_schema(parameters=[ContactQuerySerializer])
    def list(self, request: Request) -> Response:
        return self._page(
            filter_contacts(**_validated(ContactQuerySerializer, request.query_params))
        )

    @extend_schema(
        request=ContactInputSerializer,
        responses={201: ContactSerializer, 409: AddressConflictSerializer},
    )
    def create(self, request: Request) -> Response:
        data = _validated(ContactInputSerializer, request.data)
        contact = contact_create(owner=_viewer(request), **data)
        return Response(self._render_fresh(contact), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=ContactInputSerializer,
        responses={200: ContactSerializer, 409: AddressConflictSerializer},
    )
    def update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=False)

    @extend_schema(
        request=ContactInputSerializer,
        responses={200: ContactSerializer, 409: AddressConflictSerializer},
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, *, partial: bool) -> Response:
        contact = self.get_object()
        data = _validated(
            ContactInputSerializer, request.data, partial=partial, context={"contact": contact}
        )
        contact_update(contact=contact, owner=contact.owner, **{**_contact_values(contact), **data})
        return Response(self._render_fresh(contact))

    def _delete(self, instance: Contact) -> None:
        contact_delete(contact=instance)

    @extend_schema(
        operation_id="contacts_emails_list",
        summary="Synchronized emails with the contact, as the viewer may see them",
        parameters=[CardEmailQuerySerializer],
        responses=PaginatedCardEmailListSerializer,
    )
    @action(detail=True, methods=["get"])
    def emails(self, request: Request, pk: str) -> Response:
        return _card_emails(request, CardOf.contact(self.get_object().pk))


# --- Accounts --------------------------------------------------------------------------------


def _account_values(account: Account) -> dict[str, Any]:
    return {
        "name": account.name,
        "website": account.website,
        "domains": [domain.domain for domain in account.domains.all()],
    }


class AccountViewSet(_ServiceViewSet[Account]):
    """Companies, with the email domains they own."""

    serializer_class = AccountSerializer

    def get_queryset(self) -> QuerySet[Account]:
        return filter_accounts()

    @extend_schema(parameters=[AccountQuerySerializer])
    def list(self, request: Request) -> Response:
        return self._page(
            filter_accounts(**_validated(AccountQuerySerializer, request.query_params))
        )

    @extend_schema(request=AccountInputSerializer, responses={201: AccountSerializer})
    def create(self, request: Request) -> Response:
        data = _validated(AccountInputSerializer, request.data)
        account = account_create(owner=_viewer(request), **data)
        return Response(self._render_fresh(account), status=status.HTTP_201_CREATED)

    @extend_schema(request=AccountInputSerializer)
    def update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=False)

    @extend_schema(request=AccountInputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, *, partial: bool) -> Response:
        account = self.get_object()
        data = _validated(AccountInputSerializer, request.data, partial=partial)
        account_update(account=account, owner=account.owner, **{**_account_values(account), **data})
        return Response(self._render_fresh(account))

    def _delete(self, instance: Account) -> None:
        account_delete(account=instance)

    @extend_schema(
        operation_id="accounts_emails_list",
        summary="Synchronized emails with any contact of the account, as the viewer may see them",
        parameters=[CardEmailQuerySerializer],
        responses=PaginatedCardEmailListSerializer,
    )
    @action(detail=True, methods=["get"])
    def emails(self, request: Request, pk: str) -> Response:
        return _card_emails(request, CardOf.account(self.get_object().pk))


# --- Meetings and tasks ----------------------------------------------------------------------


def _meeting_values(meeting: Meeting) -> dict[str, Any]:
    return {
        "title": meeting.title,
        "notes": meeting.notes,
        "account": meeting.account,
        "contacts": list(meeting.contacts.all()),
        "show_in_external_calendar": meeting.show_in_external_calendar,
        "starts_at": meeting.starts_at,
        "ends_at": meeting.ends_at,
        "location": meeting.location,
    }


class MeetingViewSet(_ServiceViewSet[Meeting]):
    """Meetings, linked to contacts and an account."""

    serializer_class = MeetingSerializer

    def get_queryset(self) -> QuerySet[Meeting]:
        return with_push_status(filter_meetings(), "meeting")

    @extend_schema(parameters=[ActivityQuerySerializer])
    def list(self, request: Request) -> Response:
        return self._page(
            with_push_status(
                filter_meetings(**_validated(ActivityQuerySerializer, request.query_params)),
                "meeting",
            )
        )

    @extend_schema(request=MeetingInputSerializer, responses={201: MeetingSerializer})
    def create(self, request: Request) -> Response:
        data = _validated(MeetingInputSerializer, request.data)
        meeting = meeting_create(owner=_viewer(request), **data)
        return Response(self._render_fresh(meeting), status=status.HTTP_201_CREATED)

    @extend_schema(request=MeetingInputSerializer)
    def update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=False)

    @extend_schema(request=MeetingInputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, *, partial: bool) -> Response:
        meeting = self.get_object()
        data = _validated(MeetingInputSerializer, request.data, partial=partial)
        meeting_update(meeting=meeting, **{**_meeting_values(meeting), **data})
        return Response(self._render_fresh(meeting))

    def _delete(self, instance: Meeting) -> None:
        meeting_delete(meeting=instance)


def _task_values(task: Task) -> dict[str, Any]:
    return {
        "title": task.title,
        "notes": task.notes,
        "account": task.account,
        "contacts": list(task.contacts.all()),
        "show_in_external_calendar": task.show_in_external_calendar,
        "due_at": task.due_at,
        "done": task.is_done,
    }


class TaskViewSet(_ServiceViewSet[Task]):
    """Tasks, linked to contacts and an account; `done` sets or clears `done_at`."""

    serializer_class = TaskSerializer

    def get_queryset(self) -> QuerySet[Task]:
        return with_push_status(filter_tasks(), "task")

    @extend_schema(parameters=[ActivityQuerySerializer])
    def list(self, request: Request) -> Response:
        tasks = filter_tasks(**_validated(ActivityQuerySerializer, request.query_params))
        return self._page(with_push_status(tasks, "task"))

    @extend_schema(request=TaskInputSerializer, responses={201: TaskSerializer})
    def create(self, request: Request) -> Response:
        data = _validated(TaskInputSerializer, request.data)
        task = task_create(owner=_viewer(request), **data)
        return Response(self._render_fresh(task), status=status.HTTP_201_CREATED)

    @extend_schema(request=TaskInputSerializer)
    def update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=False)

    @extend_schema(request=TaskInputSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, *, partial: bool) -> Response:
        task = self.get_object()
        data = _validated(TaskInputSerializer, request.data, partial=partial)
        task_update(task=task, **{**_task_values(task), **data})
        return Response(self._render_fresh(task))

    def _delete(self, instance: Task) -> None:
        task_delete(task=instance)


# --- One synchronized email ------------------------------------------------------------------


class EmailViewSet(viewsets.ViewSet):
    """Synchronized emails, only from the mailboxes the viewer may see."""

    @extend_schema(
        summary="One synchronized email with its body, if the viewer may see it",
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH)],
        responses=EmailSerializer,
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        try:
            message_id = int(pk)
        except ValueError:
            raise NotFound from None
        viewer = _viewer(request)
        message = visible_message(viewer=viewer, message_id=message_id)
        # Someone else's mail answers exactly like a missing id: its existence is not revealed.
        if message is None:
            raise NotFound
        message_body_opened(viewer=viewer, message=message)
        return Response(EmailSerializer(message).data)
