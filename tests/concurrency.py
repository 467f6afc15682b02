"""Helpers to race real database connections: threads (each gets its own Django connection) and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def race(*functions, timeout: float = 30):
    """Run each function in its own thread, released together by a barrier. Returns results or exceptions, in order."""
    barrier = threading.Barrier(len(functions))
    results: list = [None] * len(functions)

    def run(index, function):
        try:
            barrier.wait(timeout)
            results[index] = function()
        except Exception as exc:  # the caller inspects what each racer got
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results


def test_database_url() -> str:
    """A DATABASE_URL that points a subprocess at the test database pytest-django created."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def manage(*args: str, extra_env: dict | None = None) -> subprocess.Popen:
    """Start ``manage.py <args>`` as a real process against the test database."""
    env = {**os.environ, "DATABASE_URL": test_database_url(), "LOG_LEVEL": "WARNING", **(extra_env or {})}
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
