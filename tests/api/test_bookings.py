"""/api/v1/bookings/: students book (capacity enforced), list their own, cancel before the cutoff."""

import datetime as dt

import pytest

from bookings.models import Booking
from meetings import lifecycle
from meetings.models import Meeting
from tests import factories
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db


def test_a_student_books_a_seat(as_alice, alice, meeting):
    response = as_alice.post("/api/v1/bookings/", {"meeting": meeting.pk})
    assert response.status_code == 201, response.content
    body = response.json()
    booking = Booking.objects.get(pk=body["id"])
    assert booking.student == alice and booking.status == "confirmed"
    assert body["status"] == "confirmed" and body["amount"] == "10.00" and body["currency"] == "USD"
    assert body["meeting"]["id"] == meeting.pk and body["meeting"]["seats_taken"] == 1
    assert body["meeting"]["local"]["time_zone"] == "Asia/Ho_Chi_Minh" and "my_booking" not in body["meeting"]
    assert body["cancellable"] is False  # the class starts in an hour: past the 120-minute cutoff
    assert Meeting.objects.get(pk=meeting.pk).seats_taken == 1


def test_the_last_seat_goes_once(as_alice, as_bob, now, teacher):
    meeting = factories.MeetingFactory(teacher=teacher, course=factories.CourseFactory(capacity=1))
    assert as_alice.post("/api/v1/bookings/", {"meeting": meeting.pk}).status_code == 201
    assert_error(as_bob.post("/api/v1/bookings/", {"meeting": meeting.pk}), 409, "class_full")
    assert Booking.objects.count() == 1


def test_booking_twice_is_a_conflict(as_alice, meeting):
    as_alice.post("/api/v1/bookings/", {"meeting": meeting.pk})
    assert_error(as_alice.post("/api/v1/bookings/", {"meeting": meeting.pk}), 409, "already_booked")
    assert Booking.objects.count() == 1


def test_a_meeting_the_student_cannot_see_cannot_be_booked(as_alice, now, teacher):
    over = factories.MeetingFactory(
        teacher=teacher, start_time=now - dt.timedelta(hours=3), end_time=now - dt.timedelta(hours=2)
    )
    for meeting_id in (over.pk, 999, "abc", None):
        assert_error(as_alice.post("/api/v1/bookings/", {"meeting": meeting_id}), 400, "validation_error", "meeting")
    assert_error(as_alice.post("/api/v1/bookings/", {}), 400, "validation_error", "meeting")
    assert not Booking.objects.exists()


def test_a_cancelled_meeting_cannot_be_booked(as_alice, meeting, now):
    lifecycle.cancel_meeting(meeting, now=now, reason="x")
    assert_error(as_alice.post("/api/v1/bookings/", {"meeting": meeting.pk}), 400, "validation_error", "meeting")


def test_a_booking_that_races_the_end_of_the_grace_is_refused(as_alice, meeting, monkeypatch):
    """Visible when the request started, not bookable any more when the transition looked: 409 booking_closed."""
    from bookings import api

    monkeypatch.setattr(api, "visible_meetings", lambda user, now: Meeting.objects.all())
    lifecycle.open_meeting(meeting, now=meeting.start_time)
    lifecycle.close_meeting(meeting, now=meeting.start_time)
    assert_error(as_alice.post("/api/v1/bookings/", {"meeting": meeting.pk}), 409, "booking_closed")


def test_teachers_and_staff_do_not_book(as_charlie, as_staff, meeting):
    assert_error(as_charlie.post("/api/v1/bookings/", {"meeting": meeting.pk}), 403, "permission_denied")
    assert_error(as_staff.post("/api/v1/bookings/", {"meeting": meeting.pk}), 403, "permission_denied")
    assert not Booking.objects.exists()


def test_a_student_lists_only_their_own_bookings(as_alice, as_bob, as_charlie, as_staff, alice, bob, meeting, now):
    mine = factories.book(alice, meeting, now=now)
    theirs = factories.book(bob, meeting, now=now)
    assert [b["id"] for b in as_alice.get("/api/v1/bookings/").json()["results"]] == [mine.pk]
    assert_error(as_alice.get(f"/api/v1/bookings/{theirs.pk}/"), 404, "not_found")
    assert as_alice.get(f"/api/v1/bookings/{mine.pk}/").status_code == 200
    assert as_charlie.get("/api/v1/bookings/").json()["count"] == 0
    assert as_staff.get("/api/v1/bookings/").json()["count"] == 2


def test_a_student_cancels_before_the_cutoff(as_alice, alice, teacher, now):
    meeting = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(hours=3))
    booking = factories.book(alice, meeting, now=now)
    response = as_alice.post(f"/api/v1/bookings/{booking.pk}/cancel/", {})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (
        body["changed"] is True and body["booking"]["status"] == "cancelled" and body["booking"]["cancellable"] is False
    )
    assert Meeting.objects.get(pk=meeting.pk).seats_taken == 0
    again = as_alice.post(f"/api/v1/bookings/{booking.pk}/cancel/", {})
    assert again.status_code == 200 and again.json()["changed"] is False


@pytest.mark.parametrize(("before_cutoff", "allowed"), [(dt.timedelta(seconds=1), True), (dt.timedelta(0), False)])
def test_the_cutoff_is_exact(as_alice, alice, teacher, now, frozen_clock, before_cutoff, allowed, settings):
    meeting = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(hours=3))
    booking = factories.book(alice, meeting, now=now)
    cutoff = meeting.start_time - dt.timedelta(minutes=settings.BOOKING_CANCELLATION_CUTOFF_MINUTES)
    frozen_clock.move_to(cutoff - before_cutoff)
    assert as_alice.get(f"/api/v1/bookings/{booking.pk}/").json()["cancellable"] is allowed
    response = as_alice.post(f"/api/v1/bookings/{booking.pk}/cancel/", {})
    if allowed:
        assert response.status_code == 200
    else:
        error = assert_error(response, 409, "cancellation_too_late")
        assert "120 minutes" in error["message"]
        assert Booking.objects.get(pk=booking.pk).status == "confirmed"


def test_a_completed_booking_cannot_be_cancelled(as_alice, alice, teacher, now, frozen_clock):
    meeting = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(days=1))
    booking = factories.book(alice, meeting, now=now)
    lifecycle.open_meeting(meeting, now=now)
    lifecycle.close_meeting(meeting, now=now)
    assert_error(as_alice.post(f"/api/v1/bookings/{booking.pk}/cancel/", {}), 409, "illegal_transition")


def test_nobody_cancels_someone_elses_booking(as_bob, as_staff, as_charlie, alice, teacher, now):
    meeting = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(days=1))
    booking = factories.book(alice, meeting, now=now)
    assert_error(as_bob.post(f"/api/v1/bookings/{booking.pk}/cancel/", {}), 404, "not_found")
    assert_error(as_charlie.post(f"/api/v1/bookings/{booking.pk}/cancel/", {}), 404, "not_found")
    assert_error(as_staff.post(f"/api/v1/bookings/{booking.pk}/cancel/", {}), 403, "permission_denied")
    assert Booking.objects.get(pk=booking.pk).status == "confirmed"


def test_the_meeting_id_must_be_a_json_number(as_alice, meeting):
    for value in (str(meeting.pk), True, float(meeting.pk)):
        assert_error(as_alice.post("/api/v1/bookings/", {"meeting": value}), 400, "validation_error", "meeting")
    assert not Booking.objects.exists()
