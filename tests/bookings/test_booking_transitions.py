import datetime as dt
from decimal import Decimal

import pytest

from bookings import transitions
from bookings.errors import AlreadyBooked, BookingClosed, CancellationTooLate, ClassFull
from bookings.models import Appointment, Booking, Payout
from core.errors import IllegalTransition
from core.models import StateChange
from meetings.models import Meeting
from tests.factories import StudentFactory, book


def statuses(model, obj, field):
    return list(
        StateChange.objects.filter(content_type__model=model, object_id=obj.pk, field=field).values_list(
            "from_state", "to_state"
        )
    )


def test_booking_takes_a_seat_confirms_and_plans_the_links(meeting, alice, now):
    booking = book(alice, meeting, now=now)
    meeting.refresh_from_db()
    assert booking.status == "confirmed" and booking.amount == meeting.course.price
    assert meeting.seats_taken == 1
    assert statuses("booking", booking, "status") == [("", "pending"), ("pending", "confirmed")]
    appointment = booking.appointment
    assert appointment.join_link_due_at == meeting.start_time - dt.timedelta(minutes=10)
    assert appointment.feedback_link_due_at == meeting.end_time - dt.timedelta(minutes=10)


def test_a_full_class_refuses_the_next_student(meeting, now):
    Meeting.objects.filter(pk=meeting.pk).update(capacity=2)
    book(StudentFactory(), meeting, now=now)
    book(StudentFactory(), meeting, now=now)
    with pytest.raises(ClassFull, match="is full"):
        book(StudentFactory(), meeting, now=now)
    assert Booking.objects.filter(meeting=meeting).count() == 2


def test_a_student_books_a_class_once(meeting, alice, now):
    book(alice, meeting, now=now)
    with pytest.raises(AlreadyBooked):
        book(alice, meeting, now=now)


@pytest.mark.parametrize("state", ["closed", "cancelled"])
def test_a_finished_class_cannot_be_booked(meeting, alice, now, state):
    Meeting.objects.filter(pk=meeting.pk).update(state=state)
    with pytest.raises(BookingClosed):
        book(alice, meeting, now=now)


def test_a_class_past_its_late_join_grace_cannot_be_booked(meeting, alice):
    with pytest.raises(BookingClosed, match="can no longer be joined"):
        book(alice, meeting, now=meeting.start_time + dt.timedelta(minutes=10))


def test_cancelling_before_the_cutoff_gives_the_seat_back(meeting, alice, now):
    booking = book(alice, meeting, now=now)
    cutoff = meeting.start_time - dt.timedelta(minutes=120)
    Meeting.objects.filter(pk=meeting.pk).update(
        start_time=now + dt.timedelta(hours=3), end_time=now + dt.timedelta(hours=4)
    )
    booking.meeting.refresh_from_db()
    outcome = transitions.cancel_booking(booking, now=now)
    assert outcome.changed
    meeting.refresh_from_db()
    assert meeting.seats_taken == 0
    assert Appointment.objects.get(booking=booking).join_link_state == "skipped"
    assert transitions.cancel_booking(booking, now=now).already
    assert cutoff  # the original meeting's cutoff was in the past relative to 'now + 3 h' start


def test_cancelling_after_the_cutoff_is_refused(meeting, alice, now):
    booking = book(alice, meeting, now=now)  # the class starts in 60 min; the cutoff is 120 min before
    with pytest.raises(CancellationTooLate, match="120 minutes before"):
        transitions.cancel_booking(booking, now=now)
    booking.refresh_from_db()
    assert booking.status == "confirmed"


def test_refunds(meeting, alice, bob, now):
    confirmed = book(alice, meeting, now=now)
    transitions.refund_booking(confirmed, now=now, reason="goodwill")
    meeting.refresh_from_db()
    assert meeting.seats_taken == 0
    pending = book(bob, meeting, now=now, confirm=False)
    with pytest.raises(IllegalTransition, match="pending; it cannot become refunded"):
        transitions.refund_booking(pending, now=now)
    assert transitions.refund_booking(confirmed, now=now).already


def test_confirming_twice_is_already_done(meeting, alice, now):
    booking = book(alice, meeting, now=now, confirm=False)
    assert transitions.confirm_booking(booking, now=now).changed
    assert transitions.confirm_booking(booking, now=now).already
    assert Appointment.objects.filter(booking=booking).count() == 1


