"""Zoom webhooks: signature and freshness, the URL validation challenge, participant sessions.

Zoom signs ``v0:{x-zm-request-timestamp}:{raw body}`` with HMAC-SHA256 and the app's secret token and sends
``x-zm-signature: v0=<hex>``. A timestamp further than ZOOM_WEBHOOK_MAX_AGE_SECONDS from our clock is refused, so a
captured request cannot be replayed later. Forged headers (a timestamp that is not a short run of ASCII digits, a
signature with any characters at all) are a 401, never an exception. Zoom sends no event id; a retry repeats the
body byte for byte, so the body's SHA-256 is stored (ZoomWebhookEvent) in the same transaction as the effect and a
repeat changes nothing.

``recording.completed`` (Zoom: after processing, about twice the class's length, sometimes a day; retried and
sometimes duplicated, the copies differing only in the download URL and ``download_token``) records each file once
per meeting (meetings.recordings.files_known, keyed by the meeting UUID and the file id); a copy sent later only
brings a newer token. Only for classes of recorded courses (RECORDINGS_ENABLED): anything else is ignored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging

from django.conf import settings
from django.db import transaction

from integrations.video import Session
from integrations.webhooks import BadWebhook, first_delivery, webhook_json
from integrations.zoom.models import ZoomWebhookEvent
from integrations.zoom.provider import identify, parse_zoom_time, recording_files
from meetings import recordings
from meetings.attendance import end_open_sessions
from meetings.models import Meeting, MeetingParticipant
from meetings.room_events import store_provider_session

logger = logging.getLogger("classroom.zoom")

PARTICIPANT_EVENTS = ("meeting.participant_joined", "meeting.participant_left")
RECORDING_COMPLETED = "recording.completed"
HANDLED = (*PARTICIPANT_EVENTS, "meeting.ended", RECORDING_COMPLETED)


def receive(body: bytes, *, timestamp: str, signature: str, now: dt.datetime) -> dict:
    """One webhook request: verified, then the URL validation answered or the event applied; the answer's body.
    BadWebhook (401, 400) when refused (then nothing was written)."""
    verify(body, timestamp=timestamp, signature=signature, now=now)
    event = webhook_json(body)
    if event["event"] == "endpoint.url_validation":
        return url_validation(event)
    return {"status": apply_event(event, body=body, now=now)}


# Seconds since 1970 in ASCII digits: 10 today, 13 would also fit milliseconds. Checked before any arithmetic, so a
# 400-digit number (too big for a float) or digits of another script (which int() accepts) are refused, not crashed on.
MAX_TIMESTAMP_DIGITS = 13


def sign(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(body: bytes, *, timestamp: str, signature: str, now: dt.datetime) -> None:
    """BadWebhook(401) unless the headers are Zoom's signature over this body, sent within the allowed age. Both
    headers are whatever the sender put there: nothing here may raise on them."""
    secret = settings.ZOOM_WEBHOOK_SECRET_TOKEN
    if not secret:
        raise BadWebhook(401, "ZOOM_WEBHOOK_SECRET_TOKEN is not set; Zoom webhooks cannot be verified")
    if not timestamp or not signature:
        raise BadWebhook(401, "missing x-zm-request-timestamp or x-zm-signature")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= MAX_TIMESTAMP_DIGITS):
        raise BadWebhook(
            401, f"x-zm-request-timestamp is not seconds since 1970 (at most {MAX_TIMESTAMP_DIGITS} digits)"
        )
    if abs(now.timestamp() - int(timestamp)) > settings.ZOOM_WEBHOOK_MAX_AGE_SECONDS:
        raise BadWebhook(401, "stale x-zm-request-timestamp")
    # Over the raw bytes (for the UTF-8 bodies Zoom sends, the same as its string), compared as bytes: a header with
    # characters outside ASCII simply does not match (hmac.compare_digest refuses to compare such strings).
    expected = "v0=" + sign(secret, f"v0:{timestamp}:".encode() + body)
    if not hmac.compare_digest(signature.encode("utf-8", "backslashreplace"), expected.encode()):
        raise BadWebhook(401, "x-zm-signature does not match")


def _payload(event: dict) -> dict:
    """``payload`` as an object: a sender may put anything there, and a list or a number is a 400, not a crash."""
    payload = event.get("payload")
    if not isinstance(payload, dict):
        raise BadWebhook(400, "event without a payload object")
    return payload


def _text(value) -> str:
    """A string field as sent, or "" when the sender put something else there (a number id is kept as text)."""
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def url_validation(event: dict) -> dict:
    """Zoom checks the endpoint by sending a plain token and expecting it back with its HMAC."""
    plain = _payload(event).get("plainToken")
    if not isinstance(plain, str) or not plain:
        raise BadWebhook(400, "endpoint.url_validation without plainToken")
    # Encodable: webhook_json refused a body with a lone surrogate ("\ud800"), which has no UTF-8 to sign.
    return {"plainToken": plain, "encryptedToken": sign(settings.ZOOM_WEBHOOK_SECRET_TOKEN, plain.encode())}


def _meeting_object(event: dict) -> dict:
    obj = _payload(event).get("object")
    if not isinstance(obj, dict) or not str(obj.get("id", "")).isdigit():
        raise BadWebhook(400, "event without payload.object.id")
    if int(obj["id"]) >= 2**63:  # Zoom ids are 64-bit signed; a bigger one would overflow the bigint column
        raise BadWebhook(400, "payload.object.id is out of range")
    if event["event"] in PARTICIPANT_EVENTS:
        participant = obj.get("participant")
        if not isinstance(participant, dict) or not _text(participant.get("user_id")):
            raise BadWebhook(400, "participant event without participant.user_id")
        moment = participant.get("join_time" if event["event"].endswith("joined") else "leave_time")
        if parse_zoom_time(moment) is None:
            raise BadWebhook(400, "participant event without a valid join_time/leave_time")
    return obj


def _event_time(event: dict, now: dt.datetime) -> dt.datetime:
    """When Zoom sent the event (``event_ts``, milliseconds): which of two copies carries the newer token."""
    stamp = event.get("event_ts")
    if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 10**14:
        return dt.datetime.fromtimestamp(stamp / 1000, tz=dt.UTC)
    return now


def apply_event(event: dict, *, body: bytes, now: dt.datetime) -> str:
    kind = event["event"]
    if kind not in HANDLED:
        return "ignored"
    obj = _meeting_object(event)
    zoom_id = int(obj["id"])
    meeting = (
        Meeting.objects.select_related("teacher", "course")
        .filter(room_provider="zoom", room_external_id=zoom_id)
        .first()
    )
    if meeting is None:
        logger.warning("zoom webhook for an unknown meeting", extra={"zoom_meeting_id": zoom_id, "webhook_event": kind})
        return "unknown meeting"
    if kind == RECORDING_COMPLETED and not recordings.is_recorded(meeting):
        return "not recorded"
    source = MeetingParticipant.Source.ZOOM_WEBHOOK
    with transaction.atomic():
        if not first_delivery(
            ZoomWebhookEvent,
            body_sha256=hashlib.sha256(body).hexdigest(),
            event=kind,
            zoom_meeting_id=zoom_id,
            meeting=meeting,
            received_at=now,
        ):
            return "duplicate"
        if kind == RECORDING_COMPLETED:
            files = recording_files(obj, token=_text(event.get("download_token")), sent_at=_event_time(event, now))
            recordings.files_known(meeting, files, provider="zoom", now=now, source="webhook")
        elif kind == "meeting.ended":
            end_open_sessions(meeting, now=parse_zoom_time(obj.get("end_time")) or now, source=source)
        else:
            participant = obj["participant"]
            joined = kind == "meeting.participant_joined"
            moment = parse_zoom_time(participant["join_time" if joined else "leave_time"])
            identity = identify(
                meeting,
                zoom_user_id=_text(participant.get("id")),
                email=_text(participant.get("email")),
                name=_text(participant.get("user_name")),
            )
            # The leave event carries no join time: keyed by the meeting instance and Zoom's per-join user_id, the
            # two events meet on one row in any order (record_session keeps the earliest join, the latest leave).
            session = Session(
                identity=identity,
                joined_at=moment,
                left_at=None if joined else moment,
                session_key=f"{_text(obj.get('uuid'))}:{_text(participant['user_id'])}"[:200],
                display_name=_text(participant.get("user_name"))[:200],
            )
            store_provider_session(meeting, session, source=source, now=now)
    logger.info("zoom webhook applied", extra={"meeting_id": meeting.pk, "webhook_event": kind})
    return kind
