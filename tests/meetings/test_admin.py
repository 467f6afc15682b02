import datetime as dt

import pytest
from django.contrib import admin
from django.urls import reverse

from bookings.models import Booking
from meetings.models import Meeting, StateChange
from tests.factories import LineChannelFactory, book


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
    assert "09:00 America/New_York" in page  # 13:00 UTC in July, the teacher's zone
    assert "History (this meeting" in page and "seat taken" in page


def test_the_booking_page_has_no_status_input(staff_client, booked):
    booking = Booking.objects.get()
    page = staff_client.get(reverse("admin:bookings_booking_change", args=[booking.pk])).content.decode()
    assert 'name="status"' not in page and "booking confirmed" in page


def act(staff_client, action, meeting):
    return staff_client.post(
        reverse("admin:meetings_meeting_changelist"), {"action": action, "_selected_action": [meeting.pk]}, follow=True
    )


def test_admin_actions_call_the_transitions_and_report_each_outcome(staff_client, booked, staff):
    messages = [str(m) for m in act(staff_client, "open_meeting", booked).context["messages"]]
    assert any("scheduled → open" in m for m in messages)
    messages = [str(m) for m in act(staff_client, "open_meeting", booked).context["messages"]]
    assert any("already open" in m for m in messages)
    act(staff_client, "close_meeting", booked)
    booked.refresh_from_db()
    assert booked.state == "closed" and booked.auto_closed is False
    messages = [str(m) for m in act(staff_client, "cancel_meeting", booked).context["messages"]]
    assert any("is closed; it cannot become cancelled" in m for m in messages)
    assert StateChange.objects.filter(meeting=booked, to_state="closed", actor=staff).exists()


def test_cancel_action_refunds(staff_client, booked):
    act(staff_client, "cancel_meeting", booked)
    assert Booking.objects.get().status == "refunded"


def test_staff_create_a_meeting_through_the_lifecycle(staff_client, teacher, now):
    from tests.factories import CourseFactory

    course = CourseFactory()
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
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
