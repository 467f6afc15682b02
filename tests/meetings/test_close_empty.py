"""Empty classes end early (issue 17, item 1): a class no booked student has joined by start + the late-join grace is
closed then, through the normal close ("no student joined"), its teacher told in their language and zone, its room
ended and its attendance settled as usual. Driven from outside: ``run_sweeps --now``, time-machine, the clock, the
local room page and the LiveKit and Zoom fakes. Runs with real commits on PostgreSQL (tests/conftest.py REAL_COMMITS).
"""

import datetime as dt
from collections import Counter
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from bookings.links import join_url
from bookings.models import Appointment, Booking, Payout
from classroom import policies
from core.clock import run_clock
from core.models import StateChange
from core.runner import run_sweeps
from meetings import sweeps
from meetings.access import credentials_for
from meetings.attendance import record_session
from meetings.lifecycle import NO_STUDENT_JOINED
from meetings.models import Meeting, MeetingParticipant
from notifications.delivery import deliver_notifications
from notifications.models import Notification
from tests.factories import CourseFactory, MeetingFactory, TeacherFactory, book
from tests.integrations.test_video_lifecycle import enter, video  # noqa: F401 (video: the LiveKit/Zoom fixture)
from tests.meetings.test_clock import FakeTime

SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)
GRACE = 10 * MINUTE  # the default late-join grace


@pytest.fixture
def vi_teacher(db):
    return TeacherFactory(display_name="Thầy Minh", language="vi", time_zone="Asia/Ho_Chi_Minh")


@pytest.fixture
def booked(vi_teacher, alice, bob, now):
    """Minh's class 13:00–14:00 UTC (20:00 in Ho Chi Minh City) with Alice's and Bob's confirmed seats."""
    meeting = MeetingFactory(
        teacher=vi_teacher,
        title="IELTS Practice",
        start_time=now + dt.timedelta(hours=1),
        end_time=now + dt.timedelta(hours=2),
    )
    book(alice, meeting, now=now)
    book(bob, meeting, now=now)
    return meeting


def sweep_command(moment) -> str:
    """``manage.py run_sweeps --now <moment>`` with the clock of the process at that moment too."""
    out = StringIO()
    with time_machine.travel(moment, tick=False):
        call_command("run_sweeps", "--now", moment.isoformat(), stdout=out)
    return out.getvalue()


def fresh(meeting) -> Meeting:
    return Meeting.objects.select_related("teacher", "course").get(pk=meeting.pk)


def closes(meeting):
    return list(
        StateChange.objects.filter(meeting=meeting, content_type__model="meeting", field="state", to_state="closed")
    )


