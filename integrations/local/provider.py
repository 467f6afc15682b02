"""The built-in video provider: the "room" is a page of this app (``/rooms/<name>/``).

It needs no outside service, so ``make run`` works offline. Entering the page with a valid, in-window token records
an attendance session (source ``local``); ending the room ends every open session.
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.core import signing
from django.urls import reverse

from integrations.video import JoinCredentials, Room, Session, VideoProvider
from meetings.attendance import end_open_sessions
from meetings.models import MeetingParticipant

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
        return [
            Session.from_participant(p) for p in meeting.participants.filter(source=MeetingParticipant.Source.LOCAL)
        ]

    def attendance_many(self, meetings) -> dict[int, list[Session]]:
        """One query for the whole batch (the settle sweep's burst at the top of the hour)."""
        answers: dict[int, list[Session]] = {m.pk: [] for m in meetings}
        rows = (
            MeetingParticipant.objects.filter(meeting_id__in=list(answers), source=MeetingParticipant.Source.LOCAL)
            .order_by("joined_at", "id")
            .values_list("meeting_id", "identity", "joined_at", "left_at", "session_key", "display_name", "role")
        )
        for meeting_id, identity, joined_at, left_at, session_key, display_name, role in rows:
            answers[meeting_id].append(Session(identity, joined_at, left_at, session_key, display_name, role))
        return answers


def read_token(token: str) -> dict | None:
    try:
        return signing.loads(token, salt=TOKEN_SALT)
    except signing.BadSignature:
        return None
