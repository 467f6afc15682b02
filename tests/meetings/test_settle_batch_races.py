"""Two workers settling the same batch at once, on PostgreSQL with real connections: ``SKIP LOCKED`` splits the
batch between them (or the second finds it settled), and every meeting gets one payout, one verdict row and at most
one staff alert."""

import datetime as dt
from collections import Counter

import pytest

from bookings.models import Payout
from core.models import StateChange
from meetings import lifecycle
from meetings.models import Meeting
from meetings.settlement import settle_batch, settle_closed_meetings
from notifications.models import Notification
from tests.concurrency import race
from tests.factories import MeetingFactory, StudentFactory, book
from tests.meetings.closing import MINUTE, teacher_session

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture
def closed_batch(now, monkeypatch):
    """Twelve closed, unsettled meetings (every third teacher never came), their after-commit settle switched off."""
    monkeypatch.setattr(lifecycle, "after_commit_outside_calls", lambda meeting_id, now: None)
    meetings = []
    for n in range(12):
        meeting = MeetingFactory(start_time=now, end_time=now + dt.timedelta(hours=1))
        for _ in range(2):
            book(StudentFactory(), meeting, now=now - dt.timedelta(days=1))
        lifecycle.open_meeting(meeting, now=now)
        if n % 3:
            teacher_session(meeting, 0 * MINUTE, 50 * MINUTE)
        lifecycle.close_meeting(meeting, now=meeting.close_at)
        meetings.append(meeting)
    assert not Meeting.objects.filter(settled_at__isnull=False).exists()
    return meetings


def assert_settled_once(meetings):
    ids = [m.pk for m in meetings]
    assert Meeting.objects.filter(pk__in=ids, settled_at__isnull=False).count() == len(ids)
    assert Counter(Payout.objects.values_list("meeting_id", flat=True)) == dict.fromkeys(ids, 1)
    assert Counter(Payout.objects.values_list("state", flat=True)) == {"pending": 8, "held": 4}
    attendance = StateChange.objects.filter(field="attendance").values_list("meeting_id", flat=True)
    assert Counter(attendance) == dict.fromkeys(ids, 1)
    assert Notification.objects.filter(kind="teacher_no_show").count() == 4


def test_two_workers_settling_the_same_batch_split_it(closed_batch):
    ids = [m.pk for m in closed_batch]
    at = closed_batch[0].close_at
    results = race(lambda: settle_batch(ids, now=at), lambda: settle_batch(list(reversed(ids)), now=at))
    assert not any(isinstance(r, Exception) for r in results), results
    first, second = results
    assert not set(first) & set(second) and set(first) | set(second) == set(ids)
    assert_settled_once(closed_batch)


def test_two_settle_sweeps_at_once(closed_batch, settings):
    settings.SWEEP_BATCH_SIZE = 5
    at = closed_batch[0].close_at
    results = race(lambda: settle_closed_meetings(at), lambda: settle_closed_meetings(at))
    assert not any(isinstance(r, Exception) for r in results), results
    assert sum(results[0].values()) + sum(results[1].values()) == 12 and not results[0]["failed"]
    assert_settled_once(closed_batch)
