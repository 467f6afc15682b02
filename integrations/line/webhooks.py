"""LINE webhooks: the signature (HMAC-SHA256 of the raw body with the channel's secret), then follow and unfollow.

* Each LINE channel has its own URL (``/integrations/line/webhook/<slug>/``), so its secret is known before parsing.
  A missing or wrong ``X-Line-Signature`` is a 401 and nothing is written; a signed body that is not a JSON object
  with an ``events`` list is a 400.
* Events are read one by one with the SDK's models (``linebot.v3.webhooks.Event``): one the SDK cannot read (an
  unknown ``mode``, a field of the wrong type) or whose ids do not fit our columns is logged and skipped, and the
  others are still applied. Kinds the SDK does not know, and kinds we do not handle, are logged and ignored.
* An event is applied once per channel: its ``webhook_event_id`` goes into :class:`LineWebhookEvent` (unique with
  the channel) in the same transaction as its effect, so a redelivery or a duplicate changes nothing.
* Handled: ``follow`` / ``unfollow`` (a contact, :mod:`integrations.line.linking`), ``message`` with text ("link",
  "unlink" or a binding code) and ``accountLink``. Everything else (other kinds, other message types) is logged and
  ignored.
* Events are applied in ``timestamp`` order, equal timestamps in body order, and a contact keeps the timestamp of
  the newest follow/unfollow applied (``status_changed_at``): an older one arriving late is recorded but changes
  nothing; one with the same timestamp applies (it came later).
* Follow creates or reactivates a *contact* (never a student), unfollow marks it unreachable; no booking changes.
* Replies go through the free Reply API with the event's reply token, after the event's transaction committed
  (a reply is an outside call); a redelivered event is a duplicate and gets no second reply.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging

from django.db import IntegrityError, transaction
from linebot.v3.webhooks import AccountLinkEvent, Event, FollowEvent, MessageEvent, TextMessageContent, UnfollowEvent

from integrations.line import client, linking
from integrations.line.models import LineChannel, LineWebhookEvent
from integrations.line.replies import reply_text
from integrations.webhooks import BadWebhook, first_delivery, json_body

logger = logging.getLogger("classroom.line")

MAX_ID_LENGTH = 64  # LINE user ids are 33 characters, webhook event ids (ULIDs) 26; the columns hold 64
MAX_TIMESTAMP_MS = 253_402_300_800_000  # year 10000: beyond it no datetime exists
UNREADABLE = "unreadable"
HANDLED = (FollowEvent, UnfollowEvent, MessageEvent, AccountLinkEvent)
MAX_TEXT = 200  # longer texts are neither a command nor a code


def receive(channel: LineChannel, body: bytes, signature: str, *, now: dt.datetime) -> dict[str, int]:
    """Verify, read and apply one webhook request; returns how many events ended how. BadWebhook (401, 400) when
    the request is refused as a whole (then nothing was written)."""
    verify(channel, body, signature)
    events, unreadable = parse(body)
    outcomes = apply_events(channel, events, now=now)
    if unreadable:
        outcomes[UNREADABLE] = unreadable
    return outcomes


def verify(channel: LineChannel, body: bytes, signature: str) -> None:
    if not signature:
        raise BadWebhook(401, "missing X-Line-Signature")
    expected = base64.b64encode(hmac.new(channel.channel_secret.encode(), body, hashlib.sha256).digest())
    # As bytes: a header with characters outside ASCII cannot match (hmac.compare_digest refuses such strings).
    if not hmac.compare_digest(signature.encode("utf-8", "backslashreplace"), expected):
        raise BadWebhook(401, "X-Line-Signature does not match")


def parse(body: bytes) -> tuple[list, int]:
    """The handled events of a verified body (as SDK models) and how many events could not be read."""
    payload = json_body(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("events"), list):
        raise BadWebhook(400, "body is not a LINE webhook (a JSON object with an events list)")
    events, unreadable = [], 0
    for index, raw in enumerate(payload["events"]):
        try:
            event = _read(raw)
        except ValueError as exc:
            unreadable += 1
            logger.warning(
                "line webhook event skipped",
                extra={"index": index, "webhook_event": _field(raw, "type"), "reason": str(exc)},
            )
            continue
        if event is not None:
            events.append(event)
    return events, unreadable


def _field(raw, name: str) -> str:
    """A field for the log: only a short string, never a whole event (nothing secret is in one, but bodies are
    the sender's to fill)."""
    value = raw.get(name) if isinstance(raw, dict) else None
    return value[:MAX_ID_LENGTH] if isinstance(value, str) else ""


def _read(raw):
    """One event as the SDK's model when it is a follow or unfollow; None for the kinds we do not handle; ValueError
    (saying what is wrong, without values) for one that cannot be read or used."""
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str) or not raw["type"]:
        raise ValueError("not an event object with a type")
    if Event.get_discriminator_value(raw) is None:
        return None  # a kind this SDK does not know (LINE adds kinds): not ours
    try:
        event = Event.from_dict(raw)
    # The models are pydantic's (its ValidationError is a ValueError); a field of another shape than the model
    # expects can also surface as a TypeError, KeyError or AttributeError from the generated from_dict code.
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        fields = [".".join(map(str, error["loc"])) for error in getattr(exc, "errors", list)()]
        raise ValueError(
            f"{raw['type']} event the SDK cannot read ({', '.join(fields) or type(exc).__name__})"
        ) from exc
    if not isinstance(event, HANDLED):
        logger.info("line webhook event ignored", extra={"webhook_event": event.type})
        return None
    if isinstance(event, MessageEvent | AccountLinkEvent) and getattr(event.source, "type", "") != "user":
        logger.info("line webhook event ignored", extra={"webhook_event": f"{event.type} in a group or room"})
        return None
    if isinstance(event, MessageEvent) and not isinstance(event.message, TextMessageContent):
        logger.info("line webhook event ignored", extra={"webhook_event": f"message {event.message.type}"})
        return None
    problem = _problem(event)
    if problem:
        raise ValueError(f"{event.type} event: {problem}")
    return event


