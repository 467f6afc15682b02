"""B6, a peak minute end to end: 5,000 classes starting in the same minute, 10 students each (50,000 personal join
links due together), two real ``qcluster`` processes on the benchmark database, the LINE fake (its own process) at
100 ms +- 20 ms.

Timeline, from T (when both clusters' clocks are running): the join links fall due at T + 15 s, the classes start
at random moments of the minute T + 45 s .. T + 105 s, last 30 s, and close one minute after their end (the policy's
close delay, set to 1 minute for the run). Measured: open lateness (``opened_at - start_time``), how long after it
fell due each join link was accepted by the fake (its own clock, ``/fake/accepted``), close lateness (``closed_at -
close moment``), and duplicates at the fake. Bounded: every wait has a deadline, and the clusters and the fake are
killed (their process groups) whatever happens.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import time

from django.core.management import call_command
from django.db import connection

from bench import data
from bench.delivery import FakeProcess, line_channel
from bench.process import start_group, stop_groups
from bookings.models import Appointment
from classroom import policies
from classroom.models import Policy
from core.models import SweepHeartbeat
from meetings.models import Meeting
from meetings.stats import percentile
from notifications.models import Notification

CLASSES, STUDENTS_EACH = 5_000, 10
CLUSTERS = 2
CONCURRENCY = 128  # LINE_MAX_CONCURRENCY per cluster process
CLOSE_DELAY_MINUTES = 1
LENGTH = dt.timedelta(seconds=30)


def _short_close_delay(now: dt.datetime) -> None:
    """The school's policy closes a class CLOSE_DELAY_MINUTES after its end (this benchmark database only), so the
    run ends within minutes; the clusters read it when they start."""
    policies.ensure_first_version()
    for policy in Policy.objects.filter(course__isnull=True):  # queryset update: versions are never saved again
        values = {**policy.values, "meeting_auto_close_delay_minutes": CLOSE_DELAY_MINUTES}
        Policy.objects.filter(pk=policy.pk).update(values=values)
    policies.clear_cache()


def _wait(condition, seconds: float, what: str) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            print(f"  gave up waiting for {what} after {seconds:.0f} s", flush=True)
            return False
        time.sleep(1)
    return True


def peak_minute(ctx) -> str:
    now = dt.datetime.now(dt.UTC)
    _short_close_delay(now)
    school = data.School(students=CLASSES * STUDENTS_EACH, prefix="b6")
    line_channel("b6", school, now)
    call_command("setup_schedules", stdout=open(os.devnull, "w"))  # noqa: SIM115
    SweepHeartbeat.objects.filter(name__in=["clock", "delivery-clock"]).delete()
    clusters: list[subprocess.Popen] = []
    with FakeProcess(latency_ms=100, jitter_ms=20) as fake:
        env = {
            **os.environ,
            "DATABASE_URL": ctx.database_url,
            "LOG_LEVEL": "WARNING",
            "NOTIFICATION_CHANNEL": "live",
            "LINE_API_BASE_URL": fake.url,
            "LINE_MAX_CONCURRENCY": str(CONCURRENCY),
            # Two processes share the channel's limit (2,000 pushes a second; README "Delivery at scale").
            "LINE_PUSH_RATE_PER_SECOND": str(1600 // CLUSTERS),
            "LINE_MULTICAST_RATE_PER_SECOND": str(160 // CLUSTERS),
            "DELIVERY_BATCH_SIZE": "500",
            "DELIVERY_PASS_SECONDS": "2",
            "EMAIL_URL": "dummymail://",
        }
        try:
            clusters = [start_group(["manage.py", "qcluster"], env) for _ in range(CLUSTERS)]
            beats = SweepHeartbeat.objects.filter(name__in=["clock", "delivery-clock"])
            if not _wait(lambda: beats.count() == 2, 150, "both clocks"):
                raise RuntimeError("the clusters' clocks did not start within 150 s")
            start_of_run = dt.datetime.now(dt.UTC)
            due = start_of_run + dt.timedelta(seconds=15)
            rng = random.Random(6)
            minute = start_of_run + dt.timedelta(seconds=45)
            starts = sorted(minute + dt.timedelta(seconds=rng.uniform(0, 60)) for _ in range(CLASSES))
            ids = data.burst(school, starts=starts, students_each=STUDENTS_EACH, now=start_of_run, duration=LENGTH)
            Appointment.objects.filter(meeting_id__in=ids).update(
                join_link_state="pending",
                join_link_due_at=due,
                join_link_at=None,
                feedback_link_due_at=starts[-1] + dt.timedelta(days=1),
            )
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE bookings_appointment")
            print(f"  {CLASSES:,} classes, {CLASSES * STUDENTS_EACH:,} join links due at +15 s", flush=True)
            links = Notification.objects.filter(kind="join_link", meeting_id__in=ids)
            last_close = starts[-1] + LENGTH + dt.timedelta(minutes=CLOSE_DELAY_MINUTES)
            finish = (last_close - dt.datetime.now(dt.UTC)).total_seconds() + 60
            appointments = Appointment.objects.filter(meeting_id__in=ids)
            _wait(
                lambda: (
                    not Meeting.objects.filter(pk__in=ids, closed_at__isnull=True).exists()
                    and not appointments.filter(join_link_state="pending").exists()
                    and not links.filter(state="pending").exists()
                ),
                finish,
                "every class closed and every join link settled",
            )
        finally:
            stop_groups(clusters, grace=20)
        accepted = fake.get("/fake/accepted")
        stats = fake.stats()
    at_fake = {key: at for key, _to, at in accepted}
    link_keys = list(links.values_list("line_batch_key", flat=True))
    link_late = [at_fake[str(key)] - due.timestamp() for key in link_keys if key and str(key) in at_fake]
    lost = CLASSES * STUDENTS_EACH - len(link_late)
    opened = list(Meeting.objects.filter(pk__in=ids).values_list("start_time", "opened_at", "end_time", "closed_at"))
    open_late = [(o - s).total_seconds() for s, o, _e, _c in opened if o]
    close_delay = dt.timedelta(minutes=CLOSE_DELAY_MINUTES)
    close_late = [(c - (e + close_delay)).total_seconds() for _s, _o, e, c in opened if c]
    ctx.report.add(
        "B6 peak minute: open lateness",
        "opened_at - start_time",
        open_late or [float("nan")],
        p50=round(percentile(open_late, 50), 3) if open_late else None,
        p99=round(percentile(open_late, 99), 3) if open_late else None,
        not_opened=CLASSES - len(open_late),
    )
    ctx.report.add(
        "B6 peak minute: join link accepted",
        "at the fake - due",
        link_late or [float("nan")],
        p50=round(percentile(link_late, 50), 1) if link_late else None,
        max=round(max(link_late), 1) if link_late else None,
        lost=lost,
        duplicates=stats["duplicates"],
    )
    ctx.report.add(
        "B6 peak minute: close lateness",
        "closed_at - close moment",
        close_late or [float("nan")],
        max=round(max(close_late), 2) if close_late else None,
        not_closed=CLASSES - len(close_late),
    )
    p99 = percentile(open_late, 99) if open_late else float("inf")
    ctx.target(
        "B6 join links accepted <= 90 s after due",
        f"max {max(link_late):.1f} s, lost {lost}" if link_late else f"none accepted, lost {lost}",
        "<= 90 s, 0 lost",
        bool(link_late) and max(link_late) <= 90 and lost == 0,
    )
    ctx.target(
        "B6 classes closed <= 10 s after close",
        f"max {max(close_late):.2f} s, not closed {CLASSES - len(close_late)}" if close_late else "none closed",
        "<= 10 s, all",
        bool(close_late) and max(close_late) <= 10 and len(close_late) == CLASSES,
    )
    ctx.target("B6 duplicates (at the fake)", stats["duplicates"], "0", stats["duplicates"] == 0)
    return ctx.target(
        "B6 p99 open lateness",
        f"{p99:.2f} s (not opened {CLASSES - len(open_late)})",
        "<= 2 s",
        p99 <= 2 and len(open_late) == CLASSES,
    )
