"""Staff book a student who phones in, from the meeting admin (issue 21 item 6): choose the student, see what will
happen, confirm. The seat is taken by bookings.transitions.book with the staff member as the actor."""

import pytest
import time_machine
from django.urls import reverse

from bookings.models import Booking
from core.models import StateChange
from meetings.models import Meeting
from tests.admin_users import actions_offered, post_action, staff_with
from tests.factories import CourseFactory, MeetingFactory, book

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def frozen_clock(now):
    with time_machine.travel(now, tick=False):
        yield


def book_url(meeting):
    return reverse("admin:meetings_meeting_book", args=[meeting.pk])


@pytest.fixture
def sam(client, staff):
    client.force_login(staff)
    return client


def test_staff_book_a_student_by_phone(sam, staff, meeting, alice):
    change_page = sam.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).content.decode()
    assert book_url(meeting) in change_page  # the way in, from the class's own page

    form = sam.get(book_url(meeting))
    assert form.status_code == 200 and 'name="student"' in form.content.decode()

    # Choosing the student books nothing yet: it asks to confirm, in the student's own zone.
    step = sam.post(book_url(meeting), {"student": alice.pk})
    page = step.content.decode()
    assert step.status_code == 200 and 'name="confirm"' in page
    assert "20:00 Asia/Ho_Chi_Minh" in page  # 13:00 UTC
    assert not Booking.objects.exists()

    done = sam.post(book_url(meeting), {"student": alice.pk, "confirm": "yes"}, follow=True)
    booking = Booking.objects.get()
    assert booking.student == alice and booking.meeting == meeting and booking.status == "confirmed"
    assert done.redirect_chain[-1][0] == reverse("admin:meetings_meeting_change", args=[meeting.pk])
    assert any("Alice is booked" in str(m) for m in done.context["messages"])
    assert Meeting.objects.get(pk=meeting.pk).seats_taken == 1
    history = StateChange.objects.filter(object_id=booking.pk, field="status").order_by("id")
    assert [(h.to_state, h.actor_id) for h in history] == [("pending", staff.pk), ("confirmed", staff.pk)]


def test_a_full_class_is_refused_on_the_page_and_nothing_is_booked(sam, teacher, alice, bob, now):
    meeting = MeetingFactory(teacher=teacher, course=CourseFactory(capacity=1))
    book(bob, meeting, now=now)
    response = sam.post(book_url(meeting), {"student": alice.pk, "confirm": "yes"})
    assert response.status_code == 200
    assert "is full" in response.content.decode()
    assert list(Booking.objects.values_list("student", flat=True)) == [bob.pk]


def test_no_student_chosen_is_a_form_error(sam, meeting):
    response = sam.post(book_url(meeting), {"confirm": "yes"})
    assert response.status_code == 200 and response.context["form"].errors["student"]
    assert not Booking.objects.exists()


def test_the_changelist_action_leads_to_the_booking_page(sam, meeting):
    assert "book_a_student" in actions_offered(sam, Meeting)
    response = sam.post(
        reverse("admin:meetings_meeting_changelist"), {"action": "book_a_student", "_selected_action": [meeting.pk]}
    )
    assert response.status_code == 302 and response["Location"] == book_url(meeting)


def test_a_view_only_staff_user_cannot_book(client, meeting, alice):
    client.force_login(staff_with("vera", "meetings.view_meeting", "bookings.view_booking"))
    assert "book_a_student" not in actions_offered(client, Meeting)
    post_action(client, Meeting, "book_a_student", [meeting])
    assert client.get(book_url(meeting)).status_code == 403
    assert client.post(book_url(meeting), {"student": alice.pk, "confirm": "yes"}).status_code == 403
    page = client.get(reverse("admin:meetings_meeting_change", args=[meeting.pk])).content.decode()
    assert book_url(meeting) not in page
    assert not Booking.objects.exists()


def test_a_staff_user_with_the_add_booking_permission_can_book(client, meeting, alice):
    client.force_login(staff_with("pia", "meetings.view_meeting", "bookings.add_booking"))
    client.post(book_url(meeting), {"student": alice.pk, "confirm": "yes"})
    assert Booking.objects.get().student == alice
