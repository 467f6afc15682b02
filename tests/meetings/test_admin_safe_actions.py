"""Safe actions in the meeting admin (issue 21 item 7): no way to delete a class, and editing an open class says
so instead of complaining about its start time. Cancelling asks first: tests/meetings/test_admin.py."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from meetings import lifecycle
from meetings.models import Meeting
from tests.admin_users import actions_offered

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, staff):
    assert staff.is_superuser
    client.force_login(staff)
    return client


def test_not_even_a_superuser_can_delete_a_class(superuser_client, meeting):
    assert "delete_selected" not in actions_offered(superuser_client, Meeting)
    page = superuser_client.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).content.decode()
    assert reverse("admin:meetings_meeting_delete", args=[meeting.pk]) not in page
    assert superuser_client.get(reverse("admin:meetings_meeting_delete", args=[meeting.pk])).status_code == 403
    assert (
        superuser_client.post(reverse("admin:meetings_meeting_delete", args=[meeting.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert Meeting.objects.filter(pk=meeting.pk).exists()


def test_editing_an_open_class_says_it_is_already_open(superuser_client, meeting):
    lifecycle.open_meeting(meeting, now=meeting.start_time)
    meeting.refresh_from_db()
    with time_machine.travel(meeting.start_time + dt.timedelta(minutes=5), tick=False):
        response = superuser_client.post(
            reverse("admin:meetings_meeting_change", args=[meeting.pk]),
            {
                "teacher": meeting.teacher_id,
                "title": "Renamed",
                "start_time_0": "2026-07-01",
                "start_time_1": "09:00",
                "end_time_0": "2026-07-01",
                "end_time_1": "10:00",
                "capacity": meeting.capacity,
                "bookings-TOTAL_FORMS": 0,
                "bookings-INITIAL_FORMS": 0,
            },
        )
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert list(errors) == ["This class is already open; only a scheduled class can be edited."]
    assert "in the past" not in response.content.decode()
    assert Meeting.objects.get(pk=meeting.pk).title == "IELTS Practice"


def test_the_class_page_leads_to_the_cancel_confirmation(superuser_client, meeting):
    page = superuser_client.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).content.decode()
    assert 'id="cancel-class-form"' in page and 'value="cancel_meeting"' in page
    # What that form posts: the confirmation page, nothing cancelled yet.
    response = superuser_client.post(
        reverse("admin:meetings_meeting_changelist"), {"action": "cancel_meeting", "_selected_action": [meeting.pk]}
    )
    assert response.status_code == 200 and 'name="reason"' in response.content.decode()
    assert Meeting.objects.get(pk=meeting.pk).state == "scheduled"


def test_the_cancel_link_needs_the_cancel_permission(client, meeting):
    from tests.admin_users import staff_with

    client.force_login(staff_with("olga", "meetings.view_meeting", "meetings.change_meeting"))
    page = client.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).content.decode()
    assert "cancel-class-form" not in page
