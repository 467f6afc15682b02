import datetime as dt

from django_q.models import Schedule

from core.clock import CLOCK_SECONDS, run_clock
from core.models import SweepHeartbeat
from core.schedules import SCHEDULES
from meetings.models import Meeting
from tests.factories import MeetingFactory


class FakeTime:
    """A clock that only moves when the code under test sleeps (plus a little work time per tick)."""

    def __init__(self, start: dt.datetime, work_seconds: float = 0.05):
        self.now_value = start
        self.mono = 0.0
        self.work = work_seconds
        self.sleeps = []

    def now(self):
        return self.now_value

    def monotonic(self):
        return self.mono

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds):
        self.mono += seconds
        self.now_value += dt.timedelta(seconds=seconds)


def test_the_clock_opens_each_meeting_within_a_tick_of_its_start(teacher, now):
    starts = [now + dt.timedelta(seconds=s) for s in (3, 3, 17, 44)]
    meetings = [MeetingFactory(teacher=teacher, start_time=s, end_time=s + dt.timedelta(hours=1)) for s in starts]
    fake = FakeTime(now)
    counts = run_clock(seconds=60, tick=1.0, now=fake.now, sleep=fake.sleep, monotonic=fake.monotonic)
    assert counts["open_due_meetings.opened"] == 4
    assert counts["ticks"] == 61
    for meeting in meetings:
        meeting.refresh_from_db()
        assert meeting.state == "open"
        assert dt.timedelta(0) <= meeting.open_lateness <= dt.timedelta(seconds=1)
    assert max(fake.sleeps) <= 1.0
    assert SweepHeartbeat.objects.get(name="clock").last_counts["ticks"] >= 1


def test_the_clock_stops_after_its_time_and_two_overlapping_clocks_do_not_double_open(teacher, now):
    meeting = MeetingFactory(
        teacher=teacher, start_time=now + dt.timedelta(seconds=5), end_time=now + dt.timedelta(hours=1)
    )
    first, second = FakeTime(now), FakeTime(now)
    run_clock(seconds=10, now=first.now, sleep=first.sleep, monotonic=first.monotonic)
    counts = run_clock(seconds=10, now=second.now, sleep=second.sleep, monotonic=second.monotonic)
    assert counts["open_due_meetings.opened"] == 0
    assert Meeting.objects.get(pk=meeting.pk).state == "open"
    assert first.mono <= 10.0 + 1.0


# django-q2's sentinel runs the scheduler every 30 s (django_q.cluster.Sentinel.guard: counter >= 30), so a schedule
# fires up to that long after it is due.
SCHEDULER_PASS_SECONDS = 30


def test_consecutive_clock_runs_overlap_given_the_schedulers_30_s_pass(db, now):
    """The clock is due every minute; the worst case is one run fired on time and the next fired a whole scheduler
    pass late, 60 + 30 = 90 s after it. The first must still be polling then, or meetings wait for the next run."""
    spec = SCHEDULES["lifecycle-clock"]
    assert (spec["func"], spec["schedule_type"]) == ("core.tasks.clock", Schedule.MINUTES)
    latest_next_start = spec["minutes"] * 60 + SCHEDULER_PASS_SECONDS
    first = FakeTime(now, work_seconds=0)
    run_clock(now=first.now, sleep=first.sleep, monotonic=first.monotonic)  # as the task runs it: default length
    assert first.mono > latest_next_start
    assert latest_next_start < CLOCK_SECONDS


def test_delivery_has_its_own_clock_and_the_lifecycle_clock_never_waits_for_it(line, line_channel, meeting, now):
    """The lifecycle clock runs no delivery (a backlog of sends cannot delay an open); the delivery clock runs the
    delivery sweep alone, every DELIVERY_TICK_SECONDS, and records its own heartbeat."""
    from core.clock import DELIVERY_TICK_SECONDS
    from core.runner import time_critical
    from notifications.models import Notification
    from tests.notifications.line_helpers import enqueue, followers

    assert "deliver_notifications" not in time_critical()
    spec = SCHEDULES["delivery-clock"]
    assert (spec["func"], spec["schedule_type"], spec["minutes"]) == ("core.tasks.delivery_clock", Schedule.MINUTES, 1)
    enqueue("class_open", followers(line_channel, 3), now=now, meeting=meeting)
    fake = FakeTime(now, work_seconds=0)
    counts = run_clock(
        seconds=2,
        tick=DELIVERY_TICK_SECONDS,
        now=fake.now,
        sleep=fake.sleep,
        monotonic=fake.monotonic,
        names=("deliver_notifications",),
        runner="delivery-clock",
    )
    assert counts["deliver_notifications.sent"] == 3 and counts["ticks"] == 9  # 2 s of 0.25 s ticks, both ends
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
    assert SweepHeartbeat.objects.filter(name="delivery-clock").exists()
    assert not [key for key in counts if key.startswith(("open_due", "close_due"))]
