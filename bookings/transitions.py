"""Transitions of bookings, appointments and payouts.

Booking:     pending -> confirmed -> completed;  (pending|confirmed) -> cancelled;  (confirmed|completed) -> refunded
             confirmed -> late_cancelled (after the cutoff);  completed -> no_show (settlement: the teacher held the
             class, the student never came);  (late_cancelled|no_show) -> refunded (excused by staff)
Appointment: join link pending -> sent | skipped;  feedback link pending -> sent | skipped

Seats: a booking in ``Booking.SEAT_HOLDING`` holds one seat of ``Meeting.seats_taken``. A seat is taken by a
conditional ``UPDATE ... WHERE seats_taken < capacity`` (so two students racing for the last seat cannot both get
it, whatever the isolation level) and given back when the booking is cancelled or refunded before completion.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, OuterRef, Q, Subquery, Sum
from django.utils.translation import gettext as _

from bookings.errors import AlreadyBooked, BookingClosed, CancellationTooLate, ClassFull, InvalidDecision, OwnClass
from bookings.models import Appointment, Booking, Payout, PayoutAdjustment
from classroom import policies
from core import audit
from core.errors import IllegalTransition
from core.models import StateChange
from core.money import ZERO, round_money
from core.statemachine import transition
from core.timezones import format_local
from meetings.models import Meeting, MeetingParticipant
from notifications import outbox

Status = Booking.Status
LinkState = Appointment.LinkState
Kind = outbox.Notification.Kind


def appointment_due_times(meeting: Meeting) -> dict:
    rules = meeting.rules
    return {
        "join_link_due_at": meeting.start_time - dt.timedelta(minutes=rules.join_link_lead_minutes),
        "feedback_link_due_at": meeting.end_time - dt.timedelta(minutes=rules.feedback_link_lead_minutes),
    }


# A late cancel is a cancellation (cancelled_at); a no-show's moment is its settlement, recorded in its history.
REACHED_AT = {Status.LATE_CANCELLED: "cancelled_at", Status.NO_SHOW: None}


def retime_pending_links(meetings, rules) -> int:
    """The classes were re-pinned to ``rules`` (a new policy version): links not sent yet are due by its lead times.
    Links already sent or skipped stay as they are. Returns how many appointments moved."""
    moved = 0
    join_lead = dt.timedelta(minutes=rules.join_link_lead_minutes)
    feedback_lead = dt.timedelta(minutes=rules.feedback_link_lead_minutes)
    for meeting_id, start, end in meetings:
        pending = Appointment.objects.filter(meeting_id=meeting_id)
        moved += pending.filter(join_link_state=LinkState.PENDING).update(join_link_due_at=start - join_lead)
        pending.filter(feedback_link_state=LinkState.PENDING).update(feedback_link_due_at=end - feedback_lead)
    return moved


def _reached(status: str, now: dt.datetime) -> dict:
    """The column that records when a booking reached ``status``: confirmed_at, completed_at, cancelled_at or
    refunded_at."""
    column = REACHED_AT.get(status, f"{status}_at")
    return {column: now} if column else {}


def _booking_transition(booking: Booking, to: str, allowed: list[str], *, now: dt.datetime, **kwargs):
    """:func:`transition` of the booking's status, setting when it reached ``to``; its history row belongs to the
    booking's meeting."""
    return transition(
        booking,
        field="status",
        to=to,
        allowed_from=allowed,
        now=now,
        updates=_reached(to, now),
        meeting_id=booking.meeting_id,
        **kwargs,
    )


def _take_seat(meeting: Meeting) -> None:
    taken = Meeting.objects.filter(pk=meeting.pk, seats_taken__lt=F("capacity")).update(
        seats_taken=F("seats_taken") + 1
    )
    if not taken:
        raise ClassFull(
            _("'%(title)s' is full (%(capacity)s seats)") % {"title": meeting.title, "capacity": meeting.capacity}
        )


def _give_back_seats(meeting_id: int, count: int) -> None:
    if count:
        Meeting.objects.filter(pk=meeting_id).update(seats_taken=F("seats_taken") - count)


BOOKABLE_STATES = (Meeting.State.SCHEDULED, Meeting.State.OPEN, Meeting.State.IN_PROGRESS)


def bookable(now: dt.datetime, *, at=None) -> Q:
    """Filter (``Meeting.objects.filter(bookable(now))``) for the meetings :func:`book` would accept at ``now`` if a
    seat is left: not over, and still joinable (by each class's own late-join grace). Conditions on the meeting's
    own columns only, so a lookup by id checks one row and a list walks the ``meeting_bookable`` index.

    ``at`` is where the conditions read ``now`` (a ``core.statements.Slot``, bound to ``now`` for each list
    request); the policies in force are still those of ``now``."""
    at = now if at is None else at
    still_joinable = policies.by_rule(
        "student_late_join_grace_minutes", lambda minutes: Q(start_time__gt=at - dt.timedelta(minutes=minutes)), now
    )
    return Q(state__in=BOOKABLE_STATES) & still_joinable


