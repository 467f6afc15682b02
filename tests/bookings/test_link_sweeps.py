"""The join and feedback link sweeps: a failing link backs off on its own appointment, and a moved class gets its
links again at the new times."""

import datetime as dt
from collections import Counter

import pytest
from django.db import connection

from bookings import links, transitions
from bookings.models import Appointment, Booking
from bookings.sweeps import _due, _send_or_skip, send_feedback_links, send_join_links
from core.models import StateChange
from meetings import lifecycle
from meetings.models import Meeting
from meetings.rooms import end_rooms, provision_rooms
from meetings.settlement import settle_closed_meetings
from notifications.models import Notification
from tests.factories import book

SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture
def booked(meeting, alice, bob, now):
    book(alice, meeting, now=now)
    book(bob, meeting, now=now)
    return meeting


def broken_for(monkeypatch, name, appointment):
    """``bookings.links.<name>`` raises for ``appointment`` only (signing its link fails), until ``fixed()``."""
    real = getattr(links, name)
    broken = {"on": True}

    def url(appointment_id):
        if broken["on"] and appointment_id == appointment.pk:
            raise RuntimeError("cannot sign this link")
        return real(appointment_id)

    monkeypatch.setattr(links, name, url)
    return lambda: broken.update(on=False)


def messages(kind, student):
    return list(
        Notification.objects.filter(kind=kind, student=student).order_by("id").values_list("payload", flat=True)
    )


class TestALinkFailureBacksOffOnItsAppointment:
    @pytest.mark.django_db(transaction=True)  # the sweep commits on its own
    def test_a_failing_join_link_leaves_the_meeting_alone_and_backs_off_itself(self, booked, alice, bob, monkeypatch):
        alices = Appointment.objects.get(student=alice)
        fixed = broken_for(monkeypatch, "join_url", alices)
        at = booked.start_time - 10 * MINUTE

        assert send_join_links(at) == Counter({"sent": 1, "failed": 1})
        meeting = Meeting.objects.get(pk=booked.pk)
        assert (meeting.retry_at, meeting.last_error, meeting.failure_count) == (None, "", 0)
        # The room is still made on time: the meeting's own sweeps do not wait for a student's link.
        assert provision_rooms(at) == Counter({"provisioned": 1})
        alices.refresh_from_db()
        assert alices.join_link_state == "pending"
        assert alices.link_retry_at == at + 15 * SECOND and alices.link_failure_count == 1
        assert alices.link_last_error == "join link: cannot sign this link"
        assert len(messages("join_link", bob)) == 1 and messages("join_link", alice) == []

        assert send_join_links(at) == Counter(), "a second run in the same second leaves it waiting"
        assert send_join_links(at + 15 * SECOND) == Counter({"failed": 1})
        alices.refresh_from_db()
        assert alices.link_retry_at == at + 45 * SECOND and alices.link_failure_count == 2, "exponential"

        fixed()
        assert send_join_links(at + 45 * SECOND) == Counter({"sent": 1})
        assert send_join_links(at + 45 * SECOND) == Counter()
        alices.refresh_from_db()
        assert alices.join_link_state == "sent"
        assert (alices.link_retry_at, alices.link_failure_count, alices.link_last_error) == (None, 0, "")
        assert len(messages("join_link", alice)) == 1
        assert Meeting.objects.get(pk=booked.pk).failure_count == 0

    def test_a_failing_feedback_link_does_not_hold_up_ending_the_room_or_settling(self, booked, alice, monkeypatch):
        alices = Appointment.objects.get(student=alice)
        broken_for(monkeypatch, "feedback_url", alices)
        provision_rooms(booked.start_time - 30 * MINUTE)
        lifecycle.open_meeting(booked, now=booked.start_time)
        closed_at = booked.close_at
        lifecycle.close_meeting(booked, now=closed_at)  # the feedback sweep had not run: its links are still due

        assert send_feedback_links(closed_at) == Counter({"sent": 1, "failed": 1})
        assert send_feedback_links(closed_at) == Counter()
        assert end_rooms(closed_at) == Counter({"ended": 1})
        assert sum(settle_closed_meetings(closed_at).values()) == 1
        meeting = Meeting.objects.get(pk=booked.pk)
        assert meeting.room_ended_at == closed_at and meeting.settled_at == closed_at and meeting.retry_at is None
        alices.refresh_from_db()
        assert alices.feedback_link_state == "pending" and alices.link_last_error.startswith("feedback link: ")

    def test_a_join_link_backing_off_does_not_delay_the_feedback_link(self, booked, alice, monkeypatch):
        alices = Appointment.objects.get(student=alice)
        broken_for(monkeypatch, "join_url", alices)
        send_join_links(booked.start_time - 10 * MINUTE)
        lifecycle.open_meeting(booked, now=booked.start_time)
        # The join link failed again just before the feedback moment, so it is waiting out a backoff right then.
        feedback_at = booked.end_time - 10 * MINUTE
        Appointment.objects.filter(pk=alices.pk).update(link_retry_at=feedback_at + MINUTE)
        assert send_feedback_links(feedback_at) == Counter({"sent": 2})


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("which", "index"), [("join_link", "appointment_due_join"), ("feedback_link", "appointment_due_feedback")]
)
def test_the_due_lookups_still_read_their_partial_index(booked, now, which, index):
    queryset = _due(which, now)()
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan


