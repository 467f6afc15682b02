"""The pages behind the links in students' messages: /j/<token>/ (join) and /feedback/<token>/ (feedback).

The join link works until the room closes; the feedback link until FEEDBACK_LINK_VALID_HOURS after the end, and
feedback is taken once, only for a booking that is completed (or about to be: confirmed, class under way). Both are
decided from the meeting's times at request time, so a rescheduled class moves them.
"""

import datetime as dt

import pytest
import time_machine

from bookings import links, transitions
from bookings.models import Booking
from core.models import StateChange
from meetings import lifecycle
from meetings.rooms import provision_rooms
from tests.factories import book

pytestmark = pytest.mark.django_db

SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)


def path(url: str) -> str:
    return url.removeprefix("http://127.0.0.1:8000")


@pytest.fixture
def alices(meeting, alice, now):
    """Alice's confirmed seat in Charlie's class (13:00-14:00 UTC, closes 14:05)."""
    return book(alice, meeting, now=now)


def join_path(booking):
    return path(links.join_url(booking.appointment.pk))


def feedback_path(booking):
    return path(links.feedback_url(booking.appointment.pk))


def get(client, url, at):
    with time_machine.travel(at, tick=False):
        return client.get(url)


def post(client, url, at, **form):
    with time_machine.travel(at, tick=False):
        return client.post(url, form)


# --- the join link ---------------------------------------------------------------------------------------------------


class TestJoinLink:
    def test_a_link_that_is_not_ours_is_a_404(self, client, now):
        assert get(client, "/j/not-a-token/", now).status_code == 404

    def test_it_lets_the_student_in_inside_their_window(self, client, meeting, alices):
        provision_rooms(meeting.start_time - 60 * MINUTE)
        response = get(client, join_path(alices), meeting.start_time)
        assert response.status_code == 302 and "/rooms/" in response["Location"]

    def test_before_the_start_it_says_when_joining_opens(self, client, meeting, alices, now):
        response = get(client, join_path(alices), now)
        assert response.status_code == 403
        assert "joining opens at 20:00 Asia/Ho_Chi_Minh" in response.content.decode()

    def test_it_has_ended_once_the_room_closes_even_before_the_close_sweep_ran(self, client, meeting, alices):
        lifecycle.open_meeting(meeting, now=meeting.start_time)
        just_before = get(client, join_path(alices), meeting.close_at - SECOND)
        assert just_before.status_code == 403  # the late-join grace is over, but the class is still on
        assert "class has ended" not in just_before.content.decode()
        ended = get(client, join_path(alices), meeting.close_at)
        assert ended.status_code == 410
        assert "This class has ended." in ended.content.decode()

    def test_it_has_ended_once_the_class_closed(self, client, meeting, alices):
        lifecycle.open_meeting(meeting, now=meeting.start_time)
        lifecycle.close_meeting(meeting, now=meeting.start_time + MINUTE)
        response = get(client, join_path(alices), meeting.start_time + 2 * MINUTE)
        assert response.status_code == 410 and "This class has ended." in response.content.decode()

    def test_a_cancelled_class_says_so(self, client, meeting, alices, now):
        lifecycle.cancel_meeting(meeting, now=now, reason="teacher ill")
        response = get(client, join_path(alices), meeting.start_time)
        assert response.status_code == 410 and "This class was cancelled." in response.content.decode()

    def test_the_end_follows_a_reschedule(self, client, meeting, alices, now):
        """The token was made for the old times; the class moved a day later, so the old close moment is not the
        end."""
        old_close = meeting.close_at
        moved = lifecycle.edit_meeting(
            meeting,
            now=now,
            start_time=meeting.start_time + dt.timedelta(days=1),
            end_time=meeting.end_time + dt.timedelta(days=1),
        )
        response = get(client, join_path(alices), old_close)
        assert response.status_code == 403 and "joining opens at" in response.content.decode()
        assert get(client, join_path(alices), moved.close_at).status_code == 410

    def test_a_cancelled_booking_is_refused(self, client, meeting, alices, now):
        transitions.cancel_booking(alices, now=now, enforce_cutoff=False)
        response = get(client, join_path(alices), meeting.start_time)
        assert response.status_code == 403 and "cancelled" in response.content.decode()


# --- the feedback link -----------------------------------------------------------------------------------------------


def ran(meeting):
    """The class ran: opened at start, closed at its close moment (its confirmed bookings are completed)."""
    lifecycle.open_meeting(meeting, now=meeting.start_time)
    lifecycle.close_meeting(meeting, now=meeting.close_at)