def book(student, meeting: Meeting, *, now: dt.datetime, actor=None, confirm: bool = True) -> Booking:
    """Give ``student`` a seat in ``meeting`` at the course price; confirmed at once unless a payment step follows.

    Raises :class:`BookingClosed` when the class is not bookable any more, :class:`ClassFull`, :class:`AlreadyBooked`,
    :class:`OwnClass` when the student is the class's own teacher (one account with both roles).
    """
    with transaction.atomic():
        # The row lock orders concurrent bookings of one meeting; the conditional UPDATE alone would also be enough.
        locked = (
            Meeting.objects.select_for_update(of=("self",), no_key=True)
            .select_related("course", "teacher")
            .get(pk=meeting.pk)
        )
        if student.user_id is not None and student.user_id == locked.teacher.user_id:
            # Their own money would pay them (and count towards their payout), taking a real student's seat.
            raise OwnClass(_("You teach '%(title)s', so you cannot book a seat in it.") % {"title": locked.title})
        if locked.state not in BOOKABLE_STATES:
            raise BookingClosed(
                _("'%(title)s' is %(state)s; it cannot be booked") % {"title": locked.title, "state": locked.state}
            )
        if now >= locked.start_time + locked.rules_at(now).late_join_grace:
            raise BookingClosed(
                _("'%(title)s' can no longer be joined, so it cannot be booked") % {"title": locked.title}
            )
        if Booking.objects.filter(student=student, meeting=locked, status__in=Booking.SEAT_HOLDING).exists():
            raise AlreadyBooked(
                _("%(student)s already has a seat in '%(title)s'") % {"student": student, "title": locked.title}
            )
        _take_seat(locked)
        try:
            with transaction.atomic():
                booking = Booking.objects.create(
                    student=student, meeting=locked, amount=locked.course.price, currency=locked.course.currency
                )
        except IntegrityError as exc:  # the partial unique index, if a twin request slipped past the check above
            raise AlreadyBooked(
                _("%(student)s already has a seat in '%(title)s'") % {"student": student, "title": locked.title}
            ) from exc
        audit.record(
            Booking,
            [(booking.pk, "", locked.pk)],
            to_state=Status.PENDING,
            at=now,
            actor=actor,
            field="status",
            reason="seat taken",
        )
        if confirm:
            confirm_booking(booking, now=now, actor=actor, meeting=locked)
    return booking


def confirm_booking(booking: Booking, *, now: dt.datetime, actor=None, meeting: Meeting | None = None, reason=""):
    meeting = meeting or booking.meeting

    def create_appointment(_from):
        Appointment.objects.get_or_create(
            booking=booking,
            defaults={
                "meeting_id": booking.meeting_id,
                "student_id": booking.student_id,
                **appointment_due_times(meeting),
            },
        )

    return _booking_transition(
        booking,
        Status.CONFIRMED,
        [Status.PENDING],
        now=now,
        actor=actor,
        reason=reason or "booking confirmed",
        done_states=[Status.COMPLETED],
        in_transaction=create_appointment,
    )


def _skip_pending_links(appointment_filter: dict, *, now: dt.datetime, note: str, actor=None) -> None:
    for which in ("join_link", "feedback_link"):
        mark_links(
            Appointment.objects.filter(**appointment_filter, **{f"{which}_state": LinkState.PENDING}),
            which,
            LinkState.SKIPPED,
            now=now,
            note=note,
            actor=actor,
        )


# The history field meetings.lifecycle.edit_meeting writes when it moves a class (from the old start to the new one).
RESCHEDULED_FIELD = "start_time"


def reschedules(meeting_id):
    """The meeting's reschedules in its history, newest first (``meeting_id`` may be an ``OuterRef``)."""
    # The content type by its natural key, not get_for_model(): building the queryset must not query (the OpenAPI
    # generator builds it without a database behind it, in `check --deploy`).
    return StateChange.objects.filter(
        content_type__app_label=Meeting._meta.app_label,
        content_type__model=Meeting._meta.model_name,
        object_id=meeting_id,
        meeting_id=meeting_id,
        field=RESCHEDULED_FIELD,
    ).order_by("-at")


def with_last_reschedule(bookings):
    """Annotate a Booking queryset with ``meeting_rescheduled_at`` (its meeting's latest reschedule, or None), so
    :func:`cancellation_cutoff` reads no history per booking when a page of bookings is shown."""
    return bookings.annotate(meeting_rescheduled_at=Subquery(reschedules(OuterRef("meeting_id")).values("at")[:1]))


def moved_after_booking(booking: Booking) -> bool:
    """Whether the class was rescheduled after this booking was made (confirmed; created, while still unpaid): then
    the student did not choose its current time."""
    booked_at = booking.confirmed_at or booking.created_at
    if hasattr(booking, "meeting_rescheduled_at"):
        moved_at = booking.meeting_rescheduled_at
    else:
        moved_at = reschedules(booking.meeting_id).values_list("at", flat=True).first()
    return moved_at is not None and booked_at is not None and moved_at > booked_at


def cancellation_cutoff(meeting: Meeting, booking: Booking | None = None) -> dt.datetime:
    """The last moment (exclusive) a student may cancel with a full refund: the policy's
    booking_cancellation_cutoff_minutes before the start (later is a late cancel).

    With ``booking``: that student's cutoff. A class moved after they booked (earlier, perhaps inside the cutoff, or
    later) is not the time they chose, so they may cancel it, with a refund, until it starts.
    """
    if booking is not None and moved_after_booking(booking):
        return meeting.start_time
    return meeting.start_time - meeting.rules.cancellation_cutoff


def _too_late(booking: Booking, meeting: Meeting, cutoff: dt.datetime) -> CancellationTooLate:
    """The refusal, with the cutoff in the student's own zone."""
    local = format_local(cutoff, booking.student.time_zone)
    if cutoff == meeting.start_time and moved_after_booking(booking):
        return CancellationTooLate(
            _("this class was moved after you booked, so you could cancel it until it started (%(cutoff)s)")
            % {"cutoff": local}
        )
    rules = meeting.rules
    return CancellationTooLate(
        _(
            "bookings can be cancelled until %(minutes)s minutes before the class starts (%(cutoff)s); cancelling "
            "now is a late cancel charged at %(percent)s%% of the price: confirm it to go ahead"
        )
        % {
            "minutes": rules.booking_cancellation_cutoff_minutes,
            "cutoff": local,
            "percent": f"{rules.late_cancel_percent.normalize():f}",
        }
    )