def test_closing_completes_confirmed_and_cancels_unpaid(meeting, alice, bob, now):
    paid = book(alice, meeting, now=now)
    book(bob, meeting, now=now, confirm=False)
    from django.db import transaction

    with transaction.atomic():
        completed = transitions.complete_bookings([meeting.pk], now=meeting.end_time)
    assert completed == [paid.pk]
    history = StateChange.objects.filter(object_id=paid.pk, content_type__model="booking", to_state="completed")
    assert history.get().from_state == "confirmed" and history.get().meeting_id == meeting.pk
    assert dict(Booking.objects.values_list("student__display_name", "status")) == {
        "Alice": "completed",
        "Bob": "cancelled",
    }


def test_a_link_is_marked_once(meeting, alice, now):
    from django.db import transaction

    book(alice, meeting, now=now)
    with transaction.atomic():
        first = transitions.mark_links(Appointment.objects.all(), "join_link", "sent", now=now)
        second = transitions.mark_links(Appointment.objects.all(), "join_link", "sent", now=now)
    assert len(first) == 1 and second == []
    assert StateChange.objects.filter(field="join_link_state").count() == 1


class TestPayouts:
    def test_it_creates_one_payout_per_meeting(self, meeting, now):
        payout, created = transitions.create_payout(meeting, gross=Decimal("29.97"), rate=Decimal("0.175"), now=now)
        again, created_again = transitions.create_payout(meeting, gross=Decimal("1"), rate=Decimal("0.5"), now=now)
        assert created and not created_again and again.pk == payout.pk
        assert (payout.gross, payout.commission, payout.net) == (Decimal("29.97"), Decimal("5.24"), Decimal("24.73"))
        assert payout.state == "pending" and payout.approve_after == now + dt.timedelta(hours=24)

    def test_the_clean_path(self, meeting, staff, now):
        payout, _ = transitions.create_payout(meeting, gross=Decimal("10"), rate=Decimal("0.2"), now=now)
        assert transitions.approve_payout(payout, now=now).changed
        assert transitions.approve_payout(payout, now=now).already
        assert transitions.mark_payout_paid(payout, now=now, actor=staff).changed
        assert transitions.approve_payout(payout, now=now).already  # paid counts as done
        assert [t for _, t in statuses("payout", payout, "state")] == ["pending", "approved", "paid"]

    def test_the_review_path(self, meeting, staff, now):
        held, _ = transitions.create_payout(
            meeting, gross=Decimal("10"), rate=Decimal("0.2"), now=now, held_reason="teacher not seen"
        )
        assert held.state == "held" and held.approve_after is None
        with pytest.raises(IllegalTransition):
            transitions.mark_payout_paid(held, now=now, actor=staff)
        transitions.release_payout(held, now=now, actor=staff, reason="teacher sent a recording")
        held.refresh_from_db()
        assert held.state == "approved" and held.reviewed_by == staff

    def test_hold_and_cancel(self, meeting, staff, now):
        payout, _ = transitions.create_payout(meeting, gross=Decimal("10"), rate=Decimal("0.2"), now=now)
        transitions.hold_payout(payout, now=now, actor=staff, reason="student complaint")
        transitions.cancel_payout(payout, now=now, actor=staff, reason="no-show confirmed")
        assert Payout.objects.get(pk=payout.pk).state == "cancelled"
        with pytest.raises(IllegalTransition):
            transitions.release_payout(payout, now=now, actor=staff, reason="too late")


# --- cancelling: a refund, both people told, the cutoff in the student's zone, a moved class (issue 13) -------------


def outbox(kind):
    from notifications.models import Notification

    return {
        (n.student_id and "student" or "teacher"): n.payload["text"]
        for n in Notification.objects.filter(kind=kind).order_by("id")
    }


@pytest.fixture
def later(teacher, now):
    """Charlie's class the day after (plenty of time before its cutoff)."""
    from tests.factories import MeetingFactory

    return MeetingFactory(
        teacher=teacher,
        title="IELTS Practice",
        start_time=now + dt.timedelta(days=1),
        end_time=now + dt.timedelta(days=1, hours=1),
    )


