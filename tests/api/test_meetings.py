"""/api/v1/meetings/: who sees which meetings, filters, scheduling with every time rule, editing, cancelling."""

import datetime as dt

import pytest

from bookings.models import Booking
from core.models import StateChange
from meetings import lifecycle
from meetings.models import Meeting
from tests import factories
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def ids(response):
    assert response.status_code == 200, response.content
    return [m["id"] for m in response.json()["results"]]


# --- who sees what -------------------------------------------------------------------------------------------------


def test_staff_see_every_meeting(as_staff, meeting, danas_meeting):
    assert ids(as_staff.get("/api/v1/meetings/")) == [meeting.pk, danas_meeting.pk]


def test_a_teacher_sees_only_their_own(as_charlie, as_dana, meeting, danas_meeting):
    assert ids(as_charlie.get("/api/v1/meetings/")) == [meeting.pk]
    assert ids(as_dana.get("/api/v1/meetings/")) == [danas_meeting.pk]


def test_a_teacher_cannot_see_another_teachers_meeting(as_charlie, danas_meeting):
    assert_error(as_charlie.get(f"/api/v1/meetings/{danas_meeting.pk}/"), 404, "not_found")


def test_a_student_sees_bookable_and_booked_meetings_only(as_alice, alice, teacher, now):
    bookable = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(hours=3))
    full = factories.MeetingFactory(
        teacher=teacher, course=factories.CourseFactory(capacity=1), start_time=now + dt.timedelta(hours=4)
    )
    factories.book(factories.StudentFactory(), full, now=now)
    booked_then_over = factories.MeetingFactory(
        teacher=teacher, start_time=now - dt.timedelta(days=2), end_time=now - dt.timedelta(days=2, minutes=-60)
    )
    factories.book(alice, booked_then_over, now=now - dt.timedelta(days=3))
    over = factories.MeetingFactory(
        teacher=teacher, start_time=now - dt.timedelta(hours=2), end_time=now - dt.timedelta(hours=1)
    )
    cancelled = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(hours=5))
    lifecycle.cancel_meeting(cancelled, now=now, reason="teacher ill")

    visible = ids(as_alice.get("/api/v1/meetings/"))
    assert visible == [booked_then_over.pk, bookable.pk, full.pk]
    assert_error(as_alice.get(f"/api/v1/meetings/{over.pk}/"), 404, "not_found")
    assert_error(as_alice.get(f"/api/v1/meetings/{cancelled.pk}/"), 404, "not_found")
    assert as_alice.get(f"/api/v1/meetings/{full.pk}/").json()["seats_left"] == 0


def test_a_student_sees_a_meeting_until_its_late_join_grace_ends(as_alice, meeting, frozen_clock):
    frozen_clock.move_to(meeting.start_time + dt.timedelta(minutes=10) - dt.timedelta(seconds=1))
    assert ids(as_alice.get("/api/v1/meetings/")) == [meeting.pk]
    frozen_clock.move_to(meeting.start_time + dt.timedelta(minutes=10))
    assert ids(as_alice.get("/api/v1/meetings/")) == []


def test_a_user_with_no_role_sees_nothing(db, meeting):
    from tests.api.conftest import client_for

    assert ids(client_for(factories.UserFactory(username="nobody")).get("/api/v1/meetings/")) == []


# --- filters and pages -----------------------------------------------------------------------------------------------