def cancel_booking(
    booking: Booking,
    *,
    now: dt.datetime,
    actor=None,
    reason: str = "",
    enforce_cutoff: bool = True,
    accept_late: bool = False,
):
    """The student (or staff for them) gives the seat back, before the booking's cancellation cutoff (staff:
    ``enforce_cutoff=False``, at any time, with a full refund). After the cutoff a confirmed booking can only be
    late-cancelled, and only when the student accepts the charge (``accept_late``): :func:`late_cancel_booking`.
    Without it, CancellationTooLate says the cutoff and the charge.

    A paid (confirmed) booking is refunded: ``refunded_at`` is set and the status is ``cancelled`` (DESIGN.md's
    confirmed -> cancelled: a cancellation with its money given back; ``refunded`` is for refunds staff decide), and
    the student and the teacher are told, in the same transaction. An unpaid (pending) one only frees its seat; the
    teacher is told, and there is nothing to give back.
    """
    reason = reason or "cancelled by the student"
    meeting = Meeting.objects.select_related("teacher").get(pk=booking.meeting_id)  # its current times
    current = with_last_reschedule(Booking.objects.select_related("student")).get(pk=booking.pk)
    rules = meeting.rules_at(now)
    if enforce_cutoff and current.status in Booking.CANCELLABLE:
        cutoff = cancellation_cutoff(meeting, booking=current)
        if now >= cutoff and current.status == Status.CONFIRMED:
            if not accept_late:
                raise _too_late(current, meeting, cutoff)
            return late_cancel_booking(current, now=now, actor=actor, reason=reason)

    def effects(from_state):
        _give_back_seats(booking.meeting_id, 1)
        _skip_pending_links({"booking": booking}, now=now, note="booking cancelled", actor=actor)
        paid = from_state == Status.CONFIRMED
        if paid:
            Booking.objects.filter(pk=booking.pk).update(refunded_at=now, policy_id=rules.version)
            booking.refunded_at, booking.policy_id = now, rules.version
        _tell_cancelled(meeting, current, now=now, student_too=paid)

    return _booking_transition(
        booking, Status.CANCELLED, Booking.CANCELLABLE, now=now, actor=actor, reason=reason, in_transaction=effects
    )


def _tell_cancelled(meeting: Meeting, booking: Booking, *, now: dt.datetime, student_too: bool) -> None:
    """The teacher (and, when money moved, the student) hear that the seat was given back."""
    told = [outbox.for_teacher(meeting.teacher)]
    if student_too:
        told += outbox.for_student(booking.student, Kind.BOOKING_CANCELLED)
    outbox.enqueue(
        outbox.message(
            Kind.BOOKING_CANCELLED,
            recipient,
            now=now,
            meeting=meeting,
            context={"student": booking.student.display_name},
            dedupe_suffix=f":booking:{booking.pk}",  # a seat booked again and cancelled again is a new message
        )
        for recipient in told
    )


def late_cancel_booking(booking: Booking, *, now: dt.datetime, actor=None, reason: str = ""):
    """Confirmed -> late_cancelled (a cancel after the cutoff): the student is charged the policy's
    late_cancel_percent of the price, rounded once, and the rest is refunded; the seat is released, pending links
    skipped, the teacher and the student told. If the teacher holds the class they are paid the policy's
    student_absence_share_percent of the charge at settlement. The booking cites the policy version applied."""
    reason = reason or "late cancel by the student"
    meeting = Meeting.objects.select_related("teacher").get(pk=booking.meeting_id)
    current = Booking.objects.select_related("student").get(pk=booking.pk)
    rules = meeting.rules_at(now)
    charged = round_money(current.amount * rules.late_cancel_percent / 100, current.currency)

    def effects(_from):
        _give_back_seats(booking.meeting_id, 1)
        _skip_pending_links({"booking": booking}, now=now, note="booking late-cancelled", actor=actor)
        refunded_at = now if charged < current.amount else None
        Booking.objects.filter(pk=booking.pk).update(
            charged_amount=charged, policy_id=rules.version, refunded_at=refunded_at
        )
        booking.charged_amount, booking.policy_id, booking.refunded_at = charged, rules.version, refunded_at
        _tell_cancelled(meeting, current, now=now, student_too=True)

    return _booking_transition(
        booking,
        Status.LATE_CANCELLED,
        [Status.CONFIRMED],
        now=now,
        actor=actor,
        reason=f"{reason}: charged {charged} {current.currency} "
        f"({rules.late_cancel_percent}%, policy v{rules.version})",
        data={"charged": str(charged), "policy": rules.version},
        in_transaction=effects,
    )


def excuse_absence(booking: Booking, *, now: dt.datetime, actor, note: str):
    """Staff reverse a late cancel or a student no-show: late_cancelled|no_show -> refunded, the charge given back
    in full, the teacher's share of it leaving their payout (:func:`payout_after_refund`), with the note in the
    history. A note is required."""
    note = (note or "").strip()
    if not note:
        raise InvalidDecision("a note is required: say why the charge is excused (it is kept in the history)")

    def effects(previous):
        Booking.objects.filter(pk=booking.pk).update(charged_amount=ZERO)
        booking.charged_amount = ZERO
        _skip_pending_links({"booking": booking}, now=now, note="booking excused", actor=actor)
        payout_after_refund(booking, now=now, actor=actor, reason=f"excused: {note}")

    with transaction.atomic():
        lock_class(booking.meeting_id)
        return _booking_transition(
            booking,
            Status.REFUNDED,
            list(Booking.CHARGED_ABSENT),
            now=now,
            actor=actor,
            reason=f"excused: {note}",
            in_transaction=effects,
        )


