"""A property-based fuzz of the whole API from its own OpenAPI schema (schemathesis).

Every operation gets valid and invalid requests (wrong types, out-of-range numbers, NUL
characters, missing fields) as a signed-in user with real data: contacts, accounts, meetings,
tasks and synchronized mail. No answer may be a 5xx, and every documented answer must match the
schema. Schemathesis' coverage phase (boundary values of every parameter) then 10 random
examples per operation: about a minute of CPU. POSTCARD_FUZZ_EXAMPLES=100 for a deeper run.
"""

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance

from crm.activities.services import meeting_create, task_create
from hierarchy.models import User
from mailsync.models import OutgoingMessage
from tests.factories import make_account, make_contact, make_mailbox, make_message

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("POSTCARD_FUZZ_EXAMPLES", "10"))


def _openapi() -> dict[str, Any]:
    # The schema /api/schema/ serves, built without a request (it needs a login to fetch).
    schema = SchemaGenerator().get_schema(request=None, public=True)
    openapi: dict[str, Any] = json.loads(OpenApiJsonRenderer().render(schema))
    return openapi


CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "with-security-parameters": False,  # we send a real token
            "database": "none",
        },
        "phases": {"stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_dict(_openapi(), config=CONFIG)

# Ids of the rows the fixture made, by resource ("contacts", ...).
KNOWN_IDS: dict[str, list[int]] = {}


def aim_at_real_rows(case: Case[Any]) -> None:
    """Point a small id in the path at a row the fixture made, so that the request's other parts
    are what gets tested: an unknown id only ever answers 404 before the body is read. Ids
    past any row (huge, negative, not a number) are left alone: they test the 404 itself."""
    value = (case.path_parameters or {}).get("id")
    text = str(value)
    if isinstance(value, bool) or not (text.isascii() and text.isdigit() and len(text) <= 3):
        return
    known = KNOWN_IDS[case.operation.path.split("/")[2]]
    case.path_parameters = {**case.path_parameters, "id": known[int(text) % len(known)]}


@pytest.fixture
def token(db: None) -> Iterator[str]:
    user = User.objects.create_user(username="fuzz", password="fuzz-password")
    mailbox = make_mailbox(user)
    account = make_account(name="Northwind", domains=["northwind.test"])
    jane = make_contact(
        first_name="Jane", last_name="Doe", account=account, emails=["jane@northwind.test"]
    )
    sam = make_contact(last_name="Roe", emails=["sam@example.test"], owner=user)
    message = make_message(mailbox, sender="jane@northwind.test", to=(mailbox.address,))
    now = timezone.now()
    meeting = meeting_create(
        owner=user,
        title="Kick-off",
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        account=account,
        contacts=[jane],
    )
    task = task_create(owner=user, title="Call back", due_at=now, contacts=[sam])
    draft = OutgoingMessage.objects.create(sender=user, from_address="fuzz@postcard.test")
    KNOWN_IDS.update(
        contacts=[jane.pk, sam.pk],
        accounts=[account.pk],
        meetings=[meeting.pk],
        tasks=[task.pk],
        emails=[message.pk],
        outbox=[draft.pk],
    )
    yield Token.objects.create(user=user).key
    KNOWN_IDS.clear()


@pytest.fixture
def app() -> Iterator[WSGIHandler]:
    """The real WSGI application, minus what Django's test client also leaves out: closing the
    database connection after each request would end the test's transaction (PostgreSQL)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield WSGIHandler()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
# One database per operation (function-scoped fixtures, on purpose) and requests that hit it:
# no per-example deadline, and no health check about slow or filtered generation.
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
def test_api_answers_every_request_without_a_server_error_as_documented(case, app, token):
    aim_at_real_rows(case)
    case.call_and_validate(
        app=app,
        headers={"Authorization": f"Token {token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
