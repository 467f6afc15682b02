import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from core.errors import InvalidTime
from core.timezones import (
    check_wall_interval,
    format_local,
    local_to_utc,
    readings,
    require_aware,
    to_local,
    validate_time_zone,
)
from meetings.models import Meeting
from tests.factories import MeetingFactory, TeacherFactory


@pytest.mark.parametrize(
    ("wall", "stored", "seen_in_saigon"),
    [
        (dt.datetime(2026, 7, 15, 8, 0), dt.datetime(2026, 7, 15, 12, 0, tzinfo=dt.UTC), "19:00"),  # EDT, UTC-4
        (dt.datetime(2026, 12, 15, 8, 0), dt.datetime(2026, 12, 15, 13, 0, tzinfo=dt.UTC), "20:00"),  # EST, UTC-5
    ],
)
def test_a_new_york_teachers_8am_round_trips_to_a_saigon_student(db, wall, stored, seen_in_saigon):
    teacher = TeacherFactory(time_zone="America/New_York")
    start = local_to_utc(wall, teacher.time_zone)
    meeting = MeetingFactory(teacher=teacher, start_time=start, end_time=start + dt.timedelta(hours=1))
    reloaded = Meeting.objects.get(pk=meeting.pk)
    assert reloaded.start_time == stored
    assert to_local(reloaded.start_time, "Asia/Ho_Chi_Minh").strftime("%H:%M") == seen_in_saigon
    assert format_local(reloaded.start_time, "America/New_York", "%H:%M") == "08:00 America/New_York"


def test_a_time_inside_the_spring_forward_gap_is_refused():
    with pytest.raises(InvalidTime) as error:
        local_to_utc(dt.datetime(2026, 3, 8, 2, 30), "America/New_York", field="start_time")
    assert error.value.field == "start_time"
    assert "does not exist" in str(error.value)


def test_a_time_in_the_repeated_fall_back_hour_is_refused_naming_both_readings():
    """01:30 happens twice on 2027-11-07 in New York (EDT, then EST an hour later): we never pick one silently."""
    with pytest.raises(InvalidTime) as error:
        local_to_utc(dt.datetime(2027, 11, 7, 1, 30), "America/New_York", field="start_time")
    assert error.value.field == "start_time"
    assert str(error.value) == (
        "start_time 2027-11-07 01:30 happens twice in America/New_York: 01:30 EDT (UTC-04:00, = 05:30 UTC) or "
        "01:30 EST (UTC-05:00, = 06:30 UTC); send it with its offset: 2027-11-07T01:30:00-04:00 or "
        "2027-11-07T01:30:00-05:00"
    )


def test_the_hours_around_the_repeated_one_have_one_reading():
    for wall, utc in [
        (dt.datetime(2027, 11, 7, 0, 59), dt.datetime(2027, 11, 7, 4, 59, tzinfo=dt.UTC)),
        (dt.datetime(2027, 11, 7, 2, 0), dt.datetime(2027, 11, 7, 7, 0, tzinfo=dt.UTC)),
        (dt.datetime(2027, 11, 7, 2, 30), dt.datetime(2027, 11, 7, 7, 30, tzinfo=dt.UTC)),
    ]:
        assert local_to_utc(wall, "America/New_York") == utc
    assert readings(dt.datetime(2027, 11, 7, 1, 0), "America/New_York") == [
        dt.datetime(2027, 11, 7, 5, 0, tzinfo=dt.UTC),
        dt.datetime(2027, 11, 7, 6, 0, tzinfo=dt.UTC),
    ]
    assert readings(dt.datetime(2027, 3, 14, 2, 30), "America/New_York") == []  # the spring-forward gap


def test_a_wall_interval_across_a_clock_change_is_refused_naming_both_lengths():
    """00:30-02:30 on the fall-back night reads as two hours on the clock but lasts three."""
    with pytest.raises(InvalidTime) as error:
        check_wall_interval(dt.datetime(2027, 11, 7, 0, 30), dt.datetime(2027, 11, 7, 2, 30), "America/New_York")
    assert error.value.field == "end_time"
    message = str(error.value)
    assert "crosses a clock change in America/New_York" in message and "lasts 3:00, not 2:00" in message
    assert "2027-11-07T00:30:00-04:00 to 2027-11-07T02:30:00-05:00 (3:00)" in message
    assert "2027-11-07T00:30:00-04:00 to 2027-11-07T01:30:00-05:00 (2:00)" in message


def test_a_wall_interval_across_the_spring_forward_gap_is_refused_too():
    with pytest.raises(InvalidTime) as error:
        check_wall_interval(dt.datetime(2027, 3, 14, 1, 30), dt.datetime(2027, 3, 14, 3, 30), "America/New_York")
    message = str(error.value)
    assert "lasts 1:00, not 2:00" in message
    assert "2027-03-14T01:30:00-05:00 to 2027-03-14T03:30:00-04:00 (1:00)" in message
    assert "2027-03-14T01:30:00-05:00 to 2027-03-14T04:30:00-04:00 (2:00)" in message


def test_an_ordinary_wall_interval_passes():
    check_wall_interval(dt.datetime(2027, 11, 7, 8, 0), dt.datetime(2027, 11, 7, 9, 0), "America/New_York")
    check_wall_interval(dt.datetime(2027, 11, 6, 23, 0), dt.datetime(2027, 11, 7, 0, 45), "America/New_York")


def test_a_naive_time_is_refused_and_an_aware_one_becomes_utc():
    with pytest.raises(InvalidTime, match="no time zone offset"):
        require_aware(dt.datetime(2026, 7, 1, 8, 0), field="start_time")
    aware = dt.datetime(2026, 7, 1, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
    assert require_aware(aware) == dt.datetime(2026, 7, 1, 1, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "../../etc/passwd", "", "utc+7"])
def test_it_refuses_what_is_not_an_iana_zone(name):
    with pytest.raises(ValidationError):
        validate_time_zone(name)


def test_it_accepts_iana_zones():
    for name in ("UTC", "Asia/Ho_Chi_Minh", "Asia/Taipei", "America/New_York"):
        validate_time_zone(name)