def lock_class(meeting_id: int) -> None:
    """Take the meeting's row lock, in the caller's transaction, before any booking or payout row of it. Settlement
    and the review decisions lock the meeting first too, so whatever changes a class's money (a refund, a complaint,
    a settlement, an excuse) runs one after the other in one lock order: none computes money from another's stale
    view, and two of them never deadlock taking the same rows the other way round."""
    list(Meeting.objects.filter(pk=meeting_id).select_for_update(no_key=True).values_list("pk"))


def refund_booking(booking: Booking, *, now: dt.datetime, actor=None, reason: str = ""):
    """Confirmed or completed -> refunded. A confirmed booking gives its seat back; a completed one's money leaves
    the teacher's payout (:func:`payout_after_refund`), in the same transaction."""
    reason = reason or "refunded"

    def effects(previous):
        if previous == Status.CONFIRMED:
            _give_back_seats(booking.meeting_id, 1)
        _skip_pending_links({"booking": booking}, now=now, note="booking refunded", actor=actor)
        if previous == Status.COMPLETED:
            payout_after_refund(booking, now=now, actor=actor, reason=reason)

    with transaction.atomic():
        lock_class(booking.meeting_id)
        return _booking_transition(
            booking, Status.REFUNDED, Booking.PAID, now=now, actor=actor, reason=reason, in_transaction=effects
        )


# --- batch transitions, called by the meeting lifecycle inside its transaction ---------------------------------------


def _record_moves(moved, from_status: str, to: str, *, now: dt.datetime, actor, reason: str) -> None:
    """The history of a batch move: ``moved`` is the (booking id, meeting id) pairs that went from ``from_status``
    to ``to``, all in one insert."""
    audit.record(
        Booking,
        [(booking_id, from_status, meeting_id) for booking_id, meeting_id in moved],
        to_state=to,
        at=now,
        actor=actor,
        reason=reason,
        field="status",
    )


def _bulk_status(meeting_ids: list[int], from_status: str, to: str, *, now: dt.datetime, actor, reason: str):
    """Move the ``from_status`` bookings of ``meeting_ids`` to ``to`` with one UPDATE and one history insert. Returns
    the bookings as they were (with ``status`` = ``from_status``), with their students loaded (they are told)."""
    rows = list(
        Booking.objects.filter(meeting_id__in=meeting_ids, status=from_status)
        .select_for_update(of=("self",), no_key=True)
        .select_related("student")
    )
    if not rows:
        return []
    Booking.objects.filter(pk__in=[row.pk for row in rows], status=from_status).update(status=to, **_reached(to, now))
    _record_moves([(row.pk, row.meeting_id) for row in rows], from_status, to, now=now, actor=actor, reason=reason)
    return rows


def _move_returning(
    meeting_ids: list[int], from_status: str, to: str, *, now: dt.datetime, actor, reason: str
) -> list[tuple[int, int]]:
    """Move the ``from_status`` bookings of ``meeting_ids`` to ``to`` in ONE ``UPDATE ... RETURNING`` (PostgreSQL and
    SQLite 3.35+), with their history: the statement locks, moves and lists exactly the rows it changed, so the
    history written from its answer matches what moved, without first reading 10,000 rows into Python or sending
    their ids back in an IN list (two thirds of a 1,000-meeting close). Returns ``(booking id, meeting id)`` pairs."""
    if not meeting_ids:
        return []
    values = {"status": to, **_reached(to, now)}
    fields = [Booking._meta.get_field(name) for name in values]
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(Booking._meta.db_table)} SET "
        + ", ".join(f"{quote(field.column)} = %s" for field in fields)
        + f" WHERE {quote('meeting_id')} IN ({', '.join(['%s'] * len(meeting_ids))}) AND {quote('status')} = %s"
        + f" RETURNING {quote('id')}, {quote('meeting_id')}"
    )
    params = [field.get_db_prep_save(values[field.name], connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *meeting_ids, from_status])
        moved = [tuple(row) for row in cursor.fetchall()]
    _record_moves(moved, from_status, to, now=now, actor=actor, reason=reason)
    return moved


def complete_bookings(meeting_ids: list[int], *, now: dt.datetime, actor=None) -> list[int]:
    """At close: confirmed bookings are completed (returns their ids); bookings still pending payment lose their
    seat. Nobody is told here, so the completed ones are moved without loading them (the close burst: 10,000)."""
    completed = _move_returning(
        meeting_ids, Status.CONFIRMED, Status.COMPLETED, now=now, actor=actor, reason="class closed"
    )
    unpaid = _bulk_status(
        meeting_ids,
        Status.PENDING,
        Status.CANCELLED,
        now=now,
        actor=actor,
        reason="class closed before the booking was confirmed",
    )
    for booking in unpaid:
        _give_back_seats(booking.meeting_id, 1)
    return [booking_id for booking_id, _ in completed]


def mark_student_no_shows(meetings, *, now: dt.datetime, actor=None) -> dict[int, int]:
    """Settlement of classes whose teacher held them (in the settling transaction): a completed booking whose
    student never joined (no recorded session of theirs in the class, from any source) becomes ``no_show``, charged
    its full price and not refunded, citing the class's policy version. Returns {meeting id: how many}."""
    by_id = {m.pk: m for m in meetings}
    if not by_id:
        return {}
    came = set()
    sessions = MeetingParticipant.objects.filter(meeting_id__in=list(by_id)).values_list(
        "meeting_id", "student_id", "identity"
    )
    for meeting_id, student_id, identity in sessions:
        kind, _, pk = identity.partition(":")
        if student_id is not None:
            came.add((meeting_id, student_id))
        if kind == "student" and pk.isdigit():
            came.add((meeting_id, int(pk)))
    absent: dict[int, list[int]] = {}
    for pk, meeting_id, student_id in Booking.objects.filter(
        meeting_id__in=list(by_id), status=Status.COMPLETED
    ).values_list("pk", "meeting_id", "student_id"):
        if (meeting_id, student_id) not in came:
            absent.setdefault(meeting_id, []).append(pk)
    for meeting_id, booking_ids in absent.items():
        version = by_id[meeting_id].policy_id
        moved = Booking.objects.filter(pk__in=booking_ids, status=Status.COMPLETED).update(
            status=Status.NO_SHOW, charged_amount=F("amount"), policy_id=version
        )
        if moved != len(booking_ids):
            raise IllegalTransition(f"meeting {meeting_id}: bookings changed while it was being settled")
        _record_moves(
            [(pk, meeting_id) for pk in booking_ids],
            Status.COMPLETED,
            Status.NO_SHOW,
            now=now,
            actor=actor,
            reason=f"the student never joined a class the teacher held: charged in full (policy v{version})",
        )
    return {meeting_id: len(ids) for meeting_id, ids in absent.items()}


