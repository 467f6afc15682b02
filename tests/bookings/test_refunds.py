"""Refunding a completed booking reaches the teacher's payout: recomputed before approval, a negative adjustment in
the ledger after it (hardening item 12)."""

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from bookings import transitions
from bookings.models import Booking, Payout, PayoutAdjustment
from core.models import StateChange
from meetings import lifecycle, review
from meetings.models import Meeting
from meetings.settlement import settle
from meetings.sweeps import close_due_meetings
from tests.concurrency import race
from tests.factories import CourseFactory, MeetingFactory, StudentFactory, TeacherFactory, book
from tests.meetings.closing import MINUTE, run_and_close, students_came, teacher_session

pytestmark = pytest.mark.django_db

USD = ("USD", "9.99")
VND = ("VND", "99999")


def settled_class(now, *, currency="USD", price="9.99", present=True):
    """Charlie's class with Alice, Bob and Carol, closed and settled: the payout pending (present) or held."""
    meeting = MeetingFactory(
        teacher=TeacherFactory(display_name="Charlie", commission_rate=Decimal("0.175")),
        course=CourseFactory(price=Decimal(price), currency=currency),
        start_time=now + dt.timedelta(hours=1),
        end_time=now + dt.timedelta(hours=2),
    )
    for name in ("Alice", "Bob", "Carol"):
        book(StudentFactory(display_name=name), meeting, now=now)
    meeting = run_and_close(meeting, *([(0 * MINUTE, 50 * MINUTE)] if present else []))
    settle(meeting, now=meeting.closed_at)
    payout = Payout.objects.get(meeting=meeting)
    assert payout.state == ("pending" if present else "held")
    return payout, list(Booking.objects.filter(meeting=meeting).order_by("student__display_name"))


def amounts(payout):
    payout.refresh_from_db()
    return payout.gross, payout.commission, payout.net


def payout_history(payout, field):
    return list(
        StateChange.objects.filter(content_type__model="payout", object_id=payout.pk, field=field).values_list(
            "from_state", "to_state", "actor_name", "data"
        )
    )


def later(payout):
    return payout.meeting.closed_at + dt.timedelta(hours=1)


