"""Zoom as the video provider (``VIDEO_PROVIDER=zoom``), over a pool of host accounts (integrations.zoom.pool).

* Provisioning creates a scheduled meeting (type 2, UTC start, duration = class + 10 min, join before host allowed
  10 minutes early, no waiting room, a 10-character password) on the next usable account; an account at its daily
  limit, rate-limited or refused is set aside and the next one is tried. The Zoom id (int64) goes in
  ``room_external_id``; the account and the create latency in ``room_data``.
* Creating a Zoom meeting is not idempotent: when the answer is lost (a timeout) or is an error that may come after
  Zoom created the meeting (a 5xx), sending it again would make a second one (an orphan that also uses up the host's
  daily allowance). So the create is never resent within a call (integrations/http.py), each account is written
  down in ``room_data["zoom_create_tried"]`` (committed) *before* the create is sent to it, and a later attempt
  first lists those hosts' meetings and adopts the one whose ``agenda`` is this class's tag ("Class <id>") and whose
  start is this class's start, instead of creating another. A first attempt lists nothing. A 429 is Zoom refusing
  the request: the host is set aside (integrations.zoom.pool) and the next one is tried at once.
* The teacher gets the host ``start_url``, fetched again when older than ZOOM_START_URL_MAX_AGE_MINUTES (Zoom
  expires it after 2 hours); students get the ``join_url`` with their name filled in. A Zoom link cannot be bounded
  in time: the window is enforced by our join link (bookings.views.join_link) which redirects only inside it.
* Closing ends the meeting for everyone (``PUT /meetings/{id}/status``); "not found" or "not started" count as
  ended, so a retry after a timeout is fine.
* Attendance: webhooks (source zoom_webhook, integrations.zoom.webhooks) and the participants report (all sessions;
  a rejoin is another session).
* Recordings (meetings.recordings): a recorded course's meeting is made on a licensed (Pro or Business) host with
  ``auto_recording: cloud`` (only licensed hosts record to the cloud). Its files come with ``recording.completed``
  (integrations.zoom.webhooks) or, as the backup, from ``GET /meetings/{uuid}/recordings``; each is downloaded
  with the event's ``download_token`` (valid 24 h) or, after a poll, the OAuth token, and moved to Zoom's trash
  once our copy is verified if RECORDING_DELETE_FROM_PROVIDER says so.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import secrets
import string
import time
from urllib.parse import urlencode

from django.conf import settings
from django.utils import timezone

from bookings.models import Booking
from integrations.http import ProviderError
from integrations.video import JoinCredentials, RecordingFile, Room, Session, VideoProvider, fetch_recording
from integrations.zoom import pool
from integrations.zoom.client import AccountRefused, ZoomClient
from integrations.zoom.models import ZoomAccount
from meetings.access import identity_of
from meetings.attendance import end_open_sessions
from meetings.models import MeetingParticipant
from meetings.recordings import is_recorded

logger = logging.getLogger("classroom.zoom")

EXTRA_MINUTES = 10  # the meeting outlasts the class a little: late start, the close delay
JOIN_BEFORE_HOST_MINUTES = 10
PASSWORD_LENGTH = 10  # Zoom's maximum


def new_password() -> str:
    """Letters and digits with at least one of each (accounts may require both)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(PASSWORD_LENGTH))
        if any(c.isdigit() for c in password) and any(c.isalpha() for c in password):
            return password


def agenda_tag(meeting) -> str:
    """What marks a Zoom meeting as this class's (in ``agenda``, which Zoom keeps and lists)."""
    return f"Class {meeting.pk}"


def class_minutes(meeting) -> int:
    return math.ceil((meeting.end_time - meeting.start_time).total_seconds() / 60)


