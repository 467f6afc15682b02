"""Every legal and illegal transition of the meeting machine, and what each one writes."""

import datetime as dt

import pytest

from bookings.models import Appointment, Booking
from core.errors import IllegalTransition, InvalidTime
from core.models import StateChange
from meetings import lifecycle, outside_calls
from meetings.models import Meeting
from notifications.models import Notification
from tests.factories import CourseFactory, book


def history(meeting, field="state"):
    return list(
        StateChange.objects.filter(meeting=meeting, content_type__model="meeting", field=field).values_list(
            "from_state", "to_state", "actor_name"
        )
    )


@pytest.fixture
def booked(meeting, alice, bob, now):
    book(alice, meeting, now=now)
    book(bob, meeting, now=now)
    return meeting


def test_it_opens_a_scheduled_meeting_and_tells_teacher_and_students(booked, staff, now):
    outcome = lifecycle.open_meeting(booked, now=booked.start_time, actor=staff)
    booked.refresh_from_db()
    assert outcome.changed and booked.state == "open"
    assert booked.opened_at == booked.start_time and booked.auto_opened is False
    assert history(booked) == [("scheduled", "open", "sam")]
    assert Notification.objects.filter(meeting=booked, kind="class_open").count() == 3


def test_opening_twice_is_already_done_and_writes_nothing(booked, now):
    lifecycle.open_meeting(booked, now=booked.start_time)
    again = lifecycle.open_meeting(booked, now=booked.start_time)
    assert again.already and "already open" in again.message
    assert len(history(booked)) == 1
    assert Notification.objects.filter(meeting=booked, kind="class_open").count() == 3


def test_a_system_open_is_automatic(booked):
    lifecycle.open_meeting(booked, now=booked.start_time + dt.timedelta(seconds=2))
    booked.refresh_from_db()
    assert booked.auto_opened is True and booked.open_lateness == dt.timedelta(seconds=2)


@pytest.mark.parametrize("state", ["closed", "cancelled"])
def test_it_refuses_to_open_a_finished_meeting(meeting, state):
    Meeting.objects.filter(pk=meeting.pk).update(state=state)
    with pytest.raises(IllegalTransition, match=f"is {state}"):
        lifecycle.open_meeting(meeting, now=meeting.start_time)


def test_the_teacher_joining_makes_an_open_meeting_in_progress(meeting):
    lifecycle.open_meeting(meeting, now=meeting.start_time)
    assert lifecycle.mark_in_progress(meeting, now=meeting.start_time).changed
    assert lifecycle.mark_in_progress(meeting, now=meeting.start_time).already
    assert history(meeting)[-1][:2] == ("open", "in_progress")


def test_a_teacher_join_event_before_opening_changes_nothing(meeting):
    outcome = lifecycle.mark_in_progress(meeting, now=meeting.start_time)
    meeting.refresh_from_db()
    assert not outcome.changed and meeting.state == "scheduled"


@pytest.mark.parametrize("via_in_progress", [False, True])
def test_it_closes_an_open_or_running_meeting(booked, staff, via_in_progress, django_capture_on_commit_callbacks):
    lifecycle.open_meeting(booked, now=booked.start_time)
    if via_in_progress:
        lifecycle.mark_in_progress(booked, now=booked.start_time)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = lifecycle.close_meeting(booked, now=booked.end_time, actor=staff)
    booked.refresh_from_db()
    assert outcome.changed and booked.state == "closed" and booked.auto_closed is False
    assert set(Booking.objects.filter(meeting=booked).values_list("status", flat=True)) == {"completed"}
    assert booked.settled_at is not None  # the close path's settlement ran after commit
    assert lifecycle.close_meeting(booked, now=booked.end_time, actor=staff).already


@pytest.mark.parametrize("state", ["scheduled", "cancelled"])
def test_it_refuses_to_close_a_meeting_that_is_not_running(meeting, state):
    Meeting.objects.filter(pk=meeting.pk).update(state=state)
    with pytest.raises(IllegalTransition):
        lifecycle.close_meeting(meeting, now=meeting.end_time)


@pytest.mark.parametrize("opened", [False, True])
def test_cancelling_refunds_every_booking_and_tells_everyone(booked, staff, opened):
    if opened:
        lifecycle.open_meeting(booked, now=booked.start_time)
    outcome = lifecycle.cancel_meeting(booked, now=booked.start_time, actor=staff, reason="teacher is ill")
    booked.refresh_from_db()
    assert outcome.changed and booked.state == "cancelled" and booked.seats_taken == 0
    assert set(Booking.objects.filter(meeting=booked).values_list("status", flat=True)) == {"refunded"}
    assert Notification.objects.filter(meeting=booked, kind="class_cancelled").count() == 3
    assert set(Appointment.objects.filter(meeting=booked).values_list("join_link_state", flat=True)) == {"skipped"}
    assert lifecycle.cancel_meeting(booked, now=booked.start_time, actor=staff, reason="again").already