def test_filters_by_date_range_state_teacher_and_course(as_staff, teacher, dana, now):
    course = factories.CourseFactory()
    a = factories.MeetingFactory(teacher=teacher, course=course, start_time=now + dt.timedelta(hours=1))
    b = factories.MeetingFactory(teacher=dana, start_time=now + dt.timedelta(days=1))
    c = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(days=2))
    lifecycle.cancel_meeting(c, now=now, reason="x")

    def query(**params):
        return ids(as_staff.get("/api/v1/meetings/", params))

    assert query(starts_after=(now + dt.timedelta(hours=2)).isoformat()) == [b.pk, c.pk]
    assert query(starts_before="2026-07-02T12:00:00+00:00") == [a.pk]
    assert query(starts_after="2026-07-01T20:30:00+07:00", starts_before="2026-07-03T00:00:00Z") == [b.pk]
    assert query(state="cancelled") == [c.pk]
    assert query(teacher=dana.pk) == [b.pk]
    assert query(course=course.pk) == [a.pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"starts_after": "2026-07-01T12:00"}, "starts_after"),
        ({"starts_before": "tomorrow"}, "starts_before"),
        ({"state": "sleeping"}, "state"),
        ({"state": ""}, "state"),  # DRF would read an empty value as "not given"
        ({"teacher": "charlie"}, "teacher"),
        ({"course": "-1"}, "course"),
        ({"teacher": str(2**63)}, "teacher"),  # SQLite cannot even bind it: a 400, not a 500
        ({"course": "99999999999999999999999"}, "course"),
        ({"page_size": "many"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "101"}, "page_size"),
        ({"page": ""}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "last"}, "page"),
        ({"page": "²"}, "page"),
    ],
)
def test_bad_filters_are_400s_naming_the_parameter(as_staff, params, field):
    response = as_staff.get("/api/v1/meetings/", params)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_pages(as_staff, teacher, now):
    for hours in range(1, 6):
        factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(hours=hours))
    first = as_staff.get("/api/v1/meetings/", {"page_size": 2}).json()
    assert first["count"] == 5 and len(first["results"]) == 2 and first["next"] and first["previous"] is None
    third = as_staff.get("/api/v1/meetings/", {"page_size": 2, "page": 3}).json()
    assert len(third["results"]) == 1 and third["next"] is None
    assert_error(as_staff.get("/api/v1/meetings/", {"page": 9}), 404, "not_found")
    # A page no database could reach (its first row past 2**62, more than SQLite can bind): 404, not 500.
    for page in (2**56, 10**30):
        assert_error(as_staff.get("/api/v1/meetings/", {"page": page, "page_size": 100}), 404, "not_found")


# --- time zones in responses -----------------------------------------------------------------------------------------


def test_times_are_given_in_utc_and_in_the_callers_zone(as_alice, as_charlie, as_staff, meeting):
    alice = as_alice.get(f"/api/v1/meetings/{meeting.pk}/").json()
    assert alice["start_time"] == "2026-07-01T13:00:00Z" and alice["end_time"] == "2026-07-01T14:00:00Z"
    assert alice["local"] == {
        "time_zone": "Asia/Ho_Chi_Minh",
        "start_time": "2026-07-01T20:00:00+07:00",
        "end_time": "2026-07-01T21:00:00+07:00",
    }
    charlie = as_charlie.get(f"/api/v1/meetings/{meeting.pk}/").json()
    assert charlie["local"]["start_time"] == "2026-07-01T09:00:00-04:00"  # New York in summer
    assert as_staff.get(f"/api/v1/meetings/{meeting.pk}/").json()["local"]["time_zone"] == "UTC"
    assert alice["cancellation_cutoff"] == "2026-07-01T11:00:00Z"


def test_changing_my_zone_changes_the_local_times(as_alice, meeting):
    as_alice.patch("/api/v1/me/", {"time_zone": "America/Los_Angeles"})
    local = as_alice.get(f"/api/v1/meetings/{meeting.pk}/").json()["local"]
    assert local == {
        "time_zone": "America/Los_Angeles",
        "start_time": "2026-07-01T06:00:00-07:00",
        "end_time": "2026-07-01T07:00:00-07:00",
    }


def test_a_student_sees_their_own_booking_on_the_meeting(as_alice, as_bob, alice, meeting, now):
    booking = factories.book(alice, meeting, now=now)
    assert as_alice.get(f"/api/v1/meetings/{meeting.pk}/").json()["my_booking"] == {
        "id": booking.pk,
        "status": "confirmed",
    }
    assert as_bob.get(f"/api/v1/meetings/{meeting.pk}/").json()["my_booking"] is None


# --- scheduling ------------------------------------------------------------------------------------------------------


@pytest.fixture
def course(db):
    return factories.CourseFactory(title="IELTS Practice", capacity=8, default_duration_minutes=90)


