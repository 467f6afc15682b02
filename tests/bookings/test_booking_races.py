"""A student's own transitions racing on real concurrent connections: the same feedback form sent twice at once (a
double click), and the same booking cancelled twice at once (the app and a retry). PostgreSQL, where the row lock
and the compare-and-set do the work (SQLite serializes the writers)."""

import datetime as dt

import pytest

from bookings import transitions
from bookings.models import Booking
from core.errors import IllegalTransition
from core.models import StateChange
from meetings import lifecycle
from notifications.models import Notification
from tests.concurrency import race
from tests.factories import MeetingFactory, book

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def test_feedback_sent_twice_at_once_is_taken_once(alice, meeting, now):
    booking = book(alice, meeting, now=now)
    lifecycle.open_meeting(meeting, now=meeting.start_time)
    lifecycle.close_meeting(meeting, now=meeting.close_at)

    def send(rating):
        return lambda: transitions.record_feedback(
            Booking.objects.get(pk=booking.pk), rating=rating, comment=f"rated {rating}", now=meeting.close_at
        )

    results = race(send(5), send(1))
    refused = [r for r in results if isinstance(r, IllegalTransition)]
    assert results.count(None) == 1 and len(refused) == 1, results
    assert refused[0].code == transitions.FEEDBACK_ALREADY_GIVEN
    booking.refresh_from_db()
    assert booking.feedback_comment == f"rated {booking.feedback_rating}"
    assert StateChange.objects.filter(object_id=booking.pk, field="feedback").count() == 1


def test_a_booking_cancelled_twice_at_once_is_refunded_and_told_once(alice, teacher, now):
    meeting = MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(days=1))
    booking = book(alice, meeting, now=now)

    def cancel():
        return transitions.cancel_booking(Booking.objects.get(pk=booking.pk), now=now)

    results = race(cancel, cancel)
    assert sorted(r.changed for r in results) == [False, True], results
    booking.refresh_from_db()
    meeting.refresh_from_db()
    assert booking.status == "cancelled" and booking.refunded_at == now and meeting.seats_taken == 0
    assert Notification.objects.filter(kind="booking_cancelled").count() == 2  # the student and the teacher
    assert StateChange.objects.filter(object_id=booking.pk, field="status", to_state="cancelled").count() == 1
