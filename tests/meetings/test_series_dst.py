"""The two "Done means" cases of weekly classes: a New York 02:30 class across the 2027-03-14 spring-forward with
students in Taipei, and a London 19:30 class across 2027-03-28 and 2027-10-31 — UTC instants, what every party
sees, the notes and the messages."""

import datetime as dt

import pytest

from meetings import series as series_domain
from meetings.models import Meeting
from notifications.models import Notification
from tests import factories

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(instant: dt.datetime, tz: str) -> str:
    from zoneinfo import ZoneInfo

    return instant.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def texts(kind: str, **who) -> list[str]:
    rows = Notification.objects.filter(kind=kind, **who).order_by("meeting__start_time", "id")
    return [row.payload["text"] for row in rows]


def make_series(teacher, *, local_start, rrule, now, title="IELTS Speaking", time_zone=None):
    course = factories.CourseFactory(title=title, capacity=5)
    return series_domain.create_series(
        teacher=teacher,
        course=course,
        title=title,
        local_start=local_start,
        time_zone=time_zone or teacher.time_zone,
        duration_minutes=60,
        rrule=rrule,
        now=now,
    )


def test_new_york_0230_across_spring_forward_with_students_in_taipei():
    teacher = factories.TeacherFactory(display_name="Nora", time_zone="America/New_York")
    mei = factories.StudentFactory(display_name="Mei", time_zone="Asia/Taipei")
    wen = factories.StudentFactory(display_name="Wen", time_zone="Asia/Taipei")
    now = at("2027-03-01T00:00")
    weekly = make_series(teacher, local_start="2027-03-07T02:30", rrule="FREQ=WEEKLY;BYDAY=SU;COUNT=4", now=now)
    series_domain.subscribe(weekly, mei, now=now)
    series_domain.subscribe(weekly, wen, now=now)

    meetings = list(Meeting.objects.filter(series=weekly).order_by("start_time"))
    assert [m.original_local_start for m in meetings] == [
        "2027-03-07T02:30",
        "2027-03-14T02:30",
        "2027-03-21T02:30",
        "2027-03-28T02:30",
    ]
    # 02:30 does not exist on 14 March: shifted forward by the gap (03:30 EDT = 07:30 UTC), still 60 minutes long.
    assert [m.start_time for m in meetings] == [
        at("2027-03-07T07:30"),
        at("2027-03-14T07:30"),
        at("2027-03-21T06:30"),
        at("2027-03-28T06:30"),
    ]
    assert all(m.end_time - m.start_time == dt.timedelta(minutes=60) for m in meetings)
    assert [local(m.start_time, "America/New_York") for m in meetings] == [
        "2027-03-07 02:30",
        "2027-03-14 03:30",
        "2027-03-21 02:30",
        "2027-03-28 02:30",
    ]
    assert [local(m.start_time, "Asia/Taipei") for m in meetings] == [
        "2027-03-07 15:30",
        "2027-03-14 15:30",
        "2027-03-21 14:30",
        "2027-03-28 14:30",
    ]
    assert meetings[1].series_note == (
        "02:30 does not exist on 2027-03-14 in America/New_York (the clocks skip it); moved forward by the gap to "
        "03:30 EDT"
    )
    assert [m.series_note for m in meetings if m.pk != meetings[1].pk] == ["", "", ""]
    assert all(m.seats_taken == 2 for m in meetings)

    # The week before 14 March the teacher hears about the shifted class; Taipei students see no change then.
    series_domain.materialise_series(at("2027-03-08T00:00"))
    assert texts("series_time_change", teacher=teacher) == [
        "From 14 March your class 'IELTS Speaking' is at 03:30 New York time (it was at 02:30). "
        + meetings[1].series_note
    ]
    assert texts("series_time_change", student=mei) == []

    # The week before 21 March: back to 02:30 for the teacher; 14:30 instead of 15:30 in Taipei.
    series_domain.materialise_series(at("2027-03-15T00:00"))
    assert texts("series_time_change", student=mei) == [
        "From 21 March your class 'IELTS Speaking' is at 14:30 Taipei time (it was at 15:30): the clocks change "
        "in America/New_York."
    ]
    assert texts("series_time_change", student=wen) == texts("series_time_change", student=mei)
    assert texts("series_time_change", teacher=teacher)[1].startswith(
        "From 21 March your class 'IELTS Speaking' is at 02:30 New York time (it was at 03:30)."
    )
    # Every message about a class renders its times in the reader's zone.
    join_like = Notification.objects.filter(kind="series_time_change", meeting=meetings[2])
    assert {n.meeting_id for n in join_like} == {meetings[2].pk}
    # Rerun: nothing new.
    before = Notification.objects.count()
    series_domain.materialise_series(at("2027-03-15T00:00"))
    assert Notification.objects.count() == before


