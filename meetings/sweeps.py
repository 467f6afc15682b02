"""The meeting sweeps: each ``sweep(now) -> counts`` claims what is due at ``now`` and applies one transition.

Run order (``meetings.runner.SWEEPS``) matters only for catch-up inside one run: the minimum-participants check
before opening, opening before closing (a meeting whose whole slot passed during downtime is opened quietly and then
closed by the normal close path in the same run).

Outside calls (provisioning and ending rooms, a remote provider's attendance report for settlement) are not made
inside a claiming transaction: a meeting is leased (``lease_until``) in a short transaction, the call is made, and
the result is stored with a compare-and-set. A worker that dies mid-call leaves a lease that expires; the next sweep
tries again. Settlement from evidence in our own database needs no outside call and is claimed like a transition.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from bookings.models import Booking
from core import audit
from core.sweeping import apply_or_one_by_one, claim_batches
from integrations.video import get_provider
from meetings import attendance, lifecycle
from meetings.models import Meeting

logger = logging.getLogger("classroom.sweeps")
State = Meeting.State
# Meetings claimed at once for outside calls; small, so a lease outlives the calls made under it.
OUTSIDE_CALL_BATCH = 10
OUTSIDE_CALL_LEASE = dt.timedelta(minutes=5)


def _failure(step: str, now: dt.datetime):
    return lambda meeting, exc: lifecycle.record_failure(meeting.pk, now=now, step=step, error=exc)


def _not_backing_off(queryset, now: dt.datetime, step: str | None = None):
    """Leave out meetings waiting out a failure's backoff; with ``step``, only a failure of that step (record_failure
    writes "step: error"): a room that cannot be made must not hold back the open or the close."""
    if step is None:
        return queryset.exclude(retry_at__gt=now)
    return queryset.exclude(retry_at__gt=now, last_error__startswith=f"{step}:")


def due_to_open(now: dt.datetime):
    """Scheduled meetings whose start has come (read through the partial index ``meeting_due_open``)."""
    return (
        _not_backing_off(Meeting.objects.filter(state=State.SCHEDULED, start_time__lte=now), now, "open")
        .select_related("teacher", "course")
        .order_by("start_time")
    )


def due_to_close(now: dt.datetime):
    """Open or running meetings whose close moment has come (partial index ``meeting_due_close``)."""
    close_before = now - dt.timedelta(minutes=settings.MEETING_AUTO_CLOSE_DELAY_MINUTES)
    return (
        _not_backing_off(
            Meeting.objects.filter(state__in=Meeting.ACTIVE_STATES, end_time__lte=close_before), now, "close"
        )
        .select_related("teacher")
        .order_by("end_time")
    )


def open_due_meetings(now: dt.datetime) -> Counter:
    def apply(batch):
        return {"opened": len(batch), "notifications": lifecycle.open_batch(batch, now=now)}

    return claim_batches("open_due_meetings", lambda: due_to_open(now), apply, on_failure=_failure("open", now))


def close_due_meetings(now: dt.datetime) -> Counter:
    def apply(batch):
        return {"closed": len(batch), "notifications": lifecycle.close_batch(batch, now=now)}

    return claim_batches("close_due_meetings", lambda: due_to_close(now), apply, on_failure=_failure("close", now))


def check_minimum_participants(now: dt.datetime) -> Counter:
    """At MIN_PARTICIPANTS_CHECK_MINUTES before start, a class with fewer confirmed bookings than its course minimum
    is cancelled and refunded. A check whose moment passed during downtime still runs until the class starts; after
    that the class is left to open (cancelling a class that has begun helps nobody) and the history says so."""
    horizon = now + dt.timedelta(minutes=settings.MIN_PARTICIPANTS_CHECK_MINUTES)

    def due():
        return (
            _not_backing_off(
                Meeting.objects.filter(
                    state=State.SCHEDULED, min_participants_checked_at__isnull=True, start_time__lte=horizon
                ),
                now,
                "min_participants",
            )
            .select_related("course")
            .order_by("start_time")
        )

    def apply(batch):
        confirmed = dict(
            Booking.objects.filter(meeting__in=batch, status=Booking.Status.CONFIRMED)
            .values_list("meeting_id")
            .annotate(n=Count("id"))
        )
        counts, passed, history = Counter(), [], []
        for meeting in batch:
            booked, minimum = confirmed.get(meeting.pk, 0), meeting.course.min_participants
            if meeting.start_time <= now:
                logger.warning(
                    "minimum-participants check missed until after start; not cancelling",
                    extra={"meeting_id": meeting.pk, "booked": booked, "minimum": minimum},
                )
                passed.append(meeting.pk)
                history += audit.entries(
                    Meeting,
                    [(meeting.pk, "", meeting.pk)],
                    to_state="skipped",
                    at=now,
                    field="min_participants",
                    reason="catch-up: the class had started before the check ran; not cancelled",
                )
                counts["skipped"] += 1
            elif booked < minimum:
                lifecycle.cancel_meeting(
                    meeting, now=now, reason=f"only {booked} of the minimum {minimum} students booked"
                )
                counts["cancelled"] += 1
            else:
                passed.append(meeting.pk)
                counts["passed"] += 1
        Meeting.objects.filter(pk__in=passed).update(min_participants_checked_at=now)
        audit.write(history)
        return counts

    return claim_batches("check_minimum_participants", due, apply, on_failure=_failure("min_participants", now))


# --- sweeps that call the video provider ------------------------------------------------------------------------------


def _lease_free(now: dt.datetime) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def _lease_batches(queryset, now: dt.datetime, only_ids=None, exclude: set[int] | None = None):
    """Yield due meetings a few at a time, each batch leased to this worker in its own short transaction, so the
    outside calls made for it run outside any transaction. ``exclude`` may grow between batches."""
    queryset = _not_backing_off(queryset, now).filter(_lease_free(now))
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


def _leased(queryset, now: dt.datetime, step: str, call, only_ids=None) -> Counter:
    """Lease due meetings a few at a time, call the provider for each outside any transaction, record the result."""
    counts: Counter = Counter()
    for batch in _lease_batches(queryset, now, only_ids):
        for meeting in batch:
            try:
                counts[call(meeting)] += 1
                _succeeded_many([meeting.pk], step)
            except Exception as exc:
                _outside_call_failed(meeting.pk, now, step, exc)
                counts["failed"] += 1
    return counts


def _outside_call_failed(meeting_id: int, now: dt.datetime, step: str, exc: Exception) -> None:
    logger.warning("outside call failed", extra={"meeting_id": meeting_id, "step": step, "error": str(exc)})
    lifecycle.record_failure(meeting_id, now=now, step=step, error=exc)


def _succeeded_many(meeting_ids: list[int], step: str) -> None:
    """Give the leases back; clear a failure only if it was this step's (``record_failure`` writes "step: error"),
    so a settle that succeeds does not hide a room end that is still failing."""
    Meeting.objects.filter(pk__in=meeting_ids).update(lease_until=None)
    Meeting.objects.filter(pk__in=meeting_ids, last_error__startswith=f"{step}:").update(
        retry_at=None, last_error="", failure_count=0
    )


def provision_rooms(now: dt.datetime, *, only_ids=None) -> Counter:
    """Meetings starting within ROOM_PROVISION_LOOKAHEAD_MINUTES (or already running) get a room."""
    horizon = now + dt.timedelta(minutes=settings.ROOM_PROVISION_LOOKAHEAD_MINUTES)
    due = (
        Meeting.objects.filter(
            state__in=[State.SCHEDULED, *Meeting.ACTIVE_STATES],
            room_provisioned_at__isnull=True,
            start_time__lte=horizon,
        )
        .select_related("course", "teacher")
        .order_by("start_time")
    )

    def call(meeting):
        provider = get_provider()
        room = provider.create_room(meeting, now=now)
        stored = Meeting.objects.filter(pk=meeting.pk, room_provisioned_at__isnull=True).update(
            room_provider=provider.name,
            room_name=room.name,
            room_external_id=room.external_id,
            room_join_url=room.join_url,
            room_host_url=room.host_url,
            room_password=room.password,
            room_data=room.data,
            room_provisioned_at=now,
        )
        return "provisioned" if stored else "already provisioned"

    return _leased(due, now, "provision room", call, only_ids)


def end_rooms(now: dt.datetime, *, only_ids=None) -> Counter:
    """Rooms of closed or cancelled meetings are ended for everyone; retried until the provider confirms."""
    due = Meeting.objects.filter(
        state__in=[State.CLOSED, State.CANCELLED], room_provisioned_at__isnull=False, room_ended_at__isnull=True
    )

    def call(meeting):
        get_provider(meeting.room_provider).end_room(meeting, now=now)
        Meeting.objects.filter(pk=meeting.pk, room_ended_at__isnull=True).update(room_ended_at=now)
        return "ended"

    return _leased(due, now, "end room", call, only_ids)


def settle_closed_meetings(now: dt.datetime, *, only_ids=None) -> Counter:
    """The close path's second step (attendance verdict and revenue), retried until it succeeds; a failure never
    reopens or blocks the close itself.

    Settled a batch at a time, in a constant number of statements per batch (the close burst at the top of the hour
    is thousands of meetings). Meetings whose evidence is all in our database (no room, or a provider with
    ``evidence_is_local``) are claimed ``SWEEP_BATCH_SIZE`` at a time and judged and settled in the claiming
    transaction. The others need the provider's report: they are leased a few at a time, the provider is asked
    outside any transaction, and the batch is then settled in one transaction. Either way a batch that raises is
    retried one meeting at a time, so the meeting at fault records its failure and backs off alone."""
    from integrations.video import PROVIDERS, provider_class

    local = ["", *(name for name in PROVIDERS if provider_class(name).evidence_is_local)]
    due = Meeting.objects.filter(state=State.CLOSED, settled_at__isnull=True).select_related("teacher", "course")

    def due_local():
        queryset = _not_backing_off(due.filter(room_provider__in=local), now).filter(_lease_free(now))
        if only_ids is not None:
            queryset = queryset.filter(pk__in=only_ids)
        return queryset.order_by("closed_at")

    def settle_local(batch):
        settled = attendance.settle_claimed(batch, now=now)
        _succeeded_many([m.pk for m in batch], "settle")
        return Counter(settled.values())

    counts = claim_batches("settle_closed_meetings", due_local, settle_local, on_failure=_failure("settle", now))
    counts.update(_settle_remote(due.exclude(room_provider__in=local).order_by("closed_at"), now, only_ids))
    return counts


def _settle_remote(queryset, now: dt.datetime, only_ids) -> Counter:
    """Leased batches: the providers' reports outside any transaction, then one settling transaction per batch."""
    from meetings.verdict import verify_attendance_many

    counts: Counter = Counter()
    # Meetings another worker holds locked right now: left to the next sweep instead of leased again at once.
    skipped: set[int] = set()
    for batch in _lease_batches(queryset, now, only_ids, exclude=skipped):
        try:
            verdicts = verify_attendance_many(batch, now=now)
        except Exception as exc:  # reading our own sessions failed: the whole batch backs off
            verdicts = dict.fromkeys((m.pk for m in batch), exc)
        for meeting_id, found in list(verdicts.items()):
            # A provider call that failed other than as unreachable (that is a verdict: unknown) fails its meeting.
            if isinstance(found, Exception):
                _outside_call_failed(meeting_id, now, "settle", found)
                counts["failed"] += 1
                del verdicts[meeting_id]
        results, failed = apply_or_one_by_one(
            "settle_closed_meetings",
            [m for m in batch if m.pk in verdicts],
            lambda meetings, verdicts=verdicts: attendance.settle_batch(
                [m.pk for m in meetings], now=now, verdicts=verdicts
            ),
            on_failure=_failure("settle", now),
        )
        if failed:
            counts["failed"] += len(failed)
        ready = [m for m in batch if m.pk in verdicts and m.pk not in failed]
        settled = {meeting_id: outcome for result in results for meeting_id, outcome in result.items()}
        counts.update(settled.values())
        # Settled meanwhile by someone else, or held by them right now (SKIP LOCKED): the lease is given back.
        left = [m.pk for m in ready if m.pk not in settled]
        skipped.update(left)
        if left:
            counts["already settled"] += len(left)
        _succeeded_many([m.pk for m in ready], "settle")
    return counts


