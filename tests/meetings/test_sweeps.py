"""The lifecycle sweeps at every boundary, after downtime, twice in a row, and with failures."""

import datetime as dt
from collections import Counter

import pytest
import time_machine
from django.core.management import call_command

from bookings.models import Appointment, Booking
from core.models import StateChange
from core.runner import SWEEPS, run_sweeps
from meetings import sweeps
from meetings.models import Meeting
from notifications.models import Notification
from tests.factories import CourseFactory, MeetingFactory, StudentFactory, book
from tests.meetings.closing import students_came

SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def booked(meeting, alice, bob, now):
    book(alice, meeting, now=now)
    book(bob, meeting, now=now)
    return meeting


def state(meeting):
    meeting.refresh_from_db()
    return meeting.state


def reasons(meeting, field="state"):
    return list(
        StateChange.objects.filter(meeting=meeting, field=field, content_type__model="meeting").values_list(
            "to_state", "reason"
        )
    )


def links(which):
    return Counter(Appointment.objects.values_list(f"{which}_state", flat=True))


class TestBoundaries:
    def test_it_opens_at_start_not_a_second_before(self, booked):
        sweeps.open_due_meetings(booked.start_time - SECOND)
        assert state(booked) == "scheduled"
        assert sweeps.open_due_meetings(booked.start_time)["opened"] == 1
        assert state(booked) == "open" and booked.open_lateness == dt.timedelta(0)

    def test_it_closes_at_end_plus_delay_not_a_second_before(self, booked):
        sweeps.open_due_meetings(booked.start_time)
        sweeps.close_due_meetings(booked.end_time + 5 * MINUTE - SECOND)
        assert state(booked) == "open"
        assert sweeps.close_due_meetings(booked.end_time + 5 * MINUTE)["closed"] == 1
        assert state(booked) == "closed"
        assert set(Booking.objects.values_list("status", flat=True)) == {"completed"}

    def test_join_links_go_ten_minutes_before_start(self, booked):
        from bookings.sweeps import send_join_links

        assert send_join_links(booked.start_time - 10 * MINUTE - SECOND) == Counter()
        assert send_join_links(booked.start_time - 10 * MINUTE)["sent"] == 2
        texts = list(Notification.objects.filter(kind="join_link").values_list("payload", flat=True))
        assert any("starts at 20:00 (Asia/Ho_Chi_Minh)" in p["text"] for p in texts)
        assert all(p["url"].startswith("http://127.0.0.1:8000/j/") for p in texts)

    def test_feedback_links_go_ten_minutes_before_end(self, booked):
        from bookings.sweeps import send_feedback_links

        sweeps.open_due_meetings(booked.start_time)
        assert send_feedback_links(booked.end_time - 10 * MINUTE - SECOND) == Counter()
        assert send_feedback_links(booked.end_time - 10 * MINUTE)["sent"] == 2

    def test_time_machine_drives_the_command_at_each_boundary(self, booked):
        moments = {
            booked.start_time - 10 * MINUTE - SECOND: ("scheduled", 0),
            booked.start_time - SECOND: ("scheduled", 2),
            booked.start_time: ("open", 2),
            booked.start_time + 10 * MINUTE: ("open", 2),
            booked.end_time: ("open", 2),
            booked.end_time + 5 * MINUTE - SECOND: ("open", 2),
            booked.end_time + 5 * MINUTE: ("closed", 2),
        }
        for moment, (expected, join_links) in moments.items():
            with time_machine.travel(moment, tick=False):
                call_command("run_sweeps", stdout=open("/dev/null", "w"))  # noqa: SIM115
            assert (state(booked), links("join_link")["sent"]) == (expected, join_links), moment
            if moment == booked.start_time:
                students_came(booked)  # else the class closes early, empty (tests/meetings/test_close_empty.py)


