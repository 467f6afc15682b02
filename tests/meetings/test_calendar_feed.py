"""Calendar feeds: an icalendar round trip with the right instants, stable UIDs, a growing SEQUENCE, cancelled
classes kept, no join link, REFRESH-INTERVAL."""

import datetime as dt

import icalendar
import pytest

from meetings import calendar
from meetings import series as series_domain
from meetings.models import Meeting
from tests import factories

pytestmark = pytest.mark.django_db
UTC = dt.UTC
NOW = dt.datetime(2027, 3, 1, tzinfo=UTC)


@pytest.fixture
def weekly():
    teacher = factories.TeacherFactory(display_name="Nora", time_zone="America/New_York")
    return series_domain.create_series(
        teacher=teacher,
        course=factories.CourseFactory(title="IELTS Speaking"),
        title="IELTS Speaking",
        local_start="2027-03-07T02:30",
        time_zone="America/New_York",
        duration_minutes=60,
        rrule="FREQ=WEEKLY;COUNT=3",
        now=NOW,
    )


def events(feed, now=NOW):
    parsed = icalendar.Calendar.from_ical(calendar.build(feed, now=now))
    return parsed, {str(e["uid"]): e for e in parsed.walk("VEVENT")}


def test_round_trip_with_the_right_times(weekly, client):
    mei = factories.StudentFactory(time_zone="Asia/Taipei")
    series_domain.subscribe(weekly, mei, now=NOW)
    Meeting.objects.filter(series=weekly).update(room_join_url="https://zoom.example/j/123?pwd=secret")
    feed, token = calendar.regenerate(now=NOW, student=mei)
    answer = client.get(f"/calendar/{token}.ics")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/calendar")
    assert b"zoom.example" not in answer.content and b"/j/" not in answer.content
    parsed = icalendar.Calendar.from_ical(answer.content)
    assert parsed["refresh-interval"].dt == dt.timedelta(hours=1)
    starts = [(e.decoded("dtstart"), e.decoded("dtend")) for e in parsed.walk("VEVENT")]
    assert starts == [
        (dt.datetime(2027, 3, 7, 7, 30, tzinfo=UTC), dt.datetime(2027, 3, 7, 8, 30, tzinfo=UTC)),
        (dt.datetime(2027, 3, 14, 7, 30, tzinfo=UTC), dt.datetime(2027, 3, 14, 8, 30, tzinfo=UTC)),
        (dt.datetime(2027, 3, 21, 6, 30, tzinfo=UTC), dt.datetime(2027, 3, 21, 7, 30, tzinfo=UTC)),
    ]
    shifted = list(parsed.walk("VEVENT"))[1]
    assert "moved forward by the gap to 03:30 EDT" in str(shifted["description"])
    assert all(str(e["status"]) == "CONFIRMED" for e in parsed.walk("VEVENT"))


def test_uid_stays_sequence_grows_cancelled_stays(weekly):
    feed, _token = calendar.regenerate(now=NOW, teacher=weekly.teacher)
    _, before = events(feed)
    second = Meeting.objects.get(series=weekly, original_local_start="2027-03-14T02:30")
    uid = calendar.uid(second)
    assert int(before[uid]["sequence"]) == 0
    series_domain.change_series(
        weekly,
        scope="this",
        occurrence="2027-03-14T02:30",
        change=series_domain.Change(local_start=dt.datetime(2027, 3, 14, 9, 0)),
        now=NOW,
    )
    _, moved = events(feed)
    assert set(moved) == set(before)
    assert int(moved[uid]["sequence"]) == 1
    assert moved[uid].decoded("dtstart") == dt.datetime(2027, 3, 14, 13, 0, tzinfo=UTC)
    series_domain.cancel_series(weekly, scope="this", occurrence="2027-03-14T02:30", now=NOW, reason="ill")
    _, cancelled = events(feed)
    assert str(cancelled[uid]["status"]) == "CANCELLED"
    assert int(cancelled[uid]["sequence"]) == 2


def test_a_regenerated_token_revokes_the_old_one(weekly, client):
    _feed, old = calendar.regenerate(now=NOW, teacher=weekly.teacher)
    _feed, new = calendar.regenerate(now=NOW, teacher=weekly.teacher)
    assert client.get(f"/calendar/{old}.ics").status_code == 404
    assert client.get(f"/calendar/{new}.ics").status_code == 200
    assert client.get("/calendar/not-a-token.ics").status_code == 404
