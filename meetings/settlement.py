"""Settlement, the close path's second step: was the teacher there (``meetings.verdict``), what they are paid, and
whether staff must review the class. Retried until it succeeds; a failure never reopens or blocks the close.

One transaction per batch stores each meeting's verdict and its evidence, creates its one payout and, when the
teacher was not (provably) there or a student complained, puts the meeting in the review queue with the payout held
and alerts staff once. The same statements serve one meeting or five hundred (the close burst at the top of the
hour). Meetings whose evidence is all in our database are settled inside the transaction that claims them; the
others need the provider's report, asked for outside any transaction under a lease (``meetings.outside_calls``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from django.db import connection, transaction
from django.db.models import Count

from bookings import transitions as booking_transitions
from bookings.models import Booking
from core import audit
from core.sweeping import apply_or_one_by_one, claim_batches
from integrations.video import PROVIDERS, provider_class
from meetings.models import Meeting
from meetings.outside_calls import (
    call_failed,
    failure_recorder,
    give_back,
    lease_batches,
    lease_free,
    not_backing_off,
)
from meetings.verdict import verify_attendance, verify_attendance_many
from notifications import outbox

logger = logging.getLogger("classroom.attendance")
State = Meeting.State


def settle(meeting: Meeting, *, now: dt.datetime) -> str:
    """One meeting's attendance and revenue step (a manual close, tests). Returns what happened: "present",
    "absent" or "unknown", with ", no payout" when nobody paid; "already settled" when there was nothing to do.

    The verdict (``meetings.verdict``) may call the video provider, so it is computed before the transaction. Then,
    under the meeting's row lock and only if it is still unsettled (two workers settling at once: the second finds
    it settled and changes nothing; the payout's unique meeting column backs this up), one transaction stores the
    verdict and its evidence, creates the one payout and, when the teacher was not (provably) there or a student
    complained, puts the meeting in the review queue with the payout held and alerts staff once. Anything raised
    here rolls all of it back; the sweep records the failure on the meeting and the next sweep tries again.
    """
    meeting = Meeting.objects.select_related("teacher", "course").get(pk=meeting.pk)
    if meeting.state != Meeting.State.CLOSED or meeting.settled_at is not None:
        return "already settled"
    found = verify_attendance(meeting, now=now)
    outcomes = _settle_locked([meeting.pk], now=now, verdicts={meeting.pk: found}, skip_locked=False)
    return outcomes.get(meeting.pk, "already settled")


def settle_batch(meeting_ids, *, now: dt.datetime, verdicts: dict | None = None) -> dict[int, str]:
    """``settle`` for a batch, in one transaction (the ``settle_closed_meetings`` sweep). ``verdicts``: computed
    beforehand, outside any transaction, when the evidence needs an outside call; None: the evidence is all in our
    database (``VideoProvider.evidence_is_local``) and is read here, under the lock. Meetings another worker holds
    (``SKIP LOCKED``) or that are settled already are left out. Returns {meeting id: outcome} of those settled here;
    raises (rolling the whole batch back) if any of them fails, so the caller can retry them one by one."""
    return _settle_locked(list(meeting_ids), now=now, verdicts=verdicts, skip_locked=True)


def settle_claimed(meetings: list[Meeting], *, now: dt.datetime) -> dict[int, str]:
    """``settle_batch`` for meetings the caller already claimed: closed, unsettled, with teacher and course, read
    and row-locked (``FOR NO KEY UPDATE SKIP LOCKED``) in the caller's transaction, and with local evidence only."""
    return _settle_locked(meetings, now=now, verdicts=None, skip_locked=True)


# The meeting fields a settlement writes.
SETTLED_FIELDS = [
    "attendance_verdict",
    "teacher_attended_seconds",
    "attendance_source",
    "attendance_evidence",
    "settled_at",
    "requires_manual_review",
    "review_reason",
    "review_state",
]