def test_a_teacher_schedules_with_an_offset(as_charlie, teacher, course):
    response = as_charlie.post("/api/v1/meetings/", {"course": course.pk, "start_time": "2026-07-02T09:00:00-04:00"})
    assert response.status_code == 201, response.content
    body = response.json()
    meeting = Meeting.objects.get(pk=body["id"])
    assert meeting.teacher == teacher and meeting.state == "scheduled"
    assert meeting.start_time == dt.datetime(2026, 7, 2, 13, 0, tzinfo=UTC)
    assert meeting.end_time == dt.datetime(2026, 7, 2, 14, 30, tzinfo=UTC)  # the course's 90 minutes
    assert meeting.capacity == 8 and meeting.title == "IELTS Practice"
    assert body["start_time"] == "2026-07-02T13:00:00Z"
    assert body["local"]["start_time"] == "2026-07-02T09:00:00-04:00"
    assert StateChange.objects.filter(meeting=meeting, to_state="scheduled", actor=teacher.user).count() == 1


def test_a_teacher_schedules_with_a_wall_time_and_a_zone(as_charlie, course):
    response = as_charlie.post(
        "/api/v1/meetings/",
        {
            "course": course.pk,
            "title": "Evening class",
            "start_time": "2026-07-02T20:00",
            "end_time": "2026-07-02T21:00:00",
            "time_zone": "Asia/Ho_Chi_Minh",
            "capacity": 3,
        },
    )
    assert response.status_code == 201, response.content
    meeting = Meeting.objects.get(pk=response.json()["id"])
    assert (meeting.start_time, meeting.end_time) == (
        dt.datetime(2026, 7, 2, 13, 0, tzinfo=UTC),
        dt.datetime(2026, 7, 2, 14, 0, tzinfo=UTC),
    )
    assert meeting.title == "Evening class" and meeting.capacity == 3


def test_a_wall_time_in_the_repeated_hour_is_refused_rather_than_guessed(as_charlie, course, frozen_clock):
    frozen_clock.move_to(dt.datetime(2026, 10, 30, tzinfo=UTC))
    response = as_charlie.post(
        "/api/v1/meetings/",
        {"course": course.pk, "start_time": "2026-11-01T01:30", "time_zone": "America/New_York"},
    )
    message = assert_error(response, 400, "invalid_time", "start_time")["message"]
    assert "2026-11-01T01:30:00-04:00 or 2026-11-01T01:30:00-05:00" in message
    assert not Meeting.objects.exists()


def test_a_one_hour_class_in_the_repeated_hour_is_never_stored_as_two(as_charlie, course):
    """The newcomer's case: 01:30-02:30 on New York's fall-back night, 2027-11-07."""
    response = as_charlie.post(
        "/api/v1/meetings/",
        {
            "course": course.pk,
            "start_time": "2027-11-07T01:30",
            "end_time": "2027-11-07T02:30",
            "time_zone": "America/New_York",
        },
    )
    error = assert_error(response, 400, "invalid_time", "start_time")
    assert error["message"] == (
        "start_time 2027-11-07 01:30 happens twice in America/New_York: 01:30 EDT (UTC-04:00, = 05:30 UTC) or "
        "01:30 EST (UTC-05:00, = 06:30 UTC); send it with its offset: 2027-11-07T01:30:00-04:00 or "
        "2027-11-07T01:30:00-05:00"
    )
    assert not Meeting.objects.exists()


@pytest.mark.parametrize(
    ("start", "end", "minutes"),
    [
        ("2027-11-07T01:30:00-04:00", "2027-11-07T01:30:00-05:00", 60),  # the first 01:30 to the second
        ("2027-11-07T01:30:00-05:00", "2027-11-07T02:30:00-05:00", 60),  # the second 01:30 to 02:30
        ("2027-11-07T01:30:00-04:00", "2027-11-07T02:30:00-05:00", 120),  # the first 01:30 to 02:30: two hours
    ],
)
def test_with_offsets_the_repeated_hour_is_stored_as_given(as_charlie, course, start, end, minutes):
    response = as_charlie.post("/api/v1/meetings/", {"course": course.pk, "start_time": start, "end_time": end})
    assert response.status_code == 201, response.content
    meeting = Meeting.objects.get(pk=response.json()["id"])
    given = dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)
    assert meeting.end_time - meeting.start_time == given == dt.timedelta(minutes=minutes)
    assert meeting.start_time == dt.datetime.fromisoformat(start)


