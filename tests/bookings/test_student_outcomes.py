"""The student side of the policy: a late cancel, a student no-show, a teacher cancelling late, and staff excusing
them. Every charge, refund and payout cites the policy version that decided it."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from bookings import transitions
from bookings.errors import CancellationTooLate
from bookings.models import Booking, Payout
from classroom import policies
from core.models import StateChange
from meetings import lifecycle, review
from meetings.models import Meeting
from meetings.settlement import settle
from tests import factories
from tests.meetings.closing import MINUTE, run_and_close, students_came

pytestmark = pytest.mark.django_db


def money(value):
    return Decimal(value)


def test_a_late_cancel_charges_the_percentage_releases_the_seat_and_pays_the_teacher_the_share(
    meeting, alice, bob, now, set_policy
):
    rules = set_policy(late_cancel_percent=40, student_absence_share_percent=50, platform_commission_percent=20)
    alices = factories.book(alice, meeting, now=now)
    factories.book(bob, meeting, now=now)
    # 12:00 is inside the 120-minute cutoff of the 13:00 class: the student must accept the charge first.
    with pytest.raises(CancellationTooLate, match="late cancel charged at 40% of the price"):
        transitions.cancel_booking(alices, now=now)
    transitions.cancel_booking(alices, now=now, accept_late=True)

    alices.refresh_from_db()
    assert (alices.status, alices.charged_amount, alices.policy_id) == ("late_cancelled", money("4.00"), rules.version)
    assert alices.cancelled_at == now and alices.refunded_at == now  # the other 6.00 went back
    assert Meeting.objects.get(pk=meeting.pk).seats_taken == 1
    row = StateChange.objects.get(object_id=alices.pk, to_state="late_cancelled")
    assert f"policy v{rules.version}" in row.reason and row.data == {"charged": "4.00", "policy": rules.version}

    closed = run_and_close(Meeting.objects.get(pk=meeting.pk), (0 * MINUTE, 50 * MINUTE))
    assert settle(closed, now=closed.closed_at) == "present"
    payout = Payout.objects.get(meeting=meeting)
    # Bob's 10.00 plus half of Alice's 4.00 charge; 20% commission, rounded once.
    assert (payout.gross, payout.commission, payout.net) == (money("12.00"), money("2.40"), money("9.60"))
    assert payout.policy_id == rules.version == closed.policy_id


def test_a_cancel_before_the_cutoff_is_a_full_refund_citing_the_version(teacher, alice, now):
    meeting = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(hours=3))
    booking = factories.book(alice, meeting, now=now)
    transitions.cancel_booking(booking, now=now)
    booking.refresh_from_db()
    assert (booking.status, booking.charged_amount, booking.refunded_at) == ("cancelled", None, now)
    assert booking.policy_id == meeting.policy_id


def test_a_student_who_never_came_is_a_no_show_charged_in_full_and_the_teacher_paid_the_share(
    meeting, alice, bob, now, set_policy
):
    rules = set_policy(student_absence_share_percent=50, platform_commission_percent=20)
    alices = factories.book(alice, meeting, now=now)
    bobs = factories.book(bob, meeting, now=now)
    closed = run_and_close(meeting, (0 * MINUTE, 50 * MINUTE), students_came_in=False)
    students_came(closed, students=[bob])
    assert settle(closed, now=closed.closed_at) == "present"

    alices.refresh_from_db()
    bobs.refresh_from_db()
    assert (alices.status, alices.charged_amount, alices.policy_id) == ("no_show", money("10.00"), rules.version)
    assert alices.refunded_at is None
    assert bobs.status == "completed" and bobs.charged_amount is None
    payout = Payout.objects.get(meeting=meeting)
    # Bob's 10.00 plus half of Alice's 10.00.
    assert (payout.gross, payout.commission, payout.net) == (money("15.00"), money("3.00"), money("12.00"))
    assert payout.policy_id == rules.version
    row = StateChange.objects.get(object_id=alices.pk, to_state="no_show")
    assert row.from_state == "completed" and f"policy v{rules.version}" in row.reason


def test_no_student_is_a_no_show_when_the_teacher_did_not_hold_the_class(meeting, alice, now):
    booking = factories.book(alice, meeting, now=now)
    closed = run_and_close(meeting, students_came_in=False)  # nobody came, the teacher neither
    assert settle(closed, now=closed.closed_at) == "absent"
    assert Booking.objects.get(pk=booking.pk).status == "completed"  # for the no-show review to decide


def test_settling_twice_marks_the_no_show_once(meeting, alice, now):
    booking = factories.book(alice, meeting, now=now)
    closed = run_and_close(meeting, (0 * MINUTE, 50 * MINUTE), students_came_in=False)
    assert settle(closed, now=closed.closed_at) == "present"
    assert settle(closed, now=closed.closed_at) == "already settled"
    assert StateChange.objects.filter(object_id=booking.pk, to_state="no_show").count() == 1


def test_staff_excuse_a_no_show_with_a_note_and_the_payout_follows(meeting, alice, bob, staff, now):
    alices = factories.book(alice, meeting, now=now)
    factories.book(bob, meeting, now=now)
    closed = run_and_close(meeting, (0 * MINUTE, 50 * MINUTE), students_came_in=False)
    students_came(closed, students=[bob])
    settle(closed, now=closed.closed_at)
    assert Payout.objects.get(meeting=meeting).gross == money("15.00")

    with pytest.raises(transitions.InvalidDecision, match="note is required"):
        transitions.excuse_absence(alices, now=closed.closed_at, actor=staff, note=" ")
    transitions.excuse_absence(alices, now=closed.closed_at, actor=staff, note="hospital, certificate seen")
    alices.refresh_from_db()
    assert (alices.status, alices.charged_amount, alices.refunded_at) == ("refunded", money("0"), closed.closed_at)
    row = StateChange.objects.get(object_id=alices.pk, to_state="refunded")
    assert (row.from_state, row.actor_name, row.reason) == ("no_show", "sam", "excused: hospital, certificate seen")
    assert Payout.objects.get(meeting=meeting).gross == money("10.00")  # recomputed: Bob's booking only


def test_a_teacher_cancelling_inside_the_cutoff_refunds_everyone_and_goes_to_review(meeting, teacher, alice, now):
    booking = factories.book(alice, meeting, now=now)
    lifecycle.cancel_meeting(meeting, now=now, actor=teacher.user, reason="I am ill")
    meeting.refresh_from_db()
    booking.refresh_from_db()
    assert (booking.status, booking.refunded_at, booking.policy_id) == ("refunded", now, meeting.policy_id)
    assert meeting.requires_manual_review and meeting.review_state == "awaiting"
    assert meeting.review_reason == f"late teacher cancellation (policy v{meeting.policy_id})"


@pytest.mark.parametrize("who", ["staff", "teacher early"])
def test_a_staff_cancellation_or_an_early_one_is_not_reviewed(teacher, staff, alice, now, who):
    hours = 1 if who == "staff" else 3
    meeting = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(hours=hours))
    actor = staff if who == "staff" else teacher.user
    lifecycle.cancel_meeting(meeting, now=now, actor=actor, reason="rain")
    meeting.refresh_from_db()
    assert meeting.state == "cancelled" and not meeting.requires_manual_review


def test_confirming_a_teacher_no_show_gives_a_late_cancel_its_charge_back(meeting, alice, bob, staff, now):
    alices = factories.book(alice, meeting, now=now)
    factories.book(bob, meeting, now=now)
    transitions.cancel_booking(alices, now=now, accept_late=True)
    closed = run_and_close(Meeting.objects.get(pk=meeting.pk))  # the teacher never came
    assert settle(closed, now=closed.closed_at) == "absent"
    review.confirm_no_show(closed, now=closed.closed_at, actor=staff, note="teacher did not come")
    assert Booking.objects.get(pk=alices.pk).status == "refunded"
    assert Payout.objects.get(meeting=meeting).state == "cancelled"


def test_the_first_version_holds_the_environment_defaults(db):
    rules = policies.current(dt.datetime.now(dt.UTC))
    assert rules.late_cancel_percent == 100 and rules.student_absence_share_percent == 50
    assert rules.commission_rate == Decimal("0.20") and rules.student_late_join_grace_minutes == 10


def test_staff_excuse_in_the_admin_after_giving_a_note(client, staff, meeting, alice, now):
    booking = factories.book(alice, meeting, now=now)
    transitions.cancel_booking(booking, now=now, accept_late=True)
    client.force_login(staff)
    url = reverse("admin:bookings_booking_changelist")
    chosen = {"action": "excuse", "_selected_action": [booking.pk]}
    asked = client.post(url, chosen)
    assert asked.status_code == 200 and b"Why (kept in each booking" in asked.content
    assert Booking.objects.get(pk=booking.pk).status == "late_cancelled"
    done = client.post(url, {**chosen, "note": "the school closed for the typhoon"})
    assert done.status_code == 302
    booking.refresh_from_db()
    assert (booking.status, booking.charged_amount) == ("refunded", money("0"))
    row = StateChange.objects.get(object_id=booking.pk, to_state="refunded")
    assert row.reason == "excused: the school closed for the typhoon" and row.actor_name == "sam"
