"""Edits the way calendars offer them (this, this and following, all), bad input, and series subscriptions."""

import datetime as dt

import pytest

from bookings.models import Booking
from core.errors import IllegalTransition
from core.models import StateChange
from meetings import lifecycle
from meetings import series as series_domain
from meetings.models import Meeting, Series
from notifications.models import Notification
from tests import factories

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2027, 1, 1, tzinfo=UTC)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def series():
    teacher = factories.TeacherFactory(time_zone="Europe/London")
    return series_domain.create_series(
        teacher=teacher,
        course=factories.CourseFactory(capacity=2),
        title="Grammar",
        local_start="2027-01-04T19:30",
        time_zone="Europe/London",
        duration_minutes=45,
        rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=6",
        exdates=["2027-01-25T19:30"],
        now=NOW,
    )


def keys(series):
    return list(Meeting.objects.filter(series=series).values_list("original_local_start", flat=True))


def test_exdates_are_left_out(series):
    assert "2027-01-25T19:30" not in keys(series)
    assert len(keys(series)) == 5


def test_this_occurrence_moves_once_and_is_never_made_again(series):
    alice = factories.StudentFactory()
    series_domain.subscribe(series, alice, now=NOW)
    bookings = Booking.objects.count()
    [moved] = series_domain.change_series(
        series,
        scope="this",
        occurrence="2027-01-11T19:30",
        change=series_domain.Change(local_start=dt.datetime(2027, 1, 12, 18, 0)),
        now=NOW,
    )
    assert moved.start_time == at("2027-01-12T18:00")
    assert moved.original_local_start == "2027-01-11T19:30"
    assert moved.series_detached and moved.sequence == 1
    series_domain.materialise_series(NOW)
    assert keys(series).count("2027-01-11T19:30") == 1
    assert Meeting.objects.filter(series=series).count() == 5
    assert Booking.objects.count() == bookings  # no booking spawned by the move
    assert Notification.objects.filter(kind="class_rescheduled", student=alice, meeting=moved).count() == 1
    assert StateChange.objects.filter(field="occurrence", reason__contains="2027-01-11T19:30").exists()


def test_this_occurrence_cancelled_stays_cancelled(series):
    [cancelled] = series_domain.cancel_series(
        series, scope="this", occurrence="2027-01-18T19:30", now=NOW, reason="bank holiday"
    )
    assert Meeting.objects.get(pk=cancelled.pk).state == "cancelled"
    series_domain.materialise_series(NOW)
    assert keys(series).count("2027-01-18T19:30") == 1


def test_following_splits_the_series(series):
    alice = factories.StudentFactory()
    series_domain.subscribe(series, alice, now=NOW)
    first = Meeting.objects.get(series=series, original_local_start="2027-01-04T19:30")
    changed = series_domain.change_series(
        series,
        scope="following",
        occurrence="2027-01-18T19:30",
        change=series_domain.Change(local_time=dt.time(18, 0)),
        now=at("2027-01-05T00:00"),
    )
    successor = Series.objects.get(parent=series)
    assert successor.local_start == "2027-01-18T18:00"
    # 18 Jan, 25 Jan (an EXDATE still counts, RFC 5545), 1 and 8 Feb
    assert successor.rrule == "FREQ=WEEKLY;BYDAY=MO;COUNT=4"
    assert successor.exdates == ["2027-01-25T18:00"]
    assert keys(series) == ["2027-01-04T19:30", "2027-01-11T19:30"]
    assert keys(successor) == ["2027-01-18T18:00", "2027-02-01T18:00", "2027-02-08T18:00"]
    assert [m.start_time for m in changed] == [at("2027-01-18T18:00"), at("2027-02-01T18:00"), at("2027-02-08T18:00")]
    series_domain.materialise_series(at("2027-01-05T00:00"))
    assert Meeting.objects.filter(series__in=[series, successor]).count() == 5
    assert Booking.objects.filter(student=alice).count() == 5  # the seats moved with them, none added
    first.refresh_from_db()
    assert first.start_time == at("2027-01-04T19:30")


def test_all_changes_future_untouched_only(series):
    now = at("2027-01-05T00:00")
    series_domain.change_series(
        series,
        scope="this",
        occurrence="2027-01-11T19:30",
        change=series_domain.Change(local_start=dt.datetime(2027, 1, 11, 17, 0)),
        now=now,
    )
    series_domain.change_series(
        series, scope="all", change=series_domain.Change(local_time=dt.time(20, 0), title="Grammar B1"), now=now
    )
    meetings = {m.original_local_start: m for m in Meeting.objects.filter(series=series)}
    assert meetings["2027-01-04T19:30"].start_time == at("2027-01-04T19:30")  # past: untouched
    assert meetings["2027-01-11T20:00"].start_time == at("2027-01-11T17:00")  # edited on its own: untouched
    assert meetings["2027-01-18T20:00"].start_time == at("2027-01-18T20:00")
    assert meetings["2027-01-18T20:00"].title == "Grammar B1"
    series_domain.materialise_series(now)
    assert Meeting.objects.filter(series=series).count() == 5


