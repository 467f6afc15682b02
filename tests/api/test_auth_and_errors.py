"""Logging in, what needs a login, and the one error shape for every kind of error."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from classroom import tokens
from classroom.models import ApiToken
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db

ENDPOINTS = [
    ("get", "/api/v1/me/"),
    ("patch", "/api/v1/me/"),
    ("get", "/api/v1/meetings/"),
    ("post", "/api/v1/meetings/"),
    ("get", "/api/v1/meetings/1/"),
    ("patch", "/api/v1/meetings/1/"),
    ("post", "/api/v1/meetings/1/cancel/"),
    ("get", "/api/v1/meetings/1/join/"),
    ("get", "/api/v1/bookings/"),
    ("post", "/api/v1/bookings/"),
    ("get", "/api/v1/bookings/1/"),
    ("post", "/api/v1/bookings/1/cancel/"),
    ("get", "/api/v1/payouts/"),
    ("get", "/api/v1/payouts/1/"),
    ("get", "/api/v1/courses/"),
    ("get", "/api/v1/courses/1/"),
    ("post", "/api/v1/admin/meetings/1/open/"),
    ("post", "/api/v1/admin/meetings/1/close/"),
    ("delete", "/api/v1/auth/token/"),
    ("get", "/api/schema/"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_every_endpoint_needs_a_login(anon, method, path):
    response = getattr(anon, method)(path, {}, format="json")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == "Token"


def test_a_bad_token_is_refused(anon):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(anon.get("/api/v1/me/"), 401, "authentication_failed")


def test_healthz_needs_no_login(anon):
    assert anon.get("/healthz").status_code in (200, 503)  # answered, not refused


def test_docs_page_sends_people_to_the_login_page(anon, client, alice):
    response = client.get("/api/docs/")
    assert response.status_code == 302 and response["Location"].startswith("/api/auth/login/")


def test_people_log_in_to_a_session_on_the_api_login_page(client, alice):
    assert client.get("/api/auth/login/").status_code == 200
    response = client.post(
        "/api/auth/login/?next=/api/docs/", {"username": "alice", "password": "correct horse battery staple"}
    )
    assert response.status_code == 302 and response["Location"] == "/api/docs/"
    assert client.get("/api/v1/me/").json()["username"] == "alice"


def test_login_with_username_and_password_gives_a_token_that_works(anon, alice):
    response = anon.post("/api/v1/auth/token/", {"username": "alice", "password": "correct horse battery staple"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert ApiToken.objects.get(user=alice.user).digest == tokens.digest_of(body["token"])
    assert body["user"]["roles"] == ["student"]

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.get("/api/v1/me/").json()["username"] == "alice"

    again = anon.post("/api/v1/auth/token/", {"username": "alice", "password": "correct horse battery staple"})
    assert again.json()["token"] != body["token"]  # each login is a new token (only digests are stored)
    assert ApiToken.objects.filter(user=alice.user).count() == 2


def test_revoking_the_token_logs_out(alice, now):
    _, token = tokens.issue(alice.user, now=now)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert not ApiToken.objects.filter(user=alice.user).exists()
    assert_error(client.get("/api/v1/me/"), 401, "authentication_failed")


def test_a_wrong_password_is_a_400_naming_the_password(anon, alice):
    response = anon.post("/api/v1/auth/token/", {"username": "alice", "password": "nope"}, format="json")
    assert_error(response, 400, "invalid_credentials", "password")
    assert not ApiToken.objects.exists()


def test_missing_credentials_name_both_fields(anon):
    assert_error(anon.post("/api/v1/auth/token/", {}, format="json"), 400, "validation_error", "username", "password")


def test_logging_in_too_often_is_throttled(anon, alice, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "3/minute"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        from rest_framework.throttling import ScopedRateThrottle

        configured = ScopedRateThrottle.THROTTLE_RATES
        ScopedRateThrottle.THROTTLE_RATES = rates  # read once at import by DRF
        try:
            for _ in range(3):
                anon.post("/api/v1/auth/token/", {"username": "alice", "password": "nope"}, format="json")
            response = anon.post("/api/v1/auth/token/", {"username": "alice", "password": "nope"}, format="json")
        finally:
            # The configured rates, not api_settings' here: inside override_settings those are still 3/minute.
            ScopedRateThrottle.THROTTLE_RATES = configured
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


def test_session_login_works_too(client, alice):
    client.force_login(alice.user)
    assert client.get("/api/v1/me/").json()["username"] == "alice"


def test_unknown_api_url_is_a_json_404(as_alice):
    error = assert_error(as_alice.get("/api/v1/nothing-here/"), 404, "not_found")
    assert "/api/v1/nothing-here/" in error["message"]


def test_missing_trailing_slash_gets_a_hint(as_alice):
    error = assert_error(as_alice.get("/api/v1/meetings"), 404, "not_found")
    assert "did you mean /api/v1/meetings/" in error["message"]


def test_unknown_object_is_a_json_404(as_alice):
    assert_error(as_alice.get("/api/v1/courses/999/"), 404, "not_found")
    assert_error(as_alice.get("/api/v1/courses/abc/"), 404, "not_found")


def test_wrong_method_is_a_json_405(as_alice):
    assert_error(as_alice.delete("/api/v1/courses/"), 405, "method_not_allowed")
    assert_error(as_alice.put("/api/v1/me/", {}, format="json"), 405, "method_not_allowed")


def test_a_body_that_is_not_json_is_a_parse_error(as_charlie):
    response = as_charlie.post("/api/v1/meetings/", "{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_a_form_body_is_an_unsupported_media_type(as_charlie):
    response = as_charlie.post("/api/v1/meetings/", "a=1", content_type="application/x-www-form-urlencoded")
    assert_error(response, 415, "unsupported_media_type")


def test_asking_for_html_is_not_acceptable(as_alice):
    assert_error(as_alice.get("/api/v1/me/", HTTP_ACCEPT="text/html"), 406, "not_acceptable")


def test_an_unexpected_failure_is_a_json_500_and_logged(as_alice, monkeypatch, caplog):
    from classroom import api

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(api.CourseViewSet, "list", broken)
    response = as_alice.get("/api/v1/courses/")
    assert_error(response, 500, "server_error")
    assert "disk on fire" not in response.content.decode()
    assert any(r.message == "API request failed" for r in caplog.records)


def test_a_session_post_without_the_csrf_token_is_refused_in_the_error_shape(alice, meeting):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice.user)
    response = client.post("/api/v1/bookings/", {"meeting": meeting.pk}, content_type="application/json")
    error = assert_error(response, 403, "permission_denied")
    assert "CSRF" in error["message"]
    assert not meeting.bookings.exists()