def release_bookings_of_cancelled_meeting(
    meeting_id: int, *, now: dt.datetime, actor=None, reason: str, policy_id: int | None = None
):
    """The meeting is cancelled: confirmed bookings are refunded in full (citing ``policy_id``, the version that
    decided), pending ones cancelled, every seat given back and every pending link skipped. Returns the refunded
    bookings (their students are told)."""
    refunded = _bulk_status([meeting_id], Status.CONFIRMED, Status.REFUNDED, now=now, actor=actor, reason=reason)
    if refunded and policy_id is not None:
        Booking.objects.filter(pk__in=[b.pk for b in refunded]).update(policy_id=policy_id)
    cancelled = _bulk_status([meeting_id], Status.PENDING, Status.CANCELLED, now=now, actor=actor, reason=reason)
    _give_back_seats(meeting_id, len(refunded) + len(cancelled))
    _skip_pending_links({"meeting_id": meeting_id}, now=now, note=f"class cancelled: {reason}", actor=actor)
    return refunded


def mark_links(queryset, which: str, to: str, *, now: dt.datetime, note: str = "", actor=None) -> list[int]:
    """Move the ``which`` link ("join_link" | "feedback_link") of the appointments in ``queryset`` from pending to
    ``to``, once: the UPDATE filters on pending, so a second caller changes nothing."""
    field = f"{which}_state"
    # Locked (or, on SQLite, under the transaction's write lock), so the history below matches the UPDATE exactly.
    # Only the appointments, in id order: Appointment's default ordering joins the meeting, and a lock taken through
    # that join also held the meeting row, which deadlocked against a reschedule (meeting, then appointments).
    rows = list(
        queryset.filter(**{field: LinkState.PENDING})
        .order_by("pk")
        .select_for_update(no_key=True, of=("self",))
        .values_list("pk", "meeting_id")
    )
    if not rows:
        return []
    ids = [pk for pk, _ in rows]
    Appointment.objects.filter(pk__in=ids, **{field: LinkState.PENDING}).update(
        **{field: to, f"{which}_at": now, f"{which}_note": note[:200]}
    )
    audit.record(
        Appointment,
        [(pk, LinkState.PENDING, meeting_id) for pk, meeting_id in rows],
        to_state=to,
        at=now,
        actor=actor,
        reason=note,
        field=field,
    )
    if note:  # skips and catch-up sends are decisions worth a log line each; on-time sends are not
        for pk, meeting_id in rows:
            audit.log(Appointment, pk, LinkState.PENDING, to, field=field, meeting_id=meeting_id, reason=note)
    return ids


RESCHEDULED = "rescheduled: due again at the new time"


def reschedule_appointments(meeting: Meeting, *, now: dt.datetime, actor=None) -> list[int]:
    """The meeting's times changed before it opened (the caller holds its row lock): due times follow, and a link
    that was already sent, or skipped because of the old times, whose due time moved is pending again, so the link
    sweeps send it at the new time (in a new ``link_round``). A link skipped because its booking is no longer
    confirmed stays skipped. Returns the ids of the appointments with a link due again."""
    due = appointment_due_times(meeting)
    # Locked first: a link sweep sending one of these right now commits before we read it (and we see it sent).
    # Only the appointments (see mark_links): the caller already holds the meeting.
    rows = list(
        Appointment.objects.filter(meeting=meeting)
        .order_by("pk")
        .select_for_update(no_key=True, of=("self",))
        .values_list(
            "pk", "booking_id", "join_link_state", "join_link_due_at", "feedback_link_state", "feedback_link_due_at"
        )
    )
    confirmed = set(Booking.objects.filter(meeting=meeting, status=Status.CONFIRMED).values_list("pk", flat=True))
    history, again = [], set()
    for n, which in ((2, "join_link"), (4, "feedback_link")):
        moved = [
            (row[0], row[n])
            for row in rows
            if row[1] in confirmed and row[n] != LinkState.PENDING and row[n + 1] != due[f"{which}_due_at"]
        ]
        if not moved:
            continue
        Appointment.objects.filter(pk__in=[pk for pk, _state in moved]).update(
            **{f"{which}_state": LinkState.PENDING, f"{which}_at": None, f"{which}_note": ""}
        )
        for from_state in sorted({state for _pk, state in moved}):
            history += audit.entries(
                Appointment,
                [(pk, from_state, meeting.pk) for pk, state in moved if state == from_state],
                to_state=LinkState.PENDING,
                at=now,
                actor=actor,
                reason=RESCHEDULED,
                field=f"{which}_state",
            )
        again |= {pk for pk, _ in moved}
    Appointment.objects.filter(meeting=meeting).update(**due)
    if again:
        Appointment.objects.filter(pk__in=again).update(link_round=F("link_round") + 1)
    audit.write(history)
    return sorted(again)


