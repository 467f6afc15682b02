"""Writing to the outbox: build rows, insert them once. Never touches the network (delivery does that later).

A row's ``dedupe_key`` is ``<kind>:<meeting>:<recipient>``, unique in the database, and rows are inserted with
``ON CONFLICT DO NOTHING``: two sweeps that both decide to tell Alice her class is open write one row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from notifications.messages import render, time_context
from notifications.models import Notification

Channel = Notification.Channel


@dataclass(frozen=True)
class Recipient:
    key: str
    role: str  # student | teacher | staff
    language: str
    time_zone: str
    channel: str
    address: str
    student_id: int | None = None
    teacher_id: int | None = None
    line_channel_id: int | None = None


def _route(*, line_user_id=None, line_channel_id=None, email="") -> tuple[str, str, int | None]:
    """Which channel reaches this person: the log in the demo; otherwise LINE when they have it, else e-mail.

    A student who unfollowed keeps the LINE route here; delivery skips them with that reason, so the outbox shows
    why they were not told.
    """
    if settings.NOTIFICATION_CHANNEL == "log":
        return Channel.LOG, line_user_id or email, None
    if line_user_id and line_channel_id:
        return Channel.LINE, line_user_id, line_channel_id
    if email:
        return Channel.EMAIL, email, None
    return Channel.LOG, "", None


def for_student(student) -> Recipient:
    channel, address, line_channel_id = _route(
        line_user_id=student.line_user_id, line_channel_id=student.line_channel_id, email=student.email
    )
    return Recipient(
        key=f"student:{student.pk}",
        role="student",
        language=student.language,
        time_zone=student.time_zone,
        channel=channel,
        address=address,
        student_id=student.pk,
        line_channel_id=line_channel_id,
    )


def for_teacher(teacher) -> Recipient:
    channel, address, _ = _route(email=teacher.email)
    return Recipient(
        key=f"teacher:{teacher.pk}",
        role="teacher",
        language=teacher.language,
        time_zone=teacher.time_zone,
        channel=channel,
        address=address,
        teacher_id=teacher.pk,
    )


def staff() -> list[Recipient]:
    """Staff alerts go by e-mail to STAFF_ALERT_EMAILS, or to the log when none is configured."""
    if not settings.STAFF_ALERT_EMAILS or settings.NOTIFICATION_CHANNEL == "log":
        return [Recipient(key="staff", role="staff", language="en", time_zone="UTC", channel=Channel.LOG, address="")]
    return [
        Recipient(
            key=f"staff:{email}", role="staff", language="en", time_zone="UTC", channel=Channel.EMAIL, address=email
        )
        for email in settings.STAFF_ALERT_EMAILS
    ]


def payload_hash(channel: str, line_channel_id: int | None, payload: dict) -> str:
    blob = json.dumps([channel, line_channel_id, payload], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def message(
    kind: str,
    recipient: Recipient,
    *,
    now: dt.datetime,
    meeting=None,
    url: str | None = None,
    context: dict | None = None,
    dedupe_suffix: str = "",
) -> Notification:
    """An unsaved outbox row with its text rendered for ``recipient``."""
    values = dict(context or {})
    if meeting is not None:
        values.setdefault("title", meeting.title)
        values.setdefault("meeting_id", meeting.pk)
        values.update(time_context(meeting.start_time, meeting.end_time, recipient.time_zone))
    if url:
        values["url"] = url
    payload = {"text": render(kind, recipient.role, recipient.language, values)}
    if url:
        payload["url"] = url
    scope = meeting.pk if meeting is not None else "-"
    return Notification(
        dedupe_key=f"{kind}:{scope}:{recipient.key}{dedupe_suffix}",
        kind=kind,
        channel=recipient.channel,
        meeting=meeting,
        student_id=recipient.student_id,
        teacher_id=recipient.teacher_id,
        address=recipient.address,
        line_channel_id=recipient.line_channel_id,
        payload=payload,
        payload_hash=payload_hash(recipient.channel, recipient.line_channel_id, payload),
        next_attempt_at=now,
        created_at=now,
    )


def enqueue(rows: Iterable[Notification]) -> int:
    """Insert rows, silently keeping the first of any duplicate. Call inside the transition's transaction."""
    rows = list(rows)
    if rows:
        Notification.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)