class TestAMovedClassGetsItsLinksAgain:
    def test_a_sent_join_link_is_due_again_at_the_new_time_and_sent_once(self, booked, alice, bob, now):
        first_moment = booked.start_time - 10 * MINUTE
        assert send_join_links(first_moment) == Counter({"sent": 2})
        new_start = booked.start_time + dt.timedelta(days=1, hours=2)
        lifecycle.edit_meeting(
            booked, now=first_moment + MINUTE, start_time=new_start, end_time=new_start + dt.timedelta(hours=1)
        )

        appointment = Appointment.objects.get(student=alice)
        new_moment = new_start - 10 * MINUTE
        assert (appointment.join_link_state, appointment.join_link_due_at) == ("pending", new_moment)
        assert appointment.join_link_at is None and appointment.join_link_note == ""
        entry = StateChange.objects.filter(content_type__model="appointment", object_id=appointment.pk).last()
        assert (entry.field, entry.from_state, entry.to_state) == ("join_link_state", "sent", "pending")
        assert entry.reason == "rescheduled: due again at the new time"

        assert send_join_links(new_moment - SECOND) == Counter()
        assert send_join_links(new_moment) == Counter({"sent": 2})
        assert send_join_links(new_moment) == Counter()
        texts = [payload["text"] for payload in messages("join_link", alice)]
        assert len(texts) == 2
        assert "starts at 20:00 (Asia/Ho_Chi_Minh)" in texts[0]
        assert "starts at 22:00 (Asia/Ho_Chi_Minh)" in texts[1]
        assert len(messages("join_link", bob)) == 2

    def test_two_sweeps_after_a_move_still_send_one_link(self, booked, alice):
        send_join_links(booked.start_time - 10 * MINUTE)
        new_start = booked.start_time + dt.timedelta(hours=5)
        lifecycle.edit_meeting(
            booked, now=booked.start_time - 9 * MINUTE, start_time=new_start, end_time=new_start + MINUTE * 60
        )
        new_moment = new_start - 10 * MINUTE
        # Two workers that both read the link as due (before either marked it sent) both get to the outbox.
        appointment = Appointment.objects.select_related("booking", "student", "meeting").get(student=alice)
        for _ in range(2):
            _send_or_skip("join_link", [appointment], new_moment, lambda a: None, links.join_url)
        assert len(messages("join_link", alice)) == 2  # the first class time's link and one for the new time

    def test_a_link_skipped_because_the_booking_ended_stays_skipped(self, booked, alice, bob, now):
        transitions.cancel_booking(Booking.objects.get(student=bob), now=now, enforce_cutoff=False)
        new_start = booked.start_time + dt.timedelta(days=1)
        lifecycle.edit_meeting(booked, now=now, start_time=new_start, end_time=new_start + dt.timedelta(hours=1))
        bobs = Appointment.objects.get(student=bob)
        assert (bobs.join_link_state, bobs.feedback_link_state) == ("skipped", "skipped")
        assert send_join_links(new_start - 10 * MINUTE) == Counter({"sent": 1})
        assert messages("join_link", bob) == []

    def test_a_join_link_skipped_because_of_the_old_times_is_due_again(self, booked, alice):
        # The class could not open (its opening kept failing), so its join window passed while it was scheduled.
        assert send_join_links(booked.start_time + 11 * MINUTE) == Counter({"skipped": 2})
        new_start = booked.start_time + dt.timedelta(days=1)
        lifecycle.edit_meeting(
            booked, now=booked.start_time + 12 * MINUTE, start_time=new_start, end_time=new_start + 60 * MINUTE
        )
        assert set(Appointment.objects.values_list("join_link_state", flat=True)) == {"pending"}
        assert send_join_links(new_start - 10 * MINUTE) == Counter({"sent": 2})

    def test_a_join_link_whose_time_did_not_move_is_not_sent_again(self, booked, alice):
        send_join_links(booked.start_time - 10 * MINUTE)
        lifecycle.edit_meeting(
            booked, now=booked.start_time - 9 * MINUTE, end_time=booked.end_time + 30 * MINUTE, title="Longer"
        )
        appointment = Appointment.objects.get(student=alice)
        assert appointment.join_link_state == "sent"
        assert appointment.feedback_link_due_at == booked.end_time + 20 * MINUTE


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_move_racing_the_join_link_sweep_never_leaves_the_old_link_as_the_last_word(teacher, now):
    """Whichever wins, the link ends pending at the new time: sent first (old times) and then due again, or moved
    first and not sent yet. Several rounds, so both orders occur."""
    from tests.concurrency import race
    from tests.factories import MeetingFactory, StudentFactory

    for n in range(6):
        start = now + dt.timedelta(hours=1 + n)
        meeting = MeetingFactory(teacher=teacher, start_time=start, end_time=start + dt.timedelta(hours=1))
        alice = StudentFactory(display_name=f"Alice {n}")
        book(alice, meeting, now=now)
        moment = start - 10 * MINUTE
        new_start = start + dt.timedelta(days=1)
        results = race(
            lambda moment=moment: send_join_links(moment),
            lambda meeting=meeting, moment=moment, new_start=new_start: lifecycle.edit_meeting(
                meeting, now=moment, start_time=new_start, end_time=new_start + dt.timedelta(hours=1)
            ),
        )
        assert not [r for r in results if isinstance(r, Exception)], results
        appointment = Appointment.objects.get(meeting=meeting)
        assert (appointment.join_link_state, appointment.join_link_due_at) == ("pending", new_start - 10 * MINUTE)
        assert len(messages("join_link", alice)) <= 1
        assert send_join_links(new_start - 10 * MINUTE) == Counter({"sent": 1})
        assert send_join_links(new_start - 10 * MINUTE) == Counter()