def test_a_closed_meeting_cannot_be_cancelled(meeting):
    Meeting.objects.filter(pk=meeting.pk).update(state="closed")
    with pytest.raises(IllegalTransition):
        lifecycle.cancel_meeting(meeting, now=meeting.end_time, reason="too late")


def test_state_cannot_be_saved_directly(meeting):
    meeting.state = "open"
    with pytest.raises(ValueError, match="changes only through its transitions"):
        meeting.save()
    meeting.refresh_from_db()
    assert meeting.state == "scheduled"


class TestScheduling:
    def test_it_schedules_with_a_history_row(self, teacher, now):
        course = CourseFactory(capacity=5)
        meeting = lifecycle.schedule_meeting(
            teacher=teacher,
            course=course,
            title="",
            now=now,
            start_time=now + dt.timedelta(hours=1),
            end_time=now + dt.timedelta(hours=2),
        )
        assert meeting.title == course.title and meeting.capacity == 5
        assert history(meeting) == [("", "scheduled", "system")]

    @pytest.mark.parametrize(
        ("start", "end", "field", "message"),
        [
            (dt.datetime(2026, 7, 1, 13, 0), dt.datetime(2026, 7, 1, 14, 0), "start_time", "no time zone offset"),
            ("+2h", "+1h", "end_time", "after start_time"),
            ("-1h", "+1h", "start_time", "in the past"),
            ("+1h", "+6h", "end_time", "at most 240 minutes"),
        ],
    )
    def test_it_refuses_bad_times(self, teacher, now, start, end, field, message):
        def at(value):
            return now + dt.timedelta(hours=int(value[:-1])) if isinstance(value, str) else value

        with pytest.raises(InvalidTime, match=message) as error:
            lifecycle.schedule_meeting(
                teacher=teacher, course=CourseFactory(), title="x", now=now, start_time=at(start), end_time=at(end)
            )
        assert error.value.field == field

    def test_editing_moves_the_links_with_the_times(self, booked, now):
        new_start = booked.start_time + dt.timedelta(hours=3)
        lifecycle.edit_meeting(booked, now=now, start_time=new_start, end_time=new_start + dt.timedelta(hours=1))
        appointment = Appointment.objects.filter(meeting=booked).first()
        assert appointment.join_link_due_at == new_start - dt.timedelta(minutes=10)
        assert history(booked, field="start_time")

    def test_an_open_meeting_cannot_be_edited(self, meeting, now):
        lifecycle.open_meeting(meeting, now=meeting.start_time)
        with pytest.raises(IllegalTransition, match="only a scheduled meeting"):
            lifecycle.edit_meeting(meeting, now=now, title="new")

    def test_capacity_cannot_drop_below_the_booked_seats(self, booked, now):
        with pytest.raises(IllegalTransition, match="2 seats already booked"):
            lifecycle.edit_meeting(booked, now=now, capacity=1)


def test_rescheduling_a_meeting_with_a_room_provisions_a_new_one(meeting, now):
    from meetings.rooms import provision_rooms

    provision_rooms(meeting.start_time - dt.timedelta(minutes=30))
    meeting.refresh_from_db()
    old_room = meeting.room_name
    later = meeting.start_time + dt.timedelta(days=1)
    lifecycle.edit_meeting(meeting, now=now, start_time=later, end_time=later + dt.timedelta(hours=1))
    meeting.refresh_from_db()
    assert meeting.room_provisioned_at is None and meeting.room_name == ""
    entry = StateChange.objects.get(meeting=meeting, field="start_time")
    assert entry.data["replaced_room"] == old_room
    provision_rooms(later - dt.timedelta(minutes=30))
    meeting.refresh_from_db()
    assert meeting.room_name and meeting.room_name != old_room


def test_one_steps_success_does_not_hide_another_steps_failure(meeting, now):
    from meetings.outside_calls import give_back as _succeeded_many

    outside_calls.record_failure(meeting.pk, now=now, step="end room", error="503")
    _succeeded_many([meeting.pk], "settle")
    meeting.refresh_from_db()
    assert meeting.last_error == "end room: 503" and meeting.retry_at is not None
    _succeeded_many([meeting.pk], "end room")
    meeting.refresh_from_db()
    assert meeting.last_error == "" and meeting.retry_at is None and meeting.failure_count == 0