def link_dedupe_suffix(appointment: Appointment) -> str:
    """The outbox key's tail for this appointment's links: none in the first round (every class that never moved),
    then the round, so the link of a moved class is a new message and two sweeps of the same round write one."""
    return f":round{appointment.link_round}" if appointment.link_round else ""


def record_booking_event(
    booking: Booking, what: str, to_state: str, *, now: dt.datetime, actor, reason: str, data=None
):
    """The history entry of something that happens to a booking once, beside its status (its feedback, a complaint):
    field ``what``, from nothing to ``to_state``, in the caller's transaction."""
    audit.record(
        Booking,
        [(booking.pk, "", booking.meeting_id)],
        to_state=to_state,
        at=now,
        actor=actor,
        field=what,
        reason=reason,
        data=data,
    )


# Why feedback is refused (the ``code`` of the IllegalTransition): the feedback page answers each differently.
FEEDBACK_ALREADY_GIVEN = "feedback_already_given"
FEEDBACK_EXPIRED = "feedback_expired"
FEEDBACK_NOT_ALLOWED = "feedback_not_allowed"
# A confirmed booking completes when its class closes; the feedback link is sent before that, while it is on.
CLASS_UNDER_WAY = (Meeting.State.OPEN, Meeting.State.IN_PROGRESS)


def feedback_deadline(meeting: Meeting) -> dt.datetime:
    """Feedback is taken until this moment (exclusive): FEEDBACK_LINK_VALID_HOURS after the class's current end."""
    return meeting.end_time + dt.timedelta(hours=settings.FEEDBACK_LINK_VALID_HOURS)


def _feedback_given() -> IllegalTransition:
    return IllegalTransition(_("We already have your feedback. Thank you!"), code=FEEDBACK_ALREADY_GIVEN)


def check_feedback(booking: Booking, meeting: Meeting, *, now: dt.datetime) -> None:
    """Raise IllegalTransition (its ``code`` one of FEEDBACK_*) when ``booking`` may not give feedback at ``now``:
    it has given it already, the deadline passed, or the booking is not completed (nor confirmed in a class under
    way: the link is sent 10 minutes before the end)."""
    if booking.feedback_at is not None:
        raise _feedback_given()
    if now >= feedback_deadline(meeting):
        raise IllegalTransition(
            _("This feedback link expired at %(deadline)s.")
            % {"deadline": format_local(feedback_deadline(meeting), booking.student.time_zone)},
            code=FEEDBACK_EXPIRED,
        )
    if booking.status == Status.COMPLETED or (booking.status == Status.CONFIRMED and meeting.state in CLASS_UNDER_WAY):
        return
    if booking.status == Status.CONFIRMED:
        message = _("This class has not started yet; tell us how it was once it has.")
    else:
        message = _("Your booking is %(status)s, so there is no feedback to give for it.") % {"status": booking.status}
    raise IllegalTransition(message, code=FEEDBACK_NOT_ALLOWED)


def record_feedback(booking: Booking, *, rating: int, comment: str, now: dt.datetime, actor=None) -> None:
    """The student's rating (1 to 5) and comment, taken once (see :func:`check_feedback`): a compare-and-set on
    ``feedback_at`` being empty under the booking's row lock, with a history row (field "feedback"). Why it is
    refused comes before what is wrong with the rating (ValueError): a student on a dead link is told so."""
    with transaction.atomic():
        current = (
            Booking.objects.select_for_update(of=("self",), no_key=True)
            .select_related("meeting", "student")
            .get(pk=booking.pk)
        )
        check_feedback(current, current.meeting, now=now)
        if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
            raise ValueError("a rating is from 1 to 5")
        taken = Booking.objects.filter(pk=booking.pk, status=current.status, feedback_at__isnull=True).update(
            feedback_rating=rating, feedback_comment=comment[:2000], feedback_at=now
        )
        if taken != 1:  # cannot happen under the row lock; kept as the compare-and-set's own guarantee
            raise _feedback_given()
        record_booking_event(
            current, "feedback", "received", now=now, actor=actor, reason=f"rating {rating}", data={"rating": rating}
        )
    audit.log(Booking, booking.pk, "", "received", field="feedback", meeting_id=current.meeting_id)


# --- payouts ---------------------------------------------------------------------------------------------------------
#
# Payout: pending -> approved -> paid;  pending -> held (a complaint or staff);  held -> approved (released) | cancelled

PayoutState = Payout.State


