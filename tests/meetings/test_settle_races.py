"""Settlement under real concurrency (threads with their own connections, and whole processes): one payout per
meeting, one verdict, one staff alert, however many workers close and settle at once. On PostgreSQL (second half
of .ci/run) these exercise the meeting's row lock and the payout's unique meeting column; on SQLite the IMMEDIATE
transactions serialize the writers."""

import datetime as dt
from collections import Counter

import pytest
from django.db import connection

from bookings.models import Payout
from core.models import StateChange
from meetings import lifecycle
from meetings.models import Meeting
from meetings.settlement import settle
from notifications.models import Notification
from tests.concurrency import manage, race
from tests.factories import MeetingFactory, StudentFactory, book
from tests.meetings.closing import MINUTE, teacher_session

pytestmark = pytest.mark.django_db(transaction=True)


def booked_class(now, *, teacher_minutes=50):
    meeting = MeetingFactory(start_time=now, end_time=now + dt.timedelta(hours=1))
    for _ in range(2):
        book(StudentFactory(), meeting, now=now - dt.timedelta(days=1))
    lifecycle.open_meeting(meeting, now=now)
    if teacher_minutes:
        teacher_session(meeting, 0 * MINUTE, teacher_minutes * MINUTE)
    return meeting


def attendance_rows(meeting):
    return StateChange.objects.filter(meeting=meeting, field="attendance").count()


def test_two_settles_at_once_make_one_payout(now, monkeypatch):
    meeting = booked_class(now)
    # Closed without its after-commit settlement, so that the two settles below are the only ones.
    monkeypatch.setattr(lifecycle, "after_commit_outside_calls", lambda meeting_id, now: None)
    lifecycle.close_meeting(meeting, now=meeting.close_at)
    assert Meeting.objects.get(pk=meeting.pk).settled_at is None
    results = race(*[lambda: settle(Meeting.objects.get(pk=meeting.pk), now=meeting.close_at)] * 2)
    assert sorted(results) == ["already settled", "present"], results
    assert Payout.objects.filter(meeting=meeting).count() == 1 and attendance_rows(meeting) == 1


def test_two_closes_at_once_make_one_payout_and_one_alert(now):
    meeting = booked_class(now, teacher_minutes=0)
    results = race(*[lambda: lifecycle.close_meeting(Meeting.objects.get(pk=meeting.pk), now=meeting.close_at)] * 2)
    assert sorted(r.changed for r in results) == [False, True], results
    meeting.refresh_from_db()
    assert meeting.settled_at is not None and meeting.review_state == "awaiting"
    assert Payout.objects.get(meeting=meeting).state == "held" and attendance_rows(meeting) == 1
    assert Notification.objects.filter(meeting=meeting, kind="teacher_no_show").count() == 1


def test_a_staff_close_racing_the_settle_sweep(now):
    from meetings.settlement import settle_closed_meetings

    meeting = booked_class(now)
    results = race(
        lambda: lifecycle.close_meeting(Meeting.objects.get(pk=meeting.pk), now=meeting.close_at),
        lambda: [settle_closed_meetings(meeting.close_at) for _ in range(20)],
    )
    assert not any(isinstance(r, Exception) for r in results), results
    settle_closed_meetings(meeting.close_at + dt.timedelta(hours=1))  # whatever was left
    assert Payout.objects.filter(meeting=meeting).count() == 1 and attendance_rows(meeting) == 1


def test_sweep_processes_racing_settle_each_meeting_once(now, is_postgres):
    """Four processes on PostgreSQL (two on SQLite) close and settle the same ten meetings at the same moment."""
    workers = 4 if is_postgres else 2
    meetings = [booked_class(now, teacher_minutes=50 if n % 2 else 0) for n in range(10)]
    close_at = meetings[0].close_at
    connection.close()
    processes = [
        manage("run_sweeps", "--now", close_at.isoformat(), extra_env={"SWEEP_BATCH_SIZE": "2"}) for _ in range(workers)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * workers, outputs
    ids = [m.pk for m in meetings]
    assert Payout.objects.filter(meeting_id__in=ids).count() == 10
    assert Counter(Payout.objects.values_list("state", flat=True)) == {"pending": 5, "held": 5}
    per_meeting = Counter(StateChange.objects.filter(field="attendance").values_list("meeting_id", flat=True))
    assert per_meeting == dict.fromkeys(ids, 1)
    assert Notification.objects.filter(kind="teacher_no_show").count() == 5