def zoom_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_zoom_time(value) -> dt.datetime | None:
    """A Zoom time (ISO 8601, ``...Z`` as Zoom sends them) as an aware UTC datetime; None when it is not one. A time
    without an offset is UTC, as every time Zoom sends us is: never the server's own zone."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


# Zoom's file types we keep, as our kinds (transcripts, captions, timelines and summaries are left out).
KINDS = {"MP4": "video", "M4A": "audio", "CHAT": "chat"}


def recording_files(obj: dict, *, token: str, sent_at: dt.datetime) -> list[RecordingFile]:
    """The files we keep of a Zoom recording object (the webhook's ``payload.object`` or the poll's answer): the
    completed video, audio and chat files, each with the download token that came with them."""
    uuid = str(obj.get("uuid") or "")
    files = []
    for row in obj.get("recording_files") or []:
        if not isinstance(row, dict):
            continue
        kind = KINDS.get(str(row.get("file_type") or "").upper())
        status = row.get("status") or "completed"
        if kind is None or status != "completed" or not row.get("id") or not row.get("download_url"):
            continue
        started, ended = parse_zoom_time(row.get("recording_start")), parse_zoom_time(row.get("recording_end"))
        size = row.get("file_size")
        files.append(
            RecordingFile(
                external_id=uuid[:200],
                file_id=str(row["id"])[:200],
                kind=kind,
                file_type=str(row.get("file_type"))[:16],
                size_bytes=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
                duration_seconds=int((ended - started).total_seconds())
                if started and ended and ended >= started
                else None,
                download_url=str(row["download_url"]),
                download_token=token,
                sent_at=sent_at,
            )
        )
    return files


def identify(meeting, *, zoom_user_id: str, email: str, name: str) -> str:
    """Our identity for a Zoom participant. The host is the teacher (they start the meeting from the host link); a
    student is matched by e-mail, else by the display name we filled in for them; anyone else stays a Zoom guest."""
    if zoom_user_id and zoom_user_id == meeting.room_data.get("host_user_id"):
        return identity_of(meeting.teacher)
    students = [
        booking.student
        for booking in Booking.objects.filter(
            meeting=meeting, status__in=[Booking.Status.CONFIRMED, Booking.Status.COMPLETED]
        ).select_related("student")
    ]
    for matches in (
        lambda s: bool(email) and s.email.lower() == email.lower(),
        lambda s: bool(name) and s.display_name.strip().lower() == name.strip().lower(),
    ):
        found = [s for s in students if matches(s)]
        if len(found) == 1:
            return identity_of(found[0])
    return f"zoom:{zoom_user_id or name or 'guest'}"[:128]  # the identity column's length


class ZoomProvider(VideoProvider):
    name = "zoom"
    records = True
    webhook_source = MeetingParticipant.Source.ZOOM_WEBHOOK

    def _client(self, meeting) -> ZoomClient:
        account = ZoomAccount.objects.filter(pk=meeting.room_data.get("account_id")).first()
        if account is None:
            raise ProviderError(f"the Zoom account of meeting {meeting.pk} is gone", permanent=True)
        return ZoomClient(account)

    def create_room(self, meeting, *, now: dt.datetime) -> Room:
        minutes = class_minutes(meeting)
        adopted = self._adopt(meeting, now=now)
        if adopted is not None:
            return adopted
        password = new_password()
        recorded = is_recorded(meeting)
        payload = {
            "topic": meeting.title[:200],
            "type": 2,
            "start_time": zoom_time(meeting.start_time),
            "timezone": "UTC",
            "duration": minutes + EXTRA_MINUTES,
            "password": password,
            "agenda": agenda_tag(meeting),
            "settings": {
                "join_before_host": True,
                "jbh_time": JOIN_BEFORE_HOST_MINUTES,
                "waiting_room": False,
                # Only licensed hosts record to the cloud, so a recorded class is made on one (pool.reserve).
                "auto_recording": "cloud" if recorded else "none",
            },
        }
        tried: list[int] = []
        while (account := pool.reserve(now, minutes=minutes, exclude=tried, licensed=recorded)) is not None:
            tried.append(account.pk)
            self._remember_attempt(meeting, account)
            started = time.monotonic()
            try:
                created = ZoomClient(account).create_meeting(payload)
            except ProviderError as exc:
                if pool.account_failed(account, exc, now):
                    continue
                raise
            latency_ms = round((time.monotonic() - started) * 1000)
            logger.info(
                "zoom meeting created",
                extra={"meeting_id": meeting.pk, "account": account.name, "latency_ms": latency_ms},
            )
            return self._room(
                account,
                created,
                password=password,
                now=now,
                create_latency_ms=latency_ms,
                zoom_create_tried=meeting.room_data["zoom_create_tried"],
            )
        raise ProviderError(
            f"no Zoom host account can take a {minutes}-minute class now (tried {len(tried)}; disabled, "
            "at the daily limit, rate-limited, refused, or Basic for a class over "
            f"{settings.ZOOM_BASIC_MAX_MINUTES} minutes" + (", or Basic for a recorded class" if recorded else "") + ")"
        )

    @staticmethod
    def _room(account: ZoomAccount, created: dict, *, password: str, now: dt.datetime, **data) -> Room:
        return Room(
            name=str(created["id"]),
            join_url=created["join_url"],
            host_url=created["start_url"],
            external_id=int(created["id"]),
            password=created.get("password") or password,
            data={
                "account_id": account.pk,
                "account": account.name,
                "host_user_id": created.get("host_id") or account.host_user_id,
                "uuid": created.get("uuid", ""),
                "start_url_fetched_at": now.isoformat(),
                **data,
            },
        )

    @staticmethod
    def _tried_accounts(meeting) -> list[int]:
        """The accounts an earlier attempt sent a create to, as committed (not the copy the sweep loaded)."""
        data = type(meeting).objects.filter(pk=meeting.pk).values_list("room_data", flat=True).first() or {}
        return list(data.get("zoom_create_tried") or [])

    def _remember_attempt(self, meeting, account: ZoomAccount) -> None:
        """Written and committed before the create is sent: if the answer is lost, the next attempt knows where
        to look. Only while the meeting has no room (the sweep's lease keeps other workers off this meeting)."""
        tried = self._tried_accounts(meeting)
        if account.pk not in tried:
            data = {**meeting.room_data, "zoom_create_tried": [*tried, account.pk]}
            type(meeting).objects.filter(pk=meeting.pk, room_provisioned_at__isnull=True).update(room_data=data)
            meeting.room_data = data

    def _adopt(self, meeting, *, now: dt.datetime) -> Room | None:
        """After an attempt whose outcome is unknown: the meeting Zoom made for this class then, if any. A host
        that cannot be listed now makes this attempt fail (creating anyway could make a duplicate)."""
        tried = self._tried_accounts(meeting)
        if not tried:
            return None  # the first attempt: nothing to look for
        tag, start = agenda_tag(meeting), zoom_time(meeting.start_time)
        for account in ZoomAccount.objects.filter(pk__in=tried).order_by("pk"):
            client = ZoomClient(account)
            try:
                listed = client.list_meetings()
            except AccountRefused as exc:
                # Refused credentials: we cannot see, nor use, what may be there; staff see the account set aside.
                pool.account_failed(account, exc, now)
                continue
            found = sorted(m["id"] for m in listed if m.get("agenda") == tag and m.get("start_time") == start)
            if not found:
                continue
            if len(found) > 1:
                logger.error("several zoom meetings for one class", extra={"meeting_id": meeting.pk, "zoom_ids": found})
            full = client.get_meeting(found[0])  # the list leaves out the host link and the password
            logger.warning(
                "zoom meeting adopted after an unanswered create",
                extra={"meeting_id": meeting.pk, "account": account.name, "zoom_id": found[0]},
            )
            return self._room(
                account, full, password=full.get("password", ""), now=now, adopted=True, zoom_create_tried=tried
            )
        return None

    def join_credentials(self, meeting, *, identity, display_name, role, not_before, expires_at) -> JoinCredentials:
        if role == MeetingParticipant.Role.TEACHER:
            url = self.start_url(meeting, now=timezone.now())
        else:
            glue = "&" if "?" in meeting.room_join_url else "?"
            url = f"{meeting.room_join_url}{glue}{urlencode({'uname': display_name})}"
        return JoinCredentials(url=url, not_before=not_before, expires_at=expires_at)

    def start_url(self, meeting, *, now: dt.datetime) -> str:
        """The host link, fetched again when it may have expired (Zoom: 2 hours). If Zoom cannot be reached, a link
        younger than 2 hours is still good."""
        fetched = dt.datetime.fromisoformat(
            meeting.room_data.get("start_url_fetched_at") or "1970-01-01T00:00:00+00:00"
        )
        age = now - fetched
        if age < dt.timedelta(minutes=settings.ZOOM_START_URL_MAX_AGE_MINUTES):
            return meeting.room_host_url
        try:
            fresh = self._client(meeting).get_meeting(meeting.room_external_id)["start_url"]
        except ProviderError:
            if age < dt.timedelta(hours=2):
                return meeting.room_host_url
            raise
        data = {**meeting.room_data, "start_url_fetched_at": now.isoformat()}
        type(meeting).objects.filter(pk=meeting.pk).update(room_host_url=fresh, room_data=data)
        meeting.room_host_url, meeting.room_data = fresh, data
        return fresh

    def end_room(self, meeting, *, now: dt.datetime) -> None:
        try:
            self._client(meeting).end_meeting(meeting.room_external_id)
        except ProviderError as exc:
            # Already over: deleted (404), or never started (nobody came); both leave nobody in the room.
            if not (exc.status == 404 or (exc.status == 400 and "not started" in exc.detail.lower())):
                raise
        end_open_sessions(meeting, now=now, source=MeetingParticipant.Source.ZOOM_WEBHOOK)

    def attendance(self, meeting) -> list[Session]:
        sessions = []
        for row in self._client(meeting).participants_report(meeting.room_external_id):
            joined_at = parse_zoom_time(row.get("join_time"))
            if joined_at is None:
                continue
            left_at = parse_zoom_time(row.get("leave_time"))
            identity = identify(
                meeting, zoom_user_id=row.get("id") or "", email=row.get("user_email") or "", name=row.get("name") or ""
            )
            sessions.append(
                Session(
                    identity=identity,
                    joined_at=joined_at,
                    left_at=max(left_at, joined_at) if left_at else None,
                    session_key=f"{row.get('user_id') or identity}@{row['join_time']}",
                    display_name=row.get("name") or "",
                )
            )
        return sorted(sessions, key=lambda s: s.joined_at)

    # --- recordings --------------------------------------------------------------------------------------------------
    def recording_files(self, meeting) -> list[RecordingFile]:
        # The instance we know (a file's UUID, else the one Zoom gave at creation); Zoom answers for the latest
        # instance when given the numeric id.
        known = meeting.recordings.exclude(external_id="").values_list("external_id", flat=True).first()
        uuid = known or meeting.room_data.get("uuid") or str(meeting.room_external_id)
        body = self._client(meeting).recordings(uuid)
        if body is None:
            return []
        # Zoom gives the poll a download access token; without one the OAuth token downloads (download_recording).
        return recording_files(body, token=str(body.get("download_access_token") or ""), sent_at=timezone.now())

    def download_recording(self, recording, sink, *, max_bytes: int):
        token = recording.download_token or self._client(recording.meeting).token()
        return fetch_recording(
            "zoom", recording.download_url, sink, max_bytes=max_bytes, headers={"Authorization": f"Bearer {token}"}
        )

    def delete_recording(self, recording) -> None:
        self._client(recording.meeting).delete_recording(recording.external_id, recording.file_id)