class TestCatchUp:
    def test_three_hours_of_downtime_runs_the_normal_close_path(self, booked):
        """Start and close passed while nothing ran: opened quietly, closed, links decided, all in the history."""
        late = booked.end_time + 2 * dt.timedelta(hours=1)
        counts = run_sweeps(late)
        assert state(booked) == "closed"
        assert [to for to, _ in reasons(booked)] == ["open", "closed"]
        assert "catch-up" in reasons(booked)[0][1]
        assert not Notification.objects.filter(kind="class_open").exists(), "nobody is told a finished class opened"
        assert links("join_link") == {"skipped": 2}
        assert links("feedback_link") == {"sent": 2}, "feedback is still useful two hours after the end"
        assert counts["close_due_meetings"]["closed"] == 1
        notes = set(StateChange.objects.filter(field="feedback_link_state").values_list("reason", flat=True))
        assert notes == {"catch-up: sent after its moment (no sweep ran in between)"}

    def test_a_meeting_whose_start_passed_opens_late_and_says_so(self, booked):
        run_sweeps(booked.start_time + 20 * MINUTE)
        assert "catch-up: opened 1200 s after start_time" in reasons(booked)[0][1]
        assert Notification.objects.filter(kind="class_open").count() == 3
        assert links("join_link") == {"skipped": 2}  # the late-join grace (10 min) is over
        # Nobody can enter for the first time any more and nobody had: the same run closes it as empty.
        assert state(booked) == "closed"
        assert reasons(booked)[1][1].startswith("no student joined")

    def test_a_join_link_is_still_sent_inside_the_grace(self, booked):
        run_sweeps(booked.start_time + 5 * MINUTE)
        assert links("join_link") == {"sent": 2}

    def test_a_feedback_link_is_skipped_a_day_after_the_end(self, booked):
        run_sweeps(booked.end_time + dt.timedelta(hours=24))
        assert links("feedback_link") == {"skipped": 2}
        assert state(booked) == "closed"

    def test_a_cancelled_meeting_never_opens_and_sends_nothing(self, booked, now):
        from meetings.lifecycle import cancel_meeting

        cancel_meeting(booked, now=now, reason="teacher is ill")
        before = Notification.objects.count()
        for moment in (booked.start_time - 10 * MINUTE, booked.start_time, booked.end_time + 5 * MINUTE):
            run_sweeps(moment)
        assert state(booked) == "cancelled"
        assert Notification.objects.exclude(kind="class_cancelled").count() == 0
        assert Notification.objects.count() == before


class TestRunTwice:
    @pytest.mark.parametrize("name", list(SWEEPS))
    def test_each_sweep_run_twice_changes_nothing_the_second_time(self, booked, name):
        for moment in (
            booked.start_time - dt.timedelta(hours=1),
            booked.start_time - 10 * MINUTE,
            booked.start_time,
            booked.end_time - 10 * MINUTE,
            booked.end_time + 5 * MINUTE,
        ):
            run_sweeps(moment, names=[n for n in SWEEPS if n != name])
            first = SWEEPS[name](moment)
            snapshot = (
                StateChange.objects.count(),
                Notification.objects.count(),
                sorted(Notification.objects.values_list("state", flat=True)),
            )
            second = SWEEPS[name](moment)
            assert not +Counter(second), f"{name} did work twice at {moment}: {first} then {second}"
            assert snapshot == (
                StateChange.objects.count(),
                Notification.objects.count(),
                sorted(Notification.objects.values_list("state", flat=True)),
            )

    def test_the_command_run_twice_reports_nothing_due_the_second_time(self, booked, capsys):
        call_command("run_sweeps", "--now", booked.start_time.isoformat())
        first = capsys.readouterr().out
        call_command("run_sweeps", "--now", booked.start_time.isoformat())
        second = capsys.readouterr().out
        assert "opened 1" in first
        assert second.count("nothing due") == len(SWEEPS)


class TestMinimumParticipants:
    @pytest.fixture
    def small(self, teacher, now):
        course = CourseFactory(min_participants=2, capacity=5)
        meeting = MeetingFactory(
            teacher=teacher, course=course, start_time=now + dt.timedelta(hours=2), end_time=now + dt.timedelta(hours=3)
        )
        book(StudentFactory(), meeting, now=now)
        return meeting

    def test_too_few_bookings_at_the_check_cancels_and_refunds(self, small):
        sweeps.check_minimum_participants(small.start_time - 60 * MINUTE - SECOND)
        assert state(small) == "scheduled"
        counts = sweeps.check_minimum_participants(small.start_time - 60 * MINUTE)
        assert counts["cancelled"] == 1 and state(small) == "cancelled"
        assert Booking.objects.get(meeting=small).status == "refunded"
        assert reasons(small)[-1] == ("cancelled", "only 1 of the minimum 2 students booked")
        assert Notification.objects.filter(kind="class_cancelled").count() == 2  # teacher and student

    def test_enough_bookings_pass_once(self, small):
        book(StudentFactory(), small, now=small.start_time - dt.timedelta(hours=1, minutes=30))
        assert sweeps.check_minimum_participants(small.start_time - 60 * MINUTE)["passed"] == 1
        assert sweeps.check_minimum_participants(small.start_time - 30 * MINUTE) == Counter()
        assert state(small) == "scheduled"

    def test_a_check_missed_until_after_start_does_not_cancel_a_running_class(self, small):
        counts = sweeps.check_minimum_participants(small.start_time + MINUTE)
        assert counts["skipped"] == 1 and state(small) == "scheduled"
        assert "catch-up" in reasons(small, field="min_participants")[0][1]


