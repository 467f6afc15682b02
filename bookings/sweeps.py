"""Link sweeps: each booked student gets the join link JOIN_LINK_LEAD_MINUTES before start and the feedback link
FEEDBACK_LINK_LEAD_MINUTES before end, exactly once.

Catch-up: a link whose moment passed while nothing ran is still sent while it is useful (the join link until the
late-join grace ends; the feedback link until FEEDBACK_LINK_USEFUL_HOURS after the end), and is otherwise marked
skipped with the reason. Either way the decision is in the history and the log.

Failures: a link that cannot be written (its batch is retried row by row, so only the faulty appointment fails)
backs off on its own appointment (``link_retry_at``), never on the meeting, whose room, close and settlement
must not wait for one student's link.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter, defaultdict

from django.conf import settings
from django.db.models import F

from bookings import links, transitions
from bookings.models import Appointment, Booking, Payout
from bookings.transitions import LinkState, link_dedupe_suffix, mark_links
from core.sweeping import claim_batches
from meetings.lifecycle import CATCH_UP_AFTER
from meetings.models import Meeting
from meetings.outside_calls import failure_backoff
from meetings.review import hold_for_review
from notifications import outbox

logger = logging.getLogger("classroom.sweeps")
State = Meeting.State
# The step each link's failures are recorded under ("join link: <error>" in ``Appointment.link_last_error``).
STEPS = {"join_link": "join link", "feedback_link": "feedback link"}


def _send_or_skip(which: str, batch: list[Appointment], now: dt.datetime, decide, url_for) -> Counter:
    """``decide(appointment) -> skip reason or None``. Sends (enqueues) the rest with ``url_for(appointment)``."""
    to_send, to_skip = [], defaultdict(list)
    for appointment in batch:
        reason = decide(appointment)
        if reason:
            to_skip[reason].append(appointment.pk)
        else:
            to_send.append(appointment)
    # Late means a sweep missed the moment, not that the student booked after it (then "now" is the first moment).
    late = {
        a.pk
        for a in to_send
        if now - max(getattr(a, f"{which}_due_at"), a.booking.confirmed_at or now) > CATCH_UP_AFTER
    }
    on_time = [a.pk for a in to_send if a.pk not in late]
    for ids, note in ((on_time, ""), (late, "catch-up: sent after its moment (no sweep ran in between)")):
        mark_links(Appointment.objects.filter(pk__in=ids), which, LinkState.SENT, now=now, note=note)
    reached = outbox.reach(a.student_id for a in to_send)
    outbox.enqueue(
        row
        for a in to_send
        for row in outbox.to_student(
            which,
            reached[a.student_id],
            now=now,
            meeting=a.meeting,
            url=url_for(a.pk),
            dedupe_suffix=link_dedupe_suffix(a),
        )
    )
    for reason, ids in to_skip.items():
        mark_links(Appointment.objects.filter(pk__in=ids), which, LinkState.SKIPPED, now=now, note=reason)
    _clear_link_failures([a for a in batch if a.link_last_error.startswith(f"{STEPS[which]}:")], STEPS[which])
    return Counter({"sent": len(to_send), "skipped": sum(len(ids) for ids in to_skip.values())})


def _due(which: str, now: dt.datetime):
    def queryset():
        # The backoff is filtered after the partial index (appointment_due_join / _feedback) picked the due rows.
        return (
            Appointment.objects.filter(**{f"{which}_state": LinkState.PENDING, f"{which}_due_at__lte": now})
            .exclude(link_retry_at__gt=now, link_last_error__startswith=f"{STEPS[which]}:")
            .select_related("booking", "student", "meeting")
            .order_by(f"{which}_due_at")
        )

    return queryset


def _record_link_failure(appointment: Appointment, *, now: dt.datetime, step: str, error: Exception) -> None:
    """Remember the failure on the appointment and push its next try back (``failure_backoff``: the meeting steps'
    formula); the meeting itself is untouched."""
    backoff = failure_backoff(appointment.link_failure_count)
    Appointment.objects.filter(pk=appointment.pk).update(
        link_retry_at=now + backoff,
        link_failure_count=F("link_failure_count") + 1,
        link_last_error=f"{step}: {error}"[:2000],
    )
    logger.warning(
        "link step failed",
        extra={
            "appointment_id": appointment.pk,
            "meeting_id": appointment.meeting_id,
            "step": step,
            "error": str(error),
            "retry_in_seconds": backoff.total_seconds(),
        },
    )


def _clear_link_failures(appointments: list[Appointment], step: str) -> None:
    """The step went through (sent or skipped): forget its failure. Only that step's: the other link may still be
    failing."""
    if appointments:
        Appointment.objects.filter(pk__in=[a.pk for a in appointments], link_last_error__startswith=f"{step}:").update(
            link_retry_at=None, link_failure_count=0, link_last_error=""
        )


def _on_failure(now: dt.datetime, step: str):
    return lambda appointment, exc: _record_link_failure(appointment, now=now, step=step, error=exc)


def send_join_links(now: dt.datetime) -> Counter:
    def decide(appointment):
        meeting = appointment.meeting
        if appointment.booking.status != Booking.Status.CONFIRMED:
            return f"booking {appointment.booking.status}"
        if meeting.state in (State.CLOSED, State.CANCELLED):
            return f"class {meeting.state}"
        if now >= min(meeting.student_may_join_until, meeting.close_at):
            return f"catch-up: the join window closed at {meeting.student_may_join_until:%Y-%m-%d %H:%M} UTC"
        return None

    return claim_batches(
        "send_join_links",
        _due("join_link", now),
        lambda batch: _send_or_skip("join_link", batch, now, decide, links.join_url),
        on_failure=_on_failure(now, STEPS["join_link"]),
        budget_seconds=settings.LINK_PASS_SECONDS,
    )


def send_feedback_links(now: dt.datetime) -> Counter:
    useful_for = dt.timedelta(hours=settings.FEEDBACK_LINK_USEFUL_HOURS)

    def decide(appointment):
        meeting = appointment.meeting
        if appointment.booking.status not in (Booking.Status.CONFIRMED, Booking.Status.COMPLETED):
            return f"booking {appointment.booking.status}"
        if meeting.state == State.CANCELLED:
            return "class cancelled"
        if now >= meeting.end_time + useful_for:
            return f"catch-up: feedback is asked for until {settings.FEEDBACK_LINK_USEFUL_HOURS} h after the end"
        return None

    def due():
        # A class that has not opened yet (its opening is failing and backing off) keeps its feedback link waiting.
        return _due("feedback_link", now)().exclude(meeting__state=State.SCHEDULED)

    return claim_batches(
        "send_feedback_links",
        due,
        lambda batch: _send_or_skip("feedback_link", batch, now, decide, links.feedback_url),
        on_failure=_on_failure(now, STEPS["feedback_link"]),
        budget_seconds=settings.LINK_PASS_SECONDS,
    )


# --- payouts ----------------------------------------------------------------------------------------------------------

# A payout whose approval failed is tried again this much later (it does not hold up the rest of the sweep).
PAYOUT_RETRY = dt.timedelta(minutes=15)


def approve_payouts(now: dt.datetime) -> Counter:
    """A clean payout (teacher present, nothing held) becomes approved once its dispute window (PAYOUT_DISPUTE_HOURS
    after settlement) is over. One with a student's complaint that reached the booking without going through
    ``meetings.review.record_complaint`` is held for review here instead, so it is never paid unseen."""

    def due():
        return Payout.objects.filter(state=Payout.State.PENDING, approve_after__lte=now).order_by("approve_after", "id")

    def apply(batch):
        complained = set(
            Booking.objects.filter(meeting_id__in=[p.meeting_id for p in batch], has_complaint=True).values_list(
                "meeting_id", flat=True
            )
        )
        counts = Counter()
        for payout in batch:
            if payout.meeting_id in complained:
                # The hold puts the class in review (it writes the meeting's row). A refund of this class holds that
                # row and then waits for this payout, so waiting for the row here would deadlock: NOWAIT fails this
                # payout alone instead, and on_failure leaves it (pending, so never approved unseen) for later.
                list(
                    Meeting.objects.filter(pk=payout.meeting_id)
                    .select_for_update(nowait=True, no_key=True)
                    .values_list("pk")
                )
                hold_for_review(payout, now=now, reason="student complaint")
                counts["held"] += 1
            else:
                transitions.approve_payout(payout, now=now)
                counts["approved"] += 1
        return counts

    def on_failure(payout, exc):
        Payout.objects.filter(pk=payout.pk, state=Payout.State.PENDING).update(approve_after=now + PAYOUT_RETRY)

    return claim_batches("approve_payouts", due, apply, on_failure=on_failure)