def _problem(event) -> str:
    """What makes a handled event unusable (the SDK checks types, not sizes or NUL characters)."""
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
    """Apply the handled events oldest first, equal timestamps in body order (the sort is stable); returns how
    many ended how (applied, duplicate, stale...)."""
    outcomes: dict[str, int] = {}
    relevant = [e for e in events if isinstance(e, HANDLED)]
    for event in sorted(relevant, key=lambda e: e.timestamp):
        outcome = apply_event(channel, event, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def apply_event(channel: LineChannel, event, *, now: dt.datetime) -> str:
    """Apply one event once (its id recorded in the same transaction as its effect), then reply if it asks for an
    answer. Returns the outcome."""
    user_id = event.source.user_id  # checked by parse()
    at = dt.datetime.fromtimestamp(event.timestamp / 1000, tz=dt.UTC)
    answer = None
    for _attempt in range(2):  # a concurrent first event of the same user wins the contact's insert; then we update
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
                outcome, answer = _apply(channel, event, user_id, at=at, now=now)
                LineWebhookEvent.objects.filter(line_channel=channel, webhook_event_id=event.webhook_event_id).update(
                    outcome=outcome
                )
        except IntegrityError:
            continue
        logger.info(
            "line webhook",
            extra={"line_channel": channel.slug, "webhook_event": event.type, "outcome": outcome},
        )
        if answer is not None and getattr(event, "reply_token", None):
            answer_in_chat(channel, event.reply_token, user_id, answer)
        return outcome
    return "conflict"


def _apply(channel: LineChannel, event, user_id: str, *, at: dt.datetime, now: dt.datetime):
    """(outcome, answer or None) of one event, in its transaction."""
    if isinstance(event, FollowEvent | UnfollowEvent):
        return linking.apply_follow(channel, user_id, following=isinstance(event, FollowEvent), at=at), None
    if isinstance(event, AccountLinkEvent):
        link = event.link
        return linking.complete_account_link(
            channel, user_id, result=str(getattr(link.result, "value", link.result)), nonce=link.nonce, now=now
        )
    text = event.message.text or ""
    if len(text) > MAX_TEXT:
        return "ignored", None
    return linking.on_text(channel, user_id, text, now=now)


def answer_in_chat(channel: LineChannel, reply_token: str, user_id: str, answer: linking.Answer) -> None:
    """Reply (free) after the event committed. The link button first needs a link token from LINE; if LINE does
    not give one, the answer says linking is not available now. A failed reply is logged: the reply token is
    single use and short-lived, so there is nothing to retry later."""
    try:
        if answer.link_button:
            token = client.issue_link_token(channel, user_id)
            message = client.button(
                reply_text("link_button", answer.language),
                reply_text("link_label", answer.language),
                linking.link_page_url(channel, token),
            )
        else:
            message = client.text(reply_text(answer.name, answer.language, **answer.context))
    except client.LineCallFailed:
        message = client.text(reply_text("link_unavailable", answer.language))
    try:
        client.reply(channel, reply_token, [message])
    except client.LineCallFailed as exc:
        logger.warning("line reply not sent", extra={"line_channel": channel.slug, "error": str(exc)})
