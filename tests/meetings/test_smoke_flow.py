import datetime as dt

from bookings.models import Appointment, Booking
from core.runner import run_sweeps
from notifications.models import Notification
from tests.factories import book


def test_a_class_runs_itself(db, meeting, alice, bob, now, django_capture_on_commit_callbacks):
    book(alice, meeting, now=now)
    book(bob, meeting, now=now)
    start, end = meeting.start_time, meeting.end_time
    run_sweeps(start - dt.timedelta(minutes=60))
    meeting.refresh_from_db()
    assert meeting.room_provisioned_at is not None
    run_sweeps(start - dt.timedelta(minutes=10))
    assert Appointment.objects.filter(join_link_state="sent").count() == 2
    run_sweeps(start)
    meeting.refresh_from_db()
    assert meeting.state == "open" and meeting.auto_opened
    run_sweeps(end - dt.timedelta(minutes=10))
    assert Appointment.objects.filter(feedback_link_state="sent").count() == 2
    run_sweeps(end + dt.timedelta(minutes=5))
    meeting.refresh_from_db()
    assert meeting.state == "closed" and meeting.auto_closed
    assert meeting.room_ended_at is not None and meeting.settled_at is not None
    assert set(Booking.objects.values_list("status", flat=True)) == {"completed"}
    kinds = sorted(Notification.objects.values_list("kind", flat=True))
    assert kinds.count("class_open") == 3 and kinds.count("join_link") == 2 and kinds.count("feedback_link") == 2
    assert Notification.objects.filter(state="pending").count() == 0