def test_new_york_0130_on_fall_back_day_takes_the_first_one():
    teacher = factories.TeacherFactory(time_zone="America/New_York")
    now = at("2027-10-25T00:00")
    weekly = make_series(teacher, local_start="2027-10-31T01:30", rrule="FREQ=WEEKLY;COUNT=3", now=now)
    meetings = list(Meeting.objects.filter(series=weekly).order_by("start_time"))
    # 7 November 01:30 happens twice (EDT, then EST): the first, 05:30 UTC (fold=0).
    assert [m.start_time for m in meetings] == [
        at("2027-10-31T05:30"),
        at("2027-11-07T05:30"),
        at("2027-11-14T06:30"),
    ]
    assert "happens twice on 2027-11-07" in meetings[1].series_note
    assert meetings[1].series_note.endswith("(01:30 EDT)")


def test_london_1930_across_both_changes_of_2027():
    teacher = factories.TeacherFactory(display_name="Liam", time_zone="Europe/London")
    mei = factories.StudentFactory(display_name="Mei", time_zone="Asia/Taipei")
    an = factories.StudentFactory(display_name="An", time_zone="Asia/Ho_Chi_Minh", language="vi")
    now = at("2027-03-15T00:00")
    weekly = make_series(teacher, local_start="2027-03-21T19:30", rrule="FREQ=WEEKLY;BYDAY=SU", now=now)
    series_domain.subscribe(weekly, mei, now=now)
    series_domain.subscribe(weekly, an, now=now)

    spring = list(Meeting.objects.filter(series=weekly).order_by("start_time")[:2])
    assert [m.start_time for m in spring] == [at("2027-03-21T19:30"), at("2027-03-28T18:30")]
    assert [local(m.start_time, "Europe/London") for m in spring] == ["2027-03-21 19:30", "2027-03-28 19:30"]
    assert [local(m.start_time, "Asia/Taipei") for m in spring] == ["2027-03-22 03:30", "2027-03-29 02:30"]
    assert [local(m.start_time, "Asia/Ho_Chi_Minh") for m in spring] == ["2027-03-22 02:30", "2027-03-29 01:30"]
    # Open-ended, yet bounded by the horizon (56 days: up to 9 May).
    assert Meeting.objects.filter(series=weekly).count() == 8
    assert Meeting.objects.filter(series=weekly).order_by("start_time").last().original_local_start == (
        "2027-05-09T19:30"
    )

    series_domain.materialise_series(at("2027-03-22T00:00"))
    assert texts("series_time_change", student=mei) == [
        "From 29 March your class 'IELTS Speaking' is at 02:30 Taipei time (it was at 03:30): the clocks change "
        "in Europe/London."
    ]
    assert texts("series_time_change", student=an) == [
        "Từ ngày 29/3, lớp 'IELTS Speaking' bắt đầu lúc 01:30 giờ Ho Chi Minh (trước đây 02:30): Europe/London đổi giờ."
    ]
    assert texts("series_time_change", teacher=teacher) == []  # 19:30 stays 19:30 in London

    # Autumn: materialised as the horizon rolls on, back to 19:30 UTC on 31 October.
    series_domain.materialise_series(at("2027-10-20T00:00"))
    series_domain.materialise_series(at("2027-10-25T00:00"))
    autumn = list(
        Meeting.objects.filter(series=weekly, original_local_start__in=["2027-10-24T19:30", "2027-10-31T19:30"])
    )
    assert [m.start_time for m in autumn] == [at("2027-10-24T18:30"), at("2027-10-31T19:30")]
    assert [local(m.start_time, "Asia/Taipei") for m in autumn] == ["2027-10-25 02:30", "2027-11-01 03:30"]
    assert all(m.seats_taken == 2 for m in autumn)
    assert texts("series_time_change", student=mei)[-1] == (
        "From 1 November your class 'IELTS Speaking' is at 03:30 Taipei time (it was at 02:30): the clocks change "
        "in Europe/London."
    )
    assert texts("series_time_change", teacher=teacher) == []


def test_the_time_change_notices_read_the_students_in_a_fixed_number_of_queries():
    """The notices of a class read its students with their contacts in one go (outbox.contacts_by_meeting), not one
    query per student: the same count for 2 students as for 5 (the course holds 5)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    now = at("2027-03-01T00:00")
    counted = {}
    for students in (2, 5):
        teacher = factories.TeacherFactory(time_zone="America/New_York")
        weekly = make_series(teacher, local_start="2027-03-07T02:30", rrule="FREQ=WEEKLY;BYDAY=SU;COUNT=4", now=now)
        for _ in range(students):
            series_domain.subscribe(weekly, factories.StudentFactory(time_zone="Asia/Taipei"), now=now)
        with CaptureQueriesContext(connection) as queries:
            assert series_domain._time_change_notices(weekly, now=at("2027-03-15T00:00")) == students + 1
        counted[students] = len(queries)
    assert counted[2] == counted[5], counted
