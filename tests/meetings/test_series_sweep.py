"""The materialise_series sweep: bounded by the horizon, idempotent (twice, and two workers at once on PostgreSQL),
re-expansion when an untouched occurrence's instant no longer matches its wall-clock time."""

import datetime as dt
from collections import Counter

import pytest
from django.core.management import call_command

from core.models import StateChange
from meetings import series as series_domain
from meetings.models import Meeting, Series
from tests import factories
from tests.concurrency import race

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def weekly(now, *, rrule="FREQ=WEEKLY;BYDAY=MO", local_start="2027-01-04T19:30", time_zone="Europe/London"):
    teacher = factories.TeacherFactory(time_zone=time_zone)
    return series_domain.create_series(
        teacher=teacher,
        course=factories.CourseFactory(capacity=3),
        title="Grammar",
        local_start=local_start,
        time_zone=time_zone,
        duration_minutes=45,
        rrule=rrule,
        now=now,
    )


def test_open_ended_rule_stays_within_the_horizon(settings):
    settings.SERIES_HORIZON_DAYS = 14
    series = weekly(at("2027-01-01T00:00"))
    assert list(Meeting.objects.filter(series=series).values_list("original_local_start", flat=True)) == [
        "2027-01-04T19:30",
        "2027-01-11T19:30",
    ]


def test_run_sweeps_now_in_the_future_materialises_that_horizon():
    series = weekly(at("2027-01-01T00:00"))
    assert Meeting.objects.filter(series=series).count() == 8  # 56 days
    call_command("run_sweeps", "--now", "2027-03-01T00:00:00Z", "--only", "materialise_series")
    keys = list(Meeting.objects.filter(series=series).values_list("original_local_start", flat=True))
    assert keys[-1] == "2027-04-19T19:30"  # 1 March + 56 days = 26 April 00:00, before that day's class
    assert len(keys) == len(set(keys)) == 16


def test_sweep_twice_makes_nothing_twice():
    series = weekly(at("2027-01-01T00:00"))
    first = series_domain.materialise_series(at("2027-02-01T00:00"))
    count = Meeting.objects.filter(series=series).count()
    second = series_domain.materialise_series(at("2027-02-01T00:00"))
    assert first["created"] == 4
    assert second["created"] == 0
    assert Meeting.objects.filter(series=series).count() == count


def test_a_new_tzdata_is_corrected_by_the_sweep_with_history():
    series = weekly(at("2027-01-01T00:00"))
    untouched, moved = Meeting.objects.filter(series=series).order_by("start_time")[2:4]
    # What an older tzdata would have given (an hour off), and one occurrence a teacher moved on purpose.
    Meeting.objects.filter(pk=untouched.pk).update(
        start_time=untouched.start_time + dt.timedelta(hours=1), end_time=untouched.end_time + dt.timedelta(hours=1)
    )
    series_domain.change_series(
        series,
        scope="this",
        occurrence=moved.original_local_start,
        change=series_domain.Change(local_start=dt.datetime(2027, 1, 26, 18, 0)),
        now=at("2027-01-02T00:00"),
    )
    counts = series_domain.materialise_series(at("2027-01-02T00:00"))
    untouched.refresh_from_db()
    moved.refresh_from_db()
    assert counts["corrected"] == 1
    assert untouched.start_time == at("2027-01-18T19:30")
    assert moved.start_time == at("2027-01-26T18:00")  # detached: left as the teacher put it
    history = StateChange.objects.filter(meeting=untouched, field="start_time").last()
    assert history.reason.startswith("re-expanded: 2027-01-18T19:30 Europe/London")
    assert series_domain.materialise_series(at("2027-01-02T00:00"))["corrected"] == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_materialising_at_once_make_each_occurrence_once():
    series = weekly(at("2027-01-01T00:00"))
    later = at("2027-03-01T00:00")
    results = race(lambda: series_domain.materialise_series(later), lambda: series_domain.materialise_series(later))
    assert all(isinstance(r, Counter) for r in results), results
    assert sum(r["created"] for r in results) == 8
    keys = list(Meeting.objects.filter(series=series).values_list("original_local_start", flat=True))
    assert len(keys) == len(set(keys)) == 16
    assert Series.objects.count() == 1
