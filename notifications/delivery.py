"""The delivery sweep: the only code that sends messages.

Rows are claimed in a short transaction that also pushes ``next_attempt_at`` forward by a lease and counts the
attempt; the sending happens outside any transaction; the result is stored afterwards. A worker that dies between
claim and result leaves the row to be retried when the lease runs out, with the same ``retry_key``, which LINE
answers with 409 if it had already accepted it (no duplicate).

LINE rows sent together are a *batch* (``line_batch_key``, see integrations/line/channel.py): the claim takes a
batch whole or not at all, and its rows get one result and one retry time, so a retry resends exactly the same set.
After NOTIFICATION_MAX_ATTEMPTS a row fails for good and staff get one alert per failure (its outbox key is unique).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, F, Value, When

from core import audit
from core.backoff import backoff
from notifications import outbox
from notifications.channels import Result, channels
from notifications.models import Notification

logger = logging.getLogger("classroom.notifications")
State = Notification.State
DELIVERY_LEASE = dt.timedelta(minutes=2)
MAX_BACKOFF = dt.timedelta(hours=1)


def retry_in(attempts: int, retry_after: float | None = None) -> dt.timedelta:
    """When a message that failed ``attempts`` times is tried again: from 10 s, doubling, with jitter, at most
    MAX_BACKOFF, and at least what the service asked for (Retry-After)."""
    seconds = backoff(attempts, base=10, cap=MAX_BACKOFF.total_seconds(), at_least=retry_after)
    return dt.timedelta(seconds=seconds)


def claim(now: dt.datetime, limit: int) -> list[Notification]:
    """Due rows, locked and leased. A LINE batch comes whole: its other rows are taken too, and a batch some of
    whose rows another worker holds right now is left for a later pass (half a batch would resend its key with a
    different set of recipients)."""
    pending = Notification.objects.filter(state=State.PENDING)
    with transaction.atomic():
        rows = list(
            pending.filter(next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True, no_key=True)[:limit]
        )
        batch_keys = {row.line_batch_key for row in rows if row.line_batch_key}
        if batch_keys:
            taken = {row.pk for row in rows}
            rows += [
                row
                for row in pending.filter(line_batch_key__in=batch_keys).select_for_update(
                    skip_locked=True, no_key=True
                )
                if row.pk not in taken
            ]
            sizes = dict(
                pending.filter(line_batch_key__in=batch_keys)
                .values_list("line_batch_key")
                .annotate(n=Count("id"))
                .values_list("line_batch_key", "n")
            )
            held = Counter(row.line_batch_key for row in rows if row.line_batch_key)
            partial = {key for key in batch_keys if held[key] < sizes.get(key, 0)}
            rows = [row for row in rows if row.line_batch_key not in partial]
        if rows:
            Notification.objects.filter(pk__in=[r.pk for r in rows]).update(
                next_attempt_at=now + DELIVERY_LEASE, attempts=F("attempts") + 1
            )
            for row in rows:
                row.attempts += 1
    return rows


def store_results(rows: list[Notification], results: dict[int, Result], now: dt.datetime) -> Counter:
    """Record each row's outcome (compare-and-set on ``pending``). Rows that share one Result object were one call
    (a LINE batch): they get one retry time, so they come due, and are retried, together."""
    counts: Counter = Counter()
    failed_for_good = []
    retry_at: dict[int, dt.datetime] = {}
    updates: dict[tuple, list[int]] = {}
    sent: list[tuple[int, str]] = []
    for row in rows:
        result = results.get(row.pk) or Result(ok=False, error="the channel returned no result")
        if result.ok:
            sent.append((row.pk, result.provider_message_id))
            counts["sent"] += 1
            continue
        elif result.skipped:
            outcome = "skipped"
            fields = {"state": State.SKIPPED, "last_error": result.error[:2000]}
        elif result.permanent or row.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
            reason = result.error if result.permanent else f"gave up after {row.attempts} attempts: {result.error}"
            outcome = "failed"
            fields = {"state": State.FAILED, "failed_at": now, "last_error": reason[:2000]}
            failed_for_good.append((row, reason))
        else:
            when = retry_at.setdefault(id(result), now + retry_in(row.attempts, result.retry_after))
            outcome = "retrying"
            fields = {"next_attempt_at": when, "last_error": result.error[:2000]}
        # Rows with the same new values are updated by one statement.
        updates.setdefault(tuple(sorted(fields.items())), []).append(row.pk)
        counts[outcome] += 1
    for values, ids in updates.items():
        Notification.objects.filter(pk__in=ids, state=State.PENDING).update(**dict(values))
    _store_sent(sent, now)
    if failed_for_good:
        _tell_staff_of_failures(failed_for_good, now)
    return counts


SENT_CHUNK = 1000


def _store_sent(sent: list[tuple[int, str]], now: dt.datetime) -> None:
    """Sent rows, each with its own provider message id (LINE's request id), with the compare-and-set on
    ``pending``, in bulk instead of one statement per row (50,000 personal pushes are 50,000 different ids): on
    PostgreSQL one ``UPDATE ... FROM unnest(ids, message ids)`` per SENT_CHUNK rows, elsewhere a ``CASE``."""
    table = Notification._meta.db_table
    for start in range(0, len(sent), SENT_CHUNK):
        chunk = sent[start : start + SENT_CHUNK]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} AS n SET state = %s, sent_at = %s, last_error = '', provider_message_id = s.mid "
                    "FROM unnest(%s::bigint[], %s::text[]) AS s(id, mid) WHERE n.id = s.id AND n.state = %s",
                    [State.SENT, now, [pk for pk, _ in chunk], [mid for _, mid in chunk], State.PENDING],
                )
            continue
        ids = {message_id for _, message_id in chunk}
        message_id = (
            Value(ids.pop())
            if len(ids) == 1
            else Case(*(When(pk=pk, then=Value(mid)) for pk, mid in chunk), default=Value(""))
        )
        Notification.objects.filter(pk__in=[pk for pk, _ in chunk], state=State.PENDING).update(
            state=State.SENT, sent_at=now, last_error="", provider_message_id=message_id
        )


def _tell_staff_of_failures(failures: list[tuple[Notification, str]], now: dt.datetime) -> None:
    """One alert per failure: rows that failed together for one reason (a class's multicast) make one alert, named
    after the lowest row; its outbox key is unique, so the alert is written once however often the sweep runs."""
    grouped: dict[tuple, list[Notification]] = {}
    for row, reason in failures:
        if row.kind == Notification.Kind.DELIVERY_FAILED:
            continue  # never alert about an alert
        grouped.setdefault((row.kind, row.meeting_id, reason), []).append(row)
    alerts = []
    for (kind, _meeting, reason), group in grouped.items():
        first = min(group, key=lambda r: r.pk)
        ids = str(first.pk) if len(group) == 1 else f"{first.pk} and {len(group) - 1} more"
        logger.error(
            "notification failed permanently",
            extra={"notification_id": first.pk, "count": len(group), "kind": kind, "reason": reason},
        )
        alerts += outbox.staff_alerts(
            Notification.Kind.DELIVERY_FAILED,
            now=now,
            dedupe_suffix=f":n{first.pk}",
            context={"attempts": first.attempts, "reason": reason, "notification_id": ids},
        )
    outbox.enqueue(alerts)


def retry_now(ids, now: dt.datetime, *, actor=None) -> int:
    """Staff's "retry now": failed rows go back to pending, due now, with a fresh attempt count, each with a history
    entry naming who asked. A row of a LINE batch takes its failed batch-mates along (a batch is only ever resent
    whole, with its key). Returns the count."""
    failed = Notification.objects.filter(state=State.FAILED)
    keys = failed.filter(pk__in=ids, line_batch_key__isnull=False).values_list("line_batch_key", flat=True)
    with transaction.atomic():
        chosen = failed.filter(pk__in=ids) | failed.filter(line_batch_key__in=list(keys))
        rows = list(chosen.select_for_update(no_key=True, of=("self",)).order_by("pk").values_list("pk", "meeting_id"))
        moved = Notification.objects.filter(pk__in=[pk for pk, _ in rows], state=State.FAILED).update(
            state=State.PENDING, next_attempt_at=now, attempts=0, failed_at=None
        )
        audit.record(
            Notification,
            [(pk, State.FAILED, meeting_id) for pk, meeting_id in rows],
            to_state=State.PENDING,
            at=now,
            actor=actor,
            reason="retry now",
        )
    return moved


def deliver_notifications(
    now: dt.datetime, *, batch_size: int | None = None, budget_seconds: float | None = None, monotonic=time.monotonic
) -> Counter:
    """Claim, send, store, until nothing is due or ``budget_seconds`` (DELIVERY_PASS_SECONDS) have passed: the rest
    is the next tick's, so the clock's opens and closes never wait behind a large backlog. A channel sends a claim's
    rows concurrently (LINE: integrations.line.channel); results are stored in bulk by the calling thread."""
    counts: Counter = Counter()
    available = channels()
    size = batch_size or settings.DELIVERY_BATCH_SIZE
    budget = settings.DELIVERY_PASS_SECONDS if budget_seconds is None else budget_seconds
    deadline = monotonic() + budget
    while monotonic() < deadline:
        rows = claim(now, size)
        if not rows:
            break
        by_channel: dict[str, list[Notification]] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row)
        for channel, group in by_channel.items():
            try:
                results = available[channel].send(group, now)
            except Exception as exc:  # a bug or an outage in one channel must not stop the others
                logger.exception("channel failed", extra={"channel": channel})
                failure = Result(ok=False, error=f"{channel}: {exc}")  # one object: one retry time for the group
                results = {row.pk: failure for row in group}
            counts.update(store_results(group, results, now))
    return counts