def test_an_open_occurrence_is_never_changed(series):
    meeting = Meeting.objects.get(series=series, original_local_start="2027-01-04T19:30")
    Meeting.objects.filter(pk=meeting.pk).update(state="open")
    with pytest.raises(IllegalTransition):
        series_domain.change_series(
            series,
            scope="this",
            occurrence="2027-01-04T19:30",
            change=series_domain.Change(local_start=dt.datetime(2027, 1, 4, 20, 0)),
            now=at("2027-01-04T19:31"),
        )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"rrule": "FREQ=FORTNIGHTLY"}, "rrule"),
        ({"rrule": "BYDAY=MO"}, "rrule"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"local_start": "2027-01-04T19:30+00:00"}, "local_start"),
        ({"local_start": "next monday"}, "local_start"),
        ({"rrule": "FREQ=DAILY;BYHOUR=9,15"}, "rrule"),  # two a day
        ({"rrule": "FREQ=HOURLY", "duration_minutes": 90}, "rrule"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"exdates": ["2027-01-11T19:30Z"]}, "exdates"),
    ],
)
def test_bad_input_names_the_field(fields, field):
    teacher = factories.TeacherFactory()
    values = {
        "local_start": "2027-01-04T19:30",
        "time_zone": "Europe/London",
        "duration_minutes": 45,
        "rrule": "FREQ=WEEKLY",
        **fields,
    }
    with pytest.raises(series_domain.InvalidSeries) as refused:
        series_domain.create_series(teacher=teacher, course=factories.CourseFactory(), title="x", now=NOW, **values)
    assert refused.value.field == field


def test_overlap_with_the_teachers_class_is_refused():
    teacher = factories.TeacherFactory(time_zone="Europe/London")
    factories.MeetingFactory(teacher=teacher, start_time=at("2027-01-11T19:00"), end_time=at("2027-01-11T20:00"))
    with pytest.raises(series_domain.InvalidSeries, match="overlaps"):
        series_domain.create_series(
            teacher=teacher,
            course=factories.CourseFactory(),
            title="x",
            local_start="2027-01-04T19:30",
            time_zone="Europe/London",
            duration_minutes=45,
            rrule="FREQ=WEEKLY",
            now=NOW,
        )


def test_a_full_occurrence_is_skipped_with_a_message_and_cancelling_releases_future_seats(series):
    bob, carol, dan = factories.StudentFactory(), factories.StudentFactory(), factories.StudentFactory()
    third = Meeting.objects.get(series=series, original_local_start="2027-01-18T19:30")
    factories.book(bob, third, now=NOW)
    factories.book(carol, third, now=NOW)
    subscription, counts = series_domain.subscribe(series, dan, now=NOW)
    assert counts == {"booked": 4, "full": 1}
    assert Notification.objects.filter(kind="series_occurrence_full", student=dan, meeting=third).count() == 1
    # Later occurrences are booked as they are made.
    series_domain.materialise_series(at("2027-01-20T00:00"))
    assert Booking.objects.filter(student=dan, status="confirmed").count() == 4
    released = series_domain.cancel_subscription(subscription, now=at("2027-01-20T00:00"))
    assert released["released"] == 2  # 1 and 8 February; the past ones stay
    assert Booking.objects.filter(student=dan, status="confirmed").count() == 2
    assert series_domain.cancel_subscription(subscription, now=at("2027-01-20T00:00")) == {}


def test_until_in_utc_is_read_on_the_series_wall_clock():
    teacher = factories.TeacherFactory(time_zone="America/New_York")
    weekly = series_domain.create_series(
        teacher=teacher,
        course=factories.CourseFactory(),
        title="x",
        local_start="2027-01-04T19:30",
        time_zone="America/New_York",
        duration_minutes=45,
        rrule="RRULE:FREQ=WEEKLY;UNTIL=20270119T003000Z",  # 18 Jan 19:30 New York
        now=NOW,
    )
    assert keys(weekly) == ["2027-01-04T19:30", "2027-01-11T19:30", "2027-01-18T19:30"]


def test_a_meeting_moved_by_hand_is_detached_and_the_sweep_leaves_it(series):
    meeting = Meeting.objects.get(series=series, original_local_start="2027-01-11T19:30")
    lifecycle.edit_meeting(meeting, now=NOW, start_time=at("2027-01-11T17:00"), end_time=at("2027-01-11T17:45"))
    series_domain.materialise_series(NOW)
    meeting.refresh_from_db()
    assert meeting.series_detached and meeting.start_time == at("2027-01-11T17:00")
    assert keys(series).count("2027-01-11T19:30") == 1