class TestFeedback:
    def test_a_refunded_booking_cannot_give_feedback_again_and_again(self, client, meeting, alices):
        ran(meeting)
        transitions.refund_booking(alices, now=meeting.close_at, reason="goodwill")
        first = post(client, feedback_path(alices), meeting.close_at + MINUTE, rating="1", comment="bad")
        second = post(client, feedback_path(alices), meeting.close_at + 2 * MINUTE, rating="1", comment="worse")
        assert (first.status_code, second.status_code) == (403, 403)
        assert "refunded" in first.content.decode()
        assert Booking.objects.get(pk=alices.pk).feedback_at is None

    def test_a_completed_booking_gives_feedback_once(self, client, meeting, alices):
        ran(meeting)
        first = post(client, feedback_path(alices), meeting.close_at + MINUTE, rating="5", comment="great")
        assert first.status_code == 200 and "Thank you for your feedback" in first.content.decode()
        second = post(client, feedback_path(alices), meeting.close_at + 2 * MINUTE, rating="1", comment="changed")
        assert second.status_code == 409 and "We already have your feedback" in second.content.decode()
        booking = Booking.objects.get(pk=alices.pk)
        assert (booking.feedback_rating, booking.feedback_comment) == (5, "great")
        assert booking.feedback_at == meeting.close_at + MINUTE
        history = StateChange.objects.filter(content_type__model="booking", object_id=alices.pk, field="feedback")
        assert list(history.values_list("from_state", "to_state", "meeting_id")) == [("", "received", meeting.pk)]
        again = get(client, feedback_path(alices), meeting.close_at + 3 * MINUTE)
        assert again.status_code == 409 and "<form" not in again.content.decode()

    def test_the_link_sent_before_the_end_works_while_the_class_is_on(self, client, meeting, alices):
        """The feedback link goes out 10 minutes before the end, while the booking is still confirmed."""
        lifecycle.open_meeting(meeting, now=meeting.start_time)
        at = meeting.end_time - 5 * MINUTE
        assert "<form" in get(client, feedback_path(alices), at).content.decode()
        assert post(client, feedback_path(alices), at, rating="4").status_code == 200
        assert Booking.objects.get(pk=alices.pk).feedback_rating == 4

    def test_no_feedback_before_the_class_started(self, client, meeting, alices, now):
        response = post(client, feedback_path(alices), now, rating="5")
        assert response.status_code == 403 and "has not started" in response.content.decode()
        assert Booking.objects.get(pk=alices.pk).feedback_at is None

    def test_a_cancelled_booking_cannot_give_feedback(self, client, meeting, bob, now):
        booking = book(bob, meeting, now=now)
        transitions.cancel_booking(booking, now=now, enforce_cutoff=False)
        lifecycle.open_meeting(meeting, now=meeting.start_time)
        response = post(client, feedback_path(booking), meeting.end_time - MINUTE, rating="5")
        assert response.status_code == 403 and "Your booking is cancelled" in response.content.decode()
        assert Booking.objects.get(pk=booking.pk).feedback_at is None

    def test_the_link_expires_at_its_deadline(self, client, meeting, alices, settings):
        ran(meeting)
        deadline = meeting.end_time + dt.timedelta(hours=settings.FEEDBACK_LINK_VALID_HOURS)
        assert settings.FEEDBACK_LINK_VALID_HOURS == 72
        assert "<form" in get(client, feedback_path(alices), deadline - SECOND).content.decode()
        expired = get(client, feedback_path(alices), deadline)
        assert expired.status_code == 410 and "expired" in expired.content.decode()
        assert post(client, feedback_path(alices), deadline, rating="5").status_code == 410
        assert Booking.objects.get(pk=alices.pk).feedback_at is None
        assert post(client, feedback_path(alices), deadline - SECOND, rating="5").status_code == 200

    def test_the_deadline_follows_a_reschedule(self, client, meeting, alices, now, settings):
        link = feedback_path(alices)  # made for the old times
        old_deadline = meeting.end_time + dt.timedelta(hours=settings.FEEDBACK_LINK_VALID_HOURS)
        moved = lifecycle.edit_meeting(
            meeting,
            now=now,
            start_time=meeting.start_time + dt.timedelta(days=2),
            end_time=meeting.end_time + dt.timedelta(days=2),
        )
        ran(moved)
        assert post(client, link, old_deadline, rating="3").status_code == 200

    def test_a_bad_rating_is_refused_and_nothing_is_kept(self, client, meeting, alices):
        ran(meeting)
        for rating in ("", "0", "6", "five"):
            response = post(client, feedback_path(alices), meeting.close_at, rating=rating)
            assert response.status_code == 400 and "from 1 to 5" in response.content.decode()
        assert Booking.objects.get(pk=alices.pk).feedback_at is None

    def test_a_link_that_is_not_ours_is_a_404(self, client, alices, meeting):
        assert get(client, join_path(alices).replace("/j/", "/feedback/"), meeting.close_at).status_code == 404
