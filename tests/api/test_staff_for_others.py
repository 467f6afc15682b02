"""Staff act for others through the API (issue 21 item 6): they book a seat for the student who phones in and
schedule a class for any teacher. The same transitions run, with the staff member as the actor in the history;
anyone else who names another person is refused with 403."""

import datetime as dt

import pytest

from bookings.models import Booking
from core.models import StateChange
from meetings.models import Meeting
from tests import factories
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def test_staff_book_a_seat_for_a_student(as_staff, staff, alice, meeting):
    response = as_staff.post("/api/v1/bookings/", {"meeting": meeting.pk, "student": alice.pk})
    assert response.status_code == 201, response.content
    booking = Booking.objects.get(pk=response.json()["id"])
    assert booking.student == alice and booking.status == "confirmed"
    assert Meeting.objects.get(pk=meeting.pk).seats_taken == 1
    history = StateChange.objects.filter(object_id=booking.pk, field="status").order_by("id")
    assert [(h.to_state, h.actor_id, h.actor_name) for h in history] == [
        ("pending", staff.pk, "sam"),
        ("confirmed", staff.pk, "sam"),
    ]


def test_staff_booking_keeps_the_rules_of_a_full_class(as_staff, alice, bob, teacher):
    meeting = factories.MeetingFactory(teacher=teacher, course=factories.CourseFactory(capacity=1))
    assert as_staff.post("/api/v1/bookings/", {"meeting": meeting.pk, "student": alice.pk}).status_code == 201
    assert_error(as_staff.post("/api/v1/bookings/", {"meeting": meeting.pk, "student": bob.pk}), 409, "class_full")
    assert_error(
        as_staff.post("/api/v1/bookings/", {"meeting": meeting.pk, "student": alice.pk}), 409, "already_booked"
    )
    assert Booking.objects.count() == 1


def test_an_unknown_student_is_a_400_naming_the_field(as_staff, meeting):
    assert_error(
        as_staff.post("/api/v1/bookings/", {"meeting": meeting.pk, "student": 999999}),
        400,
        "validation_error",
        "student",
    )
    assert not Booking.objects.exists()


def test_a_student_cannot_book_for_another_student(as_alice, bob, meeting):
    error = assert_error(
        as_alice.post("/api/v1/bookings/", {"meeting": meeting.pk, "student": bob.pk}), 403, "permission_denied"
    )
    assert "staff" in error["message"]
    assert not Booking.objects.exists()


@pytest.fixture
def course(db):
    return factories.CourseFactory(title="IELTS Practice", capacity=8, default_duration_minutes=90)


def test_staff_schedule_for_any_teacher(as_staff, staff, dana, course):
    response = as_staff.post(
        "/api/v1/meetings/",
        {"course": course.pk, "teacher": dana.pk, "start_time": "2026-07-02T20:00", "time_zone": "Asia/Taipei"},
    )
    assert response.status_code == 201, response.content
    meeting = Meeting.objects.get(pk=response.json()["id"])
    assert meeting.teacher == dana and meeting.state == "scheduled"
    assert meeting.start_time == dt.datetime(2026, 7, 2, 12, 0, tzinfo=UTC)
    scheduled = StateChange.objects.get(meeting=meeting, to_state="scheduled")
    assert (scheduled.actor_id, scheduled.actor_name) == (staff.pk, "sam")


def test_a_teacher_cannot_schedule_for_another_teacher(as_charlie, teacher, dana, course):
    body = {"course": course.pk, "teacher": dana.pk, "start_time": "2026-07-02T20:00:00Z"}
    error = assert_error(as_charlie.post("/api/v1/meetings/", body), 403, "permission_denied")
    assert "staff" in error["message"]
    assert not Meeting.objects.exists()
    # Naming themselves is allowed: it is what they would get anyway.
    response = as_charlie.post("/api/v1/meetings/", {**body, "teacher": teacher.pk})
    assert response.status_code == 201, response.content
    assert Meeting.objects.get().teacher == teacher


def test_staff_naming_an_unknown_teacher_is_a_400(as_staff, course):
    body = {"course": course.pk, "teacher": 999999, "start_time": "2026-07-02T20:00:00Z"}
    assert_error(as_staff.post("/api/v1/meetings/", body), 400, "validation_error", "teacher")
    assert not Meeting.objects.exists()