def poll_room_attendance(now: dt.datetime) -> Counter:
    """The backup for lost webhooks (LiveKit drops them when its queue is full): for rooms that can hold people now
    (the teacher may enter before start) and whose provider can list who is in a room, record everyone present
    (source e.g. livekit_poll) and end the polled sessions of people no longer there.

    Read-only towards the meeting: no lease, no retry_at. A provider that cannot be reached is logged and skipped;
    recording a failure on the meeting would push back its close, which matters more than a missed poll."""
    from integrations.http import ProviderError
    from integrations.video import polling_providers

    providers = polling_providers()
    if not providers:
        return Counter()
    due = (
        Meeting.objects.filter(
            room_provider__in=providers, room_provisioned_at__isnull=False, room_ended_at__isnull=True
        )
        .filter(
            Q(state__in=Meeting.ACTIVE_STATES)
            | Q(
                state=State.SCHEDULED,
                start_time__lte=now + dt.timedelta(minutes=settings.TEACHER_EARLY_JOIN_MINUTES),
            )
        )
        .select_related("teacher")
        .order_by("start_time")
    )
    counts: Counter = Counter()
    for meeting in due.iterator(chunk_size=OUTSIDE_CALL_BATCH):
        provider = get_provider(meeting.room_provider)
        try:
            sessions = provider.live_sessions(meeting)
        except ProviderError as exc:
            logger.warning("attendance poll failed", extra={"meeting_id": meeting.pk, "error": str(exc)})
            counts["failed"] += 1
            continue
        counts["polled"] += 1
        counts.update(attendance.store_room_snapshot(meeting, sessions, source=provider.poll_source, now=now))
    return counts
