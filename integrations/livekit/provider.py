"""LiveKit as the video provider (``VIDEO_PROVIDER=livekit``).

* Provisioning creates the room ``<LIVEKIT_ROOM_PREFIX><meeting id>`` with ``max_participants`` = capacity + 1 (the
  students and the teacher). LiveKit closes a room that stays empty for ``empty_timeout`` seconds and re-creates it
  with default settings when someone joins later, which would lose the participant cap; so both timeouts are set
  to outlast the class (we delete the room ourselves at close).
* Each person gets their own token: identity "teacher:7" / "student:42", role in the metadata, ``nbf``/``exp`` =
  the person's window from meetings.access. The join URL is the meeting page ``LIVEKIT_JOIN_URL`` with the
  WebSocket URL and the token.
* Closing deletes the room (everyone is disconnected) and confirms with ListParticipants that nobody is left.
* Attendance: sessions come from webhooks (source livekit_webhook) and, as a backup, from polling ListParticipants
  (source livekit_poll, see meetings.sweeps.poll_room_attendance).
* Recordings (meetings.recordings): a recorded course's room is created with the ``egress`` field of CreateRoom, a
  room-composite Egress to an MP4 file that starts with the room and stops when it ends. ``egress_ended`` (the
  webhook) or, as the backup, ``ListEgress`` gives the file result (name, size, duration, ``location``); the file is
  copied from its location into our recordings storage. Egress writes to the storage its own deployment is set up
  with, not to LiveKit itself, so there is no provider copy for us to delete.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

from django.conf import settings

from integrations.http import ProviderError
from integrations.livekit.client import LiveKitClient
from integrations.video import JoinCredentials, RecordingFile, Room, Session, VideoProvider, fetch_recording
from meetings.attendance import end_open_sessions
from meetings.models import MeetingParticipant
from meetings.recordings import is_recorded

Source = MeetingParticipant.Source
# Extra life for a room after the close moment, in case the close sweep runs late; DeleteRoom ends it anyway.
ROOM_SPARE_SECONDS = 600


def from_timestamp(value, *, per_second: int = 1) -> dt.datetime | None:
    """LiveKit's int64 seconds (or milliseconds, ``per_second=1000``; a string in JSON); None when absent, zero or
    beyond what a datetime can hold."""
    try:
        ticks = int(value or 0)
        return dt.datetime.fromtimestamp(ticks / per_second, tz=dt.UTC) if ticks > 0 else None
    except (TypeError, ValueError, OverflowError, OSError):  # OSError: beyond the platform's time_t
        return None


def participant_session(
    info: dict, *, left_at: dt.datetime | None = None, seen_at: dt.datetime | None = None
) -> Session:
    """A ParticipantInfo (snake_case from the API, camelCase in webhooks) as one session. The participant sid is
    new for every connection, so it names the session: a join and its leave meet on one row in any order. Without a
    join time, ``seen_at`` (the event's time) stands in; a later event with the real time moves it back."""
    joined_at = (
        from_timestamp(info.get("joined_at_ms") or info.get("joinedAtMs"), per_second=1000)
        or from_timestamp(info.get("joined_at") or info.get("joinedAt"))
        or seen_at
        or left_at
    )
    try:
        role = json.loads(info.get("metadata") or "{}").get("role", "")
    except (ValueError, AttributeError):
        role = ""
    return Session(
        identity=str(info["identity"]),
        joined_at=joined_at,
        left_at=left_at,
        session_key=str(info["sid"]),
        display_name=str(info.get("name") or "")[:200],
        role=role,
    )


def egress_files(info: dict, *, sent_at: dt.datetime) -> list[RecordingFile]:
    """The files of a completed EgressInfo (snake_case from ListEgress, camelCase in webhooks) with a location we
    can fetch over HTTP."""
    status = info.get("status")
    if status not in ("EGRESS_COMPLETE", 3):
        return []
    egress_id = str(info.get("egress_id") or info.get("egressId") or "")[:200]
    files = []
    for row in info.get("file_results") or info.get("fileResults") or []:
        if not isinstance(row, dict):
            continue
        location, name = str(row.get("location") or ""), str(row.get("filename") or "")
        if not egress_id or not name or not location.startswith(("http://", "https://")):
            continue
        try:
            size = int(row.get("size") or 0) or None
            duration = int(row.get("duration") or 0) // 1_000_000_000 or None  # nanoseconds
        except (TypeError, ValueError):
            size = duration = None
        files.append(
            RecordingFile(
                external_id=egress_id,
                file_id=name[:200],
                kind="video",
                file_type="MP4",
                size_bytes=size,
                duration_seconds=duration,
                download_url=location,
                sent_at=sent_at,
            )
        )
    return files


def room_egress() -> dict:
    """CreateRoom's ``egress``: a room-composite recording of the whole room to one MP4 file."""
    return {"room": {"layout": "grid", "file_outputs": [{"file_type": "MP4", "filepath": "{room_name}-{time}.mp4"}]}}


class LiveKitProvider(VideoProvider):
    name = "livekit"
    records = True
    poll_source = Source.LIVEKIT_POLL
    webhook_source = Source.LIVEKIT_WEBHOOK

    def __init__(self, client: LiveKitClient | None = None):
        self.client = client or LiveKitClient()

    @staticmethod
    def room_name(meeting) -> str:
        return f"{settings.LIVEKIT_ROOM_PREFIX}{meeting.pk}"

    def create_room(self, meeting, *, now: dt.datetime) -> Room:
        name = self.room_name(meeting)
        keep_open = max(0, int((meeting.close_at - now).total_seconds())) + ROOM_SPARE_SECONDS
        info = self.client.create_room(
            name,
            empty_timeout=keep_open,
            departure_timeout=keep_open,
            max_participants=meeting.capacity + 1,
            metadata=json.dumps({"meeting_id": meeting.pk}),
            egress=room_egress() if is_recorded(meeting) else None,
        )
        return Room(
            name=name,
            data={
                "sid": info.get("sid", ""),
                "ws_url": settings.LIVEKIT_WS_URL,
                "max_participants": meeting.capacity + 1,
                "empty_timeout": keep_open,
            },
        )

    def join_credentials(self, meeting, *, identity, display_name, role, not_before, expires_at) -> JoinCredentials:
        token = self.client.join_token(
            room=meeting.room_name,
            identity=identity,
            name=display_name,
            metadata=json.dumps({"role": role, "meeting_id": meeting.pk}),
            not_before=not_before,
            expires_at=expires_at,
            admin=role == MeetingParticipant.Role.TEACHER,
        )
        url = f"{settings.LIVEKIT_JOIN_URL}?{urlencode({'liveKitUrl': settings.LIVEKIT_WS_URL, 'token': token})}"
        return JoinCredentials(url=url, token=token, not_before=not_before, expires_at=expires_at)

    def end_room(self, meeting, *, now: dt.datetime) -> None:
        self.client.delete_room(meeting.room_name)  # not found: already deleted (a retry) or closed by LiveKit
        left = self.client.list_participants(meeting.room_name) or []
        if left:
            raise ProviderError(f"room {meeting.room_name} still has {len(left)} participants after DeleteRoom")
        for source in (Source.LIVEKIT_WEBHOOK, Source.LIVEKIT_POLL):
            end_open_sessions(meeting, now=now, source=source)

    def live_sessions(self, meeting) -> list[Session]:
        return [participant_session(info) for info in self.client.list_participants(meeting.room_name) or []]

    def attendance(self, meeting) -> list[Session]:
        """Recorded sessions (webhook rows first; a poll row of the same participant sid adds nothing) plus, while
        the room is up, whoever is in it and not recorded yet."""
        sessions: dict[str, Session] = {}
        recorded = meeting.participants.filter(source__in=[Source.LIVEKIT_WEBHOOK, Source.LIVEKIT_POLL])
        for participant in sorted(recorded, key=lambda p: p.source != Source.LIVEKIT_WEBHOOK):
            sessions.setdefault(participant.session_key, Session.from_participant(participant))
        if meeting.room_ended_at is None:
            for session in self.live_sessions(meeting):
                sessions.setdefault(session.session_key, session)
        return sorted(sessions.values(), key=lambda s: s.joined_at)

    # --- recordings --------------------------------------------------------------------------------------------------
    def recording_files(self, meeting) -> list[RecordingFile]:
        now = dt.datetime.now(dt.UTC)
        return [f for info in self.client.list_egress(meeting.room_name) for f in egress_files(info, sent_at=now)]

    def download_recording(self, recording, sink, *, max_bytes: int):
        return fetch_recording("livekit", recording.download_url, sink, max_bytes=max_bytes)

    def delete_recording(self, recording) -> None:
        """Nothing to do: Egress wrote the file to the storage its deployment is set up with, not to LiveKit."""
