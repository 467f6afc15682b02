"""Every sweep, in order (``settings.SWEEPS``), and the record of when they last ran (``SweepHeartbeat``), which
``/healthz`` and the admin's lifecycle page read."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import MutableMapping
from functools import cached_property

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.module_loading import import_string

from core.models import SweepHeartbeat

logger = logging.getLogger("classroom.sweeps")


class SweepRegistry(MutableMapping):
    """``settings.SWEEPS`` by name (the function's), in their order, each loaded on first use: the runner imports no
    app (config composes the system, as INSTALLED_APPS does), so no app imports the runner back. Entries can be
    replaced (a test puts a failing sweep in)."""

    @cached_property
    def _sweeps(self) -> dict:
        return {path.rpartition(".")[2]: import_string(path) for path in settings.SWEEPS}

    def __getitem__(self, name: str):
        return self._sweeps[name]

    def __setitem__(self, name: str, sweep) -> None:
        self._sweeps[name] = sweep

    def __delitem__(self, name: str) -> None:
        del self._sweeps[name]

    def __iter__(self):
        return iter(self._sweeps)

    def __len__(self) -> int:
        return len(self._sweeps)


SWEEPS = SweepRegistry()


def time_critical() -> tuple[str, ...]:
    """What the clock runs every second (``settings.CLOCK_SWEEPS``): the moments people notice."""
    return tuple(settings.CLOCK_SWEEPS)


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


def heartbeats() -> tuple[dt.datetime | None, dt.datetime | None]:
    """When any runner last completed a pass, and when the clock (the django-q2 cluster's task) last said it was
    alive: one query over the few heartbeat rows (one per runner), which /healthz asks on every probe."""
    beats = dict(
        SweepHeartbeat.objects.filter(last_completed_at__isnull=False).values_list("name", "last_completed_at")
    )
    return max(beats.values(), default=None), beats.get("clock")
