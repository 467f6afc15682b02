"""Choosing a Zoom host account for a new meeting, and what a failure says about the account.

Zoom allows ZOOM_DAILY_REQUEST_LIMIT (100) meeting create/update requests per host user per UTC day and keeps no
counter we can read reliably, so we keep our own: ``reserve()`` takes one request from an account's allowance with a
single conditional UPDATE, which repeats every condition of the choice (enabled, not exhausted, not rate-limited,
credentials not refused, under the limit today). Two workers that picked the same account at the same moment then
cannot both take its last request: on PostgreSQL the second UPDATE waits for the first one's row lock and re-checks
the WHERE clause against the committed row; on SQLite the IMMEDIATE transaction serialises writers. The loser moves
on to the next account.

Accounts are used in turn: the one with the fewest requests today first, then the least recently used.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, IntegerField, Q, Value, When

from core import audit
from integrations.http import ProviderError
from integrations.zoom.client import AccountRefused, is_daily_limit
from integrations.zoom.models import ZoomAccount

logger = logging.getLogger("classroom.zoom")
# When Zoom's 429 (per-second rate) gives no Retry-After.
DEFAULT_RATE_LIMIT_PAUSE = dt.timedelta(seconds=60)


def next_utc_midnight(now: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(now.astimezone(dt.UTC).date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def usable(now: dt.datetime, *, minutes: int, licensed: bool = False):
    """Accounts that may take one more create request at ``now`` for a class of ``minutes``; ``licensed``: only Pro
    and Business hosts (a recorded class: Basic hosts cannot record to the cloud)."""
    today = now.astimezone(dt.UTC).date()
    accounts = ZoomAccount.objects.filter(
        Q(exhausted_until__isnull=True) | Q(exhausted_until__lte=now),
        Q(rate_limited_until__isnull=True) | Q(rate_limited_until__lte=now),
        # A new UTC day starts from zero whatever the counter says.
        ~Q(requests_date=today) | Q(requests_today__lt=settings.ZOOM_DAILY_REQUEST_LIMIT),
        enabled=True,
        auth_failed_at__isnull=True,
    )
    if licensed or minutes > settings.ZOOM_BASIC_MAX_MINUTES:
        # A free host's meeting ends at 40 minutes, and only licensed hosts record to the cloud.
        accounts = accounts.exclude(plan=ZoomAccount.Plan.BASIC)
    return accounts


def reserve(now: dt.datetime, *, minutes: int, exclude=(), licensed: bool = False) -> ZoomAccount | None:
    """Take one create request from the allowance of the next usable account; None when none can take it."""
    today = now.astimezone(dt.UTC).date()
    candidates = usable(now, minutes=minutes, licensed=licensed).exclude(pk__in=list(exclude))
    used_today = Case(
        When(requests_date=today, then=F("requests_today")), default=Value(0), output_field=IntegerField()
    )
    order = [used_today.asc(), F("last_used_at").asc(nulls_first=True), "pk"]
    for pk in candidates.order_by(*order).values_list("pk", flat=True):
        taken = candidates.filter(pk=pk).update(
            requests_today=Case(
                When(requests_date=today, then=F("requests_today") + 1), default=Value(1), output_field=IntegerField()
            ),
            requests_date=today,
            last_used_at=now,
        )
        if taken:
            return ZoomAccount.objects.get(pk=pk)
    return None


def account_failed(account: ZoomAccount, error: ProviderError, now: dt.datetime) -> bool:
    """Record what ``error`` says about ``account``; True when it is the account's problem (another account may
    succeed), False when it is Zoom's or the request's (another account would fail the same way)."""
    if is_daily_limit(error):
        # Our counter missed requests made elsewhere (another app, the Zoom web portal): trust Zoom until midnight.
        changes = {"exhausted_until": next_utc_midnight(now)}
    elif error.status == 429:
        pause = dt.timedelta(seconds=error.retry_after) if error.retry_after else DEFAULT_RATE_LIMIT_PAUSE
        changes = {"rate_limited_until": now + pause}
    elif isinstance(error, AccountRefused):
        changes = {"auth_failed_at": now}  # credentials refused or no such host user: until staff fix the account
    else:
        return False
    ZoomAccount.objects.filter(pk=account.pk).update(last_error=str(error)[:1000], **changes)
    logger.warning(
        "zoom account set aside",
        extra={"account": account.name, "error": str(error), **{k: str(v) for k, v in changes.items()}},
    )
    return True


def clear_marks(accounts, *, now: dt.datetime, actor) -> int:
    """Staff put the accounts back in the pool: their daily-limit, rate-limit and refused marks are cleared, each
    account with a history entry naming who did it. Returns how many."""
    with transaction.atomic():
        ids = list(accounts.values_list("pk", flat=True))
        cleared = ZoomAccount.objects.filter(pk__in=ids).update(
            exhausted_until=None, rate_limited_until=None, auth_failed_at=None, last_error=""
        )
        audit.record(
            ZoomAccount,
            [(pk, "set aside", None) for pk in ids],
            to_state="in the pool",
            at=now,
            actor=actor,
            field="marks",
            reason="marks cleared in the admin",
        )
    return cleared
