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


def test_booking_a_class_that_does_not_exist_is_a_404(as_alice):
    error = assert_error(as_alice.post("/api/v1/bookings/", {"meeting": 999999}), 404, "not_found")
    assert "999999" in error["message"]
    assert not Booking.objects.exists()


def test_a_meeting_the_student_cannot_see_is_a_404_like_one_that_does_not_exist(as_alice, now, teacher):
    """Its existence does not leak: the same answer as for an id nobody has."""
    over = factories.MeetingFactory(
        teacher=teacher, start_time=now - dt.timedelta(hours=3), end_time=now - dt.timedelta(hours=2)
    )
    hidden = assert_error(as_alice.post("/api/v1/bookings/", {"meeting": over.pk}), 404, "not_found")
    missing = assert_error(as_alice.post("/api/v1/bookings/", {"meeting": over.pk + 1000}), 404, "not_found")
    assert hidden["message"].replace(str(over.pk), "N") == missing["message"].replace(str(over.pk + 1000), "N")
    assert not Booking.objects.exists()


def test_a_meeting_id_that_is_not_a_number_is_a_400(as_alice):
    for meeting_id in ("abc", None, 0, -1, 2**63):
        assert_error(as_alice.post("/api/v1/bookings/", {"meeting": meeting_id}), 400, "validation_error", "meeting")
    assert_error(as_alice.post("/api/v1/bookings/", {}), 400, "validation_error", "meeting")
    assert not Booking.objects.exists()


def test_a_cancelled_meeting_cannot_be_booked(as_alice, meeting, now):
    lifecycle.cancel_meeting(meeting, now=now, reason="x")
    assert_error(as_alice.post("/api/v1/bookings/", {"meeting": meeting.pk}), 404, "not_found")


def test_a_booking_that_races_the_end_of_the_grace_is_refused(as_alice, meeting, monkeypatch):
    """Visible when the request started, not bookable any more when the transition looked: 409 booking_closed."""
    from bookings import api

    monkeypatch.setattr(api, "visible_meetings", lambda user, now: Meeting.objects.all())
    lifecycle.open_meeting(meeting, now=meeting.start_time)
    lifecycle.close_meeting(meeting, now=meeting.start_time)
    assert_error(as_alice.post("/api/v1/bookings/", {"meeting": meeting.pk}), 409, "booking_closed")


def test_teachers_do_not_book_and_staff_must_name_the_student(as_charlie, as_staff, meeting):
    assert_error(as_charlie.post("/api/v1/bookings/", {"meeting": meeting.pk}), 403, "permission_denied")
    error = assert_error(
        as_staff.post("/api/v1/bookings/", {"meeting": meeting.pk}), 400, "validation_error", "student"
    )
    assert "student" in error["message"]
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
    cutoff = meeting.start_time - meeting.rules.cancellation_cutoff
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


def test_cancelling_refunds_and_tells_both(as_alice, alice, teacher, now):
    from notifications.models import Notification

    meeting = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(hours=3))
    booking = factories.book(alice, meeting, now=now)
    body = as_alice.post(f"/api/v1/bookings/{booking.pk}/cancel/", {"reason": "sick"}).json()
    assert body["booking"]["status"] == "cancelled" and body["booking"]["refunded_at"] == "2026-07-01T12:00:00Z"
    recipients = Notification.objects.filter(kind="booking_cancelled").values_list("student_id", "teacher_id")
    assert sorted(recipients, key=str) == sorted([(alice.pk, None), (None, teacher.pk)], key=str)


def test_the_cutoff_refusal_is_in_the_students_zone(as_alice, alice, meeting, now):
    factories.book(alice, meeting, now=now)
    booking = Booking.objects.get(student=alice)
    error = assert_error(as_alice.post(f"/api/v1/bookings/{booking.pk}/cancel/", {}), 409, "cancellation_too_late")
    assert error["message"] == (
        "bookings can be cancelled until 120 minutes before the class starts (2026-07-01 18:00 Asia/Ho_Chi_Minh); "
        "cancelling now is a late cancel charged at 100% of the price: confirm it to go ahead"
    )


def test_a_class_moved_earlier_can_be_cancelled_until_it_starts(
    as_alice, as_charlie, alice, teacher, now, frozen_clock
):
    """Booked three days ahead; Charlie moves the class to start in an hour, inside the 2-hour cutoff."""
    meeting = factories.MeetingFactory(
        teacher=teacher, start_time=now + dt.timedelta(days=3), end_time=now + dt.timedelta(days=3, hours=1)
    )
    frozen_clock.move_to(now - dt.timedelta(days=1))
    booking = factories.book(alice, meeting, now=now - dt.timedelta(days=1))
    frozen_clock.move_to(now)
    moved = as_charlie.patch(
        f"/api/v1/meetings/{meeting.pk}/", {"start_time": "2026-07-01T13:00:00Z", "end_time": "2026-07-01T14:00:00Z"}
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["cancellation_cutoff"] == "2026-07-01T11:00:00Z"  # the class's own cutoff, for newcomers
    seen = as_alice.get(f"/api/v1/bookings/{booking.pk}/").json()
    assert seen["cancellable"] is True
    assert seen["meeting"]["cancellation_cutoff"] == "2026-07-01T13:00:00Z"  # Alice's: until it starts
    listed = as_alice.get("/api/v1/bookings/").json()["results"][0]
    assert listed["cancellable"] is True and listed["meeting"]["cancellation_cutoff"] == "2026-07-01T13:00:00Z"
    response = as_alice.post(f"/api/v1/bookings/{booking.pk}/cancel/", {})
    assert response.status_code == 200, response.content
    assert response.json()["booking"]["status"] == "cancelled"
    assert Booking.objects.get(pk=booking.pk).refunded_at == now


def test_listing_bookings_does_not_ask_for_each_ones_history(
    as_alice, alice, teacher, now, django_assert_max_num_queries
):
    for days in range(1, 6):
        factories.book(
            alice, factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(days=days)), now=now
        )
    with django_assert_max_num_queries(6):
        assert as_alice.get("/api/v1/bookings/").json()["count"] == 5


def test_after_the_cutoff_a_student_late_cancels_by_accepting_the_charge(as_alice, alice, meeting, now, frozen_clock):
    booking = factories.book(alice, meeting, now=now)
    assert as_alice.get(f"/api/v1/bookings/{booking.pk}/").json()["policy"] is None  # no money decided yet
    body = as_alice.post(f"/api/v1/bookings/{booking.pk}/cancel/", {"accept_late_cancel": True}).json()
    assert body["changed"] is True
    assert body["booking"]["status"] == "late_cancelled" and body["booking"]["charged_amount"] == "10.00"
    assert body["booking"]["policy"] == meeting.policy_id == body["booking"]["meeting"]["policy"]
    assert Meeting.objects.get(pk=meeting.pk).seats_taken == 0
