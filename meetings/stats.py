"""Lifecycle figures for ``manage.py lifecycle_stats`` and the admin's lifecycle page."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext

from bookings.models import Appointment
from classroom import policies
from meetings.models import Meeting

State = Meeting.State


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class DayStats:
    day: dt.date
    opened: int = 0
    closed: int = 0
    opened_manually: int = 0
    closed_manually: int = 0
    failures: int = 0
    lateness_mean: float | None = None
    lateness_p95: float | None = None
    lateness_max: float | None = None


def daily(now: dt.datetime, days: int) -> list[DayStats]:
    first = (now - dt.timedelta(days=days - 1)).date()
    since = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)
    stats = {first + dt.timedelta(days=i): DayStats(first + dt.timedelta(days=i)) for i in range(days)}
    lateness: dict[dt.date, list[float]] = {day: [] for day in stats}
    for opened_at, start_time, auto in (
        Meeting.objects.filter(opened_at__gte=since).values_list("opened_at", "start_time", "auto_opened").iterator()
    ):
        day = stats.get(opened_at.date())
        if day is None:
            continue
        day.opened += 1
        if auto:
            lateness[day.day].append((opened_at - start_time).total_seconds())
        else:
            day.opened_manually += 1
    for closed_at, auto in Meeting.objects.filter(closed_at__gte=since).values_list("closed_at", "auto_closed"):
        if (day := stats.get(closed_at.date())) is not None:
            day.closed += 1
            day.closed_manually += 0 if auto else 1
    for failed_at in Meeting.objects.filter(last_error_at__gte=since).values_list("last_error_at", flat=True):
        if (day := stats.get(failed_at.date())) is not None:
            day.failures += 1
    for day in stats.values():
        values = lateness[day.day]
        if values:
            day.lateness_mean = sum(values) / len(values)
            day.lateness_p95 = percentile(values, 95)
            day.lateness_max = max(values)
    return list(stats.values())


@dataclass
class Upcoming:
    at: dt.datetime
    what: str
    meeting_id: int
    title: str


def what_fires_next(now: dt.datetime, limit: int = 20) -> list[Upcoming]:
    """The next ``limit`` things the system will do by itself, soonest first (each read from its due index)."""
    lookahead = dt.timedelta(minutes=settings.ROOM_PROVISION_LOOKAHEAD_MINUTES)
    check = dt.timedelta(minutes=settings.MIN_PARTICIPANTS_CHECK_MINUTES)
    items: list[Upcoming] = []
    scheduled = Meeting.objects.filter(state=State.SCHEDULED).order_by("start_time")
    for m in scheduled.values("pk", "title", "start_time")[:limit]:
        items.append(Upcoming(m["start_time"], gettext("open"), m["pk"], m["title"]))
    for m in (
        Meeting.objects.filter(state__in=Meeting.ACTIVE_STATES)
        .order_by("end_time")
        .values("pk", "title", "end_time", "policy_id", "course_id")[:limit]
    ):
        rules = policies.version(m["policy_id"]) if m["policy_id"] else policies.current(now, m["course_id"])
        items.append(Upcoming(m["end_time"] + rules.close_delay, gettext("close"), m["pk"], m["title"]))
    for m in scheduled.filter(room_provisioned_at__isnull=True).values("pk", "title", "start_time")[:limit]:
        items.append(Upcoming(max(now, m["start_time"] - lookahead), gettext("provision room"), m["pk"], m["title"]))
    for m in scheduled.filter(min_participants_checked_at__isnull=True).values("pk", "title", "start_time")[:limit]:
        items.append(
            Upcoming(max(now, m["start_time"] - check), gettext("minimum-participants check"), m["pk"], m["title"])
        )
    for which, label in (("join_link", gettext("send join links")), ("feedback_link", gettext("send feedback links"))):
        pending = Appointment.objects.filter(**{f"{which}_state": "pending"}).order_by(f"{which}_due_at")
        seen = set()
        for a in pending.values(f"{which}_due_at", "meeting_id", "meeting__title")[: limit * 5]:
            if a["meeting_id"] not in seen:
                seen.add(a["meeting_id"])
                items.append(Upcoming(max(now, a[f"{which}_due_at"]), label, a["meeting_id"], a["meeting__title"]))
    items.sort(key=lambda item: (item.at, item.meeting_id))
    return items[:limit]


def open_failures(limit: int = 20):
    return Meeting.objects.filter(~Q(last_error=""), retry_at__isnull=False).order_by("-last_error_at")[:limit]
