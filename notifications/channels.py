"""The ways a message leaves: each channel sends a list of outbox rows and says, per row, what happened (Result).

The delivery sweep (``notifications.delivery``) finds a row's channel in :data:`CHANNELS` by the row's ``channel``
column. The table names each by its dotted path, loaded on first use (healthchecks' ``TRANSPORTS``): notifications
never imports an outside service's package, and a service's channel (``integrations.line.channel``) imports
``Result`` from here, so the two never import each other.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.mail import send_mail
from django.utils.module_loading import import_string

from notifications.models import NO_CONTACT, Notification

logger = logging.getLogger("classroom.notifications")

Channel = Notification.Channel

CHANNELS = {
    Channel.LOG: "notifications.channels.LogChannel",
    Channel.EMAIL: "notifications.channels.EmailChannel",
    Channel.NONE: "notifications.channels.NoContactChannel",
    Channel.LINE: "integrations.line.channel.LineMessagingChannel",
    Channel.ZALO: "integrations.zalo.channel.ZaloNotificationChannel",
}


@dataclass
class Result:
    """What a channel says about one row."""

    ok: bool
    error: str = ""
    permanent: bool = False
    skipped: bool = False
    retry_after: float | None = None
    provider_message_id: str = ""


class LogChannel:
    """The demo channel: the message goes to the log and counts as sent."""

    def send(self, rows: list[Notification], now: dt.datetime) -> dict[int, Result]:
        for row in rows:
            logger.info(
                "message",
                extra={
                    "channel": "log",
                    "kind": row.kind,
                    "to": row.address or row.dedupe_key,
                    "meeting_id": row.meeting_id,
                    "text": row.payload.get("text", ""),
                },
            )
        return {row.pk: Result(ok=True) for row in rows}


class EmailChannel:
    """Staff alerts, and students without LINE (the outbox routes them here)."""

    def send(self, rows: list[Notification], now: dt.datetime) -> dict[int, Result]:
        results = {}
        for row in rows:
            try:
                # Rows written before subjects were translated have none: the kind's name then.
                subject = row.payload.get("subject") or row.get_kind_display().capitalize()
                send_mail(subject, row.payload.get("text", ""), settings.DEFAULT_FROM_EMAIL, [row.address])
                results[row.pk] = Result(ok=True)
            except Exception as exc:  # SMTP errors are many types; all are worth retrying
                results[row.pk] = Result(ok=False, error=f"e-mail: {exc}")
        return results


class NoContactChannel:
    """A person with neither LINE nor e-mail. The outbox writes their rows skipped already; a pending one (put back
    by hand) is skipped again, never sent."""

    def send(self, rows: list[Notification], now: dt.datetime) -> dict[int, Result]:
        return {row.pk: Result(ok=False, skipped=True, error=NO_CONTACT) for row in rows}


@cache
def channel_class(channel: str) -> type:
    return import_string(CHANNELS[channel])


def channels() -> dict:
    """One instance of every channel, by the value of ``Notification.channel``."""
    return {channel: channel_class(channel)() for channel in CHANNELS}
