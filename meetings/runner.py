"""Every sweep, in order, and the record of when they last ran."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from django.db import close_old_connections, connection
from django.utils import timezone

from bookings import sweeps as booking_sweeps
from classroom.idempotency import expire_idempotency_keys
from classroom.tokens import expire_api_tokens
from core.models import SweepHeartbeat
from meetings import rooms, settlement
from meetings import sweeps as meeting_sweeps
from notifications.delivery import deliver_notifications

logger = logging.getLogger("classroom.sweeps")

# Order matters for catch-up inside one run; see meetings.sweeps.
SWEEPS = {
    "check_minimum_participants": meeting_sweeps.check_minimum_participants,
    "provision_rooms": rooms.provision_rooms,
    "open_due_meetings": meeting_sweeps.open_due_meetings,
    "send_join_links": booking_sweeps.send_join_links,
    "send_feedback_links": booking_sweeps.send_feedback_links,
    # Before closing, so the last look at a room is taken while it is still up.
    "poll_room_attendance": meeting_sweeps.poll_room_attendance,
    "close_due_meetings": meeting_sweeps.close_due_meetings,
    "end_rooms": rooms.end_rooms,
    "settle_closed_meetings": settlement.settle_closed_meetings,
    "approve_payouts": booking_sweeps.approve_payouts,
    "deliver_notifications": deliver_notifications,
    "expire_idempotency_keys": expire_idempotency_keys,
    "expire_api_tokens": expire_api_tokens,
}
# What the clock runs every second: the moments people notice. Provisioning (an hour ahead), room ends and
# settlement (retried anyway) are left to the once-a-minute maintenance pass.
TIME_CRITICAL = (
    "open_due_meetings",
    "send_join_links",
    "send_feedback_links",
    "close_due_meetings",
    "deliver_notifications",
)


def run_sweeps(
    now: dt.datetime | None = None, *, names=None, runner: str = "manual", record: bool = True
) -> dict[str, Counter]:
    """Run the named sweeps (default: all) once at ``now``. A failing sweep is logged and the next one still runs.
    ``runner`` names who ran them, in the log and (with ``record``) in its heartbeat; the clock records its own
    heartbeat every few seconds instead of every tick."""
    now = now or timezone.now()
    results: dict[str, Counter] = {}
    errors = []
    for name in names or SWEEPS:
        try:
            results[name] = Counter(SWEEPS[name](now))
        except Exception as exc:
            logger.exception("sweep failed", extra={"sweep": name})
            results[name] = Counter({"error": 1})
            errors.append(f"{name}: {exc}")
            if not connection.in_atomic_block:
                # A connection lost mid-sweep (a database restart) is dropped, so the next sweep reconnects instead
                # of failing on it too.
                close_old_connections()
    worked = {name: dict(counts) for name, counts in results.items() if counts}
    if worked:
        logger.info("sweeps", extra={"runner": runner, "now": now.isoformat(), "counts": worked})
    if record:
        beat(runner, started=now, counts=worked, error="; ".join(errors))
    return results


def beat(runner: str, *, started: dt.datetime, counts: dict, error: str = "") -> None:
    SweepHeartbeat.objects.update_or_create(
        name=runner,
        defaults={
            "last_started_at": started,
            "last_completed_at": timezone.now(),
            "last_counts": counts,
            "last_error": error,
        },
    )
