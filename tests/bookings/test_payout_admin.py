"""Payouts in the admin: bulk approve and mark paid, and the CSV export of approved payouts (never held ones)."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from bookings import exports
from bookings.models import Payout
from bookings.transitions import approve_payout
from meetings.settlement import settle
from tests.factories import CourseFactory, MeetingFactory, StudentFactory, TeacherFactory, book
from tests.meetings.closing import MINUTE, run_and_close

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:bookings_payout_changelist"


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def charlie(db):
    return TeacherFactory(display_name="Charlie", commission_rate=Decimal("0.175"))


@pytest.fixture
def dana(db):
    return TeacherFactory(display_name="Dana")


def payout_for(teacher, start, *, present=True, price="9.99", currency="USD", title="IELTS"):
    meeting = MeetingFactory(
        teacher=teacher,
        course=CourseFactory(price=Decimal(price), currency=currency),
        title=title,
        start_time=start,
        end_time=start + dt.timedelta(hours=1),
    )
    for _ in range(3):
        book(StudentFactory(), meeting, now=start - dt.timedelta(days=1))
    meeting = run_and_close(meeting, *([(0 * MINUTE, 50 * MINUTE)] if present else []))
    settle(meeting, now=meeting.closed_at)
    return Payout.objects.get(meeting=meeting)


def act(client, action, payouts):
    return client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [p.pk for p in payouts]}, follow=True
    )


def test_bulk_approve_then_mark_paid(staff_client, staff, charlie, now):
    pending = [payout_for(charlie, now + dt.timedelta(days=n)) for n in range(2)]
    held = payout_for(charlie, now + dt.timedelta(days=3), present=False)
    response = act(staff_client, "approve", [*pending, held])
    texts = [str(m) for m in response.context["messages"]]
    assert sum("pending → approved" in t for t in texts) == 2
    assert any("is held; it cannot become approved" in t for t in texts)  # held waits for the review queue
    assert [Payout.objects.get(pk=p.pk).state for p in pending] == ["approved", "approved"]
    act(staff_client, "mark_payout_paid", [*pending, held])
    paid = Payout.objects.filter(state="paid")
    assert paid.count() == 2 and all(p.paid_at is not None for p in paid)
    assert Payout.objects.get(pk=held.pk).state == "held"


def test_hold_from_the_payout_list_puts_the_class_in_review(staff_client, charlie, now):
    payout = payout_for(charlie, now)
    act(staff_client, "hold", [payout])
    payout.refresh_from_db()
    assert payout.state == "held" and payout.meeting.review_state == "awaiting"
    assert payout.meeting.review_reason == "held by sam in the admin"


def rows(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def test_the_export_has_approved_payouts_of_one_teacher_and_period_and_never_held_ones(
    staff_client, charlie, dana, now
):
    july_1, july_2 = now, now + dt.timedelta(days=1)
    approved = payout_for(charlie, july_1, title="IELTS July 1")
    approve_payout(approved, now=july_1 + dt.timedelta(days=2))
    yen = payout_for(charlie, july_2, price="999", currency="JPY", title="Japanese")
    approve_payout(yen, now=july_2 + dt.timedelta(days=2))
    payout_for(charlie, july_2 + dt.timedelta(hours=3), present=False)  # held
    payout_for(charlie, july_2 + dt.timedelta(hours=6))  # pending: still in its dispute window
    outside = payout_for(charlie, now + dt.timedelta(days=10))
    approve_payout(outside, now=now + dt.timedelta(days=12))
    other = payout_for(dana, july_1)
    approve_payout(other, now=july_1 + dt.timedelta(days=2))

    response = staff_client.get(
        reverse("admin:bookings_payout_export"), {"teacher": charlie.pk, "start": "2026-07-01", "end": "2026-07-02"}
    )
    assert response["Content-Type"].startswith("text/csv")
    assert f"payouts-teacher-{charlie.pk}-20260701-20260702.csv" in response["Content-Disposition"]
    exported = rows(response.content)
    assert [r["class"] for r in exported] == ["IELTS July 1", "Japanese"]
    first, second = exported
    assert first == {
        "payout_id": str(approved.pk),
        "teacher_id": str(charlie.pk),
        "teacher": "Charlie",
        "meeting_id": str(approved.meeting_id),
        "class": "IELTS July 1",
        "class_start_utc": "2026-07-01T12:00:00Z",
        "currency": "USD",
        "gross": "29.97",
        "commission_rate": "0.1750",
        "commission": "5.24",
        "net": "24.73",
        "adjustments": "0.00",
        "net_due": "24.73",
        "excused_percent": "",
        "approved_at_utc": "2026-07-03T12:00:00Z",
    }
    assert (second["currency"], second["gross"], second["commission"], second["net"]) == ("JPY", "2997", "524", "2473")

    everyone = rows(
        staff_client.get(reverse("admin:bookings_payout_export"), {"start": "2026-07-01", "end": "2026-07-31"}).content
    )
    assert {r["teacher"] for r in everyone} == {"Charlie", "Dana"} and len(everyone) == 4


def test_held_payouts_are_never_exported_even_when_selected(staff_client, charlie, now):
    held = payout_for(charlie, now, present=False)
    approved = payout_for(charlie, now + dt.timedelta(hours=3))
    approve_payout(approved, now=now + dt.timedelta(days=2))
    response = act(staff_client, "export_selected", [held, approved])
    assert [r["payout_id"] for r in rows(response.content)] == [str(approved.pk)]
    # The writer itself refuses a held payout, whatever it is given.
    out = io.StringIO()
    assert exports.write_csv([Payout.objects.get(pk=held.pk)], out) == 0
    assert out.getvalue().strip() == ",".join(exports.COLUMNS)


def test_the_export_form_explains_a_bad_period(staff_client):
    page = staff_client.get(reverse("admin:bookings_payout_export"), {"start": "2026-07-02", "end": "2026-07-01"})
    assert page["Content-Type"].startswith("text/html") and "The period ends before it starts." in page.content.decode()
    assert "Download CSV" in staff_client.get(reverse("admin:bookings_payout_export")).content.decode()


def test_the_payout_list_links_to_the_export(staff_client):
    assert reverse("admin:bookings_payout_export") in staff_client.get(reverse(CHANGELIST)).content.decode()


def test_the_export_neutralises_formulas_in_text_cells(staff_client, now):
    # Teachers choose their class titles and names; a spreadsheet would run a cell that starts like a formula.
    mallory = TeacherFactory(display_name="@SUM(1+1)")
    payouts = [
        payout_for(mallory, now, title='=HYPERLINK("http://evil")'),
        payout_for(mallory, now + dt.timedelta(hours=2), title="+1 extra"),
        payout_for(mallory, now + dt.timedelta(hours=4), title="-Beginners-"),
        payout_for(mallory, now + dt.timedelta(hours=6), title="\tTabbed"),
        payout_for(mallory, now + dt.timedelta(hours=8), title="\rReturned"),
        payout_for(mallory, now + dt.timedelta(hours=10), title="Plain = fine"),
    ]
    for payout in payouts:
        approve_payout(payout, now=now + dt.timedelta(days=2))
    exported = rows(
        staff_client.get(reverse("admin:bookings_payout_export"), {"start": "2026-07-01", "end": "2026-07-01"}).content
    )
    assert [r["class"] for r in exported] == [
        '\'=HYPERLINK("http://evil")',
        "'+1 extra",
        "'-Beginners-",
        "'\tTabbed",
        "'\rReturned",
        "Plain = fine",
    ]
    assert {r["teacher"] for r in exported} == {"'@SUM(1+1)"}
    # Numbers are not text: ids and amounts stay as they are.
    first = exported[0]
    assert first["payout_id"] == str(payouts[0].pk) and first["teacher_id"] == str(mallory.pk)
    assert (first["gross"], first["commission"], first["net"]) == ("29.97", "5.99", "23.98")


def test_the_export_takes_refunds_after_approval_off_what_is_due(staff_client, staff, charlie, now):
    """A booking refunded after its payout was approved is a negative adjustment in the ledger: the accountant must
    pay net + adjustments, not the net as approved."""
    from bookings.models import Booking
    from bookings.transitions import refund_booking

    payout = payout_for(charlie, now)  # 3 x 9.99 USD at Charlie's 17.5%: net 24.73
    approve_payout(payout, now=now + dt.timedelta(days=2))
    refunded = Booking.objects.filter(meeting=payout.meeting).order_by("pk").first()
    refund_booking(refunded, now=now + dt.timedelta(days=3), actor=staff, reason="Alice was ill")
    (row,) = rows(
        staff_client.get(reverse("admin:bookings_payout_export"), {"start": "2026-07-01", "end": "2026-07-01"}).content
    )
    assert (row["net"], row["adjustments"], row["net_due"]) == ("24.73", "-8.24", "16.49")
