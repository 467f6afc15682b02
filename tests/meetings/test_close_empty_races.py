"""The early close of empty classes under real concurrency (own connections per thread, whole processes): two workers
sweeping at once, the early close racing the normal close, and a student entering the local room in the last moment
of the grace while the sweep decides. Each ends with exactly one close, one history row and one teacher message.

The lock tests need PostgreSQL's row locks (SQLite serializes whole transactions instead)."""

import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import connection

from core.models import StateChange
from integrations.local import provider as local_provider
from integrations.local.provider import enter_room, read_token
from meetings import lifecycle, sweeps
from meetings.access import JoinRefused, credentials_for
from meetings.models import Meeting, MeetingParticipant
from meetings.rooms import provision_rooms
from notifications.models import Notification
from tests.concurrency import manage, race
from tests.factories import MeetingFactory, StudentFactory, TeacherFactory, book

pytestmark = pytest.mark.django_db(transaction=True)

SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)
GRACE = 10 * MINUTE
WAIT = 20  # seconds: the longest a racer waits for the other (a hang fails the test instead of blocking the suite)


def open_classes(now, count=1, minutes=60, students=1):
    """``count`` classes by one teacher, starting at ``now``, each with ``students`` booked, opened (local rooms)."""
    teacher = TeacherFactory()
    people = [StudentFactory() for _ in range(students)]
    meetings = [
        MeetingFactory(teacher=teacher, start_time=now, end_time=now + dt.timedelta(minutes=minutes))
        for _ in range(count)
    ]
    for meeting in meetings:
        for student in people:
            book(student, meeting, now=now - dt.timedelta(hours=2))
    provision_rooms(now)
    sweeps.open_due_meetings(now)
    return [Meeting.objects.get(pk=m.pk) for m in meetings], people


def closed_rows():
    return Counter(
        StateChange.objects.filter(content_type__model="meeting", field="state", to_state="closed").values_list(
            "meeting_id", flat=True
        )
    )


def teacher_messages():
    return Counter(
        Notification.objects.filter(kind__in=["class_closed", "class_closed_empty"]).values_list(
            "meeting_id", flat=True
        )
    )


def test_two_workers_sweeping_at_once_close_each_class_once(now):
    meetings, _ = open_classes(now, count=6)
    moment = now + GRACE
    results = race(*[lambda: sweeps.close_empty_meetings(moment)] * 2)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sum(r["closed"] for r in results) == 6
    ids = {m.pk for m in meetings}
    assert closed_rows() == dict.fromkeys(ids, 1)
    assert teacher_messages() == dict.fromkeys(ids, 1)
    assert set(Meeting.objects.values_list("state", flat=True)) == {"closed"}


def test_two_sweep_processes_close_each_class_once(now, is_postgres):
    meetings, _ = open_classes(now, count=12)
    connection.close()
    moment = (now + GRACE).isoformat()
    processes = [
        manage("run_sweeps", "--now", moment, "--only", "close_empty_meetings", extra_env={"SWEEP_BATCH_SIZE": "2"})
        for _ in range(3 if is_postgres else 2)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * len(processes), outputs
    ids = {m.pk for m in meetings}
    assert closed_rows() == dict.fromkeys(ids, 1)
    assert teacher_messages() == dict.fromkeys(ids, 1)
    assert Notification.objects.filter(kind="class_closed_empty").count() == 12


def test_the_early_close_racing_the_normal_close_closes_once(now):
    """Ten-minute classes: joining closes at their end, the room 5 minutes later. An early close at the last second
    before the close moment and the normal close at it race: one wins, the other finds the class closed."""
    meetings, _ = open_classes(now, count=6, minutes=10)
    close_moment = meetings[0].close_at
    results = race(
        lambda: sweeps.close_empty_meetings(close_moment - SECOND),
        lambda: sweeps.close_due_meetings(close_moment),
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert results[0]["closed"] + results[1]["closed"] == 6
    ids = {m.pk for m in meetings}
    assert closed_rows() == dict.fromkeys(ids, 1)
    assert teacher_messages() == dict.fromkeys(ids, 1)


# --- a student entering in the last moment of the grace (local room page) ---------------------------------------------


def claims_for(meeting, student, moment):
    return read_token(credentials_for(meeting, student, "student", moment).url.partition("?t=")[2])


def wait_until_someone_waits_for_a_row_lock():
    """Until another connection of this test database is blocked on a lock (pg_stat_activity), at most WAIT s."""
    done = threading.Event()
    for _ in range(WAIT * 100):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        done.wait(0.01)
    raise AssertionError("nobody waited for the class's row lock")


@pytest.mark.postgres
def test_a_student_entering_while_the_sweep_closes_finds_the_class_ended(now, monkeypatch):
    """The sweep holds the class's lock while it decides; the student's first entry (one second before the grace
    ends) waits for it, then finds the class closed. Without the lock in enter_room the student would be recorded in
    a class closed as empty."""
    [meeting], [student] = open_classes(now)
    claims = claims_for(meeting, student, now + GRACE - SECOND)
    inside, go = threading.Event(), threading.Event()
    real_close_batch = lifecycle.close_batch

    def held_close_batch(*args, **kwargs):
        inside.set()
        assert go.wait(WAIT)
        return real_close_batch(*args, **kwargs)

    monkeypatch.setattr(sweeps.lifecycle, "close_batch", held_close_batch)

    def student_enters():
        assert inside.wait(WAIT)
        return enter_room(
            Meeting.objects.select_related("teacher").get(pk=meeting.pk), claims, now=now + GRACE - SECOND
        )

    def release_when_blocked():
        assert inside.wait(WAIT)
        wait_until_someone_waits_for_a_row_lock()
        go.set()

    swept, entered, _ = race(lambda: sweeps.close_empty_meetings(now + GRACE), student_enters, release_when_blocked)
    assert swept["closed"] == 1, swept
    assert isinstance(entered, JoinRefused) and str(entered) == "this class has ended", entered
    assert not MeetingParticipant.objects.filter(role="student").exists()
    assert closed_rows() == {meeting.pk: 1} and teacher_messages() == {meeting.pk: 1}


@pytest.mark.postgres
def test_a_student_entering_first_keeps_the_class_open(now, monkeypatch):
    """The student's entry holds the lock (not committed yet) when the sweep looks: the sweep skips the class (SKIP
    LOCKED) instead of closing it on a student, and once the entry is committed the class is no longer empty."""
    [meeting], [student] = open_classes(now)
    claims = claims_for(meeting, student, now + GRACE - SECOND)
    inside, go = threading.Event(), threading.Event()
    real_start_presence = local_provider.start_presence

    def held_start_presence(*args, **kwargs):
        session = real_start_presence(*args, **kwargs)
        inside.set()
        assert go.wait(WAIT)
        return session

    monkeypatch.setattr(local_provider, "start_presence", held_start_presence)

    def sweep_while_entering():
        assert inside.wait(WAIT)
        try:
            return sweeps.close_empty_meetings(now + GRACE)
        finally:
            go.set()

    entered, swept = race(
        lambda: enter_room(
            Meeting.objects.select_related("teacher").get(pk=meeting.pk), claims, now=now + GRACE - SECOND
        ),
        sweep_while_entering,
    )
    assert isinstance(entered, MeetingParticipant), entered
    assert swept == {}, swept
    assert sweeps.close_empty_meetings(now + GRACE + SECOND) == {}
    assert Meeting.objects.get(pk=meeting.pk).state == "open"
    assert closed_rows() == {} and teacher_messages() == {}
