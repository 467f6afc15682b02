"""The lifecycle clock: how meetings open within seconds of ``start_time`` although django-q2 looks at its
schedules only every 30 s.

The choice: one django-q2 schedule, ``lifecycle-clock``, fires every minute and runs :func:`run_clock`, which polls
the time-critical sweeps (open, links, close, delivery) once a second for ``CLOCK_SECONDS``. A sweep with nothing
due costs one indexed ``EXISTS`` query (see core.sweeping), so polling is cheaper and simpler than computing
and sleeping until the next due moment, and it also sees meetings created a second ago.

Why 100 s: the scheduler fires a minutely schedule 0–30 s after its due time, so two consecutive clock runs can
start up to 90 s apart; running 100 s makes them overlap rather than leave a gap. While they overlap two clocks poll;
that is harmless because every sweep claims with compare-and-set / SKIP LOCKED and is idempotent. Several
``qcluster`` processes on several hosts are safe for the same reason, and on PostgreSQL the schedule itself fires
once (django-q2 locks the schedule row). ``Q_CLUSTER["timeout"]`` (120 s) is above ``CLOCK_SECONDS`` and
``retry`` (180 s) above ``timeout``, so the ORM broker never hands a running clock to a second worker.

Delivery has a clock of its own (``delivery-clock``, :func:`core.tasks.delivery_clock`: the delivery sweep alone,
every DELIVERY_TICK_SECONDS), so a backlog of 50,000 personal links being sent never delays the next open or close
by the time its calls take; two clocks delivering at once share the outbox through the claim (SKIP LOCKED).

Lateness budget: at most one tick (1 s) plus the sweep's own work, so p99 ≤ 5 s holds with room to spare while the
cluster runs; ``make bench`` (B5) measures it with a real qcluster.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from django.db import close_old_connections, connection
from django.utils import timezone

from core.runner import beat, run_sweeps, time_critical

logger = logging.getLogger("classroom.clock")

CLOCK_SECONDS = 100
TICK_SECONDS = 1.0
DELIVERY_TICK_SECONDS = 0.25
HEARTBEAT_EVERY_SECONDS = 10


def run_clock(
    *,
    seconds: float = CLOCK_SECONDS,
    tick: float = TICK_SECONDS,
    now=timezone.now,
    sleep=time.sleep,
    monotonic=time.monotonic,
    names: tuple[str, ...] | None = None,
    runner: str = "clock",
) -> Counter:
    """Poll the time-critical sweeps every ``tick`` seconds for ``seconds``. ``now``, ``sleep`` and ``monotonic``
    are injectable so tests drive it without waiting."""
    totals: Counter = Counter()
    deadline = monotonic() + seconds
    last_beat = None
    ticks = 0
    while True:
        started = monotonic()
        results = run_sweeps(now(), names=names or time_critical(), runner=runner, record=False)
        for name, counts in results.items():
            totals.update({f"{name}.{key}": value for key, value in counts.items()})
        ticks += 1
        if last_beat is None or started - last_beat >= HEARTBEAT_EVERY_SECONDS:
            beat(runner, started=now(), counts={"ticks": ticks})
            last_beat = started
        # A connection dropped by a database restart is replaced on the next tick instead of failing every tick.
        # (Not inside an outer transaction: that only happens in tests, and closing would end the test's transaction.)
        if not connection.in_atomic_block:
            close_old_connections()
        remaining = deadline - monotonic()
        if remaining <= 0:
            break
        sleep(max(0.0, min(tick - (monotonic() - started), remaining)))
    totals["ticks"] = ticks
    return totals
