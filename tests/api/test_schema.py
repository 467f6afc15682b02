"""The OpenAPI document: valid, complete (every operation's errors and examples), served with a local Swagger UI,
and true: schemathesis fuzzes every operation as staff, a teacher and a student, with valid and invalid input, and
no response is a server error or disagrees with the schema."""

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from bookings.transitions import create_payout
from config.wsgi import application
from meetings.sweeps import provision_rooms
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi():
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(openapi):
    for path, methods in openapi["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_the_schema_is_valid_openapi_3(openapi):
    validate_schema(openapi)
    assert openapi["openapi"].startswith("3.")


def test_every_operation_has_a_summary_and_documents_its_answers_and_errors_with_examples(openapi):
    seen = 0
    for path, method, operation in operations(openapi):
        seen += 1
        name = f"{method.upper()} {path}"
        assert operation.get("summary"), name
        codes = set(operation["responses"])
        assert {"403", "406"} <= codes, name
        if (path, method) != ("/api/v1/auth/token/", "post"):
            assert "401" in codes, name
        if "{" in path:
            assert "404" in codes, name
        if "requestBody" in operation:
            assert {"400", "415"} <= codes, name
        for code, response in operation["responses"].items():
            if code.startswith("2") and "content" in response:
                assert response["content"]["application/json"].get("examples"), (name, code)
            if code.startswith(("4", "5")):
                content = response["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (name, code)
                assert content.get("examples"), (name, code)
    assert seen >= 18


def test_idempotent_operations_document_the_header(openapi):
    for path, method in [
        ("/api/v1/bookings/", "post"),
        ("/api/v1/admin/meetings/{id}/open/", "post"),
        ("/api/v1/admin/meetings/{id}/close/", "post"),
    ]:
        operation = openapi["paths"][path][method]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in operation["parameters"])
        assert "422" in operation["responses"]


def test_the_error_shape_is_documented(openapi):
    error = openapi["components"]["schemas"]["Error"]
    detail = openapi["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["error"]
    assert set(detail["required"]) == {"code", "message", "fields"}


def test_the_schema_is_served_to_logged_in_users(as_alice):
    response = as_alice.get("/api/schema/")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Classroom back office API"
    assert as_alice.get("/api/schema/", {"format": "yaml"}).content.startswith(b"openapi: 3")


def test_swagger_ui_is_served_from_our_own_static_files(client, alice):
    client.force_login(alice.user)
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    from django.contrib.staticfiles import finders

    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")  # shipped, not fetched


# --- fuzzing ---------------------------------------------------------------------------------------------------------

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture
def wsgi_requests_share_the_test_transaction():
    """Like Django's test client: a request must not close the connection that holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def school(staff, teacher, alice, bob, now):
    """Real rows for the fuzzer to find: a course, Charlie's meetings (one with a room), bookings, a payout."""
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
    ids = {
        "/api/v1/meetings/": later.pk,
        "/api/v1/admin/meetings/": soon.pk,
        "/api/v1/bookings/": booking.pk,
        "/api/v1/payouts/": payout.pk,
        "/api/v1/courses/": course.pk,
    }
    return {"staff": staff, "teacher": teacher.user, "student": alice.user, "ids": ids}


@pytest.mark.slow
@pytest.mark.parametrize("role", ["staff", "teacher", "student"])
def test_fuzzing_finds_no_server_error_and_no_schema_mismatch(role, school, wsgi_requests_share_the_test_transaction):
    user = school[role]
    token = Token.objects.create(user=user).key
    auth = {"Authorization": f"Token {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application, headers=auth)
    negated_nothing, statuses = [], Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        real_id = next((pk for prefix, pk in school["ids"].items() if operation.path.startswith(prefix)), None)
        runs = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if "{id}" in operation.path:  # random ids are mostly 404s: also aim at a row that exists
            runs.append((GenerationMode.POSITIVE, {"id": real_id}))
        for mode, path_parameters in runs:

            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            @settings(
                max_examples=10,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case):
                try:
                    response = case.call_and_validate(headers=auth, checks=CHECKS)
                finally:
                    # DELETE /auth/token/ is fuzzed too: it logs the fuzzer out, so the token comes back each time.
                    Token.objects.get_or_create(key=token, defaults={"user": user})
                statuses[response.status_code] += 1
                statuses[f"{case.operation.label} {response.status_code}"] += 1

            try:
                fuzz()
            except Unsatisfiable:
                # Nothing to make invalid (no parameters, no body): the positive run covered the operation.
                assert mode is GenerationMode.NEGATIVE, operation.label
                negated_nothing.append(operation.label)
    assert len(negated_nothing) < 6, negated_nothing
    # The fuzzer really was logged in, and got past the doors: answers, not only refusals.
    assert statuses[401] == 0, statuses
    assert statuses["GET /api/v1/me/ 200"] > 0 and statuses["GET /api/v1/meetings/ 200"] > 0, statuses
    assert sum(n for key, n in statuses.items() if isinstance(key, int) and key < 300) > 60, statuses