def _settle_locked(meetings: list, *, now: dt.datetime, verdicts: dict | None, skip_locked: bool):
    """Lock the still-unsettled meetings and settle them: the same statements for one meeting or five hundred.
    ``meetings``: ids to lock, or Meeting rows already locked by the caller's transaction."""
    outcomes: dict[int, str] = {}
    logged = []
    with transaction.atomic():
        if meetings and not isinstance(meetings[0], Meeting):
            meetings = list(
                Meeting.objects.select_for_update(no_key=True, skip_locked=skip_locked, of=("self",))
                .select_related("teacher", "course")
                .filter(pk__in=meetings, state=Meeting.State.CLOSED, settled_at__isnull=True)
                .order_by("pk")
            )
        if not meetings:
            return outcomes
        if verdicts is None:
            verdicts = verify_attendance_many(meetings, now=now)
        for meeting in meetings:
            if isinstance(verdicts[meeting.pk], Exception):
                raise verdicts[
                    meeting.pk
                ]  # its provider call failed (not as unreachable): the caller retries one by one
        held = [m for m in meetings if verdicts[m.pk].verdict == Meeting.Verdict.PRESENT]
        no_shows = booking_transitions.mark_student_no_shows(held, now=now)
        # Per meeting: what its payout is computed on (completed bookings, absent students' share) and complaints.
        gross_of = booking_transitions.payable_gross(meetings)
        complaints_of = dict(
            Booking.objects.filter(
                meeting_id__in=[m.pk for m in meetings],
                has_complaint=True,
                status__in=[Booking.Status.COMPLETED, *Booking.CHARGED_ABSENT],
            )
            .order_by()
            .values("meeting_id")
            .annotate(complaints=Count("pk"))
            .values_list("meeting_id", "complaints")
        )
        payouts, history, alerts = [], [], []
        for meeting in meetings:
            found = verdicts[meeting.pk]
            gross, complaints = gross_of.get(meeting.pk), complaints_of.get(meeting.pk, 0)
            review_reason = found.review_reason or ("student complaint" if complaints else "")
            seconds = "?" if found.seconds is None else f"{found.seconds} s"
            summary = f"teacher {found.verdict} ({seconds}, {found.source}; policy v{meeting.policy_id})"
            if no_shows.get(meeting.pk):
                summary += f"; {no_shows[meeting.pk]} student no-show(s)"
            meeting.attendance_verdict = found.verdict
            meeting.teacher_attended_seconds = found.seconds
            meeting.attendance_source = found.source
            meeting.attendance_evidence = found.evidence
            meeting.settled_at = now
            if gross is None:
                # Nobody paid, so there is nothing to pay out or refund and nothing for staff to decide.
                outcome, review_reason = f"{found.verdict}, no payout", ""
                summary += "; no completed bookings: no payout"
            else:
                outcome = found.verdict
                payouts.append(
                    booking_transitions.PayoutOrder(
                        meeting, gross, meeting.teacher.commission_rate_under(meeting.rules), review_reason
                    )
                )
            history += audit.entries(
                Meeting,
                [(meeting.pk, Meeting.Verdict.UNVERIFIED, meeting.pk)],
                to_state=found.verdict,
                at=now,
                field="attendance",
                reason=summary,
                data={"seconds": found.seconds, "source": found.source},
            )
            if review_reason:
                meeting.requires_manual_review = True
                meeting.review_reason = review_reason
                meeting.review_state = Meeting.ReviewState.AWAITING
                history += audit.entries(
                    Meeting,
                    [(meeting.pk, Meeting.ReviewState.NONE, meeting.pk)],
                    to_state=Meeting.ReviewState.AWAITING,
                    at=now,
                    field="review_state",
                    reason=review_reason,
                )
                alerts += outbox.staff_alerts(
                    outbox.Notification.Kind.TEACHER_NO_SHOW,
                    now=now,
                    meeting=meeting,
                    context={"reason": review_reason},
                )
            outcomes[meeting.pk] = outcome
            logged.append((meeting.pk, outcome, review_reason))
        booking_transitions.create_payouts(payouts, now=now)
        _store_settled(meetings)
        audit.write(history)
        outbox.enqueue(alerts)
    for meeting_id, outcome, review_reason in logged:
        logger.info("settled", extra={"meeting_id": meeting_id, "outcome": outcome, "review_reason": review_reason})
    return outcomes


