import datetime as dt

import pytest
import time_machine
from django.contrib import admin
from django.urls import reverse

from bookings.models import Booking
from core.models import StateChange
from core.timezones import to_local
from meetings import lifecycle
from meetings.models import Meeting
from notifications.models import Notification
from tests.factories import CourseFactory, LineChannelFactory, TeacherFactory, book
from tests.meetings.closing import MINUTE, teacher_session


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def booked(meeting, alice, now):
    book(alice, meeting, now=now)
    return meeting


@pytest.mark.parametrize("model", list(admin.site._registry), ids=lambda m: m._meta.label)
def test_every_changelist_loads(staff_client, booked, model):
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert staff_client.get(url).status_code == 200
    assert staff_client.get(url, {"q": "IELTS"}).status_code == 200


def test_the_meeting_page_shows_local_time_and_history_but_no_way_to_type_a_state(staff_client, booked):
    page = staff_client.get(reverse("admin:meetings_meeting_change", args=[booked.pk])).content.decode()
    assert 'name="state"' not in page and 'name="seats_taken"' not in page
    # Typed in the teacher's zone (13:00 UTC is 09:00 in New York in July), named beside the field; UTC below.
    assert 'name="start_time_1" value="09:00:00"' in page and "in America/New_York, the teacher" in page
    assert "2026-07-01 13:00 UTC" in page
    assert "History (this meeting" in page and "seat taken" in page


def test_the_booking_page_has_no_status_input(staff_client, booked):
    booking = Booking.objects.get()
    page = staff_client.get(reverse("admin:bookings_booking_change", args=[booking.pk])).content.decode()
    assert 'name="status"' not in page and "booking confirmed" in page


def act(staff_client, action, meeting, **confirmed):
    return staff_client.post(
        reverse("admin:meetings_meeting_changelist"),
        {"action": action, "_selected_action": [meeting.pk], **confirmed},
        follow=True,
    )


def test_admin_actions_call_the_transitions_and_report_each_outcome(staff_client, booked, staff):
    messages = [str(m) for m in act(staff_client, "open_meeting", booked).context["messages"]]
    assert any("scheduled → open" in m for m in messages)
    messages = [str(m) for m in act(staff_client, "open_meeting", booked).context["messages"]]
    assert any("already open" in m for m in messages)
    act(staff_client, "close_meeting", booked)
    booked.refresh_from_db()
    assert booked.state == "closed" and booked.auto_closed is False
    cancelled = act(staff_client, "cancel_meeting", booked, confirm="yes", reason="too late")
    messages = [str(m) for m in cancelled.context["messages"]]
    assert any("is closed; it cannot become cancelled" in m for m in messages)
    assert StateChange.objects.filter(meeting=booked, to_state="closed", actor=staff).exists()


def test_cancel_asks_first_then_refunds_and_tells_the_students_the_reason(staff_client, staff, booked):
    page = act(staff_client, "cancel_meeting", booked)
    assert page.status_code == 200 and 'name="reason"' in page.content.decode() and str(booked) in page.content.decode()
    assert Meeting.objects.get(pk=booked.pk).state == "scheduled"  # nothing happens before the confirmation

    no_reason = act(staff_client, "cancel_meeting", booked, confirm="yes", reason="  ")
    assert no_reason.context["form"].errors["reason"]
    assert Meeting.objects.get(pk=booked.pk).state == "scheduled"

    act(staff_client, "cancel_meeting", booked, confirm="yes", reason="the teacher is ill")
    assert Meeting.objects.get(pk=booked.pk).state == "cancelled"
    assert Booking.objects.get().status == "refunded"
    change = StateChange.objects.get(meeting=booked, to_state="cancelled", field="state")
    assert (change.actor, change.reason) == (staff, "the teacher is ill")
    student_message = Notification.objects.get(meeting=booked, kind="class_cancelled", student__isnull=False)
    assert "the teacher is ill" in student_message.payload["text"]


def test_staff_create_a_meeting_through_the_lifecycle(staff_client, teacher, now):
    from tests.factories import CourseFactory

    course = CourseFactory()
    start_utc = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    start = to_local(start_utc, teacher.time_zone)  # typed in the teacher's zone
    data = {
        "teacher": teacher.pk,
        "course": course.pk,
        "title": "Added by staff",
        "capacity": 5,
        "start_time_0": start.strftime("%Y-%m-%d"),
        "start_time_1": start.strftime("%H:%M:%S"),
        "end_time_0": start.strftime("%Y-%m-%d"),
        "end_time_1": (start + dt.timedelta(hours=1)).strftime("%H:%M:%S"),
    }
    staff_client.post(reverse("admin:meetings_meeting_add"), {**data, **_empty_inlines()})
    meeting = Meeting.objects.get(title="Added by staff")
    assert (meeting.start_time, meeting.end_time) == (start_utc, start_utc + dt.timedelta(hours=1))
    assert StateChange.objects.filter(meeting=meeting, to_state="scheduled", actor_name="sam").exists()
    data["end_time_1"] = (start - dt.timedelta(hours=1)).strftime("%H:%M:%S")
    response = staff_client.post(reverse("admin:meetings_meeting_add"), {**data, **_empty_inlines()})
    assert "end_time must be after start_time" in response.content.decode()


