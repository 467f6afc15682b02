"""A person's time zone is for input and display only; everything stored is UTC (DESIGN.md, "Time")."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.core.exceptions import ValidationError

from classroom.errors import InvalidTime
from config.env import available_time_zones

UTC = dt.UTC


def validate_time_zone(value: str) -> None:
    if value not in available_time_zones():
        raise ValidationError(
            "%(value)s is not an IANA time zone (for example Asia/Ho_Chi_Minh).",
            code="invalid_tz",
            params={"value": value},
        )


def zone(name: str) -> zoneinfo.ZoneInfo:
    validate_time_zone(name)
    return zoneinfo.ZoneInfo(name)


def require_aware(value: dt.datetime, *, field: str = "time") -> dt.datetime:
    """Refuse a naive datetime: we never guess whose wall clock it was on."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidTime(
            f"{field} has no time zone offset; give an ISO 8601 time with an offset or a zone", field=field
        )
    return value.astimezone(UTC)


def local_to_utc(wall: dt.datetime, tz_name: str, *, field: str = "time") -> dt.datetime:
    """Turn a wall-clock time in ``tz_name`` into UTC.

    A time inside a daylight-saving gap (02:30 on a spring-forward night) does not exist and is refused. A time in the
    repeated hour of a fall-back night is ambiguous; we take the first occurrence (fold=0), the one a calendar shows.
    """
    if wall.tzinfo is not None:
        raise InvalidTime(f"{field} must be a wall-clock time without an offset when a zone is given", field=field)
    tz = zone(tz_name)
    aware = wall.replace(tzinfo=tz, fold=0)
    back = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back != wall:
        raise InvalidTime(
            f"{field} {wall:%Y-%m-%d %H:%M} does not exist in {tz_name} (the clocks skip it for daylight saving)",
            field=field,
        )
    return aware.astimezone(UTC)


def to_local(value: dt.datetime, tz_name: str) -> dt.datetime:
    return value.astimezone(zone(tz_name))


def format_local(value: dt.datetime | None, tz_name: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """'2026-07-01 08:00 America/New_York' — the zone name, not an abbreviation, so nobody has to guess."""
    if value is None:
        return "—"
    return f"{to_local(value, tz_name).strftime(fmt)} {tz_name}"
