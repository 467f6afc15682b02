"""The built-in video provider: the "room" is a page of this app (``/rooms/<name>/``).

It needs no outside service, so ``make run`` works offline. Presence is what the page reports, not page loads:
entering the page with a valid, in-window token starts an attendance session (source ``local``), the page sends a
heartbeat every LOCAL_HEARTBEAT_SECONDS, and a session ends when the person leaves (the Leave button, or the page
being closed) or, when the heartbeat stops, at its last heartbeat plus LOCAL_PRESENCE_MARGIN_SECONDS. A heartbeat
after that starts a new session. Ending the room ends every session still present.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse

from classroom.models import Student
from integrations.video import JoinCredentials, Room, Session, VideoProvider
from meetings.access import check_join
from meetings.attendance import end_open_sessions, end_presence, heartbeat, session_end, start_presence
from meetings.models import Meeting, MeetingParticipant
from meetings.room_events import teacher_joined

TOKEN_SALT = "integrations.local.room"


def room_url(name: str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("local-room", args=[name])


class LocalProvider(VideoProvider):
    name = "local"
    evidence_is_local = True

    def create_room(self, meeting, *, now: dt.datetime) -> Room:
        name = f"class-{meeting.pk}-{secrets.token_hex(4)}"
        return Room(name=name, join_url=room_url(name), host_url=room_url(name))

    def join_credentials(self, meeting, *, identity, display_name, role, not_before, expires_at) -> JoinCredentials:
        token = signing.dumps(
            {
                "m": meeting.pk,
                "i": identity,
                "n": display_name,
                "r": role,
                "nbf": int(not_before.timestamp()),
                "exp": int(expires_at.timestamp()),
            },
            salt=TOKEN_SALT,
            compress=True,
        )
        return JoinCredentials(
            url=f"{room_url(meeting.room_name)}?t={token}", token=token, not_before=not_before, expires_at=expires_at
        )

    def end_room(self, meeting, *, now: dt.datetime) -> None:
        end_open_sessions(meeting, now=now, source=MeetingParticipant.Source.LOCAL)

    def attendance(self, meeting) -> list[Session]:
        return self.attendance_many([meeting])[meeting.pk]

    def attendance_many(self, meetings) -> dict[int, list[Session]]:
        """One query for the whole batch (the settle sweep's burst at the top of the hour). A session whose
        heartbeat stopped ended at its last heartbeat plus the margin, even before anyone wrote its ``left_at``."""
        answers: dict[int, list[Session]] = {m.pk: [] for m in meetings}
        rows = (
            MeetingParticipant.objects.filter(meeting_id__in=list(answers), source=MeetingParticipant.Source.LOCAL)
            .order_by("joined_at", "id")
            .values_list(
                "meeting_id", "identity", "joined_at", "left_at", "last_seen_at", "session_key", "display_name", "role"
            )
        )
        for meeting_id, identity, joined_at, left_at, last_seen_at, session_key, display_name, role in rows:
            left_at = session_end(left_at, last_seen_at)
            answers[meeting_id].append(Session(identity, joined_at, left_at, session_key, display_name, role))
        return answers


def read_token(token: str) -> dict | None:
    try:
        return signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        return None


def token_in_force(claims: dict, meeting: Meeting, now: dt.datetime) -> bool:
    """The token is valid at ``now`` (checked on every request, so a rejoin works until the close moment) and the
    room is not over."""
    return claims["nbf"] <= now.timestamp() < claims["exp"] and meeting.state not in (
        Meeting.State.CLOSED,
        Meeting.State.CANCELLED,
    )


def enter_room(meeting: Meeting, claims: dict, *, now: dt.datetime) -> MeetingParticipant:
    """The page was entered or sent its heartbeat: the person the token names is in the room at ``now``. Someone
    with no present session starts one only if they may enter now (``meetings.access.check_join``: a student's first
    entry ends with the late-join grace, a rejoin after a drop-out does not); otherwise JoinRefused. The teacher
    being there makes an open meeting in progress."""
    identity, role = claims["i"], claims["r"]
    source = MeetingParticipant.Source.LOCAL
    session = heartbeat(meeting, source=source, identity=identity, now=now)
    if session is None:
        kind, _, pk = identity.partition(":")
        teacher = meeting.teacher if kind == "teacher" else None
        student = Student.objects.filter(pk=pk).first() if kind == "student" and pk.isdigit() else None
        zone = (teacher or student).time_zone if (teacher or student) else "UTC"
        with transaction.atomic():
            # A first entry is decided and recorded under the class's row lock, the lock the early close of an empty
            # class decides under (meetings.sweeps.close_empty_meetings): a student entering in the last second of
            # the grace is either in the room before that decision or finds the class ended, never closed on.
            locked = Meeting.objects.select_for_update(no_key=True).get(pk=meeting.pk)
            # A twin request (two tabs opened at once) may have started the session while this one waited.
            session = heartbeat(meeting, source=source, identity=identity, now=now)
            if session is None:
                check_join(locked, role, now, tz_name=zone, identity=identity)
                session = start_presence(
                    meeting,
                    source=source,
                    identity=identity,
                    role=role,
                    now=now,
                    display_name=claims.get("n", ""),
                    teacher=teacher,
                    student=student,
                )
    if role == "teacher":
        teacher_joined(meeting, now=now)
    return session


def leave_room(meeting: Meeting, claims: dict, *, now: dt.datetime) -> int:
    """The person left (the Leave button, or the page was closed): their session ends now."""
    return end_presence(meeting, source=MeetingParticipant.Source.LOCAL, identity=claims["i"], now=now)