class TestEndToEnd:
    def test_a_class_nobody_joined_is_closed_at_start_plus_grace(self, client, booked, vi_teacher, alice, staff):
        start = booked.start_time
        sweep_command(start - 60 * MINUTE)  # the room is made
        sweep_command(start)  # the class opens
        link = join_url(Appointment.objects.get(student=alice).pk).removeprefix("http://127.0.0.1:8000")
        # The teacher enters their local room page five minutes early and keeps it open (its heartbeats).
        with time_machine.travel(start - 5 * MINUTE, tick=False):
            page = credentials_for(fresh(booked), vi_teacher, "teacher", start - 5 * MINUTE).url
            assert client.get(page.removeprefix("http://127.0.0.1:8000")).status_code == 200
        moment = start - 5 * MINUTE
        while moment < start + GRACE:
            moment += 20 * SECOND
            with time_machine.travel(moment, tick=False):
                client.post(page.removeprefix("http://127.0.0.1:8000"), {"action": "heartbeat"})
        assert fresh(booked).state == Meeting.State.IN_PROGRESS

        sweep_command(start + GRACE - SECOND)
        assert fresh(booked).state == Meeting.State.IN_PROGRESS, "a second before the grace ends: still open"

        printed = sweep_command(start + GRACE)
        assert "close_empty_meetings: closed 1" in printed
        meeting = fresh(booked)
        assert (meeting.state, meeting.closed_at, meeting.auto_closed) == ("closed", start + GRACE, True)
        [row] = closes(meeting)
        assert row.reason.startswith(f"{NO_STUDENT_JOINED}: joining closed at 13:10 UTC (late-join grace 10 min")
        assert row.data["joining_closed_at"] == (start + GRACE).isoformat()
        # The room was ended in the same run: the teacher's session ends at the close.
        assert meeting.room_ended_at == start + GRACE
        session = MeetingParticipant.objects.get(meeting=meeting, role="teacher")
        assert session.left_at == start + GRACE
        # The teacher is told once, in Vietnamese, with the times in Ho Chi Minh City; not the ordinary close message.
        [told] = Notification.objects.filter(meeting=meeting, teacher=vi_teacher).exclude(kind="class_open")
        assert told.kind == "class_closed_empty" and told.state == "sent"
        assert "IELTS Practice" in told.payload["text"] and "20:10" in told.payload["text"]
        assert "2026-07-01 20:00, Asia/Ho_Chi_Minh" in told.payload["text"]
        assert "Không có học viên" in told.payload["text"]
        # Settlement as usual: the teacher waited 10 minutes from the start (present); the students are no-shows.
        assert (meeting.attendance_verdict, meeting.teacher_attended_seconds) == ("present", 600)
        assert set(Booking.objects.values_list("status", flat=True)) == {"no_show"}
        assert Payout.objects.get(meeting=meeting).state == Payout.State.PENDING
        assert not meeting.requires_manual_review
        # Nobody came, so nobody is asked for feedback; the join link says the class has ended.
        assert set(Appointment.objects.values_list("feedback_link_state", "feedback_link_note")) == {
            ("skipped", "class closed early: no student joined")
        }
        assert not Notification.objects.filter(kind="feedback_link").exists()
        reply = client.get(link)
        assert reply.status_code == 410 and "This class has ended." in reply.content.decode()
        # Staff see the reason in the class's history in the admin.
        client.force_login(staff)
        page = client.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).content.decode()
        assert "no student joined: joining closed at 13:10 UTC" in page

    def test_a_class_the_teacher_and_students_all_missed_goes_to_review(self, booked):
        start = booked.start_time
        for moment in (start - 60 * MINUTE, start, start + GRACE):
            sweep_command(moment)
        meeting = fresh(booked)
        assert meeting.state == "closed" and closes(meeting)[0].reason.startswith(NO_STUDENT_JOINED)
        assert meeting.attendance_verdict == "absent"
        assert (meeting.requires_manual_review, meeting.review_state) == (True, "awaiting")
        assert Payout.objects.get(meeting=meeting).state == Payout.State.HELD
        assert Notification.objects.filter(kind="teacher_no_show").count() == 1

    @pytest.mark.parametrize(("came", "verdict"), [(-5 * MINUTE, "present"), (8 * MINUTE, "absent")])
    def test_the_teacher_s_minimum_is_at_most_the_time_the_class_could_be_held(self, booked, set_policy, came, verdict):
        """The policy asks 15 minutes of the teacher, but the class closed 10 minutes after its start: a teacher
        there from the start is present; one who came 2 minutes before the close is not, and goes to review."""
        set_policy(teacher_min_attendance_seconds=900)
        start = booked.start_time
        run_sweeps(start - 60 * MINUTE)
        record_session(
            fresh(booked),
            source="local",
            session_key="teacher",
            identity=f"teacher:{booked.teacher_id}",
            role=MeetingParticipant.Role.TEACHER,
            joined_at=start + came,
            teacher=booked.teacher,
        )
        run_sweeps(start)
        run_sweeps(start + GRACE)
        meeting = fresh(booked)
        assert meeting.closed_early and meeting.attendance_verdict == verdict
        assert meeting.attendance_evidence["threshold_seconds"] == 600
        assert meeting.requires_manual_review is (verdict == "absent")

    def test_running_the_sweep_again_does_nothing(self, booked):
        start = booked.start_time
        for moment in (start - 60 * MINUTE, start, start + GRACE):
            run_sweeps(moment)
        history, messages = StateChange.objects.count(), Notification.objects.count()
        again = run_sweeps(start + GRACE)
        assert again["close_empty_meetings"] == {}
        assert sweeps.close_empty_meetings(start + GRACE + MINUTE) == {}
        assert (StateChange.objects.count(), Notification.objects.count()) == (history, messages)
        assert len(closes(booked)) == 1


