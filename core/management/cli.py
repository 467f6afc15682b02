"""Argument handling shared by the operator commands: clear errors and a non-zero exit code on bad input."""

from __future__ import annotations

import datetime as dt
import getpass

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.utils import timezone


def parse_now(value: str | None, *, option: str = "--now") -> dt.datetime:
    if not value:
        return timezone.now()
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} {value!r} is not an ISO 8601 time, e.g. 2026-07-01T12:00:00Z") from None
    if parsed.tzinfo is None:
        raise CommandError(f"{option} {value!r} has no offset; add Z or +07:00 so the moment is unambiguous")
    return parsed.astimezone(dt.UTC)


def actor(username: str | None):
    """The staff user named by --by, or the operator at this terminal (recorded as a manual action either way)."""
    if not username:
        return f"operator {getpass.getuser()} via manage.py"
    user = get_user_model().objects.filter(username=username, is_staff=True).first()
    if user is None:
        raise CommandError(f"--by {username!r} is not a staff user")
    return user
