"""The series admin: times in the teacher's zone, a preview (UTC, teacher's zone, a student zone) before saving,
errors on the field; calendar feeds regenerated from the admin."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from meetings.models import CalendarFeed, Meeting, Series
from tests import factories
from tests.admin_users import staff_with

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(dt.datetime(2027, 3, 1, tzinfo=dt.UTC), tick=False):
        yield


@pytest.fixture
def staff_client(client):
    client.force_login(staff_with("sam", "meetings.add_series", "meetings.change_series", "meetings.view_series"))
    return client


def form(teacher, course, **changes):
    return {
        "teacher": teacher.pk,
        "course": course.pk,
        "title": "IELTS Speaking",
        "local_start": "2027-03-07T02:30",
        "time_zone": "",
        "duration_minutes": 60,
        "rrule": "FREQ=WEEKLY;COUNT=3",
        "exdates": "",
        "student_zone": "Asia/Taipei",
        "subscriptions-TOTAL_FORMS": 0,
        "subscriptions-INITIAL_FORMS": 0,
        **changes,
    }


def test_preview_shows_three_readings_and_saves_nothing(staff_client):
    teacher = factories.TeacherFactory(time_zone="America/New_York")
    course = factories.CourseFactory()
    page = staff_client.post(reverse("admin:meetings_series_add"), form(teacher, course, preview_only="on"))
    text = page.content.decode()
    assert page.status_code == 200
    assert "2027-03-14 07:30 UTC | Sun 2027-03-14 03:30 America/New_York | Sun 2027-03-14 15:30 Asia/Taipei" in text
    assert "2027-03-21 06:30 UTC | Sun 2027-03-21 02:30 America/New_York | Sun 2027-03-21 14:30 Asia/Taipei" in text
    assert "moved forward by the gap" in text
    assert not Series.objects.exists()


def test_save_creates_the_series_and_its_occurrences(staff_client):
    teacher = factories.TeacherFactory(time_zone="America/New_York")
    page = staff_client.post(reverse("admin:meetings_series_add"), form(teacher, factories.CourseFactory()))
    assert page.status_code == 302, page.content.decode()[:2000]
    series = Series.objects.get()
    assert series.time_zone == "America/New_York"  # the teacher's
    assert Meeting.objects.filter(series=series).count() == 3


def test_a_bad_rule_is_a_form_error_on_the_field(staff_client):
    teacher = factories.TeacherFactory()
    page = staff_client.post(
        reverse("admin:meetings_series_add"), form(teacher, factories.CourseFactory(), rrule="FREQ=OFTEN")
    )
    assert page.status_code == 200
    assert page.context["adminform"].form.errors["rrule"]


def test_calendar_feed_is_regenerated_from_the_admin(client):
    client.force_login(
        staff_with("cal", "meetings.add_calendarfeed", "meetings.change_calendarfeed", "meetings.view_calendarfeed")
    )
    student = factories.StudentFactory()
    page = client.post(reverse("admin:meetings_calendarfeed_add"), {"student": student.pk}, follow=True)
    assert "The feed&#x27;s URL (shown once)" in page.content.decode()
    first = CalendarFeed.objects.get()
    client.post(
        reverse("admin:meetings_calendarfeed_changelist"),
        {"action": "regenerate_feeds", "_selected_action": [first.pk]},
    )
    first.refresh_from_db()
    assert first.revoked_at is not None
    assert CalendarFeed.objects.filter(student=student, revoked_at__isnull=True).count() == 1
