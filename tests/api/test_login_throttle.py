"""The login throttle: keyed on the real client address (NUM_PROXIES), counted in a cache every process shares."""

import ast
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from django.test import override_settings
from rest_framework.test import APIClient

from tests.api.conftest import assert_error
from tests.concurrency import manage

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 10  # API_AUTH_THROTTLE_RATE's default, 10/minute
WRONG = {"username": "alice", "password": "nope"}


@pytest.fixture(autouse=True)
def frozen_clock():
    """Another process counts attempts here on the real clock, so these tests do not travel in time."""
    yield None


def attempt(client: APIClient, **headers):
    return client.post("/api/v1/auth/token/", WRONG, format="json", **headers)


@pytest.mark.django_db
def test_a_rotating_x_forwarded_for_does_not_dodge_the_throttle(anon):
    codes = [attempt(anon, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(LIMIT)]
    assert codes == [400] * LIMIT
    response = attempt(anon, HTTP_X_FORWARDED_FOR="198.51.100.250")
    assert_error(response, 429, "throttled")


@pytest.mark.django_db
def test_behind_one_proxy_the_client_is_the_address_the_proxy_appended(settings):
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}):
        mallory, bob = APIClient(), APIClient()
        # Mallory forges the left part; the proxy appends the address it really saw.
        for n in range(LIMIT):
            assert attempt(mallory, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}, 203.0.113.7").status_code == 400
        assert attempt(mallory, HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.7").status_code == 429
        # Bob, another client behind the same proxy, is not throttled with her.
        assert attempt(bob, HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 400


def settings_value(expression: str, **environ) -> str:
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    env = {**os.environ, "ENV_FILE": "/nonexistent", **environ}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_num_proxies_comes_from_the_environment_and_defaults_to_trusting_no_header():
    assert settings_value('settings.REST_FRAMEWORK["NUM_PROXIES"]', NUM_PROXIES="") == "0"
    assert settings_value('settings.REST_FRAMEWORK["NUM_PROXIES"]', NUM_PROXIES="2") == "2"


def test_the_cache_is_the_database_by_default_and_redis_when_redis_url_is_set():
    backend = 'settings.CACHES["default"]["BACKEND"]'
    assert settings_value(backend, REDIS_URL="") == "django.core.cache.backends.db.DatabaseCache"
    assert (
        settings_value(backend, REDIS_URL="redis://127.0.0.1:6379/3") == "django.core.cache.backends.redis.RedisCache"
    )


ATTEMPTS_FROM_ANOTHER_PROCESS = f"""
from django.test import Client
client = Client()
print([client.post("/api/v1/auth/token/", {WRONG!r}, content_type="application/json").status_code
       for _ in range({LIMIT})])
"""


def attempts_in_another_process(**extra_env) -> list[int]:
    process = manage("shell", "-c", ATTEMPTS_FROM_ANOTHER_PROCESS, extra_env=extra_env)
    stdout, stderr = process.communicate(timeout=90)
    assert process.returncode == 0, stderr
    return ast.literal_eval(stdout.strip().splitlines()[-1])


@pytest.mark.django_db(transaction=True)
def test_counts_hold_across_processes_in_the_database_cache(anon):
    assert attempts_in_another_process() == [400] * LIMIT
    assert_error(attempt(anon), 429, "throttled")


REDIS_TEST_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def redis_prefix(settings):
    """A Redis cache under a key prefix of this test run's own (another suite may share the server), emptied after."""
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis at 127.0.0.1:6379 (redis-server --port 6379)")
    prefix = f"throttle-test-{uuid.uuid4().hex}"
    redis_caches = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_TEST_URL,
            "KEY_PREFIX": prefix,
        },
    }
    with override_settings(CACHES=redis_caches):
        yield prefix
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.mark.django_db(transaction=True)
def test_counts_hold_across_processes_in_redis(anon, redis_prefix):
    assert attempts_in_another_process(REDIS_URL=REDIS_TEST_URL, CACHE_KEY_PREFIX=redis_prefix) == [400] * LIMIT
    assert_error(attempt(anon), 429, "throttled")
