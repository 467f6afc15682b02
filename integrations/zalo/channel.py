"""Delivery through ZNS: one request per outbox row, to the student's phone number, with the kind's approved
template (integrations.ZaloTemplate) filled with the row's Vietnamese values.

Per row:

* no template for its kind on the channel -> skipped, "no Zalo template" (never sent as free text);
* a template parameter with no value -> failed for good, naming the parameter;
* otherwise one call with ``tracking_id`` = the row's ``retry_key`` (the same on every attempt).

Answers (integrations/zalo/client.py): accepted -> sent; Zalo's refusal (a negative code) -> failed for good with
its code and message; 429 -> retried after its Retry-After (the channel's limiter pauses too); no answer or 5xx ->
retried with backoff, as "unknown" (below); a Retry-After longer than HTTP_RETRY_AFTER_MAX_SECONDS is not slept
through (the sweep holds a lease): the pass's remaining rows are not sent and wait as long; -124 (the access token
expired or was revoked mid-run) -> the token is refreshed once (one refresher at a time, integrations/zalo/tokens.py)
and the row resent in the same pass: -124 means nothing was sent, so nothing is lost and nothing doubled.

Exactly once, honestly. ZNS has no retry key: ``tracking_id`` is only echoed back for reconciliation (in the answer
and the receipt), Zalo does not refuse or merge a second request with the same one, and the status query
(``/message/status``) takes Zalo's ``msg_id`` and the phone, which a lost answer never gave us. So a call whose
answer was lost may or may not have reached the student, and only a receipt (``user_received_message``, which
carries our tracking id) can tell later. What we do:

* before any call, the row's :class:`ZaloMessage` is written ``calling`` (committed), then updated with the answer:
  ``accepted`` / ``refused`` / ``unknown``. A worker that dies mid-call leaves ``calling``: unknown too;
* on the next attempt of a row whose last call is unknown: if its receipt came meanwhile, it is marked sent (no new
  call); otherwise the kind decides. A join or feedback link (or "class is open") is resent: a duplicate link is
  harmless and a missing one costs the class. Every other kind (a refund, a cancellation, a moved class) is failed
  for good as ``AMBIGUOUS`` rather than risk telling the student twice; staff get the usual delivery-failed alert
  and can look at the receipt column, or "retry now".

The DB work happens in the calling thread; the calls go through ``integrations.pacing.map_bounded`` (threads do HTTP
only) within the channel's rate (``limiter_for("zalo:<id>")``).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from django.conf import settings
from django.db import transaction
from django.db.models import F

from integrations.pacing import limiter_for, map_bounded
from integrations.zalo import client, tokens
from integrations.zalo.models import ZaloChannel, ZaloMessage, ZaloTemplate
from notifications.channels import Result
from notifications.models import Notification

logger = logging.getLogger("classroom.zalo")

NO_TEMPLATE = "no Zalo template"
NO_CHANNEL = "no enabled Zalo channel"
AMBIGUOUS = (
    "Zalo: the answer to an earlier send was lost and no receipt came, so Zalo may have delivered it; "
    "not resent, to avoid telling the student twice (check with the student, then retry now if needed)"
)
# Kinds resent when an earlier send's answer was lost: a second copy of a link is harmless, a missing one is not.
RESEND_WHEN_UNSURE = frozenset({"join_link", "feedback_link", "class_open"})
State = ZaloMessage.State


class ZaloNotificationChannel:
    def send(self, rows: list[Notification], now: dt.datetime) -> dict[int, Result]:
        channel = ZaloChannel.objects.filter(enabled=True).order_by("pk").first()
        if channel is None:
            return {row.pk: Result(ok=False, error=NO_CHANNEL) for row in rows}
        results: dict[int, Result] = {}
        planned = self._plan(channel, rows, results)
        if not planned:
            return results
        try:
            token = tokens.access_token(channel.pk, now)
        except tokens.TokenUnavailable as exc:
            failure = Result(ok=False, permanent=exc.permanent, error=str(exc))
            return {**results, **{row.pk: failure for row, _t, _d in planned}}
        self._mark_calling(channel, planned, now)
        answers = self._call(channel, token, planned)
        expired = [item for item, answer in zip(planned, answers, strict=True) if answer.outcome == "token"]
        if expired:
            # The token died mid-run (or was revoked): nothing was sent to these rows; refresh once and resend them.
            try:
                token = tokens.access_token(channel.pk, now, refused=token)
            except tokens.TokenUnavailable as exc:
                retried = [client.Answer("refused", error=str(exc), permanent=exc.permanent)] * len(expired)
            else:
                retried = self._call(channel, token, expired)
            again = dict(zip((row.pk for row, _t, _d in expired), retried, strict=True))
            answers = [again.get(row.pk, answer) for (row, _t, _d), answer in zip(planned, answers, strict=True)]
        for (row, _template, _data), answer in zip(planned, answers, strict=True):
            results[row.pk] = self._store(row, answer)
        return results

    def _plan(self, channel: ZaloChannel, rows, results) -> list[tuple[Notification, ZaloTemplate, dict]]:
        """The rows to call for, with their template and data; every other row's result goes in ``results``."""
        templates = {template.kind: template for template in channel.templates.all()}
        before = {m.notification_id: m for m in ZaloMessage.objects.filter(notification__in=[r.pk for r in rows])}
        planned = []
        for row in rows:
            template = templates.get(row.kind)
            if template is None:
                results[row.pk] = Result(ok=False, skipped=True, error=NO_TEMPLATE)
                continue
            values = {**row.payload.get("zalo", {}), **({"url": row.payload["url"]} if row.payload.get("url") else {})}
            data, missing = template.template_data(values)
            if missing:
                results[row.pk] = Result(
                    ok=False,
                    permanent=True,
                    error=f"Zalo template {template.template_id} ({row.kind}): no value for {', '.join(missing)}",
                )
                continue
            last = before.get(row.pk)
            if last is not None and (last.received_at is not None or last.state == State.ACCEPTED):
                results[row.pk] = Result(ok=True, provider_message_id=last.msg_id)  # Zalo has it already
                continue
            if last is not None and last.state in (State.CALLING, State.UNKNOWN) and row.kind not in RESEND_WHEN_UNSURE:
                results[row.pk] = Result(ok=False, permanent=True, error=AMBIGUOUS)
                continue
            planned.append((row, template, data))
        return planned

    def _mark_calling(self, channel: ZaloChannel, planned, now: dt.datetime) -> None:
        """Written and committed before the first call: a lost answer or a crash leaves ``calling``."""
        ids = [row.pk for row, _t, _d in planned]
        with transaction.atomic():
            known = set(ZaloMessage.objects.filter(notification_id__in=ids).values_list("notification_id", flat=True))
            ZaloMessage.objects.filter(notification_id__in=known).update(
                state=State.CALLING, calls=F("calls") + 1, last_call_at=now, zalo_channel=channel
            )
            ZaloMessage.objects.bulk_create(
                ZaloMessage(
                    notification_id=row.pk,
                    zalo_channel=channel,
                    tracking_id=str(row.retry_key),
                    state=State.CALLING,
                    calls=1,
                    last_call_at=now,
                )
                for row, _t, _d in planned
                if row.pk not in known
            )

    def _call(self, channel: ZaloChannel, token: str, items) -> list[client.Answer]:
        limiter = limiter_for(f"zalo:{channel.pk}", settings.ZALO_RATE_PER_SECOND)
        local = threading.local()  # one HTTP session per thread (a requests.Session is not thread-safe)

        halted: dict = {}  # Zalo asked for a longer wait than a sweep may sleep: the rest of this pass waits too

        def one_call(item) -> client.Answer:
            row, template, data = item
            if halted:
                return client.Answer("refused", error=halted["error"], retry_after=halted["retry_after"])
            limiter.acquire()
            if not hasattr(local, "http"):
                local.http = client.client()
            answer = client.send(local.http, token, row.address, template.template_id, data, str(row.retry_key))
            if answer.retry_after:
                if answer.retry_after > settings.HTTP_RETRY_AFTER_MAX_SECONDS:
                    halted.update(error=f"not sent: {answer.error}", retry_after=answer.retry_after)
                else:
                    limiter.pause(answer.retry_after)
            return answer

        # The first call goes alone, as LINE's does: an expired token, a rate limit or a refused key then costs one
        # call, not one per thread; the rest go side by side.
        items = list(items)
        answers = map_bounded(one_call, items[:1], max_workers=1)
        answers += map_bounded(one_call, items[1:], max_workers=settings.ZALO_MAX_CONCURRENCY)
        return [
            a if isinstance(a, client.Answer) else client.Answer("unknown", error=f"Zalo ZNS: {type(a).__name__}")
            for a in answers
        ]

    def _store(self, row: Notification, answer: client.Answer) -> Result:
        state = {"accepted": State.ACCEPTED, "unknown": State.UNKNOWN}.get(answer.outcome, State.REFUSED)
        ZaloMessage.objects.filter(notification_id=row.pk).update(state=state, msg_id=answer.msg_id)
        log = {"notification_id": row.pk, "kind": row.kind, "outcome": answer.outcome, "code": answer.code}
        logger.info("zalo answered", extra=log)
        if answer.outcome == "accepted":
            return Result(ok=True, provider_message_id=answer.msg_id)
        return Result(ok=False, permanent=answer.permanent, error=answer.error, retry_after=answer.retry_after)