class TestNotEarly:
    def test_a_class_a_student_joined_runs_to_its_end(self, client, booked, alice):
        start = booked.start_time
        run_sweeps(start - 60 * MINUTE)
        run_sweeps(start)
        # Alice enters the room page one second before the grace ends, then drops out at once.
        moment = start + GRACE - SECOND
        with time_machine.travel(moment, tick=False):
            page = credentials_for(fresh(booked), alice, "student", moment).url.removeprefix("http://127.0.0.1:8000")
            assert client.get(page).status_code == 200
            client.post(page, {"action": "leave"})
        for moment in (start + GRACE, start + 30 * MINUTE, booked.end_time):
            assert run_sweeps(moment)["close_empty_meetings"] == {}
        assert fresh(booked).state == "open"
        run_sweeps(booked.end_time + 5 * MINUTE)
        [row] = closes(booked)
        assert row.reason == "closed 5 minutes after the end"
        assert Notification.objects.filter(kind="class_closed").count() == 1
        assert not Notification.objects.filter(kind="class_closed_empty").exists()

    def test_a_class_whose_room_was_never_made_is_not_closed_early(self, booked):
        """The video service was down from provisioning on: nobody could have joined, so nobody is a no-show for not
        joining; the class closes at its close moment as before."""
        from meetings.sweeps import close_empty_meetings, open_due_meetings

        open_due_meetings(booked.start_time)  # no provisioning pass: the room was never made
        assert fresh(booked).room_provisioned_at is None
        assert close_empty_meetings(booked.start_time + GRACE) == Counter()
        assert fresh(booked).state == "open"

    def test_a_guest_the_provider_could_not_match_counts_as_someone(self, booked):
        """A Zoom guest under another name may be a booked student: the class is not closed on them."""
        run_sweeps(booked.start_time)
        record_session(
            booked,
            source="zoom_webhook",
            session_key="guest-1",
            identity="zoom:guest",
            role=MeetingParticipant.Role.OTHER,
            joined_at=booked.start_time + MINUTE,
        )
        assert sweeps.close_empty_meetings(booked.start_time + GRACE) == {}
        assert fresh(booked).state == "open"

    def test_the_switch_off_keeps_todays_behaviour(self, booked, set_policy):
        set_policy(close_empty_classes_early=False)
        start = booked.start_time
        for moment in (start, start + GRACE, start + 30 * MINUTE, booked.end_time + 5 * MINUTE - SECOND):
            assert run_sweeps(moment)["close_empty_meetings"] == {}
            assert fresh(booked).state == "open"
        run_sweeps(booked.end_time + 5 * MINUTE)
        assert [row.reason for row in closes(booked)] == ["closed 5 minutes after the end"]
        assert Notification.objects.filter(kind="class_closed").count() == 1

    def test_a_student_s_first_entry_after_the_grace_is_still_refused(self, client, booked, alice):
        """The join rules are unchanged: at start + grace the door is shut, and the class is closed."""
        run_sweeps(booked.start_time - 60 * MINUTE)
        run_sweeps(booked.start_time)
        moment = booked.start_time + GRACE
        with time_machine.travel(moment, tick=False):
            page = credentials_for(fresh(booked), alice, "student", moment - SECOND)
        run_sweeps(moment)
        with time_machine.travel(moment, tick=False):
            reply = client.get(page.url.removeprefix("http://127.0.0.1:8000"))
        assert reply.status_code == 403
        assert not MeetingParticipant.objects.filter(role="student").exists()