class TestBeforeApproval:
    @pytest.mark.parametrize("present", [True, False], ids=["pending", "held"])
    @pytest.mark.parametrize(
        ("currency", "price", "before", "after"),
        [
            ("USD", "9.99", ("29.97", "5.24", "24.73"), ("19.98", "3.50", "16.48")),
            ("VND", "99999", ("299997", "52499", "247498"), ("199998", "35000", "164998")),
        ],
        ids=["USD", "VND"],
    )
    def test_the_payout_is_recomputed_from_the_bookings_left(self, now, staff, present, currency, price, before, after):
        payout, (alice, _bob, _carol) = settled_class(now, currency=currency, price=price, present=present)
        assert amounts(payout) == tuple(Decimal(v) for v in before)

        transitions.refund_booking(alice, now=later(payout), actor=staff, reason="goodwill")

        assert amounts(payout) == tuple(Decimal(v) for v in after)
        assert payout.state == ("pending" if present else "held") and payout.commission_rate == Decimal("0.175")
        [(from_net, to_net, actor, data)] = payout_history(payout, "amounts")
        assert (from_net, to_net, actor) == (f"{before[2]} {currency}", f"{after[2]} {currency}", "sam")
        assert data == {
            "booking": alice.pk,
            "before": dict(zip(("gross", "commission", "net"), before, strict=True)),
            "after": dict(zip(("gross", "commission", "net"), after, strict=True)),
        }
        assert not PayoutAdjustment.objects.exists()

    def test_refunding_every_booking_leaves_a_payout_of_zero_still_pending(self, now, staff):
        payout, bookings = settled_class(now)
        for booking in bookings:
            transitions.refund_booking(booking, now=later(payout), actor=staff)
        assert amounts(payout) == (Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
        assert payout.state == "pending" and len(payout_history(payout, "amounts")) == 3

    def test_refunding_twice_recomputes_once(self, now, staff):
        payout, (alice, _bob, _carol) = settled_class(now)
        transitions.refund_booking(alice, now=later(payout), actor=staff)
        assert transitions.refund_booking(alice, now=later(payout), actor=staff).already
        assert amounts(payout)[0] == Decimal("19.98") and len(payout_history(payout, "amounts")) == 1

    def test_a_confirmed_no_show_leaves_the_cancelled_payout_cancelled(self, now, staff):
        payout, bookings = settled_class(now, present=False)
        before = amounts(payout)
        review.confirm_no_show(payout.meeting, now=later(payout), actor=staff, note="the teacher never came")
        assert {b.status for b in Booking.objects.filter(meeting=payout.meeting)} == {"refunded"}
        assert amounts(payout) == before and payout.state == "cancelled"
        assert payout_history(payout, "amounts") == [] and not PayoutAdjustment.objects.exists()

    def test_refunding_a_booking_of_a_class_not_yet_settled_leaves_it_to_the_settlement(self, now, staff):
        meeting = MeetingFactory(start_time=now + dt.timedelta(hours=1), end_time=now + dt.timedelta(hours=2))
        alice = book(StudentFactory(display_name="Alice"), meeting, now=now)
        book(StudentFactory(display_name="Bob"), meeting, now=now)
        meeting = run_and_close(meeting, (0 * MINUTE, 50 * MINUTE))
        transitions.refund_booking(Booking.objects.get(pk=alice.pk), now=meeting.closed_at, actor=staff)
        settle(meeting, now=meeting.closed_at)
        assert Payout.objects.get(meeting=meeting).gross == Decimal("10.00")


class TestAfterApproval:
    def test_an_approved_payout_gets_a_negative_adjustment_for_the_teachers_share(self, now, staff):
        payout, (alice, bob, carol) = settled_class(now)
        transitions.approve_payout(payout, now=later(payout))
        at = later(payout) + dt.timedelta(hours=1)

        transitions.refund_booking(alice, now=at, actor=staff, reason="goodwill")

        assert amounts(payout) == (Decimal("29.97"), Decimal("5.24"), Decimal("24.73")), "the approved payout stands"
        adjustment = PayoutAdjustment.objects.get()
        assert (adjustment.payout, adjustment.booking, adjustment.amount, adjustment.currency) == (
            payout,
            alice,
            Decimal("-8.24"),  # 24.73 × 9.99 / 29.97 = 8.2433…
            "USD",
        )
        assert (adjustment.created_at, adjustment.actor, adjustment.actor_name) == (at, staff, "sam")
        assert "goodwill" in adjustment.reason
        [(_, to, actor, data)] = payout_history(payout, "adjustment")
        assert (to, actor) == ("-8.24 USD", "sam")
        assert data == {"booking": alice.pk, "adjustment": adjustment.pk, "amount": "-8.24", "net_after": "16.49"}

        # The last refund takes back exactly what is left, so the adjustments add up to the net, never more.
        transitions.refund_booking(bob, now=at, actor=staff)
        transitions.refund_booking(carol, now=at, actor=staff)
        taken = [a.amount for a in PayoutAdjustment.objects.order_by("id")]
        assert taken == [Decimal("-8.24"), Decimal("-8.25"), Decimal("-8.24")] and sum(taken) == -payout.net

    def test_a_paid_payout_gets_an_adjustment_in_vnd(self, now, staff):
        payout, (alice, _bob, _carol) = settled_class(now, currency="VND", price="99999")
        transitions.approve_payout(payout, now=later(payout))
        transitions.mark_payout_paid(payout, now=later(payout), actor=staff)
        transitions.refund_booking(alice, now=later(payout), actor=staff)
        adjustment = PayoutAdjustment.objects.get()
        assert (adjustment.amount, adjustment.currency) == (Decimal("-82499"), "VND")  # 247498 / 3 = 82499.33…
        assert Payout.objects.get(pk=payout.pk).state == "paid"

    def test_refunding_twice_records_one_adjustment(self, now, staff):
        payout, (alice, _bob, _carol) = settled_class(now)
        transitions.approve_payout(payout, now=later(payout))
        transitions.refund_booking(alice, now=later(payout), actor=staff)
        assert transitions.refund_booking(alice, now=later(payout), actor=staff).already
        with transaction.atomic():  # a replay of the payout step itself (the unique pair decides)
            assert transitions.payout_after_refund(alice, now=later(payout), actor=staff) is None
        assert PayoutAdjustment.objects.count() == 1 and len(payout_history(payout, "adjustment")) == 1
        with pytest.raises(IntegrityError), transaction.atomic():
            PayoutAdjustment.objects.create(
                payout=payout, booking=alice, amount=Decimal("-1"), currency="USD", created_at=now, actor_name="x"
            )

    def test_an_excused_payout_keeps_its_percentage(self, now, staff):
        payout, (alice, _bob, _carol) = settled_class(now, present=False)
        review.excuse(payout.meeting, now=later(payout), actor=staff, note="left early", percent=50)
        assert amounts(payout)[2] == Decimal("12.37")  # half of 24.73, rounded
        transitions.refund_booking(alice, now=later(payout), actor=staff)
        assert PayoutAdjustment.objects.get().amount == Decimal("-4.12")  # 12.37 / 3 = 4.123…


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
class TestRaces:
    """Two staff refund two bookings of the same class at the same moment, on real concurrent connections."""

    def refund_both(self, payout, bookings, staff):
        at = later(payout)
        results = race(
            *(lambda b=b: transitions.refund_booking(b, now=at, actor=staff, reason="race") for b in bookings[:2])
        )
        assert all(r.changed for r in results), results

    def test_a_pending_payout_ends_with_the_one_booking_left(self, now, staff):
        payout, bookings = settled_class(now)
        self.refund_both(payout, bookings, staff)
        assert amounts(payout) == (Decimal("9.99"), Decimal("1.75"), Decimal("8.24"))
        assert len(payout_history(payout, "amounts")) == 2

    def test_an_approved_payout_gets_both_adjustments_adding_up(self, now, staff):
        payout, bookings = settled_class(now)
        transitions.approve_payout(payout, now=later(payout))
        self.refund_both(payout, bookings, staff)
        taken = sorted(a.amount for a in PayoutAdjustment.objects.all())
        assert taken == [Decimal("-8.25"), Decimal("-8.24")]  # 24.73 − 8.24 left for Carol's share

    def test_a_refund_while_the_class_is_being_settled_waits_and_then_reaches_the_new_payout(
        self, now, staff, monkeypatch
    ):
        """The settlement has summed the completed bookings and not yet written the payout when Alice is refunded:
        the refund waits for it (the class's row), then takes her money out of the payout it wrote. Without that
        wait the refund found no payout and the settlement paid her share anyway."""
        meeting = MeetingFactory(start_time=now + dt.timedelta(hours=1), end_time=now + dt.timedelta(hours=2))
        alice = book(StudentFactory(display_name="Alice"), meeting, now=now)
        book(StudentFactory(display_name="Bob"), meeting, now=now)
        lifecycle.open_meeting(meeting, now=meeting.start_time)
        teacher_session(meeting, 0 * MINUTE, 50 * MINUTE)
        students_came(meeting)
        close_due_meetings(meeting.close_at)  # closed by the clock: settlement is left to its sweep (here, below)
        meeting = Meeting.objects.select_related("teacher", "course").get(pk=meeting.pk)
        summed, refunded = threading.Event(), threading.Event()
        create_payouts = transitions.create_payouts

        def refund_is_waiting_for_a_lock():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                return cursor.fetchone()[0] > 0

        def create_payouts_once_the_refund_tried(orders, **kwargs):
            summed.set()
            for _ in range(500):  # until the refund is done (nothing stopped it) or blocked on our lock
                if refunded.wait(0.01) or refund_is_waiting_for_a_lock():
                    break
            return create_payouts(orders, **kwargs)

        monkeypatch.setattr(transitions, "create_payouts", create_payouts_once_the_refund_tried)

        def refund():
            assert summed.wait(10)
            outcome = transitions.refund_booking(
                Booking.objects.get(pk=alice.pk), now=meeting.closed_at, actor=staff, reason="race"
            )
            refunded.set()
            return outcome

        results = race(lambda: settle(meeting, now=meeting.closed_at), refund)
        assert not [r for r in results if isinstance(r, Exception)], results
        payout = Payout.objects.get(meeting=meeting)
        assert (payout.state, payout.gross) == ("pending", Decimal("10.00"))
        assert [to for _, to, _, _ in payout_history(payout, "amounts")] == ["8.00 USD"]

    def test_a_complaint_and_a_refund_of_the_same_booking_at_once_both_go_through(self, now, staff, monkeypatch):
        """A complaint flagged the booking and was about to hold the payout (which also moves the class into the
        review queue) when staff refunded that booking. The complaint took booking -> payout -> meeting and the
        refund meeting -> booking -> payout: PostgreSQL aborted one of them as a deadlock. Both now take the class's
        row first (``transitions.lock_class``), so the second waits for the first."""
        payout, (alice, _bob, _carol) = settled_class(now)
        at = later(payout)
        flagged, refund_started = threading.Event(), threading.Event()
        real_audit = review.audit

        def someone_waits_for_a_lock():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
                return cursor.fetchone()[0] > 0

        class AuditOnceTheRefundIsStuck:
            """The audit helper as the review module sees it: its first entry (the complaint's) waits."""

            def __getattr__(self, name):
                return getattr(real_audit, name)

            def record(self, *args, **kwargs):
                flagged.set()
                assert refund_started.wait(10)
                for _ in range(500):  # until the refund is blocked behind us, or has nothing to wait for
                    if someone_waits_for_a_lock():
                        break
                    threading.Event().wait(0.01)
                return real_audit.record(*args, **kwargs)

        monkeypatch.setattr(review, "audit", AuditOnceTheRefundIsStuck())

        def refund():
            assert flagged.wait(10)
            refund_started.set()
            return transitions.refund_booking(Booking.objects.get(pk=alice.pk), now=at, actor=staff, reason="race")

        def complain():
            return review.record_complaint(Booking.objects.get(pk=alice.pk), now=at, note="no teacher", actor=staff)

        results = race(complain, refund)
        assert not [r for r in results if isinstance(r, Exception)], results
        payout.refresh_from_db()
        assert payout.state == "held" and payout.gross == Decimal("19.98")