def _store_settled(meetings: list[Meeting]) -> None:
    """Write ``SETTLED_FIELDS`` of locked meetings. On PostgreSQL: one ``UPDATE ... FROM (VALUES ...)`` per thousand
    rows, because Django's ``bulk_update`` builds a ``CASE`` expression per row and field in Python, which was most
    of a 500-meeting batch's time. Values go through each field's own ``get_db_prep_save`` (JSON, time zones) and
    are cast to the column types (``VALUES`` alone would guess text). SQLite (the demo, tests) keeps ``bulk_update``:
    ``UPDATE ... FROM`` needs SQLite 3.33, newer than Django requires."""
    fields = [Meeting._meta.get_field(name) for name in SETTLED_FIELDS]
    if connection.vendor != "postgresql":
        Meeting.objects.bulk_update(meetings, SETTLED_FIELDS)
        return
    quote = connection.ops.quote_name
    table, pk = quote(Meeting._meta.db_table), Meeting._meta.pk
    assignments = ", ".join(
        f"{quote(f.column)} = v.column{n + 2}::{f.db_type(connection)}" for n, f in enumerate(fields)
    )
    placeholders = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    for start in range(0, len(meetings), 1000):
        chunk = meetings[start : start + 1000]
        params = []
        for meeting in chunk:
            params.append(meeting.pk)
            params += [f.get_db_prep_save(getattr(meeting, f.attname), connection) for f in fields]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([placeholders] * len(chunk))}) AS v "
                f"WHERE {table}.{quote(pk.column)} = v.column1::{pk.db_type(connection)}",
                params,
            )


def settle_closed_meetings(now: dt.datetime, *, only_ids=None) -> Counter:
    """The close path's second step (attendance verdict and revenue), retried until it succeeds; a failure never
    reopens or blocks the close itself.

    Settled a batch at a time, in a constant number of statements per batch (the close burst at the top of the hour
    is thousands of meetings). Meetings whose evidence is all in our database (no room, or a provider with
    ``evidence_is_local``) are claimed ``SWEEP_BATCH_SIZE`` at a time and judged and settled in the claiming
    transaction. The others need the provider's report: they are leased a few at a time, the provider is asked
    outside any transaction, and the batch is then settled in one transaction. Either way a batch that raises is
    retried one meeting at a time, so the meeting at fault records its failure and backs off alone."""
    local = ["", *(name for name in PROVIDERS if provider_class(name).evidence_is_local)]
    due = Meeting.objects.filter(state=State.CLOSED, settled_at__isnull=True).select_related("teacher", "course")

    def due_local():
        queryset = not_backing_off(due.filter(room_provider__in=local), now).filter(lease_free(now))
        if only_ids is not None:
            queryset = queryset.filter(pk__in=only_ids)
        return queryset.order_by("closed_at")

    def settle_local(batch):
        settled = settle_claimed(batch, now=now)
        give_back([m.pk for m in batch], "settle")
        return Counter(settled.values())

    counts = claim_batches(
        "settle_closed_meetings", due_local, settle_local, on_failure=failure_recorder("settle", now)
    )
    counts.update(_settle_remote(due.exclude(room_provider__in=local).order_by("closed_at"), now, only_ids))
    return counts


def _settle_remote(queryset, now: dt.datetime, only_ids) -> Counter:
    """Leased batches: the providers' reports outside any transaction, then one settling transaction per batch."""

    counts: Counter = Counter()
    # Meetings another worker holds locked right now: left to the next sweep instead of leased again at once.
    skipped: set[int] = set()
    for batch in lease_batches(queryset, now, only_ids, exclude=skipped):
        try:
            verdicts = verify_attendance_many(batch, now=now)
        except Exception as exc:  # reading our own sessions failed: the whole batch backs off
            verdicts = dict.fromkeys((m.pk for m in batch), exc)
        for meeting_id, found in list(verdicts.items()):
            # A provider call that failed other than as unreachable (that is a verdict: unknown) fails its meeting.
            if isinstance(found, Exception):
                call_failed(meeting_id, now, "settle", found)
                counts["failed"] += 1
                del verdicts[meeting_id]
        results, failed = apply_or_one_by_one(
            "settle_closed_meetings",
            [m for m in batch if m.pk in verdicts],
            lambda meetings, verdicts=verdicts: settle_batch([m.pk for m in meetings], now=now, verdicts=verdicts),
            on_failure=failure_recorder("settle", now),
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
        give_back([m.pk for m in ready], "settle")
    return counts
