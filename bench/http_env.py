"""H1's database and environment (bench/http.py, bench/http_profile.py), without Django: the drivers build them
before any Django process starts."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg


def h1_database(database_url: str, suffix: str = "h1") -> tuple[str, str, str]:
    """(server admin url, H1 url, H1 name): beside the benchmark's database, on the same server."""
    parts = urlsplit(database_url)
    name = f"{parts.path.strip('/') or 'classroom'}_{suffix}"
    return urlunsplit(parts._replace(path="/postgres")), urlunsplit(parts._replace(path=f"/{name}")), name


@contextlib.contextmanager
def throwaway_database(database_url: str, suffix: str = "h1") -> Iterator[tuple[str, str]]:
    """A new, empty database beside ``database_url``'s (one a crash left behind is dropped first), dropped at the
    end whatever happens: yields its (url, name)."""
    admin_url, url, name = h1_database(database_url, suffix)

    def drop(admin):
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    with psycopg.connect(admin_url, autocommit=True) as admin:
        drop(admin)
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url, name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            drop(admin)


def h1_environment(database_url: str, secret_key: str | None = None) -> dict:
    """The production settings of README's "Run it in production" behind a TLS proxy, with the floor routed."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.http_settings",
        "DEBUG": "false",
        # The links are signed in the fill and checked by gunicorn: one key for both.
        "SECRET_KEY": secret_key or secrets.token_urlsafe(50),
        "DATABASE_URL": database_url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "PUBLIC_BASE_URL": "https://127.0.0.1",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
        "NOTIFICATION_CHANNEL": "log",
        "VIDEO_PROVIDER": "local",
        "LOG_LEVEL": "WARNING",
    }
