"""Applying LiveKit webhooks: participant_joined / participant_left become attendance sessions (source
livekit_webhook), room_finished ends the sessions still open. The view (integrations.livekit.views) has verified the
signature before anything here runs.

Each event is applied once: its id is stored in LiveKitWebhookEvent in the same transaction as its effect, so a
replay (or LiveKit's own retry) changes nothing. Events may arrive in any order: a session is keyed by the
participant sid, so a "left" before its "joined" still ends up as one complete row (meetings.attendance.record_session).

``egress_started`` and ``egress_ended`` (the room-composite recording of a recorded class) carry ``egressInfo``
instead of a room: ``egress_ended`` with EGRESS_COMPLETE records its file results (meetings.recordings.files_known,
keyed by egress id and file name), with EGRESS_FAILED or EGRESS_ABORTED fails the expected recording with LiveKit's
error.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction

from integrations.livekit.models import LiveKitWebhookEvent
from integrations.livekit.provider import egress_files, from_timestamp, participant_session
from integrations.video import get_provider
from integrations.webhooks import BadWebhook, first_delivery
from meetings import recordings
from meetings.attendance import end_open_sessions
from meetings.models import Meeting, MeetingParticipant
from meetings.room_events import store_provider_session

logger = logging.getLogger("classroom.livekit")

PARTICIPANT_EVENTS = ("participant_joined", "participant_left")
EGRESS_EVENTS = ("egress_started", "egress_ended")
HANDLED = (*PARTICIPANT_EVENTS, "room_finished", *EGRESS_EVENTS)


def _check(event: dict) -> None:
    """A signed body can still be unusable; say what is missing (400) before writing anything."""
    # Lengths as our columns hold them: a longer value is no LiveKit event, and PostgreSQL would refuse it (a 500).
    if not isinstance(event.get("id"), str) or not 0 < len(event["id"]) <= 100:
        raise BadWebhook(400, "event has no id (or one over 100 characters)")
    if event["event"] in EGRESS_EVENTS:
        info = event.get("egressInfo")
        if not isinstance(info, dict) or not isinstance(info.get("egressId"), str) or not info["egressId"]:
            raise BadWebhook(400, "egress event without egressInfo.egressId")
        if not isinstance(info.get("roomName"), str) or not 0 < len(info["roomName"]) <= 128:
            raise BadWebhook(400, "egress event without egressInfo.roomName (or one over 128 characters)")
        return
    room = event.get("room")
    if not isinstance(room, dict) or not isinstance(room.get("name"), str) or len(room["name"]) > 128:
        raise BadWebhook(400, "event has no room name (or one over 128 characters)")
    if event["event"] in PARTICIPANT_EVENTS:
        participant = event.get("participant")
        if not isinstance(participant, dict) or not all(
            isinstance(participant.get(key), str) and 0 < len(participant[key]) <= 128 for key in ("sid", "identity")
        ):
            raise BadWebhook(400, "participant event without participant sid and identity")
        if from_timestamp(event.get("createdAt")) is None:
            raise BadWebhook(400, "event has no createdAt")


def apply_event(event: dict, *, now: dt.datetime) -> str:
    """Apply one verified event; returns what happened (for the reply and the log)."""
    kind = event["event"]
    if kind not in HANDLED:
        return "ignored"
    _check(event)
    room_name = event["egressInfo"]["roomName"] if kind in EGRESS_EVENTS else event["room"]["name"]
    meeting = (
        Meeting.objects.select_related("teacher", "course").filter(room_provider="livekit", room_name=room_name).first()
    )
    if meeting is None:
        logger.warning("livekit webhook for an unknown room", extra={"room": room_name, "webhook_event": kind})
        return "unknown room"
    at = from_timestamp(event.get("createdAt")) or now
    with transaction.atomic():
        if not first_delivery(
            LiveKitWebhookEvent, event_id=event["id"], event=kind, room_name=room_name, meeting=meeting, received_at=now
        ):
            return "duplicate"
        if kind == "egress_ended" and recordings.is_recorded(meeting):
            _egress_ended(meeting, event["egressInfo"], now=now, at=at)
        elif kind == "egress_started":
            pass  # recorded once (above): the recording runs; its file comes with egress_ended
        elif kind == "room_finished":
            end_open_sessions(meeting, now=at, source=MeetingParticipant.Source.LIVEKIT_WEBHOOK)
        else:
            left_at = at if kind == "participant_left" else None
            session = participant_session(event["participant"], left_at=left_at, seen_at=at)
            store_provider_session(meeting, session, source=MeetingParticipant.Source.LIVEKIT_WEBHOOK, now=now)
    logger.info("livekit webhook applied", extra={"meeting_id": meeting.pk, "webhook_event": kind})
    return kind


def _egress_ended(meeting: Meeting, info: dict, *, now: dt.datetime, at: dt.datetime) -> None:
    if info.get("status") in ("EGRESS_FAILED", "EGRESS_ABORTED", "EGRESS_LIMIT_REACHED"):
        reason = str(info.get("error") or info["status"])[:300]
        recordings.provider_failed(meeting, provider=get_provider("livekit"), reason=reason, now=now)
        return
    files = egress_files(info, sent_at=at)
    recordings.files_known(meeting, files, provider="livekit", now=now, source="webhook")
