"""The one interface the lifecycle and the API use to talk to a video service.

``VIDEO_PROVIDER`` picks the implementation: ``local`` (built in, the default for ``make run``), ``livekit`` or
``zoom``. Providers raise :class:`ProviderError`; ``permanent`` says whether trying again can help.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from importlib import import_module

from django.conf import settings


class ProviderError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, status: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.status = status


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


class VideoProvider:
    name = ""

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


PROVIDERS = {
    "local": "integrations.local.provider.LocalProvider",
}


def get_provider(name: str | None = None) -> VideoProvider:
    path = PROVIDERS[name or settings.VIDEO_PROVIDER]
    module, _, cls = path.rpartition(".")
    return getattr(import_module(module), cls)()
