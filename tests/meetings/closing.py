"""Helpers for attendance, settlement and review tests: a class run to its close with given teacher sessions."""

from __future__ import annotations

import datetime as dt

from bookings.models import Booking
from meetings import lifecycle
from meetings.access import identity_of
from meetings.attendance import record_session
from meetings.models import Meeting, MeetingParticipant

MINUTE = dt.timedelta(minutes=1)
SECOND = dt.timedelta(seconds=1)


def teacher_session(meeting, joined: dt.timedelta, left: dt.timedelta | None, *, key=None, source="local"):
    """The teacher in the room from start + ``joined`` to start + ``left`` (None: still in)."""
    return record_session(
        meeting,
        source=source,
        session_key=key or f"teacher-{joined.total_seconds()}",
        identity=identity_of(meeting.teacher),
        role=MeetingParticipant.Role.TEACHER,
        joined_at=meeting.start_time + joined,
        left_at=None if left is None else meeting.start_time + left,
        display_name=meeting.teacher.display_name,
        teacher=meeting.teacher,
    )[0]


def students_came(meeting, *, students=None) -> None:
    """Each booked student (or each of ``students``) in the room for the first ten minutes: without a session of
    theirs a student of a class the teacher held is a no-show at settlement."""
    if students is None:
        students = [b.student for b in Booking.objects.filter(meeting=meeting).select_related("student")]
    for student in students:
        record_session(
            meeting,
            source="local",
            session_key=f"student-{student.pk}",
            identity=identity_of(student),
            role=MeetingParticipant.Role.STUDENT,
            joined_at=meeting.start_time,
            left_at=meeting.start_time + 10 * MINUTE,
            display_name=student.display_name,
            student=student,
        )


def run_and_close(meeting, *sessions, students_came_in: bool = True) -> Meeting:
    """Open at start, record ``sessions`` ((joined, left) offsets from start) and, unless told otherwise, every
    booked student's, close at the close moment. The close path's settlement is left to the caller (tests call
    ``settle`` or the sweep)."""
    lifecycle.open_meeting(meeting, now=meeting.start_time)
    for n, (joined, left) in enumerate(sessions):
        teacher_session(meeting, joined, left, key=f"teacher-{n}")
    if students_came_in:
        students_came(meeting)
    lifecycle.close_meeting(meeting, now=meeting.close_at)
    return Meeting.objects.select_related("teacher", "course").get(pk=meeting.pk)
