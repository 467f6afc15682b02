"""The payout export: approved payouts (ready to pay) per teacher and period, as CSV for the accountant.

Only ``approved`` payouts are exported: a held payout is still under review, a pending one may still be disputed,
a cancelled one is owed to nobody and a paid one was already paid. A booking refunded after approval is a negative
``PayoutAdjustment``: ``adjustments`` is their sum and ``net_due`` = net + adjustments is what to pay.

Teachers choose their names and class titles, and a spreadsheet runs a cell that starts like a formula
(``=HYPERLINK(...)``): every text cell starting with one of :data:`FORMULA_STARTS` gets a leading ``'`` (OWASP's
advice for CSV injection). Numbers (ids, amounts) are not text and are written as they are.
"""

from __future__ import annotations

import csv
import datetime as dt

from django.db.models import Sum
from django.db.models.functions import Coalesce

from bookings.models import Payout
from core.money import ZERO, round_money

COLUMNS = [
    "payout_id",
    "teacher_id",
    "teacher",
    "meeting_id",
    "class",
    "class_start_utc",
    "currency",
    "gross",
    "commission_rate",
    "commission",
    "net",
    "adjustments",
    "net_due",
    "excused_percent",
    "approved_at_utc",
]


# = + - @ start a formula; a tab or a carriage return before them is skipped by some spreadsheets (OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """``value`` as a spreadsheet will not evaluate it: text that could start a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def for_export(payouts):
    """The approved ones of a Payout queryset, with what :func:`write_csv` reads (teacher, meeting, the sum of the
    adjustments), per teacher and by class start."""
    return (
        payouts.filter(state=Payout.State.APPROVED)
        .select_related("teacher", "meeting")
        .annotate(adjusted=Coalesce(Sum("adjustments__amount"), ZERO))
        .order_by("teacher__display_name", "teacher_id", "meeting__start_time")
    )


def approved_payouts(*, start: dt.date, end: dt.date, teacher=None, ids=None):
    """Approved payouts of classes that started on ``start`` .. ``end`` (UTC dates, inclusive)."""
    payouts = Payout.objects.filter(meeting__start_time__date__gte=start, meeting__start_time__date__lte=end)
    if teacher is not None:
        payouts = payouts.filter(teacher=teacher)
    if ids is not None:
        payouts = payouts.filter(pk__in=ids)
    return for_export(payouts)


def write_csv(payouts, out) -> int:
    """Write ``payouts`` (from :func:`for_export`) to the file-like ``out``; returns the number of rows. Amounts are
    shown with the currency's places (they already are rounded to them, so this changes no value)."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for p in payouts:
        if p.state != Payout.State.APPROVED:  # belt and braces: whatever the caller passes, held is never exported
            continue
        adjusted = p.adjusted
        row = [
            p.pk,
            p.teacher_id,
            p.teacher.display_name,
            p.meeting_id,
            p.meeting.title,
            p.meeting.start_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            p.currency,
            round_money(p.gross, p.currency),
            p.commission_rate,
            round_money(p.commission, p.currency),
            round_money(p.net, p.currency),
            round_money(adjusted, p.currency),
            round_money(p.net + adjusted, p.currency),
            "" if p.excused_percent is None else p.excused_percent,
            p.approved_at.strftime("%Y-%m-%dT%H:%M:%SZ") if p.approved_at else "",
        ]
        writer.writerow([safe_cell(value) for value in row])
        count += 1
    return count
