"""Settlement at close: the verdict stored with its evidence, one payout with the right money, no-shows to review."""

import datetime as dt
from decimal import Decimal

import pytest

from bookings.models import Booking, Payout
from core.models import StateChange
from core.runner import run_sweeps
from integrations.http import ProviderError
from integrations.local.provider import LocalProvider
from meetings import settlement
from meetings.models import Meeting
from meetings.settlement import settle
from notifications.models import Notification
from tests.factories import CourseFactory, MeetingFactory, StudentFactory, TeacherFactory, book
from tests.meetings.closing import MINUTE, run_and_close

pytestmark = pytest.mark.django_db


def class_of(now, *, price="9.99", currency="USD", students=3, rate=None):
    teacher = TeacherFactory(commission_rate=None if rate is None else Decimal(rate))
    course = CourseFactory(price=Decimal(price), currency=currency)
    meeting = MeetingFactory(
        teacher=teacher, course=course, start_time=now + dt.timedelta(hours=1), end_time=now + dt.timedelta(hours=2)
    )
    for _ in range(students):
        book(StudentFactory(), meeting, now=now)
    return meeting


def history(meeting, field):
    return list(
        StateChange.objects.filter(meeting=meeting, content_type__model="meeting", field=field).values_list(
            "from_state", "to_state", "reason"
        )
    )


class TestPresent:
    def test_it_stores_the_verdict_and_creates_one_pending_payout(self, now, set_policy):
        set_policy(platform_commission_percent=20)
        meeting = run_and_close(class_of(now, price="15.00"), (0 * MINUTE, 50 * MINUTE))
        assert settle(meeting, now=meeting.closed_at) == "present"
        meeting.refresh_from_db()
        assert (meeting.attendance_verdict, meeting.teacher_attended_seconds) == ("present", 3000)
        assert meeting.attendance_source == "recorded sessions" and len(meeting.attendance_evidence["sessions"]) == 1
        assert meeting.settled_at == meeting.closed_at and not meeting.requires_manual_review
        payout = Payout.objects.get(meeting=meeting)
        assert (payout.gross, payout.commission, payout.net) == (Decimal("45.00"), Decimal("9.00"), Decimal("36.00"))
        assert payout.state == "pending" and payout.commission_rate == Decimal("0.20")
        assert payout.approve_after == meeting.closed_at + dt.timedelta(hours=meeting.rules.payout_dispute_hours)
        assert history(meeting, "attendance") == [
            ("unverified", "present", f"teacher present (3000 s, recorded sessions; policy v{meeting.policy_id})")
        ]
        assert not Notification.objects.filter(kind="teacher_no_show").exists()

    def test_three_bookings_of_9_99_at_the_teachers_17_5_percent(self, now, set_policy):
        set_policy(platform_commission_percent=30)  # the teacher's own rate wins
        meeting = run_and_close(class_of(now, rate="0.175"), (0 * MINUTE, 50 * MINUTE))
        settle(meeting, now=meeting.closed_at)
        payout = Payout.objects.get(meeting=meeting)
        # 29.97 x 0.175 = 5.24475 -> 5.24 (rounded once, half up); net is what is left.
        assert (payout.gross, payout.commission, payout.net) == (Decimal("29.97"), Decimal("5.24"), Decimal("24.73"))
        assert payout.commission_rate == Decimal("0.175")

    @pytest.mark.parametrize(
        ("currency", "price", "rate", "commission", "net"),
        [
            ("JPY", "999", "0.175", "524", "2473"),  # 2997 x 0.175 = 524.475 -> 524
            ("JPY", "1010", "0.25", "758", "2272"),  # 3030 x 0.25 = 757.5 -> 758 (half up)
            ("VND", "150000", "0.175", "78750", "371250"),
            ("USD", "0.50", "0.25", "0.38", "1.12"),  # 1.50 x 0.25 = 0.375 -> 0.38 (half up)
        ],
    )
    def test_rounding_to_the_currencys_places(self, now, currency, price, rate, commission, net):
        meeting = run_and_close(class_of(now, price=price, currency=currency, rate=rate), (0 * MINUTE, 50 * MINUTE))
        settle(meeting, now=meeting.closed_at)
        payout = Payout.objects.get(meeting=meeting)
        assert payout.currency == currency
        assert (payout.commission, payout.net) == (Decimal(commission), Decimal(net))
        assert payout.commission + payout.net == payout.gross

    def test_only_completed_bookings_count(self, now):
        meeting = class_of(now, price="10.00", students=2)
        late = book(StudentFactory(), meeting, now=now, confirm=False)  # never paid: cancelled at close
        meeting = run_and_close(meeting, (0 * MINUTE, 50 * MINUTE))
        settle(meeting, now=meeting.closed_at)
        assert Booking.objects.get(pk=late.pk).status == "cancelled"
        assert Payout.objects.get(meeting=meeting).gross == Decimal("20.00")

    def test_no_bookings_no_payout_and_the_history_says_so(self, now):
        meeting = run_and_close(class_of(now, students=0), (0 * MINUTE, 50 * MINUTE))
        assert settle(meeting, now=meeting.closed_at) == "present, no payout"
        meeting.refresh_from_db()
        assert meeting.settled_at is not None and not Payout.objects.exists()
        assert "no completed bookings: no payout" in history(meeting, "attendance")[0][2]

    def test_settling_twice_changes_nothing(self, now):
        meeting = run_and_close(class_of(now), (0 * MINUTE, 50 * MINUTE))
        settle(meeting, now=meeting.closed_at)
        assert settle(meeting, now=meeting.closed_at + MINUTE) == "already settled"
        assert Payout.objects.count() == 1 and len(history(meeting, "attendance")) == 1


