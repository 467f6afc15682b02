import datetime as dt
import re
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.core.management import call_command

from bookings.models import Appointment, Booking, Payout
from classroom.models import Course, Student, Teacher
from core.models import StateChange
from core.runner import run_sweeps
from demo import school as demo
from meetings.models import Meeting
from meetings.review import awaiting_review


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
    assert soon.start_time == now + dt.timedelta(minutes=demo.HEADLINE_START_MINUTES)
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


def test_a_later_launch_gets_a_fresh_headline_class(db, now):
    with time_machine.travel(now, tick=False):
        seed()
    later = now + dt.timedelta(days=1)
    with time_machine.travel(later, tick=False):
        call_command("run_sweeps", stdout=StringIO())  # yesterday's demo classes ran and closed
        seed()
    fresh = Meeting.objects.filter(title__startswith="Demo class").order_by("-start_time").first()
    assert fresh.start_time == later + dt.timedelta(minutes=demo.HEADLINE_START_MINUTES) and fresh.state == "scheduled"


def test_the_demo_has_a_class_in_the_review_queue_and_paid_classes(db, now):
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


# --- the headline class, the review queue and the seeded times (issue 21, item 4) ------------------------------------


def _headline():
    return Meeting.objects.get(title__startswith="Demo class")


def test_the_headline_class_sends_its_join_link_on_time_not_as_a_catch_up(db, now):
    launch = now + dt.timedelta(seconds=59)  # the worst case: the start is counted from the whole minute
    with time_machine.travel(launch, tick=False):
        seed()
    meeting = _headline()
    due = meeting.start_time - dt.timedelta(minutes=10)
    # make run starts the cluster after seed_demo; django-q2 runs its first schedule about 30 s later. The link is
    # still ahead then, so the clock sends it at its moment.
    assert due - launch >= dt.timedelta(seconds=60)
    run_sweeps(launch + dt.timedelta(seconds=40), runner="test")
    assert set(Appointment.objects.filter(meeting=meeting).values_list("join_link_state", flat=True)) == {"pending"}

    run_sweeps(due + dt.timedelta(seconds=1), runner="test")

    states = Appointment.objects.filter(meeting=meeting).values_list("join_link_state", flat=True)
    assert list(states) == ["sent"] * 3
    notes = StateChange.objects.filter(meeting=meeting, field="join_link_state").values_list("reason", flat=True)
    assert len(notes) == 3 and not any("catch-up" in note for note in notes)


def test_the_headline_class_ends_in_the_review_queue_when_nobody_plays_its_teacher(db, now):
    """README: it closes into the review queue unless someone joins its room as emma, as the teacher never came."""
    with time_machine.travel(now, tick=False):
        seed()
    meeting = _headline()
    closed = meeting.end_time + dt.timedelta(minutes=6)
    run_sweeps(meeting.start_time, runner="test")
    run_sweeps(closed, runner="test")
    run_sweeps(closed + dt.timedelta(seconds=5), runner="test")
    meeting.refresh_from_db()
    assert meeting.state == "closed" and meeting.teacher.user.username == "emma"
    assert meeting in list(awaiting_review()) and meeting.review_reason == "teacher not seen"


def test_the_seeded_times_agree_with_the_history(db, now):
    with time_machine.travel(now, tick=False):
        seed()
    first_entry = {}
    for entry in StateChange.objects.order_by("at"):
        first_entry.setdefault((entry.content_type.model, entry.object_id), entry.at)
    for model in (Meeting, Booking, Payout):
        rows = list(model.objects.all())
        assert rows
        for row in rows:
            assert row.created_at == first_entry[(model._meta.model_name, row.pk)], row
    for booking in Booking.objects.select_related("meeting", "student"):
        assert booking.meeting.created_at <= booking.created_at <= booking.confirmed_at
        assert booking.student.created_at < booking.created_at
    oldest_history = StateChange.objects.order_by("at").first().at
    for model in (Teacher, Student, Course):
        assert all(created < oldest_history for created in model.objects.values_list("created_at", flat=True))
    assert authenticate(username="alice", password="demo").date_joined < oldest_history
    assert authenticate(username="emma", password="demo").teacher == _headline().teacher  # README's demo logins


def test_the_readme_lists_the_demo_logins_and_its_links_resolve():
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    logins = {(login, password) for login, password in re.findall(r"^\| `(\w+)` \| `(\w+)` \|", readme, re.M)}
    assert logins == {
        (demo.STAFF_USERNAME, demo.STAFF_PASSWORD),
        ("emma", demo.PEOPLE_PASSWORD),
        ("alice", demo.PEOPLE_PASSWORD),
    }
    assert _headline_title_in(readme)
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if not target.startswith(("http://", "https://")):
            assert (root / target).exists(), f"README links to {target}, which is not in the repository"


def _headline_title_in(readme: str) -> bool:
    return f"starts {demo.HEADLINE_START_MINUTES} minutes after launch" in readme and any(
        slot.title.endswith(f"starts {demo.HEADLINE_START_MINUTES} minutes after launch") for slot in demo.SLOTS
    )
