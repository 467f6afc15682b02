"""Idempotent POSTs: a client that sends ``Idempotency-Key: <key>`` gets the first answer again when it repeats the
same request with the same key (a retry after a timeout books one seat, opens a meeting once).

How it stays right under concurrency: the key row is INSERTed first, in the same transaction as the action and its
stored response. A twin request arriving meanwhile INSERTs the same (user, endpoint, key): on PostgreSQL that INSERT
waits on the unique index until the first transaction commits, then fails, and the twin reads the committed response
and replays it; on SQLite the IMMEDIATE transaction serializes the two. So two identical requests at once act once.
If the first fails with a server error, its transaction (key included) rolls back and a retry acts afresh.

Same key with a different request (method, path or body) -> 422. Keys expire after IDEMPOTENCY_KEY_TTL_HOURS; the
``expire_idempotency_keys`` sweep deletes them, and an expired key found before the sweep ran is treated as new.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections import Counter

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from classroom.models import IdempotencyKey
from config.api import ApiError
from core.sweeping import delete_expired

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, no spaces: UUIDs and the like


def fingerprint(request) -> str:
    """What makes two requests "the same": method, path and JSON body (key order does not matter)."""
    body = json.dumps(request.data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{request.method}\n{request.path}\n{body}".encode()).hexdigest()


def _invalid_key(message: str):
    return ApiError(message, code="validation_error", status_code=400, fields={HEADER: [message]})


def idempotent(handler):
    """Decorate a DRF view method (``create``, an ``@action``) so an Idempotency-Key makes it act once per key."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not KEY_PATTERN.match(key):
            raise _invalid_key("must be 1 to 255 visible ASCII characters (a UUID is a good key)")
        endpoint = f"{request.method} {request.resolver_match.view_name}"[:200]
        print_ = fingerprint(request)
        now = timezone.now()
        mine = IdempotencyKey.objects.filter(user=request.user, endpoint=endpoint, key=key)
        with transaction.atomic():
            mine.filter(expires_at__lte=now).delete()
            try:
                with transaction.atomic():
                    record = IdempotencyKey.objects.create(
                        user=request.user,
                        endpoint=endpoint,
                        key=key,
                        fingerprint=print_,
                        response_status=0,
                        created_at=now,
                        expires_at=now + dt.timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
                    )
            except IntegrityError:
                # The first request with this key has committed (we waited for it on the unique index).
                return _replay(mine.get(), print_)
            try:
                with transaction.atomic():
                    response = handler(view, request, *args, **kwargs)
            except Exception as exc:  # the action's writes are rolled back; its error answer is what we keep
                response = view.handle_exception(exc)
            if response.status_code >= 500:
                # Not an answer worth replaying: forget the key too, so a retry acts afresh.
                transaction.set_rollback(True)
                return response
            record.response_status = response.status_code
            record.response_body = JSONRenderer().render(response.data).decode()
            record.save(update_fields=["response_status", "response_body"])
        return response

    return wrapper


def _replay(record: IdempotencyKey, print_: str) -> Response:
    if record.fingerprint != print_:
        raise ApiError(
            _("This Idempotency-Key was used with a different request; use a new key for a new request."),
            code="idempotency_key_reused",
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
            fields={HEADER: [_("already used with a different request")]},
        )
    body = json.loads(record.response_body) if record.response_body else None
    return Response(body, status=record.response_status, headers={REPLAYED_HEADER: "true"})


def expire_idempotency_keys(now: dt.datetime) -> Counter:
    """Sweep: forget keys whose time is up, in bounded batches."""
    return delete_expired(IdempotencyKey, now)
