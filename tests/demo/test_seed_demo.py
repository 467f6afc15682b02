import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.core.management import call_command

from classroom.models import Teacher
from meetings.models import Meeting


@pytest.fixture(autouse=True)
def debug_on(settings):
    """The demo runs with DEBUG on (make run); seed_demo refuses otherwise (test_production_settings)."""
    settings.DEBUG = True


def seed():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_it_builds_a_demo_school_and_prints_a_working_login(db, now):
    with time_machine.travel(now, tick=False):
        output = seed()
    assert "login: admin / admin" in output
    assert authenticate(username="admin", password="admin").is_staff
    assert {"America/New_York", "Asia/Ho_Chi_Minh", "Asia/Taipei"} <= set(
        Teacher.objects.values_list("time_zone", flat=True)
    )
    states = set(Meeting.objects.values_list("state", flat=True))
    assert {"closed", "in_progress", "scheduled"} <= states
    soon = Meeting.objects.get(title__startswith="Demo class")
    assert soon.start_time == now + dt.timedelta(minutes=2)
    assert soon.bookings.count() == 3
    weekly = Meeting.objects.filter(series__title="Weekly IELTS Speaking")
    assert weekly.count() == 8  # SERIES_HORIZON_DAYS ahead, every one booked by its two subscribers
    assert all(m.seats_taken == 2 for m in weekly)


def test_it_is_idempotent(db, now):
    with time_machine.travel(now, tick=False):
        seed()
        counts = (Meeting.objects.count(), Teacher.objects.count())
        second = seed()
    assert (Meeting.objects.count(), Teacher.objects.count()) == counts
    assert "created meeting" not in second


def test_a_later_launch_gets_a_fresh_class_starting_two_minutes_later(db, now):
    with time_machine.travel(now, tick=False):
        seed()
    later = now + dt.timedelta(days=1)
    with time_machine.travel(later, tick=False):
        call_command("run_sweeps", stdout=StringIO())  # yesterday's demo classes ran and closed
        seed()
    fresh = Meeting.objects.filter(title__startswith="Demo class").order_by("-start_time").first()
    assert fresh.start_time == later + dt.timedelta(minutes=2) and fresh.state == "scheduled"


def test_the_demo_has_a_class_in_the_review_queue_and_paid_classes(db, now):
    from meetings.review import awaiting_review

    with time_machine.travel(now, tick=False):
        seed()
        seed()  # idempotent: still one
    queue = list(awaiting_review())
    assert [m.title for m in queue] == ["Vietnamese Conversation (teacher never came)"]
    assert queue[0].review_reason == "teacher not seen" and queue[0].payout.state == "held"
    assert queue[0].payout.gross == 300000  # two bookings of 150000 VND
    present = Meeting.objects.filter(title__endswith="(yesterday)")
    assert {m.attendance_verdict for m in present} == {"present"}
    assert {m.payout.state for m in present} == {"pending"}
