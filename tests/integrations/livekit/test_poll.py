"""The backup attendance poll (meetings.sweeps.poll_room_attendance) against the fake LiveKit."""

import datetime as dt

import pytest
import time_machine

from meetings.access import identity_of
from meetings.lifecycle import open_meeting
from meetings.models import Meeting, MeetingParticipant
from meetings.rooms import provision_rooms
from meetings.sweeps import poll_room_attendance
from tests.integrations.livekit import token_for


@pytest.fixture
def room(livekit, meeting, now):
    provision_rooms(now)
    meeting.refresh_from_db()
    return meeting


def connect(livekit, meeting, person, role, at):
    token = token_for(meeting, person, role)
    with time_machine.travel(at, tick=False):
        return livekit.join(token)


def polled():
    return MeetingParticipant.objects.filter(source="livekit_poll").order_by("identity")


def test_it_records_who_is_in_the_room_and_run_twice_adds_nothing(room, livekit, teacher, alice):
    start = room.start_time
    open_meeting(room, now=start)
    connect(livekit, room, teacher, "teacher", start)
    connect(livekit, room, alice, "student", start + dt.timedelta(minutes=2))
    first = poll_room_attendance(start + dt.timedelta(minutes=3))
    again = poll_room_attendance(start + dt.timedelta(minutes=4))
    assert first["polled"] == 1 and first["sessions_new"] == 2
    assert again["polled"] == 1 and again["sessions_new"] == 0 and again["sessions_ended"] == 0
    assert [(p.identity, p.role, p.joined_at, p.left_at) for p in polled()] == [
        (identity_of(alice), "student", start + dt.timedelta(minutes=2), None),
        (identity_of(teacher), "teacher", start, None),
    ]
    room.refresh_from_db()
    assert room.state == Meeting.State.IN_PROGRESS  # the poll saw the teacher although no webhook came


def test_someone_gone_since_the_last_poll_has_left_by_now(room, livekit, alice):
    start = room.start_time
    connect(livekit, room, alice, "student", start)
    poll_room_attendance(start + dt.timedelta(minutes=1))
    livekit.leave(room.room_name, identity_of(alice))
    assert poll_room_attendance(start + dt.timedelta(minutes=2))["sessions_ended"] == 1
    assert polled().get().left_at == start + dt.timedelta(minutes=2)


def test_it_looks_at_a_scheduled_room_only_once_the_teacher_may_enter(room, livekit, teacher):
    assert poll_room_attendance(room.teacher_may_join_from - dt.timedelta(minutes=1)) == {}
    connect(livekit, room, teacher, "teacher", room.teacher_may_join_from)
    assert poll_room_attendance(room.teacher_may_join_from)["sessions_new"] == 1
    room.refresh_from_db()
    assert room.state == Meeting.State.SCHEDULED  # in the room early; the open sweep will start it


def test_an_unreachable_provider_is_skipped_without_backing_off_the_meeting(room, livekit):
    open_meeting(room, now=room.start_time)
    livekit.fail_next(3, status=503)
    assert poll_room_attendance(room.start_time + dt.timedelta(minutes=1)) == {"failed": 1}
    room.refresh_from_db()
    assert room.retry_at is None and room.last_error == ""  # the close must not wait for a failed poll


def test_rooms_of_providers_that_cannot_be_polled_are_left_alone(room, livekit):
    Meeting.objects.filter(pk=room.pk).update(room_provider="zoom", state="open")
    calls = len(livekit.requests)
    assert poll_room_attendance(room.start_time) == {}
    assert len(livekit.requests) == calls
