"""A person's time zone is for input and display only; everything stored is UTC (DESIGN.md, "Time")."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from config.env import available_time_zones
from core.errors import InvalidTime

UTC = dt.UTC


def validate_time_zone(value: str) -> None:
    if value not in available_time_zones():
        raise ValidationError(
            _("%(value)s is not an IANA time zone (for example Asia/Ho_Chi_Minh)."),
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
            _("%(field)s has no time zone offset; give an ISO 8601 time with an offset or a zone") % {"field": field},
            field=field,
        )
    return value.astimezone(UTC)


def readings(wall: dt.datetime, tz_name: str) -> list[dt.datetime]:
    """The instants (UTC, in order) a naive wall-clock time names in ``tz_name``: none inside a daylight-saving gap,
    two in the repeated hour of a fall-back night, one otherwise. ``fold`` picks the first or second occurrence; a
    reading counts only if it reads back as the same wall time (inside a gap neither does)."""
    tz = zone(tz_name)
    found: list[dt.datetime] = []
    for fold in (0, 1):
        instant = wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == wall and instant not in found:
            found.append(instant)
    return sorted(found)


def _offset(value: dt.timedelta) -> str:
    sign = "-" if value < dt.timedelta(0) else "+"
    minutes = abs(int(value.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _iso(instant: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    """An instant as the wall time in ``tz`` with its offset: the unambiguous form a caller can send back."""
    return instant.astimezone(tz).isoformat()


def local_to_utc(wall: dt.datetime, tz_name: str, *, field: str = "time") -> dt.datetime:
    """Turn a wall-clock time in ``tz_name`` into UTC.

    A time inside a daylight-saving gap (02:30 on a spring-forward night) does not exist and is refused. A time in the
    repeated hour of a fall-back night happens twice and is refused too, naming both readings and the offset form
    that picks one: guessing would silently change a class's length by an hour.
    """
    if wall.tzinfo is not None:
        raise InvalidTime(
            _("%(field)s must be a wall-clock time without an offset when a zone is given") % {"field": field},
            field=field,
        )
    found = readings(wall, tz_name)
    if not found:
        raise InvalidTime(
            _("%(field)s %(wall)s does not exist in %(zone)s (the clocks skip it for daylight saving)")
            % {"field": field, "wall": f"{wall:%Y-%m-%d %H:%M}", "zone": tz_name},
            field=field,
        )
    if len(found) > 1:
        tz = zone(tz_name)
        local = [instant.astimezone(tz) for instant in found]
        both = [
            _("%(wall)s %(abbr)s (UTC%(offset)s, = %(utc)s UTC)")
            % {"wall": f"{wall:%H:%M}", "abbr": t.tzname(), "offset": _offset(t.utcoffset()), "utc": f"{u:%H:%M}"}
            for t, u in zip(local, found, strict=True)
        ]
        raise InvalidTime(
            _(
                "%(field)s %(wall)s happens twice in %(zone)s: %(first)s or %(second)s; send it with its offset: "
                "%(first_iso)s or %(second_iso)s"
            )
            % {
                "field": field,
                "wall": f"{wall:%Y-%m-%d %H:%M}",
                "zone": tz_name,
                "first": both[0],
                "second": both[1],
                "first_iso": _iso(found[0], tz),
                "second_iso": _iso(found[1], tz),
            },
            field=field,
        )
    return found[0]


def _hours(value: dt.timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    return f"{minutes // 60}:{minutes % 60:02d}"


def check_wall_interval(start: dt.datetime, end: dt.datetime, tz_name: str, *, field: str = "end_time") -> None:
    """Refuse a wall-clock interval whose real length is not what its clock times say, because it crosses a clock
    change (00:30-02:30 on a fall-back night reads as two hours and lasts three). Both readings are named, each as the
    pair of times with offsets that says it, so the caller chooses; the length is never changed silently. The two
    ends must each have one reading (:func:`local_to_utc`); an end before its start is left to the caller's checks."""
    start_utc, end_utc = local_to_utc(start, tz_name, field="start_time"), local_to_utc(end, tz_name, field=field)
    on_the_clock, real = end - start, end_utc - start_utc
    if on_the_clock <= dt.timedelta(0) or on_the_clock == real:
        return
    tz = zone(tz_name)
    raise InvalidTime(
        _(
            "the class from %(start)s to %(end)s crosses a clock change in %(zone)s, so it lasts %(real)s, not "
            "%(on_the_clock)s; send both times with their offsets to choose: %(start_iso)s to %(end_iso)s "
            "(%(real)s) or %(start_iso)s to %(same_length_iso)s (%(on_the_clock)s)"
        )
        % {
            "start": f"{start:%Y-%m-%d %H:%M}",
            "end": f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}",
            "zone": tz_name,
            "real": _hours(real),
            "on_the_clock": _hours(on_the_clock),
            "start_iso": _iso(start_utc, tz),
            "end_iso": _iso(end_utc, tz),
            "same_length_iso": _iso(start_utc + on_the_clock, tz),
        },
        field=field,
    )


def to_local(value: dt.datetime, tz_name: str) -> dt.datetime:
    return value.astimezone(zone(tz_name))


def format_local(value: dt.datetime | None, tz_name: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """'2026-07-01 08:00 America/New_York' — the zone name, not an abbreviation, so nobody has to guess."""
    if value is None:
        return "—"
    return f"{to_local(value, tz_name).strftime(fmt)} {tz_name}"