def test_lifecycle_has_no_unused_lease():
    """The lease of an outside call is ``meetings.outside_calls.OUTSIDE_CALL_LEASE``; a second, unused one in
    lifecycle misled readers about how long a worker holds a meeting (hardening item 19)."""
    assert not hasattr(lifecycle, "LEASE")
    assert outside_calls.OUTSIDE_CALL_LEASE.total_seconds() > 0


class TestReschedulingTellsPeople:
    """Hardening item 11: a moved class tells its booked students and its teacher, in their language and zone."""

    @pytest.fixture
    def classroom(self, meeting, alice, bob, now):
        from bookings.transitions import cancel_booking
        from tests.factories import StudentFactory

        alice.language = "vi"
        alice.save()
        bob.language = "zh-hant"  # in Asia/Taipei
        bob.save()
        book(alice, meeting, now=now)
        book(bob, meeting, now=now)
        book(StudentFactory(display_name="Dave"), meeting, now=now, confirm=False)  # not paid yet: not booked
        erin = book(StudentFactory(display_name="Erin"), meeting, now=now)
        cancel_booking(erin, now=now, enforce_cutoff=False)
        return meeting

    def told(self, meeting):
        rows = Notification.objects.filter(meeting=meeting, kind="class_rescheduled").order_by("id")
        return [
            (row.student.display_name if row.student else row.teacher.display_name, row.payload["text"]) for row in rows
        ]

    def move(self, meeting, now, start):
        return lifecycle.edit_meeting(meeting, now=now, start_time=start, end_time=start + dt.timedelta(hours=1))

    def test_the_booked_students_and_the_teacher_are_told_the_new_time_in_their_language_and_zone(self, classroom, now):
        self.move(classroom, now, dt.datetime(2026, 7, 2, 13, 0, tzinfo=dt.UTC))
        assert self.told(classroom) == [
            (
                "Charlie",
                "Your class 'IELTS Practice' has moved: it is now on 2026-07-02 at 09:00 (America/New_York), "
                "until 10:00.",
            ),
            (
                "Alice",
                "Lớp 'IELTS Practice' đã đổi lịch: nay vào ngày 2026-07-02 lúc 20:00 (Asia/Ho_Chi_Minh), đến 21:00.",
            ),
            ("Bob", "您的課程「IELTS Practice」已改期：新時間為 2026-07-02 21:00（Asia/Taipei），至 22:00。"),
        ]

    def test_a_second_move_tells_again_and_a_replayed_edit_does_not(self, classroom, now):
        tomorrow = dt.datetime(2026, 7, 2, 13, 0, tzinfo=dt.UTC)
        self.move(classroom, now, tomorrow)
        self.move(classroom, now, tomorrow)  # the same edit again (a retried request): nothing changed
        assert len(self.told(classroom)) == 3
        self.move(classroom, now, tomorrow + dt.timedelta(hours=2))
        told = self.told(classroom)
        assert len(told) == 6 and "at 11:00 (America/New_York)" in told[3][1]
        self.move(classroom, now, tomorrow)  # back to the first new time: a move like any other, told again
        assert len(self.told(classroom)) == 9

    def test_an_edit_of_the_title_or_capacity_alone_tells_nobody(self, classroom, now):
        lifecycle.edit_meeting(classroom, now=now, title="IELTS Speaking", capacity=8)
        assert self.told(classroom) == []
        classroom.refresh_from_db()
        assert classroom.title == "IELTS Speaking"

    def test_a_later_end_alone_is_a_move_too(self, classroom, now):
        lifecycle.edit_meeting(classroom, now=now, end_time=classroom.end_time + dt.timedelta(minutes=30))
        told = self.told(classroom)
        assert len(told) == 3 and "until 10:30" in told[0][1]


def test_a_transition_locks_only_its_own_row(meeting, alice, now):
    """``transition()`` reads the current state under a row lock. Booking's default ordering goes through its meeting,
    so an unordered ``.first()`` joined the meeting and ``FOR NO KEY UPDATE`` locked the meeting row too: a booking
    transition then queued behind (and could deadlock with) any transaction holding the meeting."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bookings import transitions as booking_transitions

    booking = book(alice, meeting, now=now)
    with CaptureQueriesContext(connection) as queries:
        booking_transitions.cancel_booking(booking, now=now, actor="operator", enforce_cutoff=False)
    locking = [q["sql"] for q in queries if q["sql"].startswith('SELECT "bookings_booking"."status"')]
    assert locking, [q["sql"] for q in queries]
    assert all("JOIN" not in sql for sql in locking), locking
