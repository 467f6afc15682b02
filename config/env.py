"""Typed reading of the environment for settings.py.

Every value is read through :class:`EnvReader`, which never raises: a bad value is recorded in ``errors`` and the
default is used instead, so that Django can start far enough to run its system checks. ``config.checks`` turns each
recorded error into a check error naming the variable, which stops ``runserver``, ``migrate`` and ``qcluster``.
(Raising from settings.py would instead give a traceback that does not say which variable to fix.)
"""

from __future__ import annotations

import decimal
import warnings
import zoneinfo
from functools import cache
from urllib.parse import urlsplit

import environ


@cache
def available_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


class EnvReader:
    def __init__(self, env: environ.Env | None = None):
        self.env = env or environ.Env()
        self.errors: list[tuple[str, str]] = []

    def _raw(self, name: str) -> str | None:
        value = self.env.str(name, default=None)
        return None if value is None else value.strip()

    def error(self, name: str, message: str) -> None:
        self.errors.append((name, message))

    def str(self, name: str, default: str) -> str:
        raw = self._raw(name)
        return default if raw is None else raw

    def bool(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None or raw == "":
            return default
        lowered = raw.lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        self.error(name, f"must be true or false, got {raw!r}")
        return default

    def int(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self._raw(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            self.error(name, f"must be a whole number, got {raw!r}")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            upper = "" if maximum is None else f" and at most {maximum}"
            self.error(name, f"must be at least {minimum}{upper}, got {value}")
            return default
        return value

    def minutes(self, name: str, default: int) -> int:
        """A non-negative number of minutes (the lifecycle windows)."""
        return self.int(name, default, minimum=0, maximum=7 * 24 * 60)

    def decimal(self, name: str, default: str, *, minimum: str, maximum: str) -> decimal.Decimal:
        raw = self._raw(name) or default
        try:
            value = decimal.Decimal(raw)
        except decimal.InvalidOperation:
            self.error(name, f"must be a decimal number, got {raw!r}")
            return decimal.Decimal(default)
        if not (decimal.Decimal(minimum) <= value <= decimal.Decimal(maximum)):
            self.error(name, f"must be between {minimum} and {maximum}, got {raw}")
            return decimal.Decimal(default)
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        raw = self._raw(name) or default
        if raw not in choices:
            self.error(name, f"must be one of {', '.join(choices)}; got {raw!r}")
            return default
        return raw

    def time_zone(self, name: str, default: str) -> str:
        raw = self._raw(name) or default
        if raw not in available_time_zones():
            self.error(name, f"{raw!r} is not an IANA time zone (for example Asia/Ho_Chi_Minh)")
            return default
        return raw

    def url(self, name: str, default: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
        """A base URL without a trailing slash (the LINE SDK, for one, breaks on ``host/``)."""
        raw = self._raw(name)
        if raw is None or raw == "":
            return default
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.netloc:
            self.error(name, f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}; got {raw!r}")
            return default
        return raw.rstrip("/")

    def list(self, name: str, default: list[str]) -> list[str]:
        raw = self._raw(name)
        if raw is None:
            return default
        return [item.strip() for item in raw.split(",") if item.strip()]

    SUPPORTED_DATABASES = ("django.db.backends.sqlite3", "django.db.backends.postgresql")

    def database(self, name: str, default: str) -> dict:
        raw = self._raw(name) or default
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # django-environ warns, then returns {}, on an unknown scheme
                config = environ.Env.db_url_config(raw)
        except Exception as exc:  # django-environ raises several types for a malformed URL
            config = {"error": str(exc)}
        if config.get("ENGINE") not in self.SUPPORTED_DATABASES:
            self.error(name, f"must be sqlite:///path or postgres://user@host:port/name; got {raw!r}")
            config = environ.Env.db_url_config(default)
        return config

    def email(self, name: str, default: str) -> dict:
        raw = self._raw(name) or default
        try:
            return environ.Env.email_url_config(raw)
        except Exception as exc:
            self.error(name, f"is not an email URL ({exc}); got {raw!r}")
            return environ.Env.email_url_config(default)
