"""Review decisions (release, confirm no-show, excuse), complaints and holds: each a transition with its history."""

import datetime as dt
from decimal import Decimal

import pytest

from bookings.errors import InvalidDecision
from bookings.models import Booking, Payout
from core.errors import IllegalTransition
from core.models import StateChange
from meetings import review
from meetings.models import Meeting
from meetings.settlement import settle
from notifications.models import Notification
from tests.factories import CourseFactory, MeetingFactory, StudentFactory, TeacherFactory, book
from tests.meetings.closing import MINUTE, run_and_close

pytestmark = pytest.mark.django_db


def settled(now, *sessions, price="9.99", currency="USD", students=3):
    course = CourseFactory(price=Decimal(price), currency=currency)
    meeting = MeetingFactory(
        teacher=TeacherFactory(commission_rate=Decimal("0.175")),
        course=course,
        start_time=now + dt.timedelta(hours=1),
        end_time=now + dt.timedelta(hours=2),
    )
    for n in range(students):
        book(StudentFactory(display_name=f"Student {n}"), meeting, now=now)
    meeting = run_and_close(meeting, *sessions)
    settle(meeting, now=meeting.closed_at)
    return Meeting.objects.select_related("teacher", "course").get(pk=meeting.pk)


@pytest.fixture
def no_show(now):
    return settled(now)


def review_history(meeting):
    return list(
        StateChange.objects.filter(meeting=meeting, content_type__model="meeting", field="review_state").values_list(
            "from_state", "to_state", "actor_name", "reason"
        )
    )


def payout_history(meeting):
    payout = Payout.objects.get(meeting=meeting)
    return list(
        StateChange.objects.filter(content_type__model="payout", object_id=payout.pk).values_list(
            "from_state", "to_state", "actor_name"
        )
    )


def test_the_queue_is_oldest_first(now):
    later = settled(now + dt.timedelta(days=1))
    earlier = settled(now)
    present = settled(now + dt.timedelta(days=2), (0 * MINUTE, 50 * MINUTE))
    assert list(review.awaiting_review()) == [earlier, later]
    assert present not in review.awaiting_review()


def test_release_approves_the_payout_in_full(no_show, staff):
    later = no_show.closed_at + dt.timedelta(hours=3)
    outcome = review.release(no_show, now=later, actor=staff, note="Teacher sent a recording; Zoom lost the webhook")
    no_show.refresh_from_db()
    payout = Payout.objects.get(meeting=no_show)
    assert outcome.changed and no_show.review_state == "released" and not no_show.requires_manual_review
    assert (no_show.reviewed_by, no_show.reviewed_at) == (staff, later)
    assert payout.state == "approved" and payout.net == Decimal("24.73") and payout.reviewed_by == staff
    assert review_history(no_show)[-1] == (
        "awaiting",
        "released",
        "sam",
        "Teacher sent a recording; Zoom lost the webhook",
    )
    assert payout_history(no_show) == [("", "held", "system"), ("held", "approved", "sam")]
    assert set(Booking.objects.filter(meeting=no_show).values_list("status", flat=True)) == {"completed"}
    assert no_show not in review.awaiting_review()


def test_confirm_no_show_cancels_the_payout_refunds_everyone_and_tells_the_students(no_show, staff):
    later = no_show.closed_at + dt.timedelta(hours=3)
    review.confirm_no_show(no_show, now=later, actor=staff, note="Teacher confirmed they were ill")
    no_show.refresh_from_db()
    assert no_show.review_state == "no_show" and Payout.objects.get(meeting=no_show).state == "cancelled"
    bookings = Booking.objects.filter(meeting=no_show)
    assert set(bookings.values_list("status", flat=True)) == {"refunded"}
    assert all(b.refunded_at == later for b in bookings)
    told = Notification.objects.filter(meeting=no_show, kind="booking_refunded")
    assert sorted(told.values_list("student_id", flat=True)) == sorted(b.student_id for b in bookings)
    assert all("refunded: the teacher did not attend" in n.payload["text"] for n in told)
    refunds = StateChange.objects.filter(meeting=no_show, content_type__model="booking", to_state="refunded")
    assert refunds.count() == 3 and set(refunds.values_list("actor_name", flat=True)) == {"sam"}
    assert review_history(no_show)[-1] == ("awaiting", "no_show", "sam", "Teacher confirmed they were ill")
    assert payout_history(no_show)[-1] == ("held", "cancelled", "sam")


def test_excuse_pays_a_percentage_rounded_once(now, staff):
    meeting = settled(now, (0 * MINUTE, 4 * MINUTE), price="999", currency="JPY")  # 2997 JPY, net 2473 held
    review.excuse(meeting, now=meeting.closed_at, actor=staff, note="Internet cut after 4 minutes", percent="50")
    payout = Payout.objects.get(meeting=meeting)
    # 2473 x 50% = 1236.5 -> 1237 JPY (half up, once); the platform keeps the rest of the gross.
    assert (payout.state, payout.net, payout.commission, payout.excused_percent) == (
        "approved",
        Decimal("1237"),
        Decimal("1760"),
        50,
    )
    assert payout.gross == payout.net + payout.commission == Decimal("2997")
    meeting.refresh_from_db()
    assert meeting.review_state == "excused" and meeting.review_note == "Internet cut after 4 minutes (50%)"
    entry = StateChange.objects.get(meeting=meeting, field="review_state", to_state="excused")
    assert entry.data == {"percent": 50, "policy": meeting.policy_id} and entry.actor == staff
    assert set(Booking.objects.filter(meeting=meeting).values_list("status", flat=True)) == {"completed"}


