"""Attendance evidence (who was in the room, when) and the close path's settlement step.

Sessions arrive from the provider (webhooks, polling, reports) or from the local room page. Recording is idempotent
on ``(meeting, source, session_key)``: a replayed event updates the same row, and a "left" that arrives before its
"joined" creates the session with both times.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest

from meetings.models import Meeting, MeetingParticipant, StateChange
from meetings.statemachine import history_rows

logger = logging.getLogger("classroom.attendance")
Role = MeetingParticipant.Role


def record_session(
    meeting: Meeting,
    *,
    source: str,
    session_key: str,
    identity: str,
    role: str,
    joined_at: dt.datetime,
    left_at: dt.datetime | None = None,
    display_name: str = "",
    teacher=None,
    student=None,
) -> tuple[MeetingParticipant, bool]:
    """Create or complete one session. Returns (session, created). A later ``left_at`` never moves back, an earlier
    ``joined_at`` wins (events out of order)."""
    defaults = {
        "identity": identity,
        "role": role,
        "joined_at": joined_at,
        "left_at": left_at,
        "display_name": display_name,
        "teacher": teacher,
        "student": student,
    }
    try:
        with transaction.atomic():
            session, created = MeetingParticipant.objects.select_for_update().get_or_create(
                meeting=meeting, source=source, session_key=session_key, defaults=defaults
            )
    except IntegrityError:  # a twin event created it between our SELECT and INSERT
        session, created = (
            MeetingParticipant.objects.get(meeting=meeting, source=source, session_key=session_key),
            False,
        )
    if not created:
        changes = {}
        if joined_at < session.joined_at:
            changes["joined_at"] = joined_at
        if left_at is not None and (session.left_at is None or left_at > session.left_at):
            changes["left_at"] = max(left_at, changes.get("joined_at", session.joined_at))
        if changes:
            MeetingParticipant.objects.filter(pk=session.pk).update(**changes)
            for key, value in changes.items():
                setattr(session, key, value)
    return session, created


def teacher_joined(meeting: Meeting, *, now: dt.datetime) -> None:
    """The teacher is in the room: an open meeting becomes in progress (the open sweep does the same for a teacher
    who came early, before it opened)."""
    from meetings.lifecycle import mark_in_progress

    if meeting.state == Meeting.State.OPEN:
        mark_in_progress(meeting, now=now)


def end_open_sessions(meeting: Meeting, *, now: dt.datetime, source: str) -> int:
    """The room was ended for everyone: sessions still open end now (or at their own start, if another service's
    clock put that a little after ours: a session never ends before it starts)."""
    return MeetingParticipant.objects.filter(meeting=meeting, source=source, left_at__isnull=True).update(
        left_at=Greatest(F("joined_at"), Value(now))
    )


def settle(meeting: Meeting, *, now: dt.datetime) -> str:
    """The close path's attendance and revenue step. Hook: attendance is recorded as not yet verified and the
    meeting is marked settled; verification and payouts replace this (issue: attendance and revenue sharing)."""
    with transaction.atomic():
        updated = Meeting.objects.filter(pk=meeting.pk, state=Meeting.State.CLOSED, settled_at__isnull=True).update(
            attendance_verdict=Meeting.Verdict.UNVERIFIED, settled_at=now
        )
        if not updated:
            return "already settled"
        StateChange.objects.bulk_create(
            history_rows(
                Meeting,
                [(meeting.pk, "", meeting.pk)],
                to_state=Meeting.Verdict.UNVERIFIED,
                at=now,
                field="attendance",
                reason="attendance not yet verified",
            )
        )
    return "attendance not yet verified"


# --- sessions reported by a video provider (webhooks, polls, reports) -------------------------------------------------


def _person(meeting: Meeting, identity: str):
    """(teacher, student, role) for a provider identity ("teacher:7", "student:42"; see meetings.access.identity_of).
    Anything else (a Zoom guest we could not match) is recorded with role "other" and no person."""
    from classroom.models import Student
    from meetings.access import identity_of

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
