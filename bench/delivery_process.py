"""One delivery worker in a fresh process (B4b, B4c and the delivery memory figure of ``make bench``): deliver the
pending outbox until the rows of the given meetings are all settled, then print one JSON line (seconds, counts, peak
RSS). The caller sets LINE_* and DELIVERY_* in the environment and counts this process's database connections.

python -m bench.delivery_process <first meeting id> <last meeting id> <timeout seconds>
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

from notifications.delivery import deliver_notifications  # noqa: E402
from notifications.models import Notification  # noqa: E402

if __name__ == "__main__":
    first, last, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
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
                "counts": dict(counts),
                "left_pending": mine.count(),
                "peak_rss_kb": peak,
                "rss_before_kb": before,
            }
        )
    )