def _empty_inlines():
    return {
        f"{prefix}-{key}": value
        for prefix in ("bookings", "participants", "history")
        for key, value in (("TOTAL_FORMS", "0"), ("INITIAL_FORMS", "0"))
    }


def test_the_lifecycle_page(staff_client, booked):
    page = staff_client.get(reverse("admin:meetings_lifecycle")).content.decode()
    assert "What fires next" in page and "IELTS Practice" in page and "send join links" in page


def test_line_secrets_are_masked(staff_client):
    channel = LineChannelFactory(channel_secret="supersecretvalue123", access_token="tokentokentoken999")
    page = staff_client.get(reverse("admin:integrations_linechannel_changelist")).content.decode()
    assert "supersecretvalue123" not in page and "tokentokentoken999" not in page
    change = staff_client.get(reverse("admin:integrations_linechannel_change", args=[channel.pk])).content.decode()
    assert "supersecretvalue123" not in change and "tokentokentoken999" not in change


# --- teacher and course changes: never silently dropped (hardening 13a) ----------------------------------------------


def change_form(meeting, **overrides):
    """The meeting's change form as the browser posts it back, with ``overrides``."""
    data = {
        "teacher": meeting.teacher_id,
        "course": meeting.course_id,
        "title": meeting.title,
        "capacity": meeting.capacity,
        # As the form shows them: in the teacher's zone.
        "start_time_0": f"{to_local(meeting.start_time, meeting.teacher.time_zone):%Y-%m-%d}",
        "start_time_1": f"{to_local(meeting.start_time, meeting.teacher.time_zone):%H:%M:%S}",
        "end_time_0": f"{to_local(meeting.end_time, meeting.teacher.time_zone):%Y-%m-%d}",
        "end_time_1": f"{to_local(meeting.end_time, meeting.teacher.time_zone):%H:%M:%S}",
        **_empty_inlines(),
    }
    return {**data, **overrides}


def save_change(staff_client, meeting, now, **overrides):
    with time_machine.travel(now, tick=False):
        return staff_client.post(
            reverse("admin:meetings_meeting_change", args=[meeting.pk]), change_form(meeting, **overrides), follow=True
        )


def test_a_teacher_change_in_the_admin_makes_a_substitute_with_history(staff_client, meeting, staff, now):
    dana = TeacherFactory(display_name="Dana", time_zone="Asia/Taipei")
    charlie = meeting.teacher
    response = save_change(staff_client, meeting, now, teacher=dana.pk)
    assert response.status_code == 200
    meeting.refresh_from_db()
    assert meeting.teacher == dana  # it used to stay Charlie's, with "changed successfully" shown
    change = StateChange.objects.get(meeting=meeting, field="teacher")
    assert (change.from_state, change.to_state) == (f"Charlie (#{charlie.pk})", f"Dana (#{dana.pk})")
    assert change.actor == staff and change.data == {
        "from_teacher_id": charlie.pk,
        "from_teacher": "Charlie",
        "to_teacher_id": dana.pk,
        "to_teacher": "Dana",
    }


def test_the_course_cannot_be_changed_once_the_meeting_exists(staff_client, meeting, now):
    course = meeting.course
    page = staff_client.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).content.decode()
    assert 'name="course"' not in page and course.title in page  # shown, not editable
    save_change(staff_client, meeting, now, course=CourseFactory(title="Another course").pk, title="Renamed")
    meeting.refresh_from_db()
    assert meeting.course == course and meeting.title == "Renamed"
    assert 'name="course"' in staff_client.get(reverse("admin:meetings_meeting_add")).content.decode()


def test_a_teacher_change_of_an_open_meeting_is_refused_and_says_so(staff_client, meeting, staff, now):
    lifecycle.open_meeting(meeting, now=now, actor=staff)  # staff may open early
    dana = TeacherFactory(display_name="Dana")
    response = save_change(staff_client, meeting, now, teacher=dana.pk)
    assert "This class is already open; only a scheduled class can be edited." in response.content.decode()
    meeting.refresh_from_db()
    assert meeting.teacher.display_name == "Charlie"
    assert not StateChange.objects.filter(meeting=meeting, field="teacher").exists()


def test_a_substitute_refused_by_the_lifecycle_saves_nothing_and_says_why(staff_client, meeting, now):
    teacher_session(meeting, -5 * MINUTE, None)  # Charlie is already in the room, 5 minutes early
    dana = TeacherFactory(display_name="Dana")
    response = save_change(staff_client, meeting, meeting.start_time - 4 * MINUTE, teacher=dana.pk, title="Renamed")
    texts = [str(m) for m in response.context["messages"]]
    assert any("has already entered the room" in t for t in texts)
    assert not any("changed successfully" in t for t in texts)
    meeting.refresh_from_db()
    assert (meeting.teacher.display_name, meeting.title) == ("Charlie", "IELTS Practice")
    assert not StateChange.objects.filter(meeting=meeting, field__in=["teacher", "start_time"]).exists()
