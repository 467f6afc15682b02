import datetime as dt
from decimal import Decimal

import pytest

from bookings import transitions
from bookings.errors import AlreadyBooked, BookingClosed, CancellationTooLate, ClassFull
from bookings.models import Appointment, Booking, Payout
from classroom.errors import IllegalTransition
from meetings.models import Meeting, StateChange
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