def test_cancelling_before_the_cutoff_refunds_and_tells_the_student_and_the_teacher(later, alice, now):
    booking = book(alice, later, now=now)
    transitions.cancel_booking(booking, now=now + dt.timedelta(minutes=5))
    booking.refresh_from_db()
    assert booking.status == "cancelled" and booking.refunded_at == now + dt.timedelta(minutes=5)
    assert booking.cancelled_at == booking.refunded_at
    texts = outbox("booking_cancelled")
    assert set(texts) == {"student", "teacher"}
    assert (
        "cancelled and your payment is refunded" in texts["student"] and "19:00 (Asia/Ho_Chi_Minh)" in texts["student"]
    )
    assert (
        texts["teacher"].startswith("Alice cancelled their booking") and "08:00 (America/New_York)" in texts["teacher"]
    )
    assert statuses("booking", booking, "status")[-1] == ("confirmed", "cancelled")


def test_cancelling_twice_refunds_and_tells_once(later, alice, now):
    from notifications.models import Notification

    booking = book(alice, later, now=now)
    assert transitions.cancel_booking(booking, now=now).changed
    assert transitions.cancel_booking(booking, now=now + dt.timedelta(minutes=1)).already
    assert Booking.objects.get(pk=booking.pk).refunded_at == now
    assert Notification.objects.filter(kind="booking_cancelled").count() == 2


def test_a_second_booking_cancelled_is_told_again(later, alice, now):
    """The outbox is unique per meeting, recipient and kind: a rebooked-then-cancelled seat is a new message."""
    from notifications.models import Notification

    transitions.cancel_booking(book(alice, later, now=now), now=now)
    transitions.cancel_booking(book(alice, later, now=now), now=now + dt.timedelta(minutes=1))
    assert Notification.objects.filter(kind="booking_cancelled").count() == 4


def test_an_unpaid_booking_cancelled_is_not_refunded(later, alice, now):
    booking = book(alice, later, now=now, confirm=False)
    transitions.cancel_booking(booking, now=now)
    booking.refresh_from_db()
    assert booking.status == "cancelled" and booking.refunded_at is None
    assert set(outbox("booking_cancelled")) == {"teacher"}  # the seat is free again; there is no money to give back


def test_staff_cancelling_after_the_cutoff_also_refunds_and_tells(meeting, alice, staff, now):
    booking = book(alice, meeting, now=now)  # starts in an hour: past the cutoff
    transitions.cancel_booking(booking, now=now, actor=staff, reason="family emergency", enforce_cutoff=False)
    booking.refresh_from_db()
    assert booking.status == "cancelled" and booking.refunded_at == now
    assert set(outbox("booking_cancelled")) == {"student", "teacher"}


def test_the_cutoff_refusal_states_the_cutoff_in_the_students_zone(meeting, alice, now):
    booking = book(alice, meeting, now=now)  # 13:00 UTC start: the cutoff is 11:00 UTC = 18:00 in Ho Chi Minh City
    with pytest.raises(CancellationTooLate) as refused:
        transitions.cancel_booking(booking, now=now)
    assert "120 minutes before the class starts" in str(refused.value)
    assert "2026-07-01 18:00 Asia/Ho_Chi_Minh" in str(refused.value) and "UTC" not in str(refused.value)
    booking.refresh_from_db()
    assert booking.status == "confirmed" and booking.refunded_at is None


def test_a_class_moved_inside_the_cutoff_can_still_be_cancelled_until_it_starts(teacher, alice, now):
    """Booked 3 days ahead; the teacher moves the class to start in an hour (inside the 2-hour cutoff). Alice did not
    choose that time: she may cancel, with a refund, until the class starts."""
    from meetings import lifecycle
    from tests.factories import MeetingFactory

    meeting = MeetingFactory(
        teacher=teacher, start_time=now + dt.timedelta(days=3), end_time=now + dt.timedelta(days=3, hours=1)
    )
    booking = book(alice, meeting, now=now - dt.timedelta(hours=1))
    moved = lifecycle.edit_meeting(
        meeting, now=now, start_time=now + dt.timedelta(hours=1), end_time=now + dt.timedelta(hours=2)
    )
    assert transitions.cancellation_cutoff(moved) == now - dt.timedelta(hours=1)  # the class's own cutoff
    assert transitions.cancellation_cutoff(moved, booking=booking) == moved.start_time
    outcome = transitions.cancel_booking(Booking.objects.get(pk=booking.pk), now=now + dt.timedelta(minutes=30))
    assert outcome.changed
    booking.refresh_from_db()
    assert booking.status == "cancelled" and booking.refunded_at == now + dt.timedelta(minutes=30)


