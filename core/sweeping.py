"""Claiming due rows in bounded batches: the engine under every sweep.

Locks are ``FOR NO KEY UPDATE`` of the claimed table only (``no_key=True``, ``of=("self",)``): a plain ``FOR UPDATE``
also blocks the ``FOR KEY SHARE`` lock that PostgreSQL's foreign-key check takes when another sweep inserts an outbox
or history row pointing at the same meeting or student, and two sweeps doing that to each other deadlock (seen with
four processes closing and sending feedback links at once). We never change primary keys, so NO KEY is enough.

``claim_batches`` repeatedly takes up to ``SWEEP_BATCH_SIZE`` due rows with ``SELECT ... FOR UPDATE SKIP LOCKED``
(PostgreSQL: concurrent sweepers split the due set instead of queueing behind each other; on SQLite the IMMEDIATE
transaction serializes them) and applies one batch function to them inside that transaction, until no due row is
left. A batch that raises is retried row by row in savepoints, so one bad row fails alone: it is reported through
``on_failure`` (which records it and backs it off) and left out for the rest of the run, and the sweep never
crash-loops on it.

``delete_expired`` is the other kind of sweep: rows whose time is up are deleted, in bounded batches.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable

from django.conf import settings
from django.db import models, transaction

logger = logging.getLogger("classroom.sweeps")


def claim_batches(
    name: str,
    queryset: Callable[[], models.QuerySet],
    apply: Callable[[list], Counter | dict],
    *,
    on_failure: Callable[[models.Model, Exception], None],
    batch_size: int | None = None,
    budget_seconds: float | None = None,
    monotonic=time.monotonic,
) -> Counter:
    """Claim and apply batches until none is due; with ``budget_seconds``, stop claiming once that much time has
    passed (what is left is the next tick's: the clock's other sweeps, the opens and closes, do not wait)."""
    size = batch_size or settings.SWEEP_BATCH_SIZE
    deadline = None if budget_seconds is None else monotonic() + budget_seconds
    counts: Counter = Counter()
    # A plain read first: when nothing is due (most seconds) no transaction is opened, which on SQLite means the
    # database's write lock is not taken by a sweep that has nothing to write.
    if not queryset().exists():
        return counts
    failed: set[int] = set()
    while deadline is None or monotonic() < deadline:
        with transaction.atomic():
            batch = list(
                queryset().exclude(pk__in=failed).select_for_update(skip_locked=True, of=("self",), no_key=True)[:size]
            )
            if not batch:
                break
            results, failed_now = apply_or_one_by_one(name, batch, apply, on_failure=on_failure)
            for result in results:
                counts.update(result)
            if failed_now:
                failed |= failed_now
                counts["failed"] += len(failed_now)
    return counts


def apply_or_one_by_one(
    name: str, batch: list, apply: Callable[[list], object], *, on_failure: Callable[[models.Model, Exception], None]
) -> tuple[list, set[int]]:
    """``apply(batch)`` in a savepoint (a transaction when none is open); if it raises, ``apply([row])`` for each
    row in its own, so one bad row fails alone and is reported through ``on_failure``. Returns (what each
    successful call returned, the ids of the rows that failed)."""
    try:
        with transaction.atomic():
            return [apply(batch)], set()
    except Exception:
        logger.warning(
            "sweep batch failed; retrying its rows one by one", exc_info=True, extra={"sweep": name, "rows": len(batch)}
        )
    results, failed = [], set()
    for row in batch:
        try:
            with transaction.atomic():
                results.append(apply([row]))
        except Exception as exc:
            failed.add(row.pk)
            logger.exception("sweep row failed", extra={"sweep": name, "row": row.pk})
            on_failure(row, exc)
    return results, failed


def delete_expired(model: type[models.Model], now: dt.datetime) -> Counter:
    """Delete the rows of ``model`` whose ``expires_at`` is at or before ``now``, ``SWEEP_BATCH_SIZE`` at a time.
    Returns how many under "expired" (an empty Counter when none was due)."""
    counts: Counter = Counter()
    while True:
        ids = list(model.objects.filter(expires_at__lte=now).values_list("pk", flat=True)[: settings.SWEEP_BATCH_SIZE])
        if not ids:
            return counts
        counts["expired"] += model.objects.filter(pk__in=ids, expires_at__lte=now).delete()[0]
