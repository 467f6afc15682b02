"""Local time in the admin (issue 21 item 5): times are typed in the teacher's zone, named beside the field; UTC is
stored and shown on the line below; every other time on an admin page says its zone."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from core.models import StateChange
from meetings import lifecycle
from meetings.models import Meeting
from tests.factories import CourseFactory, TeacherFactory, book

pytestmark = pytest.mark.django_db
UTC = dt.UTC


@pytest.fixture
def sam(client, staff, now):
    client.force_login(staff)
    with time_machine.travel(now, tick=False):
        yield client


def inlines():
    return {
        f"{prefix}-{key}": value
        for prefix in ("bookings", "participants", "history")
        for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))
    }


def add(client, teacher, start: tuple[str, str], end: tuple[str, str], title="Evening class"):
    data = {
        "teacher": teacher.pk,
        "course": CourseFactory().pk,
        "title": title,
        "capacity": 5,
        "start_time_0": start[0],
        "start_time_1": start[1],
        "end_time_0": end[0],
        "end_time_1": end[1],
        **inlines(),
    }
    return client.post(reverse("admin:meetings_meeting_add"), data)


def test_a_new_class_is_typed_in_the_teachers_zone_and_stored_in_utc(sam):
    dana = TeacherFactory(display_name="Dana", time_zone="Asia/Taipei")
    response = add(sam, dana, ("2026-07-02", "20:00"), ("2026-07-02", "21:30"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    meeting = Meeting.objects.get(title="Evening class")
    assert (meeting.start_time, meeting.end_time) == (
        dt.datetime(2026, 7, 2, 12, 0, tzinfo=UTC),
        dt.datetime(2026, 7, 2, 13, 30, tzinfo=UTC),
    )
    page = sam.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).content.decode()
    assert 'value="20:00:00"' in page and "in Asia/Taipei, the teacher" in page  # as typed, zone named
    assert "2026-07-02 12:00 UTC" in page and "2026-07-02 13:30 UTC" in page  # the stored UTC, the line below


def test_editing_keeps_the_class_where_it_was_when_nothing_is_typed(sam, meeting):
    form = sam.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).context["adminform"].form
    assert form.initial["start_time"] == dt.datetime(2026, 7, 1, 9, 0)  # 13:00 UTC in New York, as a wall time
    assert not form.fields["start_time"].has_changed(form.initial["start_time"], ["2026-07-01", "09:00:00"])


def test_a_wall_time_that_does_not_exist_is_a_form_error(sam, now):
    mia = TeacherFactory(time_zone="Australia/Sydney")  # the clocks skip 02:00-03:00 on 4 October 2026
    response = add(sam, mia, ("2026-10-04", "02:30"), ("2026-10-04", "04:00"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "does not exist in Australia/Sydney" in errors["start_time"][0]
    assert not Meeting.objects.filter(title="Evening class").exists()


def test_a_class_across_a_clock_change_is_refused_naming_both_lengths(sam):
    charlie = TeacherFactory(time_zone="America/New_York")
    with time_machine.travel(dt.datetime(2026, 10, 1, tzinfo=UTC), tick=False):
        response = add(sam, charlie, ("2026-11-01", "00:30"), ("2026-11-01", "02:30"))
    assert "crosses a clock change" in response.context["adminform"].form.errors["end_time"][0]
    assert not Meeting.objects.filter(title="Evening class").exists()


def test_times_on_admin_pages_say_their_zone(sam, meeting, alice, now, staff):
    book(alice, meeting, now=now)
    lifecycle.open_meeting(meeting, now=meeting.start_time, actor=staff)
    change = sam.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).content.decode()
    assert "July 1, 2026, 1 p.m. UTC" in change  # opened_at (read-only) and the history's "at"
    listing = sam.get(reverse("admin:core_statechange_changelist")).content.decode()
    assert "July 1, 2026, noon UTC" in listing  # the booking's history, at now
    assert StateChange.objects.filter(meeting=meeting).exists()