def test_after_the_moved_class_starts_it_is_too_late(teacher, alice, now):
    from meetings import lifecycle
    from tests.factories import MeetingFactory

    meeting = MeetingFactory(
        teacher=teacher, start_time=now + dt.timedelta(days=3), end_time=now + dt.timedelta(days=3, hours=1)
    )
    booking = book(alice, meeting, now=now - dt.timedelta(hours=1))
    lifecycle.edit_meeting(
        meeting, now=now, start_time=now + dt.timedelta(hours=1), end_time=now + dt.timedelta(hours=2)
    )
    with pytest.raises(CancellationTooLate, match="until it started"):
        transitions.cancel_booking(Booking.objects.get(pk=booking.pk), now=now + dt.timedelta(hours=1))


def test_a_booking_made_after_the_move_keeps_the_normal_cutoff(teacher, alice, now):
    """Alice booked the new time herself, knowing it."""
    from meetings import lifecycle
    from tests.factories import MeetingFactory

    meeting = MeetingFactory(
        teacher=teacher, start_time=now + dt.timedelta(days=3), end_time=now + dt.timedelta(days=3, hours=1)
    )
    lifecycle.edit_meeting(
        meeting, now=now, start_time=now + dt.timedelta(hours=1), end_time=now + dt.timedelta(hours=2)
    )
    booking = book(alice, meeting, now=now + dt.timedelta(minutes=1))
    with pytest.raises(CancellationTooLate):
        transitions.cancel_booking(booking, now=now + dt.timedelta(minutes=2))


# --- feedback: once, for a completed (or finishing) booking, within its deadline ------------------------------------


def ran(meeting):
    from meetings import lifecycle

    lifecycle.open_meeting(meeting, now=meeting.start_time)
    lifecycle.close_meeting(meeting, now=meeting.close_at)


def test_feedback_is_recorded_once_with_its_history(meeting, alice, now):
    booking = book(alice, meeting, now=now)
    ran(meeting)
    transitions.record_feedback(booking, rating=4, comment="good", now=meeting.close_at)
    with pytest.raises(IllegalTransition, match="already have your feedback") as again:
        transitions.record_feedback(booking, rating=1, comment="bad", now=meeting.close_at)
    assert again.value.code == transitions.FEEDBACK_ALREADY_GIVEN
    booking.refresh_from_db()
    assert (booking.feedback_rating, booking.feedback_comment, booking.feedback_at) == (4, "good", meeting.close_at)
    assert statuses("booking", booking, "feedback") == [("", "received")]


def test_a_refunded_booking_gives_no_feedback(meeting, alice, now):
    booking = book(alice, meeting, now=now)
    ran(meeting)
    transitions.refund_booking(booking, now=meeting.close_at, reason="goodwill")
    for _ in range(2):
        with pytest.raises(IllegalTransition, match="refunded") as refused:
            transitions.record_feedback(booking, rating=1, comment="", now=meeting.close_at)
        assert refused.value.code == transitions.FEEDBACK_NOT_ALLOWED
    assert Booking.objects.get(pk=booking.pk).feedback_at is None


def test_an_unpaid_booking_gives_no_feedback(meeting, alice, now):
    from meetings import lifecycle

    booking = book(alice, meeting, now=now, confirm=False)
    lifecycle.open_meeting(meeting, now=meeting.start_time)
    with pytest.raises(IllegalTransition, match="Your booking is pending") as refused:
        transitions.record_feedback(booking, rating=5, comment="", now=meeting.end_time)
    assert refused.value.code == transitions.FEEDBACK_NOT_ALLOWED


def test_feedback_after_the_deadline_is_refused(meeting, alice, now, settings):
    booking = book(alice, meeting, now=now)
    ran(meeting)
    deadline = transitions.feedback_deadline(meeting)
    assert deadline == meeting.end_time + dt.timedelta(hours=settings.FEEDBACK_LINK_VALID_HOURS)
    with pytest.raises(IllegalTransition, match="expired") as refused:
        transitions.record_feedback(booking, rating=5, comment="", now=deadline)
    assert refused.value.code == transitions.FEEDBACK_EXPIRED


@pytest.mark.parametrize("rating", [0, 6, "5", True, None])
def test_a_rating_is_a_whole_number_from_1_to_5(meeting, alice, now, rating):
    booking = book(alice, meeting, now=now)
    ran(meeting)
    with pytest.raises(ValueError, match="from 1 to 5"):
        transitions.record_feedback(booking, rating=rating, comment="", now=meeting.close_at)
