"""django-q2 task entry points (thin: they call the runner). Scheduled by ``manage.py setup_schedules``."""

from django.utils import timezone

from core.clock import DELIVERY_TICK_SECONDS, run_clock
from core.runner import run_sweeps


def clock():
    counts = run_clock()
    return dict(counts)


def delivery_clock():
    """The delivery sweep alone, every DELIVERY_TICK_SECONDS for CLOCK_SECONDS (core.clock)."""
    counts = run_clock(tick=DELIVERY_TICK_SECONDS, names=("deliver_notifications",), runner="delivery-clock")
    return dict(counts)


def maintenance():
    """Every sweep once: provisioning ahead, room ends and settlement retries, and a safety net for the clock."""
    results = run_sweeps(timezone.now(), runner="maintenance")
    return {name: dict(counts) for name, counts in results.items() if counts}