def test_a_wall_interval_across_the_fall_back_is_refused_naming_both_lengths(as_charlie, course):
    response = as_charlie.post(
        "/api/v1/meetings/",
        {
            "course": course.pk,
            "start_time": "2027-11-07T00:30",
            "end_time": "2027-11-07T02:30",
            "time_zone": "America/New_York",
        },
    )
    message = assert_error(response, 400, "invalid_time", "end_time")["message"]
    assert "lasts 3:00, not 2:00" in message and "2027-11-07T00:30:00-04:00 to 2027-11-07T01:30:00-05:00" in message


def test_editing_to_a_time_in_the_repeated_hour_is_refused(as_charlie, meeting):
    response = as_charlie.patch(
        f"/api/v1/meetings/{meeting.pk}/",
        {"start_time": "2027-11-07T00:30", "end_time": "2027-11-07T01:30", "time_zone": "America/New_York"},
    )
    message = assert_error(response, 400, "invalid_time", "end_time")["message"]
    assert "2027-11-07T01:30:00-04:00 or 2027-11-07T01:30:00-05:00" in message
    meeting.refresh_from_db()
    assert meeting.start_time == dt.datetime(2026, 7, 1, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"start_time": "2026-07-02T20:00:00"}, "start_time", "no time zone offset"),
        ({"start_time": "2026-07-02T20:00:00Z", "end_time": "2026-07-02T21:00"}, "end_time", "no time zone offset"),
        ({"start_time": "2026-07-02T20:00:00Z", "end_time": "2026-07-02T19:00:00Z"}, "end_time", "after start_time"),
        ({"start_time": "2026-07-02T20:00:00Z", "end_time": "2026-07-02T20:00:00Z"}, "end_time", "after start_time"),
        ({"start_time": "2026-07-01T11:59:59Z"}, "start_time", "in the past"),
        ({"start_time": "2026-07-01T12:00:00Z"}, "start_time", "in the past"),
        ({"start_time": "2026-07-02T08:00:00Z", "end_time": "2026-07-02T12:00:01Z"}, "end_time", "at most 240"),
        (
            {"start_time": "2026-03-08T02:30", "time_zone": "America/New_York"},
            "start_time",
            "does not exist in America/New_York",
        ),
        (
            {"start_time": "2026-07-02T20:00+07:00", "time_zone": "Asia/Ho_Chi_Minh"},
            "start_time",
            "without an offset",
        ),
        ({"start_time": "next tuesday"}, "start_time", "not an ISO 8601"),
        ({"start_time": "2026-07-02"}, "start_time", "time of day"),
        ({"start_time": "9999-12-31T23:59:59-14:00"}, "start_time", "between the years"),
    ],
)
def test_unusable_times_are_400s_naming_the_field(as_charlie, course, body, field, words, frozen_clock):
    if "2026-03-08" in body["start_time"]:
        frozen_clock.move_to(dt.datetime(2026, 3, 1, tzinfo=UTC))
    response = as_charlie.post("/api/v1/meetings/", {"course": course.pk, **body})
    error = assert_error(response, 400, "invalid_time", field)
    assert words in error["message"] and words in error["fields"][field][0]
    assert not Meeting.objects.exists()


def test_the_duration_limit_is_a_setting(as_charlie, course, settings):
    settings.MAX_MEETING_DURATION_MINUTES = 30
    response = as_charlie.post(
        "/api/v1/meetings/",
        {"course": course.pk, "start_time": "2026-07-02T20:00:00Z", "end_time": "2026-07-02T20:31Z"},
    )
    assert "at most 30 minutes" in assert_error(response, 400, "invalid_time", "end_time")["message"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"course", "start_time"}),
        ({"course": 999, "start_time": "2026-07-02T20:00:00Z"}, {"course"}),
        ({"start_time": "2026-07-02T20:00:00Z", "capacity": 0}, {"capacity"}),
        ({"start_time": "2026-07-02T20:00:00Z", "capacity": -1}, {"capacity"}),
        ({"start_time": "2026-07-02T20:00", "time_zone": "Mars/Olympus"}, {"time_zone"}),
        ({"start_time": "2026-07-02T20:00:00Z", "title": "x" * 201}, {"title"}),
    ],
)
def test_other_bad_fields_are_400s_naming_them(as_charlie, course, body, fields):
    body = {"course": course.pk, **body} if "course" not in body and body else body
    assert_error(as_charlie.post("/api/v1/meetings/", body), 400, "validation_error", *fields)
    assert not Meeting.objects.exists()


