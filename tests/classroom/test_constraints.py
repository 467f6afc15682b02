"""Each database constraint refuses bad data even when Python validation is skipped, and full_clean() explains it."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings.models import Booking, Payout
from classroom.models import Course, Student, Teacher
from integrations.line.models import LineContact
from meetings.models import Meeting, MeetingParticipant
from notifications.models import Notification
from tests.factories import CourseFactory, LineChannelFactory, StudentFactory, TeacherFactory


def refused(action):
    """The database raises; the error names the constraint (or, for SQLite unique indexes, its columns)."""
    with pytest.raises(IntegrityError) as error, transaction.atomic():
        action()
    return error.value


def test_meeting_end_must_be_after_start(meeting):
    error = refused(lambda: Meeting.objects.filter(pk=meeting.pk).update(end_time=meeting.start_time))
    assert "meeting_end_after_start" in str(error)
    meeting.end_time = meeting.start_time - dt.timedelta(minutes=1)
    with pytest.raises(ValidationError, match="end time must be after the start time"):
        meeting.full_clean()


def test_meeting_seats_cannot_exceed_capacity(meeting):
    error = refused(lambda: Meeting.objects.filter(pk=meeting.pk).update(seats_taken=meeting.capacity + 1))
    assert "meeting_seats_within_capacity" in str(error)


def test_meeting_capacity_and_state_are_checked(meeting):
    assert "meeting_capacity_at_least_1" in str(
        refused(lambda: Meeting.objects.filter(pk=meeting.pk).update(capacity=0))
    )
    assert "meeting_state_valid" in str(refused(lambda: Meeting.objects.filter(pk=meeting.pk).update(state="paused")))


def test_one_active_booking_per_student_and_meeting(meeting, alice):
    Booking.objects.create(student=alice, meeting=meeting, amount=Decimal("10"), currency="USD")
    refused(lambda: Booking.objects.create(student=alice, meeting=meeting, amount=Decimal("10"), currency="USD"))
    # A cancelled booking does not count: the student may book again.
    Booking.objects.filter(student=alice).update(status="cancelled")
    Booking.objects.create(student=alice, meeting=meeting, amount=Decimal("10"), currency="USD")
    duplicate = Booking(student=alice, meeting=meeting, amount=Decimal("10"), currency="USD")
    with pytest.raises(ValidationError, match="already has a seat"):
        duplicate.full_clean()


def test_booking_amount_cannot_be_negative(meeting, alice):
    error = refused(
        lambda: Booking.objects.create(student=alice, meeting=meeting, amount=Decimal("-1"), currency="USD")
    )
    assert "booking_amount_not_negative" in str(error)


def payout(meeting, **overrides):
    values = {
        "teacher": meeting.teacher,
        "meeting": meeting,
        "currency": "USD",
        "gross": Decimal("10.00"),
        "commission_rate": Decimal("0.2"),
        "commission": Decimal("2.00"),
        "net": Decimal("8.00"),
    }
    return Payout.objects.create(**{**values, **overrides})


def test_one_payout_per_meeting(meeting):
    payout(meeting)
    refused(lambda: payout(meeting))


def test_payout_money_is_not_negative_and_adds_up(meeting):
    assert "payout_money_not_negative" in str(
        refused(lambda: payout(meeting, gross=Decimal("-1"), commission=Decimal("0"), net=Decimal("-1")))
    )
    assert "payout_net_is_gross_minus_commission" in str(refused(lambda: payout(meeting, net=Decimal("9.00"))))


def test_course_rules(db):
    assert "course_price_not_negative" in str(refused(lambda: CourseFactory(price=Decimal("-5"))))
    assert "course_capacity_at_least_1" in str(refused(lambda: CourseFactory(capacity=0, min_participants=0)))
    assert "course_min_participants_within_capacity" in str(
        refused(lambda: CourseFactory(capacity=3, min_participants=4))
    )
    assert "course_currency_known" in str(refused(lambda: CourseFactory(currency="XXX")))
    with pytest.raises(ValidationError, match="cannot exceed the capacity"):
        Course(title="x", price=Decimal("1"), currency="USD", capacity=2, min_participants=3).full_clean()


def test_teacher_commission_rate_is_a_fraction(db):
    assert "teacher_commission_rate_0_to_1" in str(refused(lambda: TeacherFactory(commission_rate=Decimal("1.5"))))


def test_a_session_cannot_end_before_it_starts(meeting):
    joined = meeting.start_time
    error = refused(
        lambda: MeetingParticipant.objects.create(
            meeting=meeting,
            role="teacher",
            identity="teacher:1",
            joined_at=joined,
            left_at=joined - dt.timedelta(1),
            source="local",
            session_key="s1",
        )
    )
    assert "participant_left_after_joined" in str(error)


def test_a_notification_cannot_be_written_twice(meeting):
    values = {
        "dedupe_key": "class_open:1:student:1",
        "kind": "class_open",
        "channel": "log",
        "payload": {"text": "hi"},
        "payload_hash": "x",
    }
    Notification.objects.create(**values)
    refused(lambda: Notification.objects.create(**values))


def test_a_line_user_is_one_contact_per_channel(db):
    channel = LineChannelFactory()
    LineContact.objects.create(line_channel=channel, line_user_id="U1")
    refused(lambda: LineContact.objects.create(line_channel=channel, line_user_id="U1"))
    LineContact.objects.create(line_channel=LineChannelFactory(), line_user_id="U1")  # another channel: another one


def test_a_contact_is_never_half_linked(db):
    channel, student = LineChannelFactory(), StudentFactory()
    refused(lambda: LineContact.objects.create(line_channel=channel, line_user_id="U2", student=student))
    refused(lambda: LineContact.objects.create(line_channel=channel, line_user_id="U3", role="student"))
    LineContact.objects.create(
        line_channel=channel, line_user_id="U4", student=student, role="guardian", linked_at=timezone.now()
    )


def test_people_need_an_iana_zone(db):
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        Student(display_name="x", time_zone="Mars/Base").full_clean()
    teacher = TeacherFactory.build(time_zone="Asia/Ho_Chi_Minh")
    assert isinstance(teacher, Teacher)
