"""approve_payouts: a clean payout is approved when its dispute window ends, unless a complaint or staff held it."""

import datetime as dt
from decimal import Decimal

import pytest

from bookings.models import Booking, Payout
from bookings.sweeps import approve_payouts
from core.models import StateChange
from core.runner import SWEEPS, run_sweeps
from meetings import review
from meetings.settlement import settle
from tests.factories import MeetingFactory, StudentFactory, book
from tests.meetings.closing import MINUTE, run_and_close

pytestmark = pytest.mark.django_db
HOUR = dt.timedelta(hours=1)


def present_class(now, hours_later=0):
    start = now + dt.timedelta(hours=1 + hours_later)
    meeting = MeetingFactory(start_time=start, end_time=start + HOUR)
    book(StudentFactory(), meeting, now=now)
    meeting = run_and_close(meeting, (0 * MINUTE, 50 * MINUTE))
    settle(meeting, now=meeting.closed_at)
    return Payout.objects.get(meeting=meeting)


def test_it_is_registered_with_the_sweeps():
    assert SWEEPS["approve_payouts"] is approve_payouts


def test_it_approves_at_the_end_of_the_dispute_window_not_a_second_before_and_twice_is_a_no_op(now, set_policy):
    set_policy(payout_dispute_hours=24)
    payout = present_class(now)
    window_end = payout.approve_after
    assert window_end == payout.meeting.closed_at + 24 * HOUR
    assert not approve_payouts(window_end - dt.timedelta(seconds=1))
    assert Payout.objects.get(pk=payout.pk).state == "pending"
    assert approve_payouts(window_end) == {"approved": 1}
    assert approve_payouts(window_end) == {}  # the second run finds nothing due
    payout.refresh_from_db()
    assert payout.state == "approved" and payout.approved_at == window_end and payout.reviewed_by is None
    entries = StateChange.objects.filter(content_type__model="payout", object_id=payout.pk)
    assert list(entries.values_list("to_state", "actor_name", "reason")) == [
        ("pending", "system", "8.00 USD after 2.00 commission"),
        ("approved", "system", "dispute window over"),
    ]


def test_held_payouts_are_never_auto_approved(now, staff):
    complained = present_class(now)
    booking = Booking.objects.get(meeting=complained.meeting)
    review.record_complaint(booking, now=complained.meeting.closed_at, note="teacher was rude")
    by_staff = present_class(now, hours_later=3)
    review.hold_for_review(by_staff, now=by_staff.meeting.closed_at, actor=staff, reason="checking")
    clean = present_class(now, hours_later=6)
    far = now + 30 * 24 * HOUR
    assert approve_payouts(far) == {"approved": 1}
    assert approve_payouts(far) == {}
    states = dict(Payout.objects.values_list("pk", "state"))
    assert states == {complained.pk: "held", by_staff.pk: "held", clean.pk: "approved"}


def test_a_complaint_flag_set_without_the_transition_still_holds(now):
    payout = present_class(now)
    Booking.objects.filter(meeting=payout.meeting).update(has_complaint=True)
    assert approve_payouts(payout.approve_after) == {"held": 1}
    payout.refresh_from_db()
    assert payout.state == "held" and payout.meeting.review_state == "awaiting"
    assert approve_payouts(payout.approve_after) == {}


def test_the_full_sweep_run_twice(now):
    payout = present_class(now)
    first = run_sweeps(payout.approve_after)
    second = run_sweeps(payout.approve_after)
    assert first["approve_payouts"] == {"approved": 1} and not second["approve_payouts"]
    assert Payout.objects.get(pk=payout.pk).net == Decimal("8.00")


def test_a_failing_payout_is_pushed_back_and_does_not_stop_the_others(now, monkeypatch):
    from bookings import transitions

    bad, good = present_class(now), present_class(now, hours_later=1)
    real = transitions.approve_payout

    def flaky(payout, **kwargs):
        if payout.pk == bad.pk:
            raise RuntimeError("boom")
        return real(payout, **kwargs)

    monkeypatch.setattr(transitions, "approve_payout", flaky)
    later = now + 3 * 24 * HOUR
    assert approve_payouts(later) == {"approved": 1, "failed": 1}
    assert Payout.objects.get(pk=good.pk).state == "approved"
    bad.refresh_from_db()
    assert bad.state == "pending" and bad.approve_after == later + dt.timedelta(minutes=15)
    monkeypatch.setattr(transitions, "approve_payout", real)
    assert approve_payouts(bad.approve_after) == {"approved": 1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_holding_a_complained_payout_never_waits_for_its_class(now):
    """A refund of the class holds the class's row and waits for its payout; the sweep holding that payout must not
    then wait for the class (a deadlock): it leaves that payout for a later pass, still pending, and goes on."""
    import threading

    from django.db import connection, transaction

    from meetings.models import Meeting
    from tests.concurrency import race

    payout, clean = present_class(now), present_class(now, hours_later=1)
    Booking.objects.filter(meeting=payout.meeting).update(has_complaint=True)
    locked, swept = threading.Event(), threading.Event()
    at = now + 3 * 24 * HOUR

    def hold_the_class():  # what refund_booking does first
        with transaction.atomic():
            list(Meeting.objects.filter(pk=payout.meeting_id).select_for_update(no_key=True).values_list("pk"))
            locked.set()
            swept.wait(10)
        connection.close()

    def sweep():
        assert locked.wait(10)
        try:
            return approve_payouts(at)
        finally:
            swept.set()

    _, counts = race(hold_the_class, sweep)
    assert counts == {"approved": 1, "failed": 1}
    payout.refresh_from_db()
    assert payout.state == "pending" and payout.approve_after == at + dt.timedelta(minutes=15)
    assert Payout.objects.get(pk=clean.pk).state == "approved"
    assert approve_payouts(payout.approve_after) == {"held": 1}