def test_students_cannot_schedule_and_staff_must_name_the_teacher(as_alice, as_staff, course):
    body = {"course": course.pk, "start_time": "2026-07-02T20:00:00Z"}
    assert_error(as_alice.post("/api/v1/meetings/", body), 403, "permission_denied")
    assert_error(as_staff.post("/api/v1/meetings/", body), 400, "validation_error", "teacher")
    assert not Meeting.objects.exists()


# --- editing ---------------------------------------------------------------------------------------------------------


def test_a_teacher_edits_their_meeting_until_it_opens(as_charlie, meeting, alice, now):
    factories.book(alice, meeting, now=now)
    response = as_charlie.patch(
        f"/api/v1/meetings/{meeting.pk}/",
        {
            "title": "Moved",
            "start_time": "2026-07-02T10:00",
            "end_time": "2026-07-02T11:00",
            "time_zone": "America/New_York",
        },
    )
    assert response.status_code == 200, response.content
    meeting.refresh_from_db()
    assert meeting.title == "Moved" and meeting.start_time == dt.datetime(2026, 7, 2, 14, 0, tzinfo=UTC)
    assert response.json()["local"]["start_time"] == "2026-07-02T10:00:00-04:00"
    assert meeting.appointments.get().join_link_due_at == dt.datetime(2026, 7, 2, 13, 50, tzinfo=UTC)


def test_only_the_title_can_change(as_charlie, meeting):
    response = as_charlie.patch(f"/api/v1/meetings/{meeting.pk}/", {"title": "New title"})
    assert response.status_code == 200 and response.json()["title"] == "New title"
    assert response.json()["start_time"] == "2026-07-01T13:00:00Z"


def test_editing_refuses_unusable_times(as_charlie, meeting):
    response = as_charlie.patch(f"/api/v1/meetings/{meeting.pk}/", {"end_time": "2026-07-01T12:30:00Z"})
    assert_error(response, 400, "invalid_time", "end_time")
    response = as_charlie.patch(f"/api/v1/meetings/{meeting.pk}/", {"start_time": "2026-07-01T14:00"})
    assert_error(response, 400, "invalid_time", "start_time")
    meeting.refresh_from_db()
    assert meeting.end_time == dt.datetime(2026, 7, 1, 14, 0, tzinfo=UTC)


def test_a_zone_alone_is_not_an_edit(as_charlie, meeting):
    assert_error(
        as_charlie.patch(f"/api/v1/meetings/{meeting.pk}/", {"time_zone": "Asia/Taipei"}),
        400,
        "validation_error",
        "time_zone",
    )


def test_capacity_cannot_go_below_the_seats_taken(as_charlie, meeting, alice, bob, now):
    factories.book(alice, meeting, now=now)
    factories.book(bob, meeting, now=now)
    assert_error(
        as_charlie.patch(f"/api/v1/meetings/{meeting.pk}/", {"capacity": 1}), 400, "validation_error", "capacity"
    )
    assert as_charlie.patch(f"/api/v1/meetings/{meeting.pk}/", {"capacity": 2}).json()["capacity"] == 2


def test_an_open_meeting_cannot_be_edited(as_charlie, meeting, now):
    lifecycle.open_meeting(meeting, now=now)
    response = as_charlie.patch(f"/api/v1/meetings/{meeting.pk}/", {"title": "Too late"})
    assert_error(response, 409, "illegal_transition")
    meeting.refresh_from_db()
    assert meeting.title == "IELTS Practice"


def test_another_teachers_meeting_cannot_be_edited(as_dana, meeting):
    assert_error(as_dana.patch(f"/api/v1/meetings/{meeting.pk}/", {"title": "Mine now"}), 404, "not_found")


def test_a_student_cannot_edit_a_meeting_they_see(as_alice, meeting):
    assert_error(as_alice.patch(f"/api/v1/meetings/{meeting.pk}/", {"title": "Mine now"}), 403, "permission_denied")
    meeting.refresh_from_db()
    assert meeting.title == "IELTS Practice"


