"""The delivery sweep: the only code that sends messages.

Rows are claimed in a short transaction that also pushes ``next_attempt_at`` forward by a lease and counts the
attempt; the sending happens outside any transaction; the result is stored afterwards. A worker that dies between
claim and result leaves the row to be retried when the lease runs out, with the same ``retry_key``, which LINE
answers with 409 if it had already accepted it (no duplicate).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections import Counter
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F

from notifications.models import Notification

logger = logging.getLogger("classroom.notifications")
State = Notification.State
DELIVERY_LEASE = dt.timedelta(minutes=2)
MAX_BACKOFF = dt.timedelta(hours=1)


@dataclass
class Result:
    """What a channel says about one row."""

    ok: bool
    error: str = ""
    permanent: bool = False
    skipped: bool = False
    retry_after: float | None = None
    provider_message_id: str = ""


class LogChannel:
    """The demo channel: the message goes to the log and counts as sent."""

    def send(self, rows: list[Notification]) -> dict[int, Result]:
        for row in rows:
            logger.info(
                "message",
                extra={
                    "channel": "log",
                    "kind": row.kind,
                    "to": row.address or row.dedupe_key,
                    "meeting_id": row.meeting_id,
                    "text": row.payload.get("text", ""),
                },
            )
        return {row.pk: Result(ok=True) for row in rows}


class EmailChannel:
    def send(self, rows: list[Notification]) -> dict[int, Result]:
        results = {}
        for row in rows:
            try:
                subject = row.get_kind_display().capitalize()
                send_mail(subject, row.payload.get("text", ""), settings.DEFAULT_FROM_EMAIL, [row.address])
                results[row.pk] = Result(ok=True)
            except Exception as exc:  # SMTP errors are many types; all are worth retrying
                results[row.pk] = Result(ok=False, error=f"e-mail: {exc}")
        return results


def channels() -> dict:
    from integrations.line.channel import LineMessagingChannel

    return {
        Notification.Channel.LOG: LogChannel(),
        Notification.Channel.EMAIL: EmailChannel(),
        Notification.Channel.LINE: LineMessagingChannel(),
    }


def backoff(attempts: int, retry_after: float | None = None) -> dt.timedelta:
    """Exponential with full jitter, at least what the service asked for (Retry-After)."""
    ceiling = min(MAX_BACKOFF.total_seconds(), 10 * 2 ** min(attempts, 12))
    delay = random.uniform(ceiling / 2, ceiling)
    return dt.timedelta(seconds=max(delay, retry_after or 0))


def claim(now: dt.datetime, limit: int) -> list[Notification]:
    with transaction.atomic():
        rows = list(
            Notification.objects.filter(state=State.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True, no_key=True)[:limit]
        )
        if rows:
            Notification.objects.filter(pk__in=[r.pk for r in rows]).update(
                next_attempt_at=now + DELIVERY_LEASE, attempts=F("attempts") + 1
            )
            for row in rows:
                row.attempts += 1
    return rows


def store_results(rows: list[Notification], results: dict[int, Result], now: dt.datetime) -> Counter:
    counts: Counter = Counter()
    failed_for_good = []
    for row in rows:
        result = results.get(row.pk) or Result(ok=False, error="the channel returned no result")
        pending = Notification.objects.filter(pk=row.pk, state=State.PENDING)
        if result.ok:
            pending.update(state=State.SENT, sent_at=now, last_error="", provider_message_id=result.provider_message_id)
            counts["sent"] += 1
        elif result.skipped:
            pending.update(state=State.SKIPPED, last_error=result.error[:2000])
            counts["skipped"] += 1
        elif result.permanent or row.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
            reason = result.error if result.permanent else f"gave up after {row.attempts} attempts: {result.error}"
            pending.update(state=State.FAILED, last_error=reason[:2000])
            failed_for_good.append((row, reason))
            counts["failed"] += 1
        else:
            pending.update(
                next_attempt_at=now + backoff(row.attempts, result.retry_after), last_error=result.error[:2000]
            )
            counts["retrying"] += 1
    if failed_for_good:
        alert_staff(failed_for_good, now)
    return counts


def alert_staff(failures: list[tuple[Notification, str]], now: dt.datetime) -> None:
    """One alert per failed notification (the outbox's unique key keeps it to one)."""
    from notifications import outbox

    rows = []
    for row, reason in failures:
        if row.kind == Notification.Kind.DELIVERY_FAILED:
            continue  # never alert about an alert
        logger.error("notification failed permanently", extra={"notification_id": row.pk, "reason": reason})
        for recipient in outbox.staff():
            rows.append(
                outbox.message(
                    Notification.Kind.DELIVERY_FAILED,
                    recipient,
                    now=now,
                    dedupe_suffix=f":n{row.pk}",
                    context={"attempts": row.attempts, "reason": reason, "notification_id": row.pk},
                )
            )
    outbox.enqueue(rows)


def deliver_notifications(now: dt.datetime, *, batch_size: int | None = None) -> Counter:
    counts: Counter = Counter()
    available = channels()
    size = batch_size or settings.SWEEP_BATCH_SIZE
    while True:
        rows = claim(now, size)
        if not rows:
            break
        by_channel: dict[str, list[Notification]] = {}
        for row in rows:
            by_channel.setdefault(row.channel, []).append(row)
        for channel, group in by_channel.items():
            try:
                results = available[channel].send(group)
            except Exception as exc:  # a bug or an outage in one channel must not stop the others
                logger.exception("channel failed", extra={"channel": channel})
                results = {row.pk: Result(ok=False, error=f"{channel}: {exc}") for row in group}
            counts.update(store_results(group, results, now))
    return counts
