"""The one interface the lifecycle and the API use to talk to a video service.

``VIDEO_PROVIDER`` picks the implementation: ``local`` (built in, the default for ``make run``), ``livekit`` or
``zoom``. Providers raise :class:`integrations.http.ProviderError`; ``permanent`` says whether trying again can
help.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from importlib import import_module

from django.conf import settings

from integrations.http import HttpClient

logger = logging.getLogger("classroom.video")


@dataclass
class Room:
    name: str
    join_url: str = ""
    host_url: str = ""
    external_id: int | None = None
    password: str = ""
    data: dict = field(default_factory=dict)


@dataclass
class JoinCredentials:
    url: str
    token: str = ""
    not_before: dt.datetime | None = None
    expires_at: dt.datetime | None = None


@dataclass
class Session:
    """One stretch of one person in the room, as the provider saw it."""

    identity: str
    joined_at: dt.datetime
    left_at: dt.datetime | None
    session_key: str
    display_name: str = ""
    role: str = ""

    @classmethod
    def from_participant(cls, participant) -> Session:
        """A recorded ``meetings.MeetingParticipant`` as a Session."""
        return cls(
            identity=participant.identity,
            joined_at=participant.joined_at,
            left_at=participant.left_at,
            session_key=participant.session_key,
            display_name=participant.display_name,
            role=participant.role,
        )


@dataclass
class RecordingFile:
    """One recorded file as the provider describes it (a webhook or a poll). ``external_id`` and ``file_id`` are the
    provider's keys (Zoom: the meeting instance UUID and the recording file id); ``sent_at`` is when the provider
    issued ``download_url``/``download_token`` (a newer copy of the same file replaces them, an older one not)."""

    external_id: str
    file_id: str
    kind: str  # video | audio | chat
    file_type: str = ""
    size_bytes: int | None = None
    duration_seconds: int | None = None
    download_url: str = ""
    download_token: str = ""
    checksum: str = ""
    sent_at: dt.datetime | None = None


class VideoProvider:
    name = ""
    # True when the provider records classes itself (Zoom cloud recording); others get a recording row in state
    # "none" with the reason "recording not supported".
    records = False
    # The MeetingParticipant source of ``live_sessions`` when the provider can say who is in a room right now (the
    # backup for lost webhooks, see meetings.sweeps.poll_room_attendance); empty: it cannot.
    poll_source = ""
    # True when ``attendance`` only reads this app's own database (no outside call): the settle sweep then judges
    # the meeting inside its claiming transaction instead of leasing it for an outside call.
    evidence_is_local = False

    def create_room(self, meeting, *, now: dt.datetime) -> Room:
        raise NotImplementedError

    def join_credentials(
        self, meeting, *, identity: str, display_name: str, role: str, not_before: dt.datetime, expires_at: dt.datetime
    ) -> JoinCredentials:
        raise NotImplementedError

    def end_room(self, meeting, *, now: dt.datetime) -> None:
        """Disconnect everyone and end the room. Must be safe to call again (a retry after a timeout)."""
        raise NotImplementedError

    def attendance(self, meeting) -> list[Session]:
        """Everyone who was in the room, one entry per session. Raises ProviderError when unreachable."""
        raise NotImplementedError

    def attendance_many(self, meetings) -> dict:
        """``attendance`` for several meetings: {meeting id: its sessions, or the exception its call raised (usually
        a ProviderError)}, so one failing room neither hides the others' evidence nor makes them be asked again.
        Raises NotImplementedError like ``attendance``. This default makes one call per meeting; a provider that can
        answer for many at once overrides it."""
        answers = {}
        for meeting in meetings:
            try:
                answers[meeting.pk] = self.attendance(meeting)
            except NotImplementedError:
                raise
            except Exception as exc:
                answers[meeting.pk] = exc
        return answers

    def live_sessions(self, meeting) -> list[Session]:
        """Everyone in the room right now (``left_at`` None); only for providers with a ``poll_source``."""
        raise NotImplementedError

    # --- recordings (providers with ``records``) -----------------------------------------------------------------
    def recording_files(self, meeting) -> list[RecordingFile]:
        """The recorded files of the meeting as the provider lists them now (the backup for a lost webhook), with
        fresh download links; [] when it has none (yet). Raises ProviderError when unreachable."""
        raise NotImplementedError

    def download_recording(self, recording, sink, *, max_bytes: int):
        """Stream the file into ``sink`` (a binary file), at most ``max_bytes``; an ``integrations.http.Downloaded``.
        ProviderError when it fails (``status`` 401/403: the download token is no longer valid)."""
        raise NotImplementedError

    def delete_recording(self, recording) -> None:
        """Delete the provider's copy (safe to call again: "already gone" is success)."""
        raise NotImplementedError


def fetch_recording(service: str, url: str, sink, *, max_bytes: int, headers: dict | None = None):
    """A provider's recording file streamed into ``sink`` (``HttpClient.download``: bounded reads, at most
    RECORDING_DOWNLOAD_TIMEOUT_SECONDS in all, at most ``max_bytes``). No retries here: the download sweep retries on
    its own schedule, with backoff."""
    return HttpClient(f"{service}-download", "", retries=0).download(
        url, sink, max_bytes=max_bytes, deadline_seconds=settings.RECORDING_DOWNLOAD_TIMEOUT_SECONDS, headers=headers
    )


PROVIDERS = {
    "local": "integrations.local.provider.LocalProvider",
    "livekit": "integrations.livekit.provider.LiveKitProvider",
    "zoom": "integrations.zoom.provider.ZoomProvider",
}


def provider_class(name: str | None = None) -> type[VideoProvider]:
    path = PROVIDERS[name or settings.VIDEO_PROVIDER]
    module, _, cls = path.rpartition(".")
    return getattr(import_module(module), cls)


def get_provider(name: str | None = None) -> VideoProvider:
    return provider_class(name)()


def polling_providers() -> list[str]:
    """Names of the providers that can list who is in a room right now."""
    return [name for name in PROVIDERS if provider_class(name).poll_source]
