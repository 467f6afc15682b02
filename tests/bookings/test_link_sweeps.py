"""The join and feedback link sweeps: a failing link backs off on its own appointment."""

import datetime as dt
from collections import Counter

import pytest
from django.db import connection

from bookings.models import Appointment
from bookings.sweeps import _due, send_feedback_links, send_join_links
from meetings import lifecycle, links
from meetings.models import Meeting
from meetings.sweeps import end_rooms, provision_rooms, settle_closed_meetings
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
    """``meetings.links.<name>`` raises for ``appointment`` only (signing its link fails), until ``fixed()``."""
    real = getattr(links, name)
    broken = {"on": True}

    def url(appointment_id):
        if broken["on"] and appointment_id == appointment.pk:
            raise RuntimeError("cannot sign this link")
        return real(appointment_id)

    monkeypatch.setattr(links, name, url)
    return lambda: broken.update(on=False)


def messages(kind, student):
    return list(Notification.objects.filter(kind=kind, student=student).values_list("payload", flat=True))


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