def split_revenue(gross: Decimal, rate: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """(commission, net) for ``gross`` at ``rate``: the commission is rounded once, the net is what is left, so
    gross = commission + net to the last minor unit."""
    commission = round_money(gross * rate, currency)
    return commission, gross - commission


class PayoutOrder(NamedTuple):
    """What :func:`create_payouts` needs for one meeting's payout (``meeting`` with its course loaded)."""

    meeting: Meeting
    gross: Decimal
    rate: Decimal
    held_reason: str = ""


def create_payout(
    meeting: Meeting, *, gross: Decimal, rate: Decimal, now: dt.datetime, held_reason: str = "", actor=None
) -> tuple[Payout, bool]:
    """The meeting's one payout: pending (approved after the dispute window) or, with ``held_reason``, held for
    review. Returns (payout, created); a second call returns the existing payout (the unique index decides races)."""
    return create_payouts([PayoutOrder(meeting, gross, rate, held_reason)], now=now, actor=actor)[0]


def _unsaved_payout(order: PayoutOrder, *, now: dt.datetime) -> Payout:
    """The payout cites the class's policy version: its dispute window (and, in the gross and rate the caller
    computed, its commission and absent students' share)."""
    currency = order.meeting.course.currency
    rules = order.meeting.rules
    gross = round_money(order.gross, currency)
    commission, net = split_revenue(gross, order.rate, currency)
    return Payout(
        teacher_id=order.meeting.teacher_id,
        meeting=order.meeting,
        currency=currency,
        gross=gross,
        commission_rate=order.rate,
        commission=commission,
        net=net,
        state=PayoutState.HELD if order.held_reason else PayoutState.PENDING,
        held_reason=order.held_reason[:200],
        approve_after=None if order.held_reason else now + dt.timedelta(hours=rules.payout_dispute_hours),
        policy_id=rules.version,
    )


def create_payouts(orders, *, now: dt.datetime, actor=None) -> list[tuple[Payout, bool]]:
    """The batch form of :func:`create_payout` (the settle sweep): one insert for the payouts, one for their history.
    Returns (payout, created) per order, in order. A meeting that already has its payout gets that one back; when
    the insert hits the one-payout-per-meeting index anyway (another worker won a race after our look), each order
    is retried alone, so the index still decides and the rest of the batch is not lost."""
    orders = list(orders)
    if not orders:
        return []
    existing = {p.meeting_id: p for p in Payout.objects.filter(meeting_id__in=[o.meeting.pk for o in orders])}
    fresh = [_unsaved_payout(o, now=now) for o in orders if o.meeting.pk not in existing]
    try:
        with transaction.atomic():
            Payout.objects.bulk_create(fresh)
            history = []
            for payout in fresh:
                reason = payout.held_reason or f"{payout.net} {payout.currency} after {payout.commission} commission"
                history += audit.entries(
                    Payout,
                    [(payout.pk, "", payout.meeting_id)],
                    to_state=payout.state,
                    at=now,
                    actor=actor,
                    reason=reason,
                    data={"gross": str(payout.gross), "rate": str(payout.commission_rate), "policy": payout.policy_id},
                )
            audit.write(history)
    except IntegrityError:
        if len(fresh) > 1:
            return [create_payouts([o], now=now, actor=actor)[0] for o in orders]
        winner = Payout.objects.filter(meeting_id__in=[p.meeting_id for p in fresh]).first()
        if winner is None:  # not the one-per-meeting index: a real error
            raise
        existing[winner.meeting_id] = winner
        fresh = []
    created = {p.meeting_id: p for p in fresh}
    return [
        (created[o.meeting.pk], True) if o.meeting.pk in created else (existing[o.meeting.pk], False) for o in orders
    ]


# When a payout was approved and when it was paid; the other moves have their reason (a hold) or their review.
PAYOUT_MOMENTS = {PayoutState.APPROVED: "approved_at", PayoutState.PAID: "paid_at"}


def _payout_transition(payout: Payout, to: str, allowed, *, now, actor, reason, done_states=None, data=None, **updates):
    """:func:`transition` of the payout's state, setting ``updates`` (columns) and, on approval or payment, its
    moment (``PAYOUT_MOMENTS``); its history row belongs to the payout's meeting."""
    moment = {PAYOUT_MOMENTS[to]: now} if to in PAYOUT_MOMENTS else {}
    return transition(
        payout,
        to=to,
        allowed_from=allowed,
        now=now,
        actor=actor,
        reason=reason,
        updates={**moment, **updates},
        meeting_id=payout.meeting_id,
        done_states=done_states,
        data=data,
    )


def _review_decision(payout: Payout, to: str, *, now, actor, reason, allowed=(PayoutState.HELD,), **kwargs):
    """A reviewer's decision on a payout (a held one, unless ``allowed`` says otherwise), recording who decided and
    their note."""
    return _payout_transition(
        payout, to, allowed, now=now, actor=actor, reason=reason, reviewed_by=_user(actor), review_note=reason, **kwargs
    )


def approve_payout(payout: Payout, *, now: dt.datetime, actor=None, reason: str = ""):
    """Pending -> approved: by the dispute-window sweep (actor None) or staff."""
    return _payout_transition(
        payout,
        PayoutState.APPROVED,
        [PayoutState.PENDING],
        now=now,
        actor=actor,
        reason=reason or "dispute window over",
        done_states=[PayoutState.PAID],
    )


def hold_payout(payout: Payout, *, now: dt.datetime, actor=None, reason: str):
    return _payout_transition(
        payout, PayoutState.HELD, [PayoutState.PENDING], now=now, actor=actor, reason=reason, held_reason=reason[:200]
    )


def release_payout(payout: Payout, *, now: dt.datetime, actor, reason: str):
    """Held -> approved: staff decided the teacher did attend."""
    return _review_decision(payout, PayoutState.APPROVED, now=now, actor=actor, reason=reason)


def cancel_payout(payout: Payout, *, now: dt.datetime, actor, reason: str):
    return _review_decision(
        payout,
        PayoutState.CANCELLED,
        now=now,
        actor=actor,
        reason=reason,
        allowed=[PayoutState.PENDING, PayoutState.HELD],
    )


def excuse_payout(payout: Payout, *, percent: int, now: dt.datetime, actor, reason: str):
    """Held -> approved at ``percent`` of the net: staff excused a teacher who was there only in part. The teacher's
    share is rounded once; the platform keeps the rest of the gross, so gross = commission + net still holds."""
    if not isinstance(percent, int) or isinstance(percent, bool) or not 1 <= percent <= 100:
        raise InvalidDecision(_("the percentage is a whole number from 1 to 100"))
    current = Payout.objects.get(pk=payout.pk)
    net = round_money(current.net * Decimal(percent) / Decimal(100), current.currency)
    return _review_decision(
        payout,
        PayoutState.APPROVED,
        now=now,
        actor=actor,
        reason=reason,
        net=net,
        commission=current.gross - net,
        excused_percent=percent,
        data={"percent": percent, "net_before": str(current.net), "net": str(net)},
    )


def payable_gross(meetings) -> dict[int, Decimal]:
    """Per meeting (with its policy pinned), what its teacher's payout is computed on, unrounded (the payout rounds
    once): the price of every completed booking plus the policy's student_absence_share_percent of what each
    late-cancelled or no-show student was charged. A meeting with none of these is left out (nothing to pay)."""
    by_id = {m.pk: m for m in meetings}
    rows = (
        Booking.objects.filter(meeting_id__in=list(by_id), status__in=[Status.COMPLETED, *Booking.CHARGED_ABSENT])
        .order_by()
        .values("meeting_id")
        .annotate(
            completed=Sum("amount", filter=Q(status=Status.COMPLETED)),
            absent=Sum("charged_amount", filter=Q(status__in=Booking.CHARGED_ABSENT)),
        )
        .values_list("meeting_id", "completed", "absent")
    )
    gross = {}
    for meeting_id, completed, absent in rows:
        share = by_id[meeting_id].rules.student_absence_share_percent / 100
        gross[meeting_id] = (completed or ZERO) + (absent or ZERO) * share
    return gross


def completed_gross(meeting_id: int) -> Decimal | None:
    """The meeting's :func:`payable_gross`, or None when it has nothing to pay on."""
    return payable_gross([Meeting.objects.get(pk=meeting_id)]).get(meeting_id)


def _money(amount: Decimal, currency: str) -> str:
    return str(round_money(amount, currency))


def payout_after_refund(booking: Booking, *, now: dt.datetime, actor=None, reason: str = "") -> str | None:
    """A completed booking was just refunded (in the caller's transaction): the teacher's payout follows. Before
    approval (pending or held) its amounts are recomputed from the completed bookings left; approved or paid, the
    booking's share is taken back by a negative :class:`PayoutAdjustment` (one per booking). A cancelled payout (a
    confirmed no-show, which refunds every booking after cancelling it) stays as it is, and a class not settled yet
    needs nothing: settlement counts only completed bookings. Returns "recomputed", "adjusted" or None."""
    payout = Payout.objects.select_for_update(no_key=True).filter(meeting_id=booking.meeting_id).first()
    if payout is None:
        return None
    if payout.state in (PayoutState.PENDING, PayoutState.HELD):
        _recompute_payout(payout, booking, now=now, actor=actor, reason=reason)
        return "recomputed"
    if payout.state in (PayoutState.APPROVED, PayoutState.PAID):
        return "adjusted" if _take_back_share(payout, booking, now=now, actor=actor, reason=reason) else None
    return None


def _recompute_payout(payout: Payout, booking: Booking, *, now: dt.datetime, actor, reason: str) -> None:
    """Gross from the completed bookings left, commission at the payout's rate, rounded once (``split_revenue``).
    When none is left the payout is zero and keeps its state: a held one still needs its review decision, and
    "cancelled" is that decision's (no-show) outcome, not a refund's."""
    currency = payout.currency
    gross = round_money(completed_gross(payout.meeting_id) or ZERO, currency)
    commission, net = split_revenue(gross, payout.commission_rate, currency)
    names = ("gross", "commission", "net")
    before = {name: _money(getattr(payout, name), currency) for name in names}
    after = {name: _money(value, currency) for name, value in zip(names, (gross, commission, net), strict=True)}
    Payout.objects.filter(pk=payout.pk, state=payout.state).update(gross=gross, commission=commission, net=net)
    audit.write(
        audit.entries(
            Payout,
            [(payout.pk, f"{before['net']} {currency}", payout.meeting_id)],
            to_state=f"{after['net']} {currency}",
            at=now,
            actor=actor,
            field="amounts",
            reason=f"booking {booking.pk} refunded: {reason}",
            data={"booking": booking.pk, "before": before, "after": after},
        )
    )


def _take_back_share(payout: Payout, booking: Booking, *, now: dt.datetime, actor, reason: str):
    """The teacher keeps the payout's net in proportion to the gross still completed, rounded once; the adjustment
    is what they are owed beyond that. For one refund that is the booking's share (net x amount / gross); the last
    refund takes exactly what rounding left, so the adjustments never add up to more than the net. An excused
    payout's net is already its percentage, so its share is too. Returns the adjustment, or None (recorded before,
    or nothing to take back)."""
    if PayoutAdjustment.objects.filter(payout=payout, booking=booking).exists():
        return None
    currency = payout.currency
    taken = PayoutAdjustment.objects.filter(payout=payout).aggregate(total=Sum("amount"))["total"] or ZERO
    owed = payout.net + taken
    left = min(completed_gross(payout.meeting_id) or ZERO, payout.gross)
    keep = round_money(payout.net * left / payout.gross, currency) if payout.gross else ZERO
    amount = min(ZERO, keep - owed)
    if not amount:
        return None
    adjustment = PayoutAdjustment.objects.create(
        payout=payout,
        booking=booking,
        amount=amount,
        currency=currency,
        reason=f"booking {booking.pk} refunded after the payout was {payout.state}: {reason}",
        created_at=now,
        actor=_user(actor),
        actor_name=audit.actor_name(actor),
    )
    audit.write(
        audit.entries(
            Payout,
            [(payout.pk, "", payout.meeting_id)],
            to_state=f"{_money(amount, currency)} {currency}",
            at=now,
            actor=actor,
            field="adjustment",
            reason=adjustment.reason,
            data={
                "booking": booking.pk,
                "adjustment": adjustment.pk,
                "amount": _money(amount, currency),
                "net_after": _money(owed + amount, currency),
            },
        )
    )
    return adjustment


def mark_payout_paid(payout: Payout, *, now: dt.datetime, actor, reason: str = ""):
    return _payout_transition(
        payout, PayoutState.PAID, [PayoutState.APPROVED], now=now, actor=actor, reason=reason or "paid"
    )


def _user(actor):
    return None if actor is None or isinstance(actor, str) else actor
