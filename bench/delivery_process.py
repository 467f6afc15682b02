"""One delivery worker in a fresh process (B4b, B4c and the delivery memory figure of ``make bench``): deliver the
pending outbox until the rows of the given meetings are all settled, then print one JSON line (seconds, counts, peak
RSS). The caller sets LINE_* and DELIVERY_* in the environment and counts this process's database connections.

python -m bench.delivery_process <first meeting id> <last meeting id> <timeout seconds> [<start at, epoch s>]

With a start moment, the worker waits for it after start-up, so several workers begin together and the run's
time is from that moment to the last worker's end (``ended_at``).
"""

import json
import os
import resource
import sys
import time
from collections import Counter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.utils import timezone  # noqa: E402

from integrations.line import channel  # noqa: E402
from notifications import delivery  # noqa: E402
from notifications.delivery import deliver_notifications  # noqa: E402
from notifications.models import Notification  # noqa: E402

PHASES: Counter = Counter()  # seconds spent in each step of the sweep, to say where the time goes


def _timed_phases() -> None:
    """Wrap the sweep's steps with timers (the calling thread's time in each: claim, pin, calls, store)."""

    def wrap(owner, name, label):
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                PHASES[label] += time.perf_counter() - started

        setattr(owner, name, timed)

    wrap(delivery, "claim", "claim")
    wrap(delivery, "store_results", "store results")
    wrap(channel, "plan_batches", "pin batches")
    wrap(channel.LineMessagingChannel, "call_all", "HTTP calls (threads)")
    wrap(channel.LineMessagingChannel, "send", "channel send (all)")


if __name__ == "__main__":
    _timed_phases()
    first, last, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    if len(sys.argv) > 4:
        time.sleep(max(0.0, float(sys.argv[4]) - time.time()))
    mine = Notification.objects.filter(meeting_id__gte=first, meeting_id__lte=last, state="pending")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    counts: Counter = Counter()
    started = time.perf_counter()
    deadline = started + timeout
    while mine.exists() and time.perf_counter() < deadline:
        done = deliver_notifications(timezone.now())
        counts.update(done)
        if not done:
            time.sleep(0.2)  # rows waiting for a retry time: look again shortly
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "ended_at": time.time(),
                "counts": dict(counts),
                "left_pending": mine.count(),
                "peak_rss_kb": peak,
                "rss_before_kb": before,
                "phases": {k: round(v, 2) for k, v in PHASES.items()},
                "cpu_seconds": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2),
            }
        )
    )
