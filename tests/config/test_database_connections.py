"""CONN_MAX_AGE: on PostgreSQL each process keeps its connection (60 s by default) instead of opening one per request,
with the health check on; SQLite opens one per request; a bad value stops start-up naming the variable."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRINT = (
    "import json; from django.conf import settings; db = settings.DATABASES['default']; "
    "print(json.dumps({'age': db['CONN_MAX_AGE'], 'checks': db.get('CONN_HEALTH_CHECKS', False)}))"
)


def run(tmp_path, code: str, **values) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "ENV_FILE": str(tmp_path / "none"),
        "DJANGO_SETTINGS_MODULE": "config.settings_dev",
        **values,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


def connection_settings(tmp_path, **values) -> dict:
    result = run(tmp_path, PRINT, **values)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


POSTGRES = "postgres://postgres@127.0.0.1:5432/nowhere"  # never connected to: only the settings are read


def test_postgresql_keeps_connections_for_a_minute_with_health_checks(tmp_path):
    assert connection_settings(tmp_path, DATABASE_URL=POSTGRES) == {"age": 60, "checks": True}


def test_conn_max_age_sets_how_long_and_zero_opens_one_per_request(tmp_path):
    assert connection_settings(tmp_path, DATABASE_URL=POSTGRES, CONN_MAX_AGE="600")["age"] == 600
    assert connection_settings(tmp_path, DATABASE_URL=POSTGRES, CONN_MAX_AGE="0") == {"age": 0, "checks": True}


def test_sqlite_opens_one_per_request(tmp_path):
    assert connection_settings(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")["age"] == 0


def test_a_bad_value_stops_start_up_naming_it(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "CONN_MAX_AGE": "forever"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "ENV_FILE": str(tmp_path / "none"),
            "DJANGO_SETTINGS_MODULE": "config.settings_dev",
            **env,
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "CONN_MAX_AGE must be a whole number, got 'forever'" in result.stderr


PREPARED = (
    "import json; from django.conf import settings; db = settings.DATABASES['default']; "
    "print(json.dumps([settings.PREPARED_STATEMENTS, db.get('OPTIONS', {}).get('prepare_threshold')]))"
)


def prepared_settings(tmp_path, **values) -> list:
    result = run(tmp_path, PREPARED, **values)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_postgresql_prepares_the_hot_statements_unless_switched_off(tmp_path):
    """psycopg prepares nothing with a threshold of None (Django's default), so on prepares core.rows' statements."""
    assert prepared_settings(tmp_path, DATABASE_URL=POSTGRES) == [True, 0]
    assert prepared_settings(tmp_path, DATABASE_URL=POSTGRES, PREPARED_STATEMENTS="false") == [False, None]
    assert prepared_settings(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3") == [False, None]