class TestPolicyVersions:
    def test_each_class_follows_its_own_versions_grace(self, vi_teacher, alice, now):
        """A course with its own 20-minute grace: its class closes at start + 20, the school's at start + 10."""
        start = now + dt.timedelta(hours=1)
        slow = CourseFactory(title="Slow course")
        policies.create_version({"student_late_join_grace_minutes": 20}, note="latecomers", now=now, course=slow)
        school = MeetingFactory(teacher=vi_teacher, start_time=start, end_time=start + dt.timedelta(hours=1))
        late = MeetingFactory(teacher=vi_teacher, course=slow, start_time=start, end_time=start + dt.timedelta(hours=1))
        for meeting in (school, late):
            book(alice, meeting, now=now)
        run_sweeps(start)
        assert fresh(late).rules.student_late_join_grace_minutes == 20
        run_sweeps(start + GRACE)
        assert (fresh(school).state, fresh(late).state) == ("closed", "open")
        run_sweeps(start + 20 * MINUTE - SECOND)
        assert fresh(late).state == "open"
        run_sweeps(start + 20 * MINUTE)
        late = fresh(late)
        assert late.state == "closed" and late.closed_at == start + 20 * MINUTE
        assert f"late-join grace 20 min, policy v{late.policy_id})" in closes(late)[0].reason
        # The teacher's message says when joining closed for that class (20:20 in Ho Chi Minh City).
        assert "20:20" in Notification.objects.get(meeting=late, kind="class_closed_empty").payload["text"]

    def test_a_course_can_switch_it_off_for_its_own_classes(self, vi_teacher, now):
        start = now + dt.timedelta(hours=1)
        kept = CourseFactory(title="Office hours")
        policies.create_version({"close_empty_classes_early": False}, note="drop-in", now=now, course=kept)
        school = MeetingFactory(teacher=vi_teacher, start_time=start, end_time=start + dt.timedelta(hours=1))
        office = MeetingFactory(
            teacher=vi_teacher, course=kept, start_time=start, end_time=start + dt.timedelta(hours=1)
        )
        run_sweeps(start)
        run_sweeps(start + GRACE)
        assert (fresh(school).state, fresh(office).state) == ("closed", "open")


def test_the_clock_closes_it_within_a_tick_of_the_grace_end(booked):
    """The clock (core.clock) polls the early close every second, like the normal close."""
    run_sweeps(booked.start_time)
    fake = FakeTime(booked.start_time + GRACE - 3 * SECOND)
    counts = run_clock(seconds=6, tick=1.0, now=fake.now, sleep=fake.sleep, monotonic=fake.monotonic)
    assert counts["close_empty_meetings.closed"] == 1
    meeting = fresh(booked)
    assert meeting.state == "closed"
    assert dt.timedelta(0) <= meeting.closed_at - (booked.start_time + GRACE) <= SECOND
    # The teacher's message is written with the close; delivery has a clock of its own, which sends it.
    message = Notification.objects.get(kind="class_closed_empty")
    assert message.state == "pending"
    assert deliver_notifications(fake.now())["sent"] >= 1
    message.refresh_from_db()
    assert message.state == "sent"


def test_the_providers_room_is_ended_and_the_waiting_teacher_paid(client, video, booked, vi_teacher):  # noqa: F811
    """On LiveKit and on Zoom (their fakes): the teacher who waited is removed from the room when it closes early,
    and their attendance, from the provider's evidence, makes them present."""
    start = booked.start_time
    with time_machine.travel(start - 60 * MINUTE, tick=False):
        run_sweeps(start - 60 * MINUTE)
    booked.refresh_from_db()
    assert booked.room_provider == video.name and video.room_exists(booked)
    with time_machine.travel(start - 5 * MINUTE, tick=False):
        seen = len(video.fake.events)
        enter(credentials_for(booked, vi_teacher, "teacher", start - 5 * MINUTE).url)
        video.deliver_webhooks(client, seen)
    with time_machine.travel(start, tick=False):
        run_sweeps(start)
    assert video.present(booked), "the teacher is in the room"

    with time_machine.travel(start + GRACE, tick=False):
        counts = run_sweeps(start + GRACE)
    assert counts["close_empty_meetings"]["closed"] == 1 and counts["end_rooms"]["ended"] == 1
    meeting = fresh(booked)
    assert meeting.state == "closed" and closes(meeting)[0].reason.startswith(NO_STUDENT_JOINED)
    assert meeting.room_ended_at == start + GRACE
    assert not video.present(meeting), "nobody is left in the room"
    assert meeting.attendance_verdict == "present"
    assert set(Booking.objects.values_list("status", flat=True)) == {"no_show"}
