"""Run one open sweep in a fresh process and report its peak RSS (the memory case of ``make bench``).

python -m bench.sweep_process 2026-07-01T12:00:00+00:00
"""

import datetime as dt
import json
import os
import resource
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from meetings.sweeps import open_due_meetings  # noqa: E402

if __name__ == "__main__":
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    counts = open_due_meetings(dt.datetime.fromisoformat(sys.argv[1]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_kb": peak, "rss_before_sweep_kb": before, "counts": dict(counts)}))
