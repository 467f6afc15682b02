"""API tokens: a new one at each login, stored only as a digest, expiring after API_TOKEN_TTL_HOURS, never shown in
the admin; tokens issued before the upgrade keep working until they expire."""

import datetime as dt
import hashlib

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def log_in(user) -> dict:
    response = APIClient().post("/api/v1/auth/token/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def every_stored_text():
    """Every text value in every table of the database, as strings."""
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields]
        for row in model._base_manager.values_list(*fields):
            yield from (str(value) for value in row if value is not None)


def test_the_token_is_stored_nowhere_in_the_database(alice):
    token = log_in(alice.user)["token"]
    assert bearer(token).get("/api/v1/me/").json()["username"] == "alice"
    assert not [text for text in every_stored_text() if token in text]


def test_the_login_response_says_when_the_token_expires(alice, now, settings):
    body = log_in(alice.user)
    expires = now + dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS)
    assert body["expires_at"] == expires.isoformat().replace("+00:00", "Z")
    assert set(body) == {"token", "expires_at", "user"}


def test_a_token_works_until_it_expires_and_is_refused_after(alice, now, settings, frozen_clock):
    token = log_in(alice.user)["token"]
    ttl = dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS)
    frozen_clock.move_to(now + ttl - dt.timedelta(seconds=1))
    assert bearer(token).get("/api/v1/me/").status_code == 200
    frozen_clock.move_to(now + ttl)
    error = assert_error(bearer(token).get("/api/v1/me/"), 401, "authentication_failed")
    assert "expired" in error["message"]
    assert_error(bearer(token).get("/api/v1/me/"), 401, "authentication_failed")  # and it stays refused


def test_the_lifetime_is_a_setting(alice, now, settings):
    settings.API_TOKEN_TTL_HOURS = 2
    assert log_in(alice.user)["expires_at"] == "2026-07-01T14:00:00Z"


def test_each_login_is_a_new_token_and_logging_out_revokes_only_the_one_sent(alice):
    phone, laptop = log_in(alice.user)["token"], log_in(alice.user)["token"]
    assert phone != laptop
    assert bearer(phone).delete("/api/v1/auth/token/").status_code == 204
    assert_error(bearer(phone).get("/api/v1/me/"), 401, "authentication_failed")
    assert bearer(laptop).get("/api/v1/me/").status_code == 200


def test_logging_out_from_a_session_revokes_all_your_tokens(alice, bob):
    alices, bobs = log_in(alice.user)["token"], log_in(bob.user)["token"]
    session = APIClient()
    session.force_login(alice.user)
    assert session.delete("/api/v1/auth/token/").status_code == 204
    assert_error(bearer(alices).get("/api/v1/me/"), 401, "authentication_failed")
    assert bearer(bobs).get("/api/v1/me/").status_code == 200


def test_a_deactivated_account_cannot_use_its_token(alice):
    token = log_in(alice.user)["token"]
    alice.user.is_active = False
    alice.user.save()
    assert_error(bearer(token).get("/api/v1/me/"), 401, "authentication_failed")


def test_the_admin_shows_no_token_or_digest_even_to_a_superuser(staff, alice):
    tokens = [log_in(staff)["token"], log_in(alice.user)["token"]]
    secrets = tokens + [hashlib.sha256(token.encode()).hexdigest() for token in tokens]
    client = Client()
    client.force_login(staff)
    pages = [reverse("admin:index"), reverse("admin:auth_user_change", args=[staff.pk])]
    for model in admin.site._registry:
        pages.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"))
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        shown = response.content.decode()
        assert not [secret for secret in secrets if secret in shown], page


LEGACY_TABLE = "authtoken_token"
LEGACY_KEY = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"


@pytest.fixture
def before_the_upgrade(alice):
    """The database as it was: classroom before its API tokens, and alice's token as rest_framework.authtoken stored
    it, the key itself in plain text."""
    call_command("migrate", "classroom", "0003", verbosity=0)
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {LEGACY_TABLE} (key varchar(40) PRIMARY KEY, created timestamp, user_id int)")
            cursor.execute(f"INSERT INTO {LEGACY_TABLE} VALUES (%s, %s, %s)", [LEGACY_KEY, "2026-06-01", alice.user.pk])
        yield LEGACY_KEY
    finally:
        # Every app: going back to classroom 0003 also unapplied what depends on later classroom migrations.
        call_command("migrate", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {LEGACY_TABLE}")


@pytest.mark.django_db(transaction=True)
def test_tokens_from_before_the_upgrade_keep_working_and_their_plain_keys_are_gone(before_the_upgrade, now, settings):
    call_command("migrate", verbosity=0)
    me = bearer(before_the_upgrade).get("/api/v1/me/")
    assert me.status_code == 200 and me.json()["username"] == "alice"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {LEGACY_TABLE}")
        assert cursor.fetchone() == (0,)
    assert not [text for text in every_stored_text() if before_the_upgrade in text]
    stored = apps.get_model("classroom", "ApiToken").objects.get()
    assert stored.expires_at == now + dt.timedelta(hours=settings.API_TOKEN_TTL_HOURS)


def test_the_maintenance_pass_forgets_expired_tokens_once(alice, bob, teacher, now, settings):
    """Tokens nobody uses again after they expired would pile up: the maintenance pass deletes them, in batches."""
    from classroom import tokens
    from classroom.models import ApiToken
    from core.runner import SWEEPS

    settings.API_TOKEN_TTL_HOURS = 1
    tokens.issue(alice.user, now=now - dt.timedelta(hours=2))
    tokens.issue(bob.user, now=now - dt.timedelta(hours=2))
    alive, _ = tokens.issue(teacher.user, now=now)  # (a login forgets the user's own expired ones)
    assert SWEEPS["expire_api_tokens"] is tokens.expire_api_tokens
    assert tokens.expire_api_tokens(now) == {"expired": 2}
    assert tokens.expire_api_tokens(now) == {}
    assert list(ApiToken.objects.values_list("pk", flat=True)) == [alive.pk]