def test_staff_cannot_edit_through_the_api(as_staff, meeting):
    assert_error(as_staff.patch(f"/api/v1/meetings/{meeting.pk}/", {"title": "x"}), 403, "permission_denied")


# --- cancelling ------------------------------------------------------------------------------------------------------


def test_a_teacher_cancels_their_meeting_and_bookings_are_refunded(as_charlie, meeting, alice, teacher, now):
    booking = factories.book(alice, meeting, now=now)
    response = as_charlie.post(f"/api/v1/meetings/{meeting.pk}/cancel/", {"reason": "I am ill"})
    assert response.status_code == 200, response.content
    assert response.json()["changed"] is True and response.json()["meeting"]["state"] == "cancelled"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.REFUNDED
    assert StateChange.objects.get(meeting=meeting, to_state="cancelled", object_id=meeting.pk).reason == "I am ill"
    again = as_charlie.post(f"/api/v1/meetings/{meeting.pk}/cancel/", {})
    assert again.status_code == 200 and again.json()["changed"] is False


def test_a_closed_meeting_cannot_be_cancelled(as_charlie, meeting, now):
    lifecycle.open_meeting(meeting, now=now)
    lifecycle.close_meeting(meeting, now=now)
    assert_error(as_charlie.post(f"/api/v1/meetings/{meeting.pk}/cancel/", {}), 409, "illegal_transition")


def test_another_teachers_meeting_cannot_be_cancelled(as_dana, meeting):
    assert_error(as_dana.post(f"/api/v1/meetings/{meeting.pk}/cancel/", {}), 404, "not_found")
    meeting.refresh_from_db()
    assert meeting.state == "scheduled"


def test_a_student_cannot_cancel_a_meeting(as_alice, meeting):
    assert_error(as_alice.post(f"/api/v1/meetings/{meeting.pk}/cancel/", {}), 403, "permission_denied")
    meeting.refresh_from_db()
    assert meeting.state == "scheduled"


def test_listing_costs_the_same_queries_for_ten_meetings_as_for_one(
    as_alice, alice, teacher, now, django_assert_num_queries
):
    def count_queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert as_alice.get("/api/v1/meetings/").status_code == 200
        return len(captured)

    first = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(hours=3))
    factories.book(alice, first, now=now)
    count_queries()  # warm the caches (content types, the user's roles)
    one = count_queries()
    for hours in range(4, 13):
        factories.book(
            alice, factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(hours=hours)), now=now
        )
    assert count_queries() == one


def test_local_times_follow_daylight_saving(as_charlie, teacher, now):
    winter = factories.MeetingFactory(
        teacher=teacher,
        start_time=dt.datetime(2026, 12, 1, 14, 0, tzinfo=UTC),
        end_time=dt.datetime(2026, 12, 1, 15, 0, tzinfo=UTC),
    )
    local = as_charlie.get(f"/api/v1/meetings/{winter.pk}/").json()["local"]
    assert local["start_time"] == "2026-12-01T09:00:00-05:00"  # EST, where July was EDT (-04:00)


def test_staff_cannot_cancel_through_the_teachers_endpoint(as_staff, meeting):
    assert_error(as_staff.post(f"/api/v1/meetings/{meeting.pk}/cancel/", {}), 403, "permission_denied")
    assert Meeting.objects.get(pk=meeting.pk).state == "scheduled"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_time": "2026-07-02T20:00:00Z", "title": 0}, "title"),
        ({"start_time": "2026-07-02T20:00:00Z", "capacity": "5"}, "capacity"),
        ({"start_time": "2026-07-02T20:00:00Z", "capacity": True}, "capacity"),
        ({"start_time": "2026-07-02T20:00:00Z", "capacity": 5.0}, "capacity"),
        ({"start_time": 1782000000}, "start_time"),
        ({"start_time": "2026-07-02T20:00", "time_zone": 7}, "time_zone"),
    ],
)
def test_json_types_are_not_coerced(as_charlie, course, body, field):
    assert_error(as_charlie.post("/api/v1/meetings/", {"course": course.pk, **body}), 400, "validation_error", field)
    assert_error(
        as_charlie.post("/api/v1/meetings/", {**body, "course": str(course.pk)}),
        400,
        "validation_error",
        "course",
        field,
    )
    assert not Meeting.objects.exists()
