"""Production-safe defaults: DEBUG off unless asked for, a real SECRET_KEY or no start-up, warnings for the demo
services, a clean ``check --deploy`` with the values README documents, and entry points that refuse a bad config."""

import os
import re
import secrets
import signal
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from config.checks import check_production_services, check_secret_key
from config.settings_dev import DEVELOPMENT_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
GOOD_KEY = "k" * 20 + secrets.token_urlsafe(40)


def production_env(tmp_path, **values) -> dict:
    """A bare environment (no .env, no development values): what a production process starts with."""
    return {
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": str(tmp_path / "none.env"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **values,
    }


def run(args: list[str], env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a process in its own session; on a timeout kill the whole group (qcluster forks workers)."""
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def readme_production_settings() -> dict[str, str]:
    """The NAME=value lines of README's "Production settings" block; <placeholders> get random secrets."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Production settings", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    values = {}
    for line in block.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            values[name] = secrets.token_urlsafe(50) if value.startswith("<") else value
    return values


# --- DEBUG and SECRET_KEY -------------------------------------------------------------------------------------------


def test_debug_is_off_unless_asked_for(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    env = production_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings")
    result = run([sys.executable, "-c", code], env)
    assert result.stdout.strip() == "False", result.stderr


def test_with_debug_off_and_no_secret_key_check_fails_naming_the_variable(tmp_path):
    result = run([sys.executable, "manage.py", "check"], production_env(tmp_path, DEBUG="false"))
    assert result.returncode != 0
    assert "config.E002" in result.stderr and "SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "is not set"),
        (DEVELOPMENT_SECRET_KEY, "published development key"),
        ("x" * 49, "49 characters"),
    ],
)
def test_with_debug_off_a_missing_published_or_short_key_is_an_error(key, problem):
    with override_settings(DEBUG=False, SECRET_KEY=key):
        errors = check_secret_key()
    assert [e.id for e in errors] == ["config.E002"]
    assert errors[0].msg.startswith("SECRET_KEY ") and problem in errors[0].msg
    assert key not in errors[0].msg or key == ""  # the message never repeats the secret


def test_with_debug_off_a_long_own_key_passes():
    with override_settings(DEBUG=False, SECRET_KEY=GOOD_KEY):
        assert check_secret_key() == []


def test_with_debug_on_only_a_missing_key_is_an_error():
    with override_settings(DEBUG=True, SECRET_KEY=DEVELOPMENT_SECRET_KEY):
        assert check_secret_key() == []
    with override_settings(DEBUG=True, SECRET_KEY=""):
        assert [e.id for e in check_secret_key()] == ["config.E002"]


# --- the demo services ------------------------------------------------------------------------------------------------


def test_with_debug_off_the_demo_services_and_plain_http_are_warned_about():
    with override_settings(
        DEBUG=False, VIDEO_PROVIDER="local", NOTIFICATION_CHANNEL="log", PUBLIC_BASE_URL="http://school.example"
    ):
        warnings = check_production_services()
    by_id = {w.id: w.msg for w in warnings}
    assert set(by_id) == {"config.W001", "config.W002", "config.W003"}
    assert "VIDEO_PROVIDER" in by_id["config.W001"]
    assert "NOTIFICATION_CHANNEL" in by_id["config.W002"]
    assert "PUBLIC_BASE_URL" in by_id["config.W003"] and "https" in by_id["config.W003"]


def test_real_services_over_https_or_debug_on_are_not_warned_about():
    with override_settings(
        DEBUG=False, VIDEO_PROVIDER="zoom", NOTIFICATION_CHANNEL="live", PUBLIC_BASE_URL="https://school.example"
    ):
        assert check_production_services() == []
    with override_settings(DEBUG=True, VIDEO_PROVIDER="local", NOTIFICATION_CHANNEL="log"):
        assert check_production_services() == []


# --- check --deploy with README's production settings -----------------------------------------------------------------


def test_check_deploy_is_clean_with_the_production_settings_readme_documents(tmp_path):
    documented = readme_production_settings()
    assert {"DEBUG", "SECRET_KEY", "SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_SECONDS"} <= set(documented)
    result = run([sys.executable, "manage.py", "check", "--deploy"], production_env(tmp_path, **documented))
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
    assert "WARNING" not in result.stderr


def test_production_defaults_turn_on_https_protections(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_PROXY_SSL_HEADER)"
    )
    env = production_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY=GOOD_KEY)
    assert run([sys.executable, "-c", code], env).stdout.split() == ["True", "31536000", "True", "True", "None"]
    proxied = {**env, "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https"}
    assert run([sys.executable, "-c", code], proxied).stdout.split()[-2:] == ["('HTTP_X_FORWARDED_PROTO',", "'https')"]


def test_a_malformed_proxy_header_setting_stops_start_up_naming_it(tmp_path):
    env = production_env(tmp_path, DEBUG="true", SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    result = run([sys.executable, "manage.py", "check"], env)
    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER" in result.stderr


# --- every production entry point refuses a bad config ----------------------------------------------------------------


@pytest.mark.parametrize("module", ["config.wsgi", "config.asgi"])
def test_the_wsgi_and_asgi_applications_refuse_to_load_without_a_secret_key(tmp_path, module):
    result = run([sys.executable, "-c", f"import {module}"], production_env(tmp_path, DEBUG="false"))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr


def test_the_wsgi_application_loads_with_a_good_key(tmp_path):
    env = production_env(tmp_path, DEBUG="false", SECRET_KEY=GOOD_KEY)
    result = run([sys.executable, "-c", "import config.wsgi; print(config.wsgi.application)"], env)
    assert result.returncode == 0, result.stderr
    assert "WSGIHandler" in result.stdout


def test_qcluster_refuses_to_start_without_a_secret_key(tmp_path):
    result = run([sys.executable, "manage.py", "qcluster"], production_env(tmp_path, DEBUG="false"), timeout=30)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


# --- development values are asked for explicitly ----------------------------------------------------------------------


def test_make_run_and_bench_ask_for_the_development_settings():
    makefile = (ROOT / "Makefile").read_text()
    line = re.search(r"^([\w ]+): export DJANGO_SETTINGS_MODULE = config\.settings_dev$", makefile, re.M)
    assert line is not None and {"run", "bench"} <= set(line.group(1).split())


def test_the_development_settings_are_debug_with_the_published_key(tmp_path):
    code = "import django; django.setup(); from django.conf import settings as s; print(s.DEBUG, s.SECRET_KEY)"
    env = production_env(tmp_path, DJANGO_SETTINGS_MODULE="config.settings_dev")
    assert run([sys.executable, "-c", code], env).stdout.split() == ["True", DEVELOPMENT_SECRET_KEY]


def test_seed_demo_refuses_to_run_with_debug_off(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", stdout=StringIO())
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.filter(username="admin").exists()
