"""A meeting's steps that call the video provider (provisioning and ending its room, a remote attendance report):
leased to one worker, made outside any transaction, and, when they fail, recorded on the meeting and backed off.

* A worker leases a few due meetings (``lease_until``) in a short transaction, makes the call for each outside any
  transaction, and gives the lease back. A worker that dies mid-call leaves a lease that runs out; the next sweep
  tries again, and the steps are written to be safe to repeat.
* A failure is recorded on the meeting as "<step>: <error>" with ``retry_at`` pushed back (``failure_backoff``: 15 s,
  doubling, at most 15 min). Only that step waits: a room that cannot be made must not hold back the open or the
  close, so every due query asks ``not_backing_off(..., step)``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from django.db import transaction
from django.db.models import F, Q

from core.backoff import backoff
from meetings.models import Meeting

logger = logging.getLogger("classroom.sweeps")


MAX_BACKOFF = dt.timedelta(minutes=15)


def failure_backoff(failures: int) -> dt.timedelta:
    """How long a step that already failed ``failures`` times waits before its next try: 15 s, doubling, at most
    MAX_BACKOFF, exactly (a meeting's steps here; an appointment's links in ``bookings.sweeps``)."""
    return dt.timedelta(seconds=backoff(failures, base=15, cap=MAX_BACKOFF.total_seconds(), jitter=False))


def record_failure(meeting_id: int, *, now: dt.datetime, step: str, error: Exception | str) -> None:
    """Remember the failure on the meeting and push its next attempt back (exponential, at most 15 min), so one bad
    meeting neither blocks its batch nor makes every sweep fail on it again at once."""
    meeting = Meeting.objects.filter(pk=meeting_id).values("failure_count").first()
    if meeting is None:
        return
    wait = failure_backoff(meeting["failure_count"])
    message = f"{step}: {error}"[:2000]
    Meeting.objects.filter(pk=meeting_id).update(
        last_error=message,
        last_error_at=now,
        retry_at=now + wait,
        failure_count=F("failure_count") + 1,
        lease_until=None,
    )
    logger.warning(
        "meeting step failed",
        extra={
            "meeting_id": meeting_id,
            "step": step,
            "error": str(error),
            "retry_in_seconds": wait.total_seconds(),
        },
    )


# Meetings claimed at once for outside calls; small, so a lease outlives the calls made under it.
OUTSIDE_CALL_BATCH = 10
OUTSIDE_CALL_LEASE = dt.timedelta(minutes=5)


def failure_recorder(step: str, now: dt.datetime):
    """The ``on_failure`` of a claiming sweep (``core.sweeping``): the meeting records the failure of ``step``."""
    return lambda meeting, exc: record_failure(meeting.pk, now=now, step=step, error=exc)


def not_backing_off(queryset, now: dt.datetime, step: str | None = None):
    """Leave out meetings waiting out a failure's backoff; with ``step``, only a failure of that step (record_failure
    writes "step: error"): a room that cannot be made must not hold back the open or the close."""
    if step is None:
        return queryset.exclude(retry_at__gt=now)
    return queryset.exclude(retry_at__gt=now, last_error__startswith=f"{step}:")


def lease_free(now: dt.datetime) -> Q:
    """Meetings no worker holds right now (never leased, or the lease ran out: its worker died mid-call)."""
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def lease_batches(queryset, now: dt.datetime, only_ids=None, exclude: set[int] | None = None):
    """Yield due meetings a few at a time, each batch leased to this worker in its own short transaction, so the
    outside calls made for it run outside any transaction. ``exclude`` may grow between batches."""
    queryset = not_backing_off(queryset, now).filter(lease_free(now))
    if only_ids is not None:
        queryset = queryset.filter(pk__in=only_ids)
    while True:
        with transaction.atomic():
            batch = list(
                queryset.exclude(pk__in=exclude or ()).select_for_update(skip_locked=True, of=("self",), no_key=True)[
                    :OUTSIDE_CALL_BATCH
                ]
            )
            if not batch:
                return
            Meeting.objects.filter(pk__in=[m.pk for m in batch]).update(lease_until=now + OUTSIDE_CALL_LEASE)
        yield batch


def call_each_leased(queryset, now: dt.datetime, step: str, call, only_ids=None) -> Counter:
    """Lease due meetings a few at a time, call the provider for each outside any transaction, record the result."""
    counts: Counter = Counter()
    for batch in lease_batches(queryset, now, only_ids):
        for meeting in batch:
            try:
                counts[call(meeting)] += 1
                give_back([meeting.pk], step)
            except Exception as exc:
                call_failed(meeting.pk, now, step, exc)
                counts["failed"] += 1
    return counts


def call_failed(meeting_id: int, now: dt.datetime, step: str, exc: Exception) -> None:
    """An outside call for the meeting failed: logged, recorded, backed off (the lease is given back with it)."""
    logger.warning("outside call failed", extra={"meeting_id": meeting_id, "step": step, "error": str(exc)})
    record_failure(meeting_id, now=now, step=step, error=exc)


def give_back(meeting_ids: list[int], step: str) -> None:
    """Give the leases back; clear a failure only if it was this step's (``record_failure`` writes "step: error"),
    so a settle that succeeds does not hide a room end that is still failing."""
    Meeting.objects.filter(pk__in=meeting_ids).update(lease_until=None)
    Meeting.objects.filter(pk__in=meeting_ids, last_error__startswith=f"{step}:").update(
        retry_at=None, last_error="", failure_count=0
    )