class TestReview:
    def test_a_teacher_never_seen_goes_to_review_with_the_payout_held_and_staff_alerted_once(self, now):
        meeting = run_and_close(class_of(now))
        assert settle(meeting, now=meeting.closed_at) == "absent"
        meeting.refresh_from_db()
        assert meeting.requires_manual_review and meeting.review_reason == "teacher not seen"
        assert meeting.review_state == "awaiting" and meeting.teacher_attended_seconds == 0
        payout = Payout.objects.get(meeting=meeting)
        assert payout.state == "held" and payout.held_reason == "teacher not seen" and payout.approve_after is None
        assert payout.net == Decimal("23.98")  # 29.97 at the platform's 20%: shown to the reviewer as held
        alerts = Notification.objects.filter(kind="teacher_no_show", meeting=meeting)
        assert alerts.count() == 1 and "needs review: teacher not seen" in alerts.get().payload["text"]
        assert history(meeting, "review_state") == [("", "awaiting", "teacher not seen")]

    def test_a_teacher_two_minutes_only(self, now):
        meeting = run_and_close(class_of(now), (0 * MINUTE, 2 * MINUTE))
        settle(meeting, now=meeting.closed_at)
        meeting.refresh_from_db()
        assert (meeting.attendance_verdict, meeting.review_reason) == ("absent", "teacher 2 min only")

    def test_an_unreachable_provider_goes_to_review_never_to_payment(self, now, monkeypatch):
        meeting = class_of(now)
        Meeting.objects.filter(pk=meeting.pk).update(room_provider="local", room_name="class-x")
        meeting = run_and_close(meeting, (0 * MINUTE, 50 * MINUTE))

        def down(self, meeting):
            raise ProviderError("connection refused")

        monkeypatch.setattr(LocalProvider, "attendance", down)
        assert settle(meeting, now=meeting.closed_at) == "unknown"
        meeting.refresh_from_db()
        assert (meeting.attendance_verdict, meeting.review_reason) == ("unknown", "provider unreachable")
        assert meeting.attendance_evidence["provider_error"] == "connection refused"
        assert Payout.objects.get(meeting=meeting).state == "held"

    def test_a_complaint_before_settlement_holds_the_payout(self, now):
        meeting = run_and_close(class_of(now), (0 * MINUTE, 50 * MINUTE))
        Booking.objects.filter(meeting=meeting).update(has_complaint=True)
        assert settle(meeting, now=meeting.closed_at) == "present"
        meeting.refresh_from_db()
        assert meeting.review_reason == "student complaint" and Payout.objects.get().state == "held"

    def test_no_bookings_means_nothing_to_review(self, now):
        meeting = run_and_close(class_of(now, students=0))
        assert settle(meeting, now=meeting.closed_at) == "absent, no payout"
        meeting.refresh_from_db()
        assert not meeting.requires_manual_review and not Notification.objects.filter(kind="teacher_no_show").exists()


class TestSweep:
    def test_a_failure_marks_the_meeting_and_the_next_sweep_retries(self, now, monkeypatch):
        from bookings import transitions

        meeting = run_and_close(class_of(now), (0 * MINUTE, 50 * MINUTE))
        real = transitions.create_payouts  # what create_payout and the sweep's batches both go through

        def broken(*args, **kwargs):
            raise RuntimeError("database hiccup")

        monkeypatch.setattr(transitions, "create_payouts", broken)
        first = settlement.settle_closed_meetings(meeting.closed_at)
        meeting.refresh_from_db()
        assert first["failed"] == 1 and meeting.settled_at is None
        assert meeting.last_error == "settle: database hiccup" and meeting.retry_at > meeting.closed_at
        assert meeting.state == "closed" and meeting.attendance_verdict == "unverified"  # all rolled back
        assert not settlement.settle_closed_meetings(meeting.closed_at + dt.timedelta(seconds=1))  # backing off
        monkeypatch.setattr(transitions, "create_payouts", real)
        retry_at = meeting.retry_at
        second = settlement.settle_closed_meetings(retry_at)
        meeting.refresh_from_db()
        assert second["present"] == 1 and meeting.settled_at == retry_at
        assert meeting.last_error == "" and meeting.retry_at is None
        assert Payout.objects.filter(meeting=meeting).count() == 1
        assert not settlement.settle_closed_meetings(retry_at + dt.timedelta(hours=1))

    def test_the_whole_run_twice_settles_once(self, now):
        meeting = class_of(now)
        run_sweeps(meeting.start_time)
        first = run_sweeps(meeting.close_at)
        second = run_sweeps(meeting.close_at)
        assert first["settle_closed_meetings"]["absent"] == 1 and not second["settle_closed_meetings"]
        assert Payout.objects.get(meeting=meeting).state == "held"
        assert Notification.objects.filter(kind="teacher_no_show").count() == 1
