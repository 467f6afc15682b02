import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from classroom.errors import InvalidTime
from classroom.timezones import format_local, local_to_utc, require_aware, to_local, validate_time_zone
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


def test_a_time_in_the_repeated_fall_back_hour_takes_the_first_occurrence():
    # 01:30 happens twice on 2026-11-01 in New York; the first is still daylight time (UTC-4).
    assert local_to_utc(dt.datetime(2026, 11, 1, 1, 30), "America/New_York") == dt.datetime(
        2026, 11, 1, 5, 30, tzinfo=dt.UTC
    )


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
