"""GET /api/v1/meetings/{id}/join/: credentials only inside the person's window, decided at the request's second."""

import datetime as dt

import pytest

from classroom import tokens
from core import statements
from integrations.local.provider import read_token
from meetings import lifecycle
from meetings.access import identity_of
from meetings.attendance import record_session
from meetings.rooms import provision_rooms
from tests import factories
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db

SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def room(meeting, alice, now):
    """Charlie's 13:00–14:00 UTC class with its room made and Alice's confirmed seat."""
    factories.book(alice, meeting, now=now)
    provision_rooms(now)
    meeting.refresh_from_db()
    assert meeting.room_provisioned_at is not None
    return meeting


def join(client, meeting):
    return client.get(f"/api/v1/meetings/{meeting.pk}/join/")


@pytest.mark.parametrize(
    ("offset", "allowed"),
    [(-10 * MINUTE - SECOND, False), (-10 * MINUTE, True), (65 * MINUTE - SECOND, True), (65 * MINUTE, False)],
)
def test_the_teacher_joins_from_ten_minutes_before_start_until_the_room_closes(
    as_charlie, room, frozen_clock, offset, allowed
):
    frozen_clock.move_to(room.start_time + offset)
    response = join(as_charlie, room)
    if allowed:
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["role"] == "teacher" and body["url"].startswith("http")
        assert body["not_before"] == "2026-07-01T12:50:00Z" and body["expires_at"] == "2026-07-01T14:05:00Z"
        assert read_token(body["token"])["i"] == f"teacher:{room.teacher_id}"
    else:
        assert_error(response, 403, "join_refused")


@pytest.mark.parametrize(
    ("offset", "allowed"),
    [(-SECOND, False), (dt.timedelta(0), True), (10 * MINUTE - SECOND, True), (10 * MINUTE, False)],
)
def test_a_booked_student_joins_from_start_until_the_grace_ends(as_alice, alice, room, frozen_clock, offset, allowed):
    frozen_clock.move_to(room.start_time + offset)
    response = join(as_alice, room)
    if allowed:
        assert response.status_code == 200, response.content
        body = response.json()
        # Valid until the room closes, so she can reconnect after a drop-out (the grace limits only a first entry).
        assert body["role"] == "student" and body["expires_at"] == "2026-07-01T14:05:00Z"
        assert read_token(body["token"])["i"] == f"student:{alice.pk}"
    else:
        assert_error(response, 403, "join_refused")


def test_too_early_says_when_joining_opens_in_the_students_zone(as_alice, room, frozen_clock):
    frozen_clock.move_to(room.start_time - 30 * MINUTE)
    error = assert_error(join(as_alice, room), 403, "join_refused")
    assert "opens at 20:00 Asia/Ho_Chi_Minh" in error["message"]
    assert error["opens_at"] == "2026-07-01T13:00:00Z"


def test_too_early_says_when_joining_opens_in_the_teachers_zone(as_charlie, room, frozen_clock):
    frozen_clock.move_to(room.start_time - 30 * MINUTE)
    error = assert_error(join(as_charlie, room), 403, "join_refused")
    assert "opens at 08:50 America/New_York" in error["message"]
    assert error["opens_at"] == "2026-07-01T12:50:00Z"


def test_the_ho_chi_minh_teacher_sees_19_50(db, alice, now, frozen_clock):
    from tests.api.conftest import client_for

    teacher = factories.TeacherFactory(time_zone="Asia/Ho_Chi_Minh", user=factories.UserFactory(username="minh"))
    meeting = factories.MeetingFactory(
        teacher=teacher, start_time=now + dt.timedelta(hours=1), end_time=now + dt.timedelta(hours=2)
    )
    provision_rooms(now)
    frozen_clock.move_to(now)
    error = assert_error(join(client_for(teacher.user), meeting), 403, "join_refused")
    assert "opens at 19:50 Asia/Ho_Chi_Minh" in error["message"]


def test_after_the_grace_the_student_is_told_it_closed(as_alice, room, frozen_clock):
    frozen_clock.move_to(room.start_time + 15 * MINUTE)
    error = assert_error(join(as_alice, room), 403, "join_refused")
    assert "late-join grace period is over" in error["message"] and "opens_at" not in error


def test_the_window_is_decided_by_the_clock_not_the_sweeps(as_alice, room, frozen_clock):
    """Nothing opened the meeting (no sweep ran), yet at start the student may join."""
    frozen_clock.move_to(room.start_time)
    room.refresh_from_db()
    assert room.state == "scheduled"
    assert join(as_alice, room).status_code == 200


def test_nobody_joins_a_closed_or_cancelled_meeting(as_charlie, as_alice, room, frozen_clock):
    frozen_clock.move_to(room.start_time)
    lifecycle.open_meeting(room, now=room.start_time)
    lifecycle.close_meeting(room, now=room.start_time + MINUTE)
    # Alice's booking is completed at the close: she was a participant, so she too is told the class ended.
    assert assert_error(join(as_charlie, room), 403, "join_refused")["message"] == "this class has ended"
    assert assert_error(join(as_alice, room), 403, "join_refused")["message"] == "this class has ended"


def test_a_cancelled_meeting_cannot_be_joined(as_charlie, as_alice, room, now):
    lifecycle.cancel_meeting(room, now=now, reason="x")
    assert assert_error(join(as_charlie, room), 403, "join_refused")["message"] == "this class was cancelled"
    # Her seat was refunded by the cancellation; she is told why, not that she has no seat.
    assert assert_error(join(as_alice, room), 403, "join_refused")["message"] == "this class was cancelled"


