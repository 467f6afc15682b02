"""Attendance and pay on the real provider paths (LiveKit and Zoom fakes): the verdict comes from the provider's own
evidence, a present teacher's payout is approved after the dispute window, and an outage at close goes to review."""

import datetime as dt
from decimal import Decimal

import time_machine

from bookings.models import Payout
from core.runner import run_sweeps
from meetings.access import credentials_for
from tests.factories import book
from tests.integrations.test_video_lifecycle import enter, video  # noqa: F401  (the provider fixture)


def provision_and_open(client, video, meeting, teacher, students=()):  # noqa: F811
    start = meeting.start_time
    with time_machine.travel(start - dt.timedelta(minutes=60), tick=False):
        run_sweeps(start - dt.timedelta(minutes=60))
    meeting.refresh_from_db()
    with time_machine.travel(start, tick=False):
        seen = len(video.fake.events)
        enter(credentials_for(meeting, teacher, "teacher", start).url)
        video.deliver_webhooks(client, seen)
        run_sweeps(start)
        meeting.refresh_from_db()
        for student in students:  # in the room too: a student who never comes is a no-show
            seen = len(video.fake.events)
            enter(credentials_for(meeting, student, "student", start).url)
            video.deliver_webhooks(client, seen)
    meeting.refresh_from_db()
    return start


def test_a_present_teacher_is_paid_from_the_providers_evidence(client, video, meeting, teacher, alice, bob, now):  # noqa: F811
    book(alice, meeting, now=now)
    book(bob, meeting, now=now)
    provision_and_open(client, video, meeting, teacher, students=(alice, bob))
    close = meeting.close_at
    with time_machine.travel(close, tick=False):
        seen = len(video.fake.events)
        results = run_sweeps(close)
        video.deliver_webhooks(client, seen)
    meeting.refresh_from_db()
    assert results["settle_closed_meetings"] == {"present": 1}
    assert meeting.attendance_verdict == "present" and meeting.attendance_source == f"provider:{video.name}"
    assert meeting.teacher_attended_seconds == (close - meeting.start_time).total_seconds()
    payout = Payout.objects.get(meeting=meeting)
    assert (payout.state, payout.gross, payout.net) == ("pending", Decimal("20.00"), Decimal("16.00"))
    with time_machine.travel(payout.approve_after, tick=False):
        assert run_sweeps(payout.approve_after)["approve_payouts"] == {"approved": 1}
        assert not run_sweeps(payout.approve_after)["approve_payouts"]
    assert Payout.objects.get(pk=payout.pk).state == "approved"


def test_a_provider_outage_at_settlement_sends_the_class_to_review_never_to_payment(
    client,
    video,  # noqa: F811
    meeting,
    teacher,
    alice,
    now,
):
    """The room was ended, then the service went down before attendance was settled. LiveKit's evidence is what its
    webhooks already told us (nothing to fetch once the room is gone): present. Zoom's is its participants report,
    which cannot be fetched: unknown, so review."""
    book(alice, meeting, now=now)
    provision_and_open(client, video, meeting, teacher)
    close = meeting.close_at
    with time_machine.travel(close, tick=False):
        seen = len(video.fake.events)
        run_sweeps(close, names=["close_due_meetings", "end_rooms"])
        video.deliver_webhooks(client, seen)
        video.fake.fail_fraction(1.0)
        results = run_sweeps(close, names=["settle_closed_meetings"])
    meeting.refresh_from_db()
    payout = Payout.objects.get(meeting=meeting)
    if video.name == "livekit":
        assert results["settle_closed_meetings"] == {"present": 1} and payout.state == "pending"
        return
    assert results["settle_closed_meetings"] == {"unknown": 1}
    assert meeting.attendance_verdict == "unknown" and meeting.review_reason == "provider unreachable"
    assert meeting.attendance_evidence["recorded_seconds"] > 300  # the webhooks' account: shown, not paid on
    assert payout.state == "held" and meeting.review_state == "awaiting"


def test_a_room_end_failing_at_close_holds_settlement_back_until_it_succeeds(
    client,
    video,  # noqa: F811
    meeting,
    teacher,
    alice,
    now,
):
    book(alice, meeting, now=now)
    provision_and_open(client, video, meeting, teacher)
    video.fake.fail_fraction(1.0)
    close = meeting.close_at
    with time_machine.travel(close, tick=False):
        results = run_sweeps(close)
    meeting.refresh_from_db()
    assert meeting.state == "closed" and results["end_rooms"] == {"failed": 1}
    assert not results["settle_closed_meetings"] and meeting.settled_at is None  # backing off with the meeting
    video.fake.fail_fraction(0.0)
    with time_machine.travel(meeting.retry_at, tick=False):
        seen = len(video.fake.events)
        results = run_sweeps(meeting.retry_at)
        video.deliver_webhooks(client, seen)
    assert results["end_rooms"] == {"ended": 1} and results["settle_closed_meetings"] == {"present": 1}
    assert Payout.objects.get(meeting=meeting).state == "pending"
