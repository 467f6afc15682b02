"""Schemathesis against the app (in-process WSGI, the test database): every operation of /api/schema/, with the
examples, boundary ("coverage") and random valid and invalid input schemathesis makes from it, sent as staff, as a
teacher and as a student. No answer may be a server error, have an undocumented status or content type, or disagree
with the schema; invalid input must be refused. Bounded (max_examples, derandomized) so it takes seconds, not minutes.
"""

import datetime as dt
import json
from decimal import Decimal

import pytest
import schemathesis
from django.contrib.auth import get_user_model
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from bookings.transitions import create_payout
from classroom import tokens
from classroom.models import ApiToken
from config.wsgi import application
from integrations.line.models import LineContact
from meetings.rooms import provision_rooms
from meetings.series import create_series
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
FUZZ_SETTINGS = settings(
    max_examples=10, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)

# The schema exactly as /api/schema/ serves it (loaded at import: schemathesis makes one test per operation).
schema = schemathesis.openapi.from_dict(
    json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
)
schema.app = application


@pytest.fixture
def requests_share_the_test_transaction():
    """As in Django's test client: a request must not close the connection that holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def school(requests_share_the_test_transaction, staff, teacher, alice, now):
    """Real rows to find: a course, Charlie's meetings (one with its room), Alice's bookings and LINE contact, a
    payout; and a token for each of Sam (staff), Charlie (teacher) and Alice (student)."""
    course = factories.CourseFactory(capacity=3)
    soon = factories.MeetingFactory(teacher=teacher, course=course, start_time=now + dt.timedelta(minutes=5))
    later = factories.MeetingFactory(teacher=teacher, course=course, start_time=now + dt.timedelta(days=2))
    past = factories.MeetingFactory(
        teacher=teacher, course=course, start_time=now - dt.timedelta(days=1), end_time=now - dt.timedelta(hours=23)
    )
    factories.book(alice, soon, now=now)
    booking = factories.book(alice, later, now=now)
    provision_rooms(now)
    payout, _ = create_payout(past, gross=Decimal("30"), rate=Decimal("0.2"), now=now)
    weekly = create_series(
        teacher=teacher,
        course=course,
        title="Weekly",
        local_start="2026-07-06T09:00",
        time_zone="America/New_York",
        duration_minutes=60,
        rrule="FREQ=WEEKLY;COUNT=3",
        now=now,
    )
    ids = {
        "/api/v1/meetings/": later.pk,
        "/api/v1/admin/meetings/": soon.pk,
        "/api/v1/bookings/": booking.pk,
        "/api/v1/payouts/": payout.pk,
        "/api/v1/courses/": course.pk,
        "/api/v1/me/line-contacts/": LineContact.objects.create(
            line_channel=factories.LineChannelFactory(),
            line_user_id="U" + "a" * 32,
            student=alice,
            role="student",
            linked_at=now,
        ).pk,
        "/api/v1/series/": weekly.pk,
    }
    keys = {user.username: tokens.issue(user, now=now)[1] for user in (staff, teacher.user, alice.user)}
    return {"ids": ids, "tokens": keys, "now": now}


def call_as_everyone(case, school):
    for username, key in school["tokens"].items():
        try:
            response = case.call_and_validate(headers={"Authorization": f"Token {key}"}, checks=CHECKS)
        finally:
            # DELETE /auth/token/ is fuzzed too and logs the caller out: the token comes back for the next case.
            ApiToken.objects.get_or_create(
                digest=tokens.digest_of(key),
                defaults={
                    "user": get_user_model().objects.get(username=username),
                    "created_at": school["now"],
                    "expires_at": school["now"] + dt.timedelta(days=1),
                },
            )
        # Logged in, so never "who are you?": the fuzzer really tested what each role may do.
        assert response.status_code != 401, (username, case.operation.label, response.text)


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_input_makes_a_server_error_or_breaks_the_schema(case, school):
    call_as_everyone(case, school)


@pytest.mark.parametrize(
    "operation", [op.ok() for op in schema.get_all_operations() if "{id}" in op.ok().path], ids=lambda op: op.label
)
def test_the_same_on_rows_that_exist(operation, school):
    """Random ids are nearly always 404s: here the id is a real row (actions on it included)."""
    real_id = next(pk for prefix, pk in school["ids"].items() if operation.path.startswith(prefix))

    @given(case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters={"id": real_id}))
    @settings(FUZZ_SETTINGS, max_examples=5)
    def fuzz(case):
        call_as_everyone(case, school)

    fuzz()
