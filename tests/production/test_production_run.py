"""README's "Run it in production", run: gunicorn serving ``config.wsgi`` and one ``qcluster`` on a throw-away
PostgreSQL database, with DEBUG off and README's production settings behind a TLS proxy (``X-Forwarded-Proto``).

The steps are README's: ``check --deploy``, ``migrate``, ``collectstatic`` (into a temporary STATIC_ROOT, served by
WhiteNoise), ``setup_schedules``, then the processes. It fetches ``/``, ``/admin/login/``, a static file and
``/healthz``, and stops them; the processes' groups are killed and the database dropped whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import sys
import time
import uuid

import psycopg
import pytest
from django.conf import settings

from bench.process import fetch, stop_groups
from tests.classroom.test_production_settings import ROOT, production_env, readme_production_settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(120)]

HOST = "school.example"


def _server_dsn(name: str) -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


@contextlib.contextmanager
def throwaway_database():
    name = f"classroom_prodrun_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_server_dsn("postgres"), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _server_dsn(name)
    finally:
        with psycopg.connect(_server_dsn("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}: {result.stdout}{result.stderr}"
    return result


def _fetch(port: int, path: str, *, https: bool = True) -> tuple[int, dict, bytes]:
    """GET as the proxy would pass it on (Host and X-Forwarded-Proto set); redirects are not followed."""
    headers = {"Host": HOST, **({"X-Forwarded-Proto": "https"} if https else {})}
    return fetch(f"http://127.0.0.1:{port}{path}", headers, timeout=5)


def test_gunicorn_and_a_cluster_serve_the_app_with_debug_off(tmp_path):
    port = _free_port()
    with throwaway_database() as database_url:
        documented = readme_production_settings()  # ALLOWED_HOSTS=school.example, the proxy header, HSTS, ...
        env = production_env(
            tmp_path,
            **{
                **documented,
                "DJANGO_SETTINGS_MODULE": "config.settings",
                "DATABASE_URL": database_url,
                "STATIC_ROOT": str(tmp_path / "static"),
                "Q_WORKERS": "1",
            },
        )
        assert env["ALLOWED_HOSTS"] == HOST
        assert env["DEBUG"] == "false" and len(env["SECRET_KEY"]) >= 50

        deploy = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
        assert "System check identified no issues" in deploy.stdout
        _manage(env, "migrate", "--noinput")
        _manage(env, "collectstatic", "--noinput")
        assert (tmp_path / "static" / "staticfiles.json").is_file()  # the manifest of hashed names
        _manage(env, "setup_schedules")

        processes = []
        try:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    process_group=0,
                )
            )
            deadline = time.monotonic() + 20
            while True:
                assert processes[0].poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn never answered"
                try:
                    status, headers, body = _fetch(port, "/")
                    break
                except OSError:
                    time.sleep(0.2)

            assert status == 200 and b"Classroom back office" in body
            assert "max-age=31536000" in headers["Strict-Transport-Security"]
            # Plain http (no proxy header) is sent to https.
            status, headers, _ = _fetch(port, "/", https=False)
            assert status == 301 and headers["Location"] == f"https://{HOST}/"

            status, headers, body = _fetch(port, "/admin/login/")
            assert status == 200 and b'name="csrfmiddlewaretoken"' in body
            assert "Secure" in headers["Set-Cookie"]
            stylesheet = re.search(rb'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', body)
            assert stylesheet, "the admin's stylesheet is not under its hashed name"

            status, headers, body = _fetch(port, stylesheet[1].decode())
            assert status == 200 and headers["Content-Type"].startswith("text/css") and b"body" in body
            assert "immutable" in headers["Cache-Control"]  # WhiteNoise: a hashed name never changes

            # Before the cluster's first sweep: 503, the database answers, no sweep yet.
            status, _, body = _fetch(port, "/healthz")
            assert status == 503, body
            assert json.loads(body) == {
                "status": "stale",
                "database": "ok",
                "last_sweep_age_seconds": None,
                "cluster": "not seen",
                "clock_age_seconds": None,
            }

            # One qcluster takes the maintenance pass from the queue (the ORM broker) and runs every sweep: healthy.
            # (Its schedules would start it too, but django-q2 looks at them only every 30 s.)
            _manage(env, "shell", "-c", "from django_q.tasks import async_task; async_task('core.tasks.maintenance')")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "manage.py", "qcluster"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    process_group=0,
                )
            )
            deadline = time.monotonic() + 20
            while True:
                assert processes[1].poll() is None, "qcluster exited"
                status, _, body = _fetch(port, "/healthz")
                if status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            health = json.loads(body)
            assert status == 200, health
            assert health["status"] == "ok" and health["database"] == "ok" and health["last_sweep_age_seconds"] < 20
        finally:
            stop_groups(processes, grace=5)
