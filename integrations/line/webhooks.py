"""LINE webhooks: the signature (the SDK's WebhookParser with the channel's secret), then follow and unfollow.

* Each LINE channel has its own URL (``/integrations/line/webhook/<slug>/``), so its secret is known before parsing.
* An event is applied once: its ``webhook_event_id`` goes into :class:`LineWebhookEvent` (unique) in the same
  transaction as its effect, so a redelivery or a duplicate changes nothing.
* Events are applied in ``timestamp`` order, and a student keeps the timestamp of the newest event applied
  (``line_status_changed_at``): an older event arriving late (a "follow" after a newer "unfollow") is recorded but
  changes nothing.
* Follow creates the student (or reactivates them, keeping the LINE user id); unfollow is a soft delete
  (``line_following=False``, nothing removed). An unfollow for someone we never saw creates an unfollowed student,
  so that their older follow, arriving later, cannot make them look followed.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import IntegrityError, transaction
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhooks import FollowEvent, UnfollowEvent

from integrations.line.models import LineChannel, LineWebhookEvent
from integrations.video import BadWebhook, first_delivery

logger = logging.getLogger("classroom.line")

MAX_ID_LENGTH = 64  # LINE user ids are 33 characters, webhook event ids (ULIDs) 26; the columns hold 64
MAX_TIMESTAMP_MS = 253_402_300_800_000  # year 10000: beyond it no datetime exists


def parse(channel: LineChannel, body: bytes, signature: str) -> list:
    """The channel's events, or BadWebhook: 400 for a missing or wrong signature or a body that is not LINE's JSON."""
    if not signature:
        raise BadWebhook(400, "missing X-Line-Signature")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadWebhook(400, "body is not UTF-8") from exc
    try:
        events = WebhookParser(channel.channel_secret).parse(text, signature)
    except InvalidSignatureError as exc:
        raise BadWebhook(400, "X-Line-Signature does not match") from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # json and pydantic errors are ValueErrors
        raise BadWebhook(400, "body is not a LINE webhook (JSON with an events list)") from exc
    for event in events:
        if isinstance(event, FollowEvent | UnfollowEvent):
            problem = _problem(event)
            if problem:  # checked for every event before any is applied: a bad body writes nothing
                raise BadWebhook(400, f"{event.type} event: {problem}")
    return events


def _problem(event) -> str:
    """What makes a follow/unfollow event unusable (the SDK checks types, not sizes or NUL characters)."""
    for name, value in (
        ("source.userId", getattr(event.source, "user_id", None)),
        ("webhookEventId", event.webhook_event_id),
    ):
        if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_LENGTH or "\x00" in value:
            return f"{name} must be a string of 1 to {MAX_ID_LENGTH} characters"
    if not isinstance(event.timestamp, int) or not 0 < event.timestamp < MAX_TIMESTAMP_MS:
        return "timestamp must be milliseconds since 1970"
    return ""


def apply_events(channel: LineChannel, events: list, *, now: dt.datetime) -> dict[str, int]:
    """Apply follow/unfollow events oldest first; returns how many ended how (applied, duplicate, stale...)."""
    outcomes: dict[str, int] = {}
    relevant = [e for e in events if isinstance(e, FollowEvent | UnfollowEvent)]
    for event in sorted(relevant, key=lambda e: e.timestamp):
        outcome = apply_event(channel, event, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def apply_event(channel: LineChannel, event, *, now: dt.datetime) -> str:
    user_id = event.source.user_id  # checked by parse()
    following = isinstance(event, FollowEvent)
    at = dt.datetime.fromtimestamp(event.timestamp / 1000, tz=dt.UTC)
    for _attempt in range(2):  # a concurrent first follow of the same user wins the insert; then we update
        try:
            with transaction.atomic():
                if not first_delivery(
                    LineWebhookEvent,
                    webhook_event_id=event.webhook_event_id,
                    line_channel=channel,
                    event_type=event.type,
                    line_user_id=user_id,
                    timestamp=at,
                    received_at=now,
                ):
                    return "duplicate"
                outcome = _apply_to_student(channel, user_id, following=following, at=at)
                LineWebhookEvent.objects.filter(webhook_event_id=event.webhook_event_id).update(outcome=outcome)
        except IntegrityError:
            continue
        logger.info(
            "line webhook",
            extra={"line_channel": channel.slug, "webhook_event": event.type, "outcome": outcome},
        )
        return outcome
    return "conflict"


def _apply_to_student(channel: LineChannel, user_id: str, *, following: bool, at: dt.datetime) -> str:
    from classroom.models import Student

    student = Student.objects.select_for_update(no_key=True).filter(line_channel=channel, line_user_id=user_id).first()
    if student is None:
        Student.objects.create(
            display_name=f"LINE user {user_id[-6:]}",
            line_channel=channel,
            line_user_id=user_id,
            line_following=following,
            line_status_changed_at=at,
        )  # IntegrityError when a concurrent event created them first: the caller retries as an update
        return "created" if following else "created unfollowed"
    if student.line_status_changed_at and at <= student.line_status_changed_at:
        return "stale"  # a newer follow/unfollow was already applied
    Student.objects.filter(pk=student.pk).update(line_following=following, line_status_changed_at=at)
    return "followed" if following else "unfollowed"