def test_after_the_class_a_student_who_had_cancelled_is_still_no_participant(as_bob, bob, room, now, frozen_clock):
    from bookings.transitions import cancel_booking

    cancel_booking(factories.book(bob, room, now=now), now=now, enforce_cutoff=False)
    lifecycle.open_meeting(room, now=room.start_time)
    lifecycle.close_meeting(room, now=room.start_time + MINUTE)
    frozen_clock.move_to(room.start_time + 2 * MINUTE)
    assert_error(join(as_bob, room), 403, "not_a_participant")


def test_staff_are_no_participant_of_a_closed_class_either(as_staff, room, frozen_clock):
    lifecycle.open_meeting(room, now=room.start_time)
    lifecycle.close_meeting(room, now=room.start_time + MINUTE)
    frozen_clock.move_to(room.start_time + 2 * MINUTE)
    assert_error(join(as_staff, room), 403, "not_a_participant")


# --- a student who was in the room and dropped out may come back until the room closes ---------------------------


def was_in_room(meeting, student, *, source="local", minutes=(2, 5)):
    record_session(
        meeting,
        source=source,
        session_key=f"{student.pk}-{minutes[0]}",
        identity=identity_of(student),
        role="student",
        joined_at=meeting.start_time + minutes[0] * MINUTE,
        left_at=meeting.start_time + minutes[1] * MINUTE,
        student=student,
    )


@pytest.mark.parametrize(
    ("offset", "allowed"), [(30 * MINUTE, True), (65 * MINUTE - SECOND, True), (65 * MINUTE, False)]
)
def test_a_student_who_dropped_out_rejoins_until_the_room_closes(as_alice, alice, room, frozen_clock, offset, allowed):
    was_in_room(room, alice)
    frozen_clock.move_to(room.start_time + offset)
    response = join(as_alice, room)
    if allowed:
        assert response.status_code == 200, response.content
        assert response.json()["expires_at"] == "2026-07-01T14:05:00Z"
    else:
        assert assert_error(response, 403, "join_refused")["message"] == "this class has ended"


def test_a_session_from_any_source_counts_as_having_been_in_the_room(as_alice, alice, room, frozen_clock):
    was_in_room(room, alice, source="livekit_webhook")
    frozen_clock.move_to(room.start_time + 40 * MINUTE)
    assert join(as_alice, room).status_code == 200


def test_someone_elses_session_does_not_let_a_late_student_in(as_alice, alice, bob, room, frozen_clock):
    was_in_room(room, bob)
    frozen_clock.move_to(room.start_time + 40 * MINUTE)
    assert "late-join grace" in assert_error(join(as_alice, room), 403, "join_refused")["message"]


def test_a_student_without_a_seat_gets_no_credentials(as_bob, room, frozen_clock):
    frozen_clock.move_to(room.start_time)
    assert_error(join(as_bob, room), 403, "not_a_participant")


def test_a_student_who_cancelled_gets_no_credentials(as_alice, alice, room, now, frozen_clock):
    from bookings.transitions import cancel_booking

    cancel_booking(room.bookings.get(student=alice), now=now, enforce_cutoff=False)
    frozen_clock.move_to(room.start_time)
    assert_error(join(as_alice, room), 403, "not_a_participant")


def test_another_teacher_gets_nothing(as_dana, room, frozen_clock):
    frozen_clock.move_to(room.start_time)
    assert_error(join(as_dana, room), 404, "not_found")


def test_staff_get_no_join_credentials(as_staff, room, frozen_clock):
    frozen_clock.move_to(room.start_time)
    assert_error(join(as_staff, room), 403, "not_a_participant")


def test_inside_the_window_before_the_room_exists_is_its_own_error(as_charlie, meeting, frozen_clock):
    frozen_clock.move_to(meeting.start_time)
    response = join(as_charlie, meeting)
    assert_error(response, 409, "room_not_ready")
    assert response["Retry-After"] == "60"


@pytest.mark.parametrize("pk", ["abc", "0", "²", str(2**63), "-1", "1e3"])
def test_an_id_that_cannot_be_a_meetings_is_not_found(as_alice, room, frozen_clock, pk):
    frozen_clock.move_to(room.start_time)
    assert_error(as_alice.get(f"/api/v1/meetings/{pk}/join/"), 404, "not_found")


def test_the_joins_lookups_compile_once_and_each_join_binds_its_own_person(
    client, room, alice, bob, teacher, now, frozen_clock
):
    """core.statements: the meeting as a student sees it and their seat are compiled for the first student; the
    next student's join reuses them with their own values: Bob, who sees the class but has no seat, is refused
    until he books one."""
    statements.clear()
    frozen_clock.move_to(room.start_time)

    def join_as(person):
        _, token = tokens.issue(person.user, now=now)
        return client.get(f"/api/v1/meetings/{room.pk}/join/", HTTP_AUTHORIZATION=f"Token {token}")

    assert join_as(alice).status_code == 200
    assert sorted(shape[0] for _, shape in statements._compiled) == ["seat", "visible meeting"]
    assert_error(join_as(bob), 403, "not_a_participant")
    factories.book(bob, room, now=now)
    assert join_as(bob).status_code == 200
    assert len(statements._compiled) == 2
    assert join_as(teacher).json()["role"] == "teacher"
    assert len(statements._compiled) == 3  # a teacher's visible meetings: a shape of its own
