"""The review queue page in the admin: what a reviewer sees, and the decisions posted from it."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from bookings.models import Booking, Payout
from core.models import StateChange
from meetings.attendance import record_session
from meetings.models import Meeting
from meetings.settlement import settle
from tests.factories import CourseFactory, MeetingFactory, StudentFactory, TeacherFactory, UserFactory, book
from tests.meetings.closing import MINUTE, run_and_close

pytestmark = pytest.mark.django_db
QUEUE = "admin:meetings_review_queue"


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def no_show(now, title, *sessions, teacher=None):
    meeting = MeetingFactory(
        teacher=teacher or TeacherFactory(display_name="Charlie", time_zone="America/New_York"),
        course=CourseFactory(price=Decimal("15.00")),
        title=title,
        start_time=now + dt.timedelta(hours=1),
        end_time=now + dt.timedelta(hours=2),
    )
    book(StudentFactory(display_name="Alice"), meeting, now=now)
    book(StudentFactory(display_name="Bob"), meeting, now=now)
    meeting = run_and_close(meeting, *sessions)
    settle(meeting, now=meeting.closed_at)
    return Meeting.objects.get(pk=meeting.pk)


def test_the_queue_shows_each_class_with_its_evidence_oldest_first(staff_client, now):
    newer = no_show(now + dt.timedelta(days=1), "Newer class")
    older = no_show(now, "Older class", (0 * MINUTE, 2 * MINUTE))
    record_session(
        older,
        source="local",
        session_key="alice-1",
        identity="student:1",
        role="student",
        display_name="Alice",
        joined_at=older.start_time + MINUTE,
        left_at=older.start_time + 30 * MINUTE,
    )
    page = staff_client.get(reverse(QUEUE)).content.decode()
    assert page.index("Older class") < page.index("Newer class")
    assert "2 classes awaiting a decision" in page
    assert "teacher 2 min only" in page and "teacher not seen" in page and "Charlie" in page
    # The timeline: 13:00 UTC is 09:00 in New York (the teacher's zone) in July.
    assert "2026-07-01 13:00:00" in page and "2026-07-01 09:00:00 America/New_York" in page
    assert "2026-07-01 13:02:00" in page and "2026-07-01 09:02:00 America/New_York" in page
    assert "Alice" in page and "Bob" in page and "15.00 USD" in page
    assert "24.00 USD net" in page  # the held amount: 30.00 less the platform's 20%
    assert newer.pk != older.pk


def test_an_empty_queue(staff_client):
    assert "Nothing awaits review." in staff_client.get(reverse(QUEUE)).content.decode()


def test_it_is_linked_from_the_meeting_list(staff_client):
    page = staff_client.get(reverse("admin:meetings_meeting_changelist")).content.decode()
    assert reverse(QUEUE) in page


def decide(client, meeting, **data):
    return client.post(reverse("admin:meetings_review_decide", args=[meeting.pk]), data, follow=True)


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_confirming_a_no_show_from_the_page(staff_client, staff, now):
    meeting = no_show(now, "IELTS")
    response = decide(staff_client, meeting, decision="no_show", note="Teacher admitted missing it")
    assert any("awaiting → no_show" in m for m in messages_of(response))
    assert set(Booking.objects.filter(meeting=meeting).values_list("status", flat=True)) == {"refunded"}
    assert Payout.objects.get(meeting=meeting).state == "cancelled"
    entry = StateChange.objects.get(meeting=meeting, field="review_state", to_state="no_show")
    assert entry.actor == staff and entry.reason == "Teacher admitted missing it"
    assert "Nothing awaits review." in response.content.decode()


def test_a_decision_without_a_note_is_refused_with_a_message(staff_client, now):
    meeting = no_show(now, "IELTS")
    response = decide(staff_client, meeting, decision="release", note="  ")
    assert any("a note is required" in m for m in messages_of(response))
    assert Payout.objects.get(meeting=meeting).state == "held"


def test_excusing_from_the_page(staff_client, now):
    meeting = no_show(now, "IELTS", (0 * MINUTE, 3 * MINUTE))
    decide(staff_client, meeting, decision="excuse", note="connection trouble", percent="25")
    payout = Payout.objects.get(meeting=meeting)
    assert (payout.state, payout.net, payout.excused_percent) == ("approved", Decimal("6.00"), 25)


def test_deciding_needs_a_permission(client, now):
    meeting = no_show(now, "IELTS")
    viewer = UserFactory(is_staff=True)
    client.force_login(viewer)
    response = client.post(reverse("admin:meetings_review_decide", args=[meeting.pk]), {"decision": "release"})
    assert response.status_code == 403
    assert Payout.objects.get(meeting=meeting).state == "held"


def test_the_queue_needs_a_staff_login(client):
    response = client.get(reverse(QUEUE))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_amounts_are_shown_with_the_currencys_places(staff_client, now):
    meeting = MeetingFactory(
        course=CourseFactory(price=Decimal("150000"), currency="VND"),
        start_time=now + dt.timedelta(hours=1),
        end_time=now + dt.timedelta(hours=2),
    )
    book(StudentFactory(), meeting, now=now)
    meeting = run_and_close(meeting)
    settle(meeting, now=meeting.closed_at)
    page = staff_client.get(reverse(QUEUE)).content.decode()
    assert "120,000 VND net" in page and "150,000 VND" in page and "150000.00" not in page


def test_a_refused_decision_keeps_the_note_that_was_typed(staff_client, now):
    meeting = no_show(now, "IELTS")
    note = "The internet failed at 9; the school saw the e-mails"
    response = decide(staff_client, meeting, decision="excuse", note=note, percent="150")
    assert response.status_code == 400
    assert any("from 1 to 100" in m for m in messages_of(response))
    page = response.content.decode()
    assert f'name="note" required>{note}</textarea>' in page
    assert 'value="150"' in page
    assert Payout.objects.get(meeting=meeting).state == "held"
