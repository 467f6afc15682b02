"""Compare-and-set under real concurrency: threads with their own connections, and whole processes sweeping.

These run on SQLite too (a file database; IMMEDIATE transactions serialize writers) and, in the second half of
.ci/run, on PostgreSQL, where they exercise row locks and SKIP LOCKED.
"""

import datetime as dt
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from bookings.errors import ClassFull
from bookings.models import Appointment, Booking, Payout
from bookings.transitions import book, create_payout
from core.models import StateChange
from meetings import lifecycle
from meetings.models import Meeting
from notifications.models import Notification
from tests.concurrency import manage, race
from tests.factories import CourseFactory, MeetingFactory, StudentFactory, TeacherFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_workers_opening_one_meeting_open_it_once(now):
    meeting = MeetingFactory(start_time=now, end_time=now + dt.timedelta(hours=1))
    results = race(*[lambda: lifecycle.open_meeting(Meeting.objects.get(pk=meeting.pk), now=now)] * 2)
    assert sorted(r.changed for r in results) == [False, True], results
    assert StateChange.objects.filter(meeting=meeting, to_state="open").count() == 1
    assert Notification.objects.filter(meeting=meeting, kind="class_open").count() == 1  # the teacher


def test_two_students_racing_for_the_last_seat(now):
    meeting = MeetingFactory(
        course=CourseFactory(capacity=1), start_time=now + dt.timedelta(hours=1), end_time=now + dt.timedelta(hours=2)
    )
    alice, bob = StudentFactory(), StudentFactory()
    results = race(lambda: book(alice, meeting, now=now), lambda: book(bob, meeting, now=now))
    assert sorted(type(r).__name__ for r in results) == ["Booking", "ClassFull"]
    assert isinstance([r for r in results if not isinstance(r, Booking)][0], ClassFull)
    assert Booking.objects.count() == 1 and Meeting.objects.get(pk=meeting.pk).seats_taken == 1


def test_two_closes_create_one_payout(now):
    meeting = MeetingFactory(start_time=now, end_time=now + dt.timedelta(hours=1))
    results = race(
        *[
            lambda: create_payout(
                Meeting.objects.select_related("course").get(pk=meeting.pk),
                gross=Decimal("10"),
                rate=Decimal("0.2"),
                now=now,
            )
        ]
        * 2
    )
    assert sorted(created for _, created in results) == [False, True], results
    assert Payout.objects.count() == 1


def test_parallel_sweep_processes_apply_every_transition_once(now, is_postgres):
    """Four processes on PostgreSQL (two on SQLite) run every sweep over the same due set, in small batches so
    they interleave: each meeting opens once and closes once, each link and message is written once."""
    workers = 4 if is_postgres else 2
    teacher = TeacherFactory()
    students = [StudentFactory() for _ in range(3)]
    start = now - dt.timedelta(minutes=30)
    meetings = [
        MeetingFactory(teacher=teacher, start_time=start, end_time=start + dt.timedelta(minutes=20)) for _ in range(30)
    ]
    for meeting in meetings:
        for student in students:
            book(student, meeting, now=start - dt.timedelta(hours=2))
    connection.close()
    for moment in (start - dt.timedelta(minutes=10), start, start + dt.timedelta(minutes=30)):
        processes = [
            manage("run_sweeps", "--now", moment.isoformat(), extra_env={"SWEEP_BATCH_SIZE": "4"})
            for _ in range(workers)
        ]
        outputs = [p.communicate(timeout=120) for p in processes]
        assert [p.returncode for p in processes] == [0] * workers, outputs
    transitions = Counter(
        StateChange.objects.filter(content_type__model="meeting", field="state").values_list("to_state", flat=True)
    )
    assert transitions == {"open": 30, "closed": 30}
    print(
        "DEBUG",
        Counter(Appointment.objects.values_list("feedback_link_state", "feedback_link_note")),
        [o[1][-3000:] for o in outputs],
    )
    assert Counter(Notification.objects.values_list("kind", flat=True)) == {
        "class_open": 30 * 4,
        "join_link": 90,
        "feedback_link": 90,
        "class_closed": 30,
        "teacher_no_show": 30,  # the teacher never joined: one staff alert per meeting, however many workers settle
    }
    assert set(Appointment.objects.values_list("join_link_state", flat=True)) == {"sent"}
    assert StateChange.objects.filter(field="join_link_state").count() == 90
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
