"""Who may do what in the meeting admin: actions, the review queue and its decisions, the lifecycle page.

A staff user holding only view permissions must see no mutating action, and posting one anyway must change nothing.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from bookings.models import Booking, Payout
from core.models import StateChange
from meetings import lifecycle
from meetings.models import Meeting
from meetings.settlement import settle
from tests.admin_users import actions_offered, post_action, staff_with
from tests.factories import CourseFactory, MeetingFactory, StudentFactory, TeacherFactory, book
from tests.meetings.closing import run_and_close

pytestmark = pytest.mark.django_db
QUEUE = "admin:meetings_review_queue"
LIFECYCLE = "admin:meetings_lifecycle"


@pytest.fixture
def vera(client):
    """Vera may look at everything about meetings and change nothing."""
    client.force_login(staff_with("vera", "meetings.view_meeting", "bookings.view_booking", "bookings.view_payout"))
    return client


@pytest.fixture
def booked(meeting, alice, now):
    book(alice, meeting, now=now)
    return meeting


def state_of(meeting):
    return Meeting.objects.values_list("state", flat=True).get(pk=meeting.pk)


def test_a_view_only_user_is_offered_no_meeting_action(vera, booked):
    assert actions_offered(vera, Meeting) == []


@pytest.mark.parametrize(
    ("action", "start_in"),
    [("open_meeting", "scheduled"), ("close_meeting", "open"), ("cancel_meeting", "scheduled")],
)
def test_posting_a_meeting_action_without_its_permission_changes_nothing(vera, booked, action, start_in):
    if start_in == "open":
        lifecycle.open_meeting(booked, now=booked.start_time)
    history = StateChange.objects.count()
    post_action(vera, Meeting, action, [booked], reason="forged" if action == "cancel_meeting" else None)
    assert state_of(booked) == start_in
    assert StateChange.objects.count() == history
    assert Booking.objects.get().status == "confirmed"


def test_changing_meetings_allows_open_and_close_but_not_cancel(client, booked):
    client.force_login(staff_with("olga", "meetings.view_meeting", "meetings.change_meeting"))
    assert set(actions_offered(client, Meeting)) == {"open_meeting", "close_meeting"}
    post_action(client, Meeting, "cancel_meeting", [booked], reason="forged")
    assert state_of(booked) == "scheduled"
    post_action(client, Meeting, "open_meeting", [booked])
    assert state_of(booked) == "open"
    post_action(client, Meeting, "close_meeting", [booked])
    assert state_of(booked) == "closed"


def test_cancelling_a_class_needs_its_own_permission(client, booked):
    client.force_login(staff_with("cora", "meetings.view_meeting", "meetings.cancel_meeting"))
    assert actions_offered(client, Meeting) == ["cancel_meeting"]
    post_action(client, Meeting, "cancel_meeting", [booked], reason="the teacher is ill")
    assert state_of(booked) == "cancelled" and Booking.objects.get().status == "refunded"


# --- the review queue ------------------------------------------------------------------------------------------------


def no_show(now):
    meeting = MeetingFactory(
        teacher=TeacherFactory(display_name="Charlie"),
        course=CourseFactory(price=Decimal("15.00")),
        title="Missed class",
        start_time=now + dt.timedelta(hours=1),
        end_time=now + dt.timedelta(hours=2),
    )
    book(StudentFactory(display_name="Alice"), meeting, now=now)
    meeting = run_and_close(meeting)
    settle(meeting, now=meeting.closed_at)
    return Meeting.objects.get(pk=meeting.pk)


def decide(client, meeting):
    return client.post(
        reverse("admin:meetings_review_decide", args=[meeting.pk]), {"decision": "release", "note": "she was there"}
    )


def test_the_review_queue_and_its_decisions_need_the_review_permission(client, now):
    missed = no_show(now)
    # Changing meetings is not reviewing them: the decide view used to accept change_meeting.
    client.force_login(staff_with("olga", "meetings.view_meeting", "meetings.change_meeting"))
    assert client.get(reverse(QUEUE)).status_code == 403
    assert decide(client, missed).status_code == 403
    assert Meeting.objects.get(pk=missed.pk).review_state == "awaiting"
    assert Payout.objects.get(meeting=missed).state == "held"


def test_a_reviewer_sees_the_queue_and_decides(client, now):
    missed = no_show(now)
    client.force_login(staff_with("rita", "meetings.review_meeting"))
    page = client.get(reverse(QUEUE))
    assert page.status_code == 200 and "Missed class" in page.content.decode()
    assert decide(client, missed).status_code == 302
    assert Meeting.objects.get(pk=missed.pk).review_state == "released"
    assert Payout.objects.get(meeting=missed).state == "approved"


def test_the_lifecycle_page_needs_the_view_permission(client, booked):
    client.force_login(staff_with("nina"))  # staff, but may see nothing
    assert client.get(reverse(LIFECYCLE)).status_code == 403
    client.force_login(staff_with("vera", "meetings.view_meeting"))
    page = client.get(reverse(LIFECYCLE))
    assert page.status_code == 200 and "What fires next" in page.content.decode()


def test_the_meeting_list_links_only_to_the_pages_one_may_open(vera, client):
    page = vera.get(reverse("admin:meetings_meeting_changelist")).content.decode()
    assert reverse(LIFECYCLE) in page and reverse(QUEUE) not in page
    client.force_login(staff_with("rita", "meetings.view_meeting", "meetings.review_meeting"))
    assert reverse(QUEUE) in client.get(reverse("admin:meetings_meeting_changelist")).content.decode()