@pytest.mark.parametrize("percent", [None, "", "0", "101", "half", "12.5"])
def test_excuse_needs_a_whole_percentage(no_show, staff, percent):
    with pytest.raises(InvalidDecision, match="percentage"):
        review.excuse(no_show, now=no_show.closed_at, actor=staff, note="partly there", percent=percent)
    assert Payout.objects.get(meeting=no_show).state == "held"


@pytest.mark.parametrize("decision", ["release", "no_show", "excuse"])
@pytest.mark.parametrize("note", ["", "   ", None])
def test_every_decision_needs_a_note_and_writes_nothing_without_one(no_show, staff, decision, note):
    with pytest.raises(InvalidDecision, match="note is required"):
        review.decide(no_show, decision, now=no_show.closed_at, actor=staff, note=note, percent=50)
    no_show.refresh_from_db()
    assert no_show.review_state == "awaiting" and Payout.objects.get(meeting=no_show).state == "held"
    assert len(review_history(no_show)) == 1


def test_a_decision_is_made_by_a_staff_user(no_show):
    with pytest.raises(InvalidDecision, match="staff user"):
        review.release(no_show, now=no_show.closed_at, actor=None, note="looks fine")


def test_a_decision_stands(no_show, staff):
    review.release(no_show, now=no_show.closed_at, actor=staff, note="fine")
    assert review.release(no_show, now=no_show.closed_at, actor=staff, note="fine again").already
    with pytest.raises(IllegalTransition, match="released; it cannot become no_show"):
        review.confirm_no_show(no_show, now=no_show.closed_at, actor=staff, note="changed my mind")
    assert Payout.objects.get(meeting=no_show).state == "approved"


def test_an_unknown_decision_is_refused(no_show, staff):
    with pytest.raises(InvalidDecision, match="unknown decision"):
        review.decide(no_show, "pay double", now=no_show.closed_at, actor=staff, note="x")


class TestComplaintsAndHolds:
    @pytest.fixture
    def present(self, now):
        return settled(now, (0 * MINUTE, 50 * MINUTE))

    def test_a_complaint_in_the_dispute_window_holds_the_payout_and_queues_the_class(self, present):
        booking = Booking.objects.filter(meeting=present).first()
        outcome = review.record_complaint(booking, now=present.closed_at + MINUTE, note="The teacher left early")
        assert outcome.changed
        booking.refresh_from_db()
        assert booking.has_complaint and booking.complaint_note == "The teacher left early"
        present.refresh_from_db()
        payout = Payout.objects.get(meeting=present)
        assert payout.state == "held" and payout.held_reason == "student complaint"
        assert present.review_state == "awaiting" and present.review_reason == "student complaint"
        assert Notification.objects.filter(meeting=present, kind="teacher_no_show").count() == 1
        again = review.record_complaint(booking, now=present.closed_at + 2 * MINUTE, note="again")
        assert again.already and Booking.objects.get(pk=booking.pk).complaint_note == "The teacher left early"
        history = StateChange.objects.filter(content_type__model="booking", object_id=booking.pk, field="complaint")
        assert list(history.values_list("to_state", "reason")) == [("filed", "The teacher left early")]

    def test_a_complaint_needs_a_note(self, present):
        booking = Booking.objects.filter(meeting=present).first()
        with pytest.raises(InvalidDecision):
            review.record_complaint(booking, now=present.closed_at, note=" ")
        assert not Booking.objects.get(pk=booking.pk).has_complaint

    def test_a_complaint_after_approval_is_recorded_but_changes_no_money(self, present, staff):
        from bookings.transitions import approve_payout

        approve_payout(Payout.objects.get(meeting=present), now=present.closed_at, actor=staff)
        booking = Booking.objects.filter(meeting=present).first()
        review.record_complaint(booking, now=present.closed_at + MINUTE, note="late complaint")
        present.refresh_from_db()
        assert Payout.objects.get(meeting=present).state == "approved" and present.review_state == ""

    def test_staff_hold_a_pending_payout_for_review(self, present, staff):
        payout = Payout.objects.get(meeting=present)
        assert review.hold_for_review(
            payout, now=present.closed_at, actor=staff, reason="teacher's video was off"
        ).changed
        present.refresh_from_db()
        assert present.review_state == "awaiting" and present.review_reason == "teacher's video was off"
        assert review_history(present) == [("", "awaiting", "sam", "teacher's video was off")]
        review.release(present, now=present.closed_at, actor=staff, note="checked the recording")
        assert Payout.objects.get(meeting=present).state == "approved"
