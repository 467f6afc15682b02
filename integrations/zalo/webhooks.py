"""Zalo's webhook: delivery receipts of our ZNS messages.

Zalo signs each event with ``X-ZEvent-Signature: mac=<hex>``, the SHA-256 of
``app_id + raw body + timestamp + OA secret key`` (``app_id`` and ``timestamp`` are the event's own fields; the OA
secret key is the one on the app's webhook settings page). We check it over the exact bytes, and that the event is
for this channel's app, before anything is written: a missing or wrong signature, or an event signed for another app,
gets 401 and writes nothing.

``user_received_message`` (the message reached the user's phone; ``message.msg_id``, ``message.tracking_id``,
``message.delivery_time`` in ms) sets ``received_at`` on the row's :class:`ZaloMessage`, once: a replay or a repeat
changes nothing. Other events are acknowledged and ignored.
"""

from __future__ import annotations

import datetime as dt
import hmac

from django.db.models import Q

from integrations.webhooks import BadWebhook, json_body
from integrations.zalo.models import ZaloChannel, ZaloMessage
from integrations.zalo.signing import signature

RECEIVED = "user_received_message"


def _moment(value, default: dt.datetime) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return default


def receive(channel: ZaloChannel, body: bytes, signed: str, *, now: dt.datetime) -> str:
    if not signed:
        raise BadWebhook(401, "missing X-ZEvent-Signature")
    event = json_body(body)
    if not isinstance(event, dict):
        raise BadWebhook(401, "bad signature")  # nothing we could have signed
    app_id, timestamp = str(event.get("app_id") or ""), str(event.get("timestamp") or "")
    expected = signature(app_id, body, timestamp, channel.oa_secret_key)
    if not hmac.compare_digest(signed.strip().encode(), expected.encode()):
        raise BadWebhook(401, "bad signature")
    if not hmac.compare_digest(app_id.encode(), channel.app_id.encode()):
        raise BadWebhook(401, "the event is signed for another Zalo app")
    if event.get("event_name") != RECEIVED:
        return "ignored"
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    msg_id, tracking_id = str(message.get("msg_id") or ""), str(message.get("tracking_id") or "")
    match = Q()
    if msg_id:
        match |= Q(msg_id=msg_id)
    if tracking_id:
        match |= Q(tracking_id=tracking_id)
    if not match:
        return "no message id"
    received = _moment(message.get("delivery_time") or timestamp, now)
    updated = ZaloMessage.objects.filter(match, zalo_channel=channel, received_at__isnull=True).update(
        received_at=received
    )
    if updated and msg_id and tracking_id:
        # A send whose answer was lost has no msg_id yet: the receipt gives it.
        ZaloMessage.objects.filter(zalo_channel=channel, tracking_id=tracking_id, msg_id="").update(msg_id=msg_id)
    return "received" if updated else "already recorded or unknown"
