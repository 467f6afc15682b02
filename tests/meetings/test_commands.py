import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from core.models import StateChange, SweepHeartbeat
from meetings.models import Meeting
from tests.factories import MeetingFactory


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


class TestOpenAndClose:
    def test_open_meeting_is_a_manual_open_by_the_operator(self, meeting):
        with time_machine.travel(meeting.start_time - dt.timedelta(minutes=3), tick=False):
            output = run("open_meeting", str(meeting.pk))
        meeting.refresh_from_db()
        assert meeting.state == "open" and meeting.auto_opened is False
        assert "scheduled → open" in output
        entry = StateChange.objects.get(meeting=meeting, to_state="open")
        assert entry.actor_name.startswith("operator ") and entry.actor_id is None

    def test_repeating_it_says_already_open_and_changes_nothing(self, meeting):
        run("open_meeting", str(meeting.pk))
        assert "already open" in run("open_meeting", str(meeting.pk))
        assert StateChange.objects.filter(meeting=meeting, to_state="open").count() == 1

    def test_by_records_the_staff_user(self, meeting, staff):
        run("open_meeting", str(meeting.pk), "--by", "sam", "--reason", "teacher asked")
        entry = StateChange.objects.get(meeting=meeting, to_state="open")
        assert (entry.actor, entry.reason) == (staff, "teacher asked")

    def test_close_meeting(self, meeting, staff):
        run("open_meeting", str(meeting.pk))
        assert "open → closed" in run("close_meeting", str(meeting.pk), "--by", "sam")
        meeting.refresh_from_db()
        assert meeting.state == "closed" and meeting.auto_closed is False
        assert "already closed" in run("close_meeting", str(meeting.pk))

    @pytest.mark.parametrize("command", ["open_meeting", "close_meeting"])
    def test_an_unknown_id_is_a_clear_error(self, db, command):
        with pytest.raises(CommandError, match="no meeting with id '999'"):
            run(command, "999")
        with pytest.raises(CommandError, match="no meeting with id 'abc'"):
            run(command, "abc")

    def test_a_cancelled_meeting_is_a_clear_error(self, meeting):
        Meeting.objects.filter(pk=meeting.pk).update(state="cancelled")
        with pytest.raises(CommandError, match="is cancelled; it cannot become open"):
            run("open_meeting", str(meeting.pk))

    def test_an_unknown_staff_user_is_refused(self, meeting):
        with pytest.raises(CommandError, match="not a staff user"):
            run("open_meeting", str(meeting.pk), "--by", "nobody")

    def test_the_exit_code_is_not_zero(self, db):
        from tests.concurrency import manage

        process = manage("open_meeting", "424242")
        _, err = process.communicate(timeout=60)
        assert process.returncode != 0 and "no meeting with id '424242'" in err


class TestRunSweeps:
    def test_now_must_be_iso_with_an_offset(self, db):
        with pytest.raises(CommandError, match="not an ISO 8601 time"):
            run("run_sweeps", "--now", "yesterday")
        with pytest.raises(CommandError, match="has no offset"):
            run("run_sweeps", "--now", "2026-07-01T12:00:00")

    def test_it_runs_at_the_given_moment_and_records_a_heartbeat(self, meeting):
        output = run("run_sweeps", "--now", meeting.start_time.isoformat())
        assert "open_due_meetings: notifications 1, opened 1" in output
        assert SweepHeartbeat.objects.get(name="manual").last_started_at == meeting.start_time

    def test_only(self, meeting):
        output = run("run_sweeps", "--now", meeting.start_time.isoformat(), "--only", "provision_rooms")
        assert "provision_rooms" in output and "open_due_meetings" not in output
        meeting.refresh_from_db()
        assert meeting.state == "scheduled" and meeting.room_provisioned_at is not None


def test_lifecycle_stats(teacher, now):
    for lateness in (0, 2, 4):
        meeting = MeetingFactory(
            teacher=teacher, start_time=now - dt.timedelta(hours=2), end_time=now - dt.timedelta(hours=1)
        )
        run("open_meeting", str(meeting.pk), "--now", (meeting.start_time + dt.timedelta(seconds=lateness)).isoformat())
    Meeting.objects.update(auto_opened=True)
    with time_machine.travel(now, tick=False):
        output = run("lifecycle_stats", "--days", "2")
    today = [line for line in output.splitlines() if line.startswith("2026-07-01")][0]
    assert today.split()[:3] == ["2026-07-01", "3", "0"]
    assert "2.0s" in today and "4.0s" in today  # mean and max (p95 of three is the max)
    with pytest.raises(CommandError):
        run("lifecycle_stats", "--days", "0")


def test_setup_schedules_upserts_by_name(db):
    from django_q.models import Schedule

    assert "created: lifecycle-clock" in run("setup_schedules")
    Schedule.objects.create(name="lifecycle-clock", func="core.tasks.clock", schedule_type=Schedule.HOURLY)
    output = run("setup_schedules")
    assert "updated: lifecycle-clock" in output or "unchanged: lifecycle-clock" in output
    assert "unchanged: lifecycle-maintenance" in run("setup_schedules")
    assert Schedule.objects.filter(name="lifecycle-clock").count() == 1
    clock = Schedule.objects.get(name="lifecycle-clock")
    assert (clock.func, clock.schedule_type, clock.minutes, clock.repeats) == ("core.tasks.clock", "I", 1, -1)


def test_a_failing_sweep_makes_the_command_fail_and_the_next_sweeps_still_run(meeting, monkeypatch):
    from core import runner

    def broken(now):
        raise RuntimeError("disk full")

    monkeypatch.setitem(runner.SWEEPS, "provision_rooms", broken)
    out = StringIO()
    with pytest.raises(CommandError, match="1 sweep\\(s\\) failed"):
        call_command("run_sweeps", "--now", meeting.start_time.isoformat(), stdout=out)
    assert "open_due_meetings: notifications 1, opened 1" in out.getvalue()
