"""The OpenAPI document: valid, complete (every operation's answers and errors, with examples), served with a local
Swagger UI. That it is also true is tests/api/test_fuzz.py's job."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

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


def test_the_retry_and_replay_headers_are_documented(openapi):
    paths = openapi["paths"]
    assert "Retry-After" in paths["/api/v1/auth/token/"]["post"]["responses"]["429"]["headers"]
    assert "Retry-After" in paths["/api/v1/meetings/{id}/join/"]["get"]["responses"]["409"]["headers"]
    booking = paths["/api/v1/bookings/"]["post"]["responses"]
    assert "Idempotent-Replayed" in booking["201"]["headers"] and "Idempotent-Replayed" in booking["409"]["headers"]
