"""The no-show review: meetings whose teacher was not (provably) there, or whose payout a complaint or staff held.

    review_state:  "" -> awaiting -> released | no_show | excused

A meeting enters the queue when its teacher cancels it inside the cancellation cutoff
(``meetings.lifecycle.cancel_meeting``: "late teacher cancellation", every student refunded in full), at settlement
(``meetings.settlement.settle``: teacher not seen, too short, provider
unreachable, a complaint before settlement), when a student complains inside the dispute window
(:func:`record_complaint`), or when staff hold a pending payout (:func:`hold_for_review`). Its payout is then held.

Each decision is one transition of the meeting's ``review_state`` (compare-and-set, history row with the reviewer and
their note) that, in the same transaction, moves the payout and, for a confirmed no-show, refunds every booking and
writes the students' messages to the outbox. A note is required: it is the audit trail's "why".
"""

from __future__ import annotations

import datetime as dt
import functools

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from bookings import transitions as booking_transitions
from bookings.errors import InvalidDecision
from bookings.models import Booking, Payout
from core import audit
from core.i18n import Reason
from core.statemachine import Outcome, transition
from meetings.models import Meeting
from notifications import outbox

Review = Meeting.ReviewState
PayoutState = Payout.State
# What a student is told when their booking is refunded because the teacher did not come (the staff note is
# internal and stays in the history).
NO_SHOW_REFUND_REASON = Reason(gettext_noop("the teacher did not attend"))


def awaiting_review():
    """The queue: meetings awaiting a decision, the longest waiting first (index ``meeting_review_queue``)."""
    return (
        Meeting.objects.filter(requires_manual_review=True, review_state=Review.AWAITING)
        .select_related("teacher", "course", "payout")
        .order_by("closed_at", "id")
    )


def _note(note: str | None) -> str:
    note = (note or "").strip()
    if not note:
        raise InvalidDecision(_("a note is required: say why (it is kept in the meeting's history)"))
    return note


def _reviewer(actor):
    if actor is None or isinstance(actor, str):
        raise InvalidDecision(_("a review decision is made by a staff user, who is recorded as the reviewer"))
    return actor


def _decide(
    meeting: Meeting, to: str, move_payout, *, now: dt.datetime, actor, note: str, then=None, data=None
) -> Outcome:
    """Awaiting -> ``to``, with the reviewer and their note. In the same transaction the meeting's payout, if it has
    one, moves (``move_payout(payout, now=..., actor=...)``), then ``then()`` runs (a no-show's refunds)."""

    def effects(_from):
        payout = Payout.objects.filter(meeting_id=meeting.pk).first()
        if payout is not None:
            move_payout(payout, now=now, actor=actor)
        if then is not None:
            then()

    return transition(
        meeting,
        field="review_state",
        to=to,
        allowed_from=[Review.AWAITING],
        now=now,
        actor=actor,
        reason=note,
        meeting_id=meeting.pk,
        updates={"requires_manual_review": False, "reviewed_by": actor, "reviewed_at": now, "review_note": note},
        in_transaction=effects,
        # The decision cites the class's policy version (the payout it moves cites the same one).
        data={**(data or {}), "policy": meeting.policy_id},
    )


def release(meeting: Meeting, *, now: dt.datetime, actor, note: str) -> Outcome:
    """The teacher did attend (evidence the machine missed): the held payout is approved in full."""
    note, actor = _note(note), _reviewer(actor)
    move_payout = functools.partial(booking_transitions.release_payout, reason=f"review released: {note}")
    return _decide(meeting, Review.RELEASED, move_payout, now=now, actor=actor, note=note)


def confirm_no_show(meeting: Meeting, *, now: dt.datetime, actor, note: str) -> Outcome:
    """The teacher did not come: the payout is cancelled, every paid booking refunded and its student told."""
    note, actor = _note(note), _reviewer(actor)
    move_payout = functools.partial(booking_transitions.cancel_payout, reason=f"no-show confirmed: {note}")

    def refund_paid_bookings():
        refunded = []
        bookings = Booking.objects.filter(meeting_id=meeting.pk, status__in=[*Booking.PAID, *Booking.CHARGED_ABSENT])
        for booking in bookings.select_related("student"):
            if booking.status in Booking.CHARGED_ABSENT:  # a late cancel's charge for a class that did not happen
                booking_transitions.excuse_absence(booking, now=now, actor=actor, note=f"teacher no-show: {note}")
            else:
                booking_transitions.refund_booking(booking, now=now, actor=actor, reason=f"teacher no-show: {note}")
            refunded.append(booking)
        outbox.enqueue(
            row
            for b in refunded
            for row in outbox.to_student(
                outbox.Notification.Kind.BOOKING_REFUNDED,
                b.student,
                now=now,
                meeting=meeting,
                context={"reason": NO_SHOW_REFUND_REASON},
            )
        )

    return _decide(meeting, Review.NO_SHOW, move_payout, now=now, actor=actor, note=note, then=refund_paid_bookings)


