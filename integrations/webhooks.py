"""What every webhook view of ours shares (LINE, Zoom, LiveKit): the raw body read within a size limit, JSON that a
text column can store, the error answer, and "apply an event once" by its unique key (the video services' records of
the events they applied share :class:`MeetingWebhookEvent`)."""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.http import Http404, JsonResponse

logger = logging.getLogger("classroom.webhooks")


class BadWebhook(Exception):
    """The request is not a usable webhook; ``status`` is the answer (401 unsigned, 400 malformed, 413 too big)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def webhook_body(request) -> bytes:
    """The raw body (signatures are over the exact bytes), refused before reading when over WEBHOOK_MAX_BODY_BYTES."""
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError as exc:
        raise BadWebhook(400, "bad Content-Length") from exc
    if declared > limit:
        raise BadWebhook(413, f"body of {declared} bytes is over the {limit} byte limit")
    body = request.read(limit + 1)
    if len(body) > limit:
        raise BadWebhook(413, f"body is over the {limit} byte limit")
    return body


def json_body(body: bytes):
    """The body decoded as JSON; BadWebhook 400 when it is not JSON."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadWebhook(400, "body is not JSON") from exc


def webhook_json(body: bytes) -> dict:
    """A video service's event (LiveKit, Zoom): a JSON object with an ``event`` name that a text column can store."""
    event = json_body(body)
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise BadWebhook(400, "body is not an event object")
    if not storable(event):
        # Valid JSON, but no text column can store it: a NUL, or a lone surrogate ("\ud800") that has no UTF-8.
        raise BadWebhook(400, "body contains a NUL character or a lone surrogate")
    return event


def storable(value) -> bool:
    """True when every string in ``value`` (decoded JSON) can be stored in a text column and encoded as UTF-8."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(storable(v) for v in value)
    return True


def webhook_error(exc: BadWebhook, service: str):
    logger.warning("webhook refused", extra={"service": service, "status": exc.status, "reason": str(exc)})
    return JsonResponse({"error": str(exc)}, status=exc.status)


def serve(request, service: str, channel, receive):
    """A signed webhook to one channel of ``service`` (its row, or None: 404): the body read within its limit, then
    ``receive(channel, body)``'s answer as JSON (200), or a BadWebhook's status (nothing written)."""
    if channel is None:
        raise Http404(f"no {service} channel with this slug")
    try:
        answer = receive(channel, webhook_body(request))
    except BadWebhook as exc:
        return webhook_error(exc, service)
    return JsonResponse({"status": "ok", **answer})


def first_delivery(model, **fields) -> bool:
    """Record a webhook event by its unique key; False when it was already recorded (a replay or a retry). Call it
    inside the transaction that applies the event, so the key and the effect commit together or not at all."""
    try:
        with transaction.atomic():
            model.objects.create(**fields)
    except IntegrityError:
        return False
    return True


class MeetingWebhookEvent(models.Model):
    """A video service's webhook about one of our meetings, recorded when it was applied (each subclass adds the
    unique key that makes a replay a no-op: see :func:`first_delivery`)."""

    meeting = models.ForeignKey("meetings.Meeting", on_delete=models.CASCADE, related_name="+")
    received_at = models.DateTimeField()

    class Meta:
        abstract = True
        app_label = "integrations"
        ordering = ["-received_at"]
