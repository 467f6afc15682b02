"""/api/v1/series/ (create, bad input, edits by scope, subscriptions), GET /api/v1/meetings/?series=, and the
calendar feed token."""

import pytest

from meetings.models import Meeting, Series
from tests import factories
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def course():
    return factories.CourseFactory(title="IELTS Speaking", capacity=4)


def body(course, **changes):
    return {
        "course": course.pk,
        "local_start": "2026-07-05T19:30",
        "time_zone": "Europe/London",
        "duration_minutes": 60,
        "rrule": "FREQ=WEEKLY;BYDAY=SU;COUNT=4",
        **changes,
    }


def test_a_teacher_creates_a_series_and_lists_its_occurrences(as_charlie, teacher, course):
    answer = as_charlie.post("/api/v1/series/", body(course, exdates=["2026-07-12T19:30"]), format="json")
    assert answer.status_code == 201, answer.json()
    created = answer.json()
    assert created["teacher"]["id"] == teacher.pk
    assert created["next_occurrences"][0] == {
        "occurrence": "2026-07-05T19:30",
        "utc": "2026-07-05T18:30:00+00:00",
        "local": "2026-07-05T19:30:00+01:00",
        "note": "",
    }
    listed = as_charlie.get(f"/api/v1/meetings/?series={created['id']}").json()["results"]
    assert [m["start_time"] for m in listed] == ["2026-07-05T18:30:00Z", "2026-07-19T18:30:00Z", "2026-07-26T18:30:00Z"]
    assert [(m["series"], m["original_local_start"]) for m in listed][0] == (created["id"], "2026-07-05T19:30")
    assert listed[0]["local"]["start_time"] == "2026-07-05T14:30:00-04:00"  # Charlie, in New York


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"rrule": "FREQ=SOMETIMES"}, "rrule"),
        ({"time_zone": "Europe/Atlantis"}, "time_zone"),
        ({"local_start": "2026-07-05T19:30:00+01:00"}, "local_start"),
        ({"local_start": "2026-07-05T19:30Z"}, "local_start"),
        ({"rrule": "FREQ=DAILY;BYHOUR=9,18"}, "rrule"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(as_charlie, teacher, course, changes, field):
    answer = as_charlie.post("/api/v1/series/", body(course, **changes), format="json")
    assert_error(answer, 400, "invalid_series", field)
    assert not Series.objects.exists()


def test_students_cannot_create_and_teachers_cannot_edit_others(as_alice, as_dana, as_charlie, course, teacher):
    assert as_alice.post("/api/v1/series/", body(course), format="json").status_code == 403
    series_id = as_charlie.post("/api/v1/series/", body(course), format="json").json()["id"]
    answer = as_dana.patch(f"/api/v1/series/{series_id}/", {"scope": "all", "title": "Mine"}, format="json")
    assert answer.status_code in (403, 404)


def test_edit_by_scope_and_cancel_one(as_charlie, teacher, course):
    series_id = as_charlie.post("/api/v1/series/", body(course), format="json").json()["id"]
    moved = as_charlie.patch(
        f"/api/v1/series/{series_id}/",
        {"scope": "this", "occurrence": "2026-07-12T19:30", "local_start": "2026-07-13T18:00"},
        format="json",
    )
    assert moved.status_code == 200, moved.json()
    [meeting_id] = moved.json()["meetings"]
    assert Meeting.objects.get(pk=meeting_id).original_local_start == "2026-07-12T19:30"
    later = as_charlie.patch(f"/api/v1/series/{series_id}/", {"scope": "all", "local_time": "20:00"}, format="json")
    assert later.status_code == 200
    assert len(later.json()["meetings"]) == 3  # the moved one is left alone
    bad = as_charlie.patch(f"/api/v1/series/{series_id}/", {"scope": "sometimes"}, format="json")
    assert_error(bad, 400, "validation_error", "scope")
    cancelled = as_charlie.post(
        f"/api/v1/series/{series_id}/cancel/", {"scope": "this", "occurrence": "2026-07-19T20:00"}, format="json"
    )
    assert cancelled.status_code == 200, cancelled.json()
    assert Meeting.objects.filter(series_id=series_id, state="cancelled").count() == 1
    assert Meeting.objects.filter(series_id=series_id).count() == 4


def test_a_student_subscribes_and_unsubscribes(as_charlie, as_alice, alice, teacher, course):
    series_id = as_charlie.post("/api/v1/series/", body(course), format="json").json()["id"]
    subscribed = as_alice.post(f"/api/v1/series/{series_id}/subscribe/")
    assert subscribed.status_code == 201
    assert subscribed.json()["counts"] == {"booked": 4}
    assert as_alice.post(f"/api/v1/series/{series_id}/subscribe/").status_code == 409
    released = as_alice.post(f"/api/v1/series/{series_id}/unsubscribe/")
    assert released.json()["counts"] == {"released": 4}


def test_calendar_token_gives_a_working_feed_and_revokes_the_old_one(as_alice, alice, client):
    first = as_alice.post("/api/v1/me/calendar-token/").json()["url"]
    second = as_alice.post("/api/v1/me/calendar-token/").json()["url"]
    path = lambda url: url.split("://", 1)[1].split("/", 1)[1]  # noqa: E731
    assert client.get("/" + path(second)).status_code == 200
    assert client.get("/" + path(first)).status_code == 404


def test_unsubscribing_from_a_split_series_by_its_old_id(as_charlie, as_alice, alice, teacher, course):
    series_id = as_charlie.post("/api/v1/series/", body(course), format="json").json()["id"]
    as_alice.post(f"/api/v1/series/{series_id}/subscribe/")
    split = as_charlie.patch(
        f"/api/v1/series/{series_id}/",
        {"scope": "following", "occurrence": "2026-07-19T19:30", "local_time": "18:00"},
        format="json",
    )
    assert split.status_code == 200, split.json()
    successor = Series.objects.get(parent_id=series_id)
    assert list(Meeting.objects.filter(series=successor).values_list("original_local_start", flat=True)) == [
        "2026-07-19T18:00",
        "2026-07-26T18:00",
    ]
    released = as_alice.post(f"/api/v1/series/{series_id}/unsubscribe/")
    assert released.status_code == 200
    assert released.json()["counts"] == {"released": 4}