def excuse(meeting: Meeting, *, now: dt.datetime, actor, note: str, percent) -> Outcome:
    """The teacher was there in part: the payout is approved at ``percent`` of its net (students keep their seats)."""
    note, actor = _note(note), _reviewer(actor)
    try:
        percent = int(str(percent).strip())
    except ValueError:
        raise InvalidDecision(_("the percentage is a whole number from 1 to 100")) from None
    if not 1 <= percent <= 100:
        raise InvalidDecision(_("the percentage is a whole number from 1 to 100"))
    move_payout = functools.partial(
        booking_transitions.excuse_payout, percent=percent, reason=f"excused at {percent}%: {note}"
    )
    return _decide(
        meeting,
        Review.EXCUSED,
        move_payout,
        now=now,
        actor=actor,
        note=f"{note} ({percent}%)",
        data={"percent": percent},
    )


DECISIONS = {"release": release, "no_show": confirm_no_show, "excuse": excuse}


def decide(meeting: Meeting, decision: str, *, now: dt.datetime, actor, note: str, percent=None) -> Outcome:
    """One entry point for the admin's form."""
    if decision not in DECISIONS:
        raise InvalidDecision(
            _("unknown decision %(decision)r; choose one of %(choices)s")
            % {"decision": decision, "choices": ", ".join(DECISIONS)}
        )
    if decision == "excuse":
        return excuse(meeting, now=now, actor=actor, note=note, percent=percent)
    return DECISIONS[decision](meeting, now=now, actor=actor, note=note)


# --- entering the queue after settlement ------------------------------------------------------------------------------


def enter_review(meeting_id: int, *, reason: str, now: dt.datetime, actor) -> bool:
    """Put a settled (or cancelled: a late teacher cancellation) meeting in the queue (in the caller's
    transaction). False when it is already there or was
    reviewed: a decision stands; a later complaint is recorded on its booking for staff to see."""
    changed = Meeting.objects.filter(pk=meeting_id, review_state=Review.NONE).update(
        requires_manual_review=True, review_state=Review.AWAITING, review_reason=reason[:200]
    )
    if changed:
        audit.record(
            Meeting,
            [(meeting_id, Review.NONE, meeting_id)],
            to_state=Review.AWAITING,
            at=now,
            actor=actor,
            field="review_state",
            reason=reason,
        )
        meeting = Meeting.objects.get(pk=meeting_id)
        outbox.enqueue(
            outbox.staff_alerts(
                outbox.Notification.Kind.TEACHER_NO_SHOW, now=now, meeting=meeting, context={"reason": reason}
            )
        )
    return bool(changed)


def hold_for_review(payout: Payout, *, now: dt.datetime, actor=None, reason: str) -> Outcome:
    """A pending payout is held (by staff, or by a student's complaint) and its meeting waits for a decision."""
    with transaction.atomic():
        outcome = booking_transitions.hold_payout(payout, now=now, actor=actor, reason=reason)
        if outcome.changed:
            enter_review(payout.meeting_id, reason=reason, now=now, actor=actor)
    return outcome


def record_complaint(booking: Booking, *, now: dt.datetime, note: str, actor=None) -> Outcome:
    """A student says the class did not happen as it should. The booking is flagged (once) and, while the teacher's
    payout is still in its dispute window, the payout is held and the meeting goes to review. A complaint before
    settlement is seen by ``settle``, which then holds the payout it creates."""
    note = _note(note)
    with transaction.atomic():
        booking_transitions.lock_class(booking.meeting_id)  # before the booking and the payout, as a refund does
        flagged = Booking.objects.filter(pk=booking.pk, has_complaint=False).update(
            has_complaint=True, complaint_note=note
        )
        if not flagged:
            return Outcome(False, "filed", "filed", f"booking {booking.pk} already has a complaint")
        booking_transitions.record_booking_event(booking, "complaint", "filed", now=now, actor=actor, reason=note)
        payout = (
            Payout.objects.select_for_update(no_key=True)
            .filter(meeting_id=booking.meeting_id, state=PayoutState.PENDING)
            .first()
        )
        if payout is not None:
            hold_for_review(payout, now=now, actor=actor, reason="student complaint")
    booking.has_complaint, booking.complaint_note = True, note
    return Outcome(True, "", "filed", f"booking {booking.pk}: complaint recorded")