class TestFailures:
    def test_one_bad_meeting_does_not_stop_the_batch(self, teacher, now, monkeypatch):
        good = [MeetingFactory(teacher=teacher, start_time=now, end_time=now + dt.timedelta(hours=1)) for _ in range(3)]
        bad = MeetingFactory(teacher=teacher, title="broken", start_time=now, end_time=now + dt.timedelta(hours=1))
        from notifications import outbox

        real = outbox.message

        def message(kind, recipient, **kwargs):
            if kwargs.get("meeting") is not None and kwargs["meeting"].title == "broken":
                raise RuntimeError("template exploded")
            return real(kind, recipient, **kwargs)

        monkeypatch.setattr(outbox, "message", message)
        counts = sweeps.open_due_meetings(now)
        assert counts["opened"] == 3 and counts["failed"] == 1
        assert [state(m) for m in good] == ["open"] * 3 and state(bad) == "scheduled"
        assert "template exploded" in bad.last_error and bad.retry_at > now
        # Backing off: the next sweep before retry_at does not touch it (no crash loop) ...
        assert sweeps.open_due_meetings(now + SECOND) == Counter()
        # ... and once the cause is gone it opens, late and saying so.
        monkeypatch.setattr(outbox, "message", real)
        bad.refresh_from_db()
        assert sweeps.open_due_meetings(bad.retry_at)["opened"] == 1

    def test_a_provider_failure_at_close_never_blocks_the_close(self, booked, monkeypatch):
        from integrations.local.provider import LocalProvider

        run_sweeps(booked.start_time - dt.timedelta(hours=1))
        run_sweeps(booked.start_time)

        def down(self, meeting, *, now):
            from integrations.http import ProviderError

            raise ProviderError("503 from provider")

        monkeypatch.setattr(LocalProvider, "end_room", down)
        close_at = booked.end_time + 5 * MINUTE
        counts = run_sweeps(close_at)
        booked.refresh_from_db()
        assert booked.state == "closed" and booked.room_ended_at is None
        assert counts["end_rooms"]["failed"] == 1 and "503 from provider" in booked.last_error
        monkeypatch.undo()
        assert run_sweeps(booked.retry_at)["end_rooms"]["ended"] == 1
        booked.refresh_from_db()
        assert booked.room_ended_at is not None and booked.last_error == ""


def test_a_meeting_with_no_bookings_closes_with_no_revenue(meeting):
    run_sweeps(meeting.start_time)
    run_sweeps(meeting.end_time + 5 * MINUTE)
    meeting.refresh_from_db()
    assert meeting.state == "closed" and meeting.settled_at is not None
    assert not hasattr(meeting, "payout") or meeting.payout is None


def test_a_daylight_saving_change_day(teacher, alice):
    """2026-03-08: New York springs forward at 02:00. An 08:00 EDT class is 12:00Z (not 13:00Z as the day before)."""
    from core.timezones import local_to_utc

    start = local_to_utc(dt.datetime(2026, 3, 8, 8, 0), "America/New_York")
    assert start == dt.datetime(2026, 3, 8, 12, 0, tzinfo=dt.UTC)
    meeting = MeetingFactory(teacher=teacher, start_time=start, end_time=start + dt.timedelta(hours=1))
    book(alice, meeting, now=start - dt.timedelta(days=1))
    with time_machine.travel(dt.datetime(2026, 3, 8, 11, 50, tzinfo=dt.UTC), tick=False):
        run_sweeps()
    assert links("join_link") == {"sent": 1}
    with time_machine.travel(start - SECOND, tick=False):
        run_sweeps()
    assert state(meeting) == "scheduled"
    with time_machine.travel(start, tick=False):
        run_sweeps()
    assert state(meeting) == "open"
    teacher_message = Notification.objects.get(kind="class_open", teacher=teacher).payload["text"]
    assert "08:00 (America/New_York)" in teacher_message


def test_closing_a_scheduled_meeting_whose_time_passed_is_left_to_the_open_sweep(meeting):
    sweeps.close_due_meetings(meeting.end_time + 5 * MINUTE)
    assert state(meeting) == "scheduled"
    assert Meeting.objects.filter(state="scheduled").count() == 1


def test_a_student_who_books_after_the_join_link_moment_gets_it_at_once_without_a_catch_up_note(meeting, alice):
    from bookings.sweeps import send_join_links

    booked_at = meeting.start_time - 5 * MINUTE
    book(alice, meeting, now=booked_at)
    assert send_join_links(booked_at + 2 * SECOND)["sent"] == 1
    assert StateChange.objects.get(field="join_link_state").reason == ""


def test_ending_the_room_never_ends_a_session_before_it_started(meeting):
    from meetings.attendance import end_open_sessions, record_session

    joined = meeting.start_time + 2 * SECOND  # another service's clock ran a little ahead of ours
    record_session(meeting, source="local", session_key="k", identity="teacher:1", role="teacher", joined_at=joined)
    assert end_open_sessions(meeting, now=meeting.start_time, source="local") == 1
    assert meeting.participants.get().left_at == joined
