"""What happens in the room, as the video provider or the local room page reports it: each session is recorded as
evidence (``meetings.attendance``), and the teacher's arrival makes an open class in progress (``meetings.lifecycle``).
The webhooks (Zoom, LiveKit), the attendance poll and the local room page come through here."""

from __future__ import annotations

import datetime as dt

from classroom.models import Student
from meetings.access import identity_of
from meetings.attendance import record_session
from meetings.lifecycle import mark_in_progress
from meetings.models import Meeting, MeetingParticipant

Role = MeetingParticipant.Role


def teacher_joined(meeting: Meeting, *, now: dt.datetime) -> None:
    """The teacher is in the room: an open meeting becomes in progress (the open sweep does the same for a teacher
    who came early, before it opened)."""
    if meeting.state == Meeting.State.OPEN:
        mark_in_progress(meeting, now=now)


def _person(meeting: Meeting, identity: str):
    """(teacher, student, role) for a provider identity ("teacher:7", "student:42"; see meetings.access.identity_of).
    Anything else (a Zoom guest we could not match) is recorded with role "other" and no person."""
    if identity == identity_of(meeting.teacher):
        return meeting.teacher, None, Role.TEACHER
    kind, _, pk = identity.partition(":")
    if kind == "student" and pk.isdigit():
        student = Student.objects.filter(pk=int(pk)).first()
        if student is not None:
            return None, student, Role.STUDENT
    return None, None, Role.OTHER


def store_provider_session(meeting: Meeting, session, *, source: str, now: dt.datetime):
    """Record one ``integrations.video.Session`` as evidence; the teacher being in the room makes an open meeting
    in progress. Returns (MeetingParticipant, created)."""
    teacher, student, role = _person(meeting, session.identity)
    # Clocks differ between services: a "left" stamped before its "joined" is kept as a zero-length session.
    left_at = None if session.left_at is None else max(session.left_at, session.joined_at)
    participant, created = record_session(
        meeting,
        source=source,
        session_key=session.session_key,
        identity=session.identity,
        role=role,
        joined_at=session.joined_at,
        left_at=left_at,
        display_name=session.display_name,
        teacher=teacher,
        student=student,
    )
    if teacher is not None and participant.left_at is None:
        teacher_joined(meeting, now=now)
    return participant, created


def store_room_snapshot(meeting: Meeting, sessions, *, source: str, now: dt.datetime) -> dict:
    """A poll's answer: ``sessions`` is everyone in the room at ``now``. Each is recorded (idempotent), and a session
    of this source still open here but no longer in the room has ended, at ``now`` at the latest (the poll cannot
    say when exactly; a webhook, when it arrives, records the real time under its own source)."""
    created = sum(store_provider_session(meeting, s, source=source, now=now)[1] for s in sessions)
    ended = (
        MeetingParticipant.objects.filter(meeting=meeting, source=source, left_at__isnull=True, joined_at__lte=now)
        .exclude(session_key__in=[s.session_key for s in sessions])
        .update(left_at=now)
    )
    return {"sessions_seen": len(sessions), "sessions_new": created, "sessions_ended": ended}
