"""The links we send: signed, per appointment, so a student opens them from LINE without logging in.

The join link does not carry the video credentials themselves: it leads to ``/j/<token>/``, which checks the join
window at that second and only then hands out (or redirects to) credentials valid for that person's window. It is
dead once the room closes (``Meeting.close_at``, or the class closed or cancelled). The feedback link
(``/feedback/<token>/``) takes feedback until ``bookings.transitions.feedback_deadline``. Both are decided from the
meeting's times at request time, not from the token: a class rescheduled after the link was sent moves them.

The tokens are secrets (whoever has one joins as that student): ``config.logging.RedactLinkTokens`` keeps them out
of the request logs.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.translation import gettext as _

from bookings.models import Appointment, Booking
from classroom.models import Student
from core.errors import DomainError
from core.rows import Columns, fetch_one
from integrations.video import JoinCredentials
from meetings.access import JoinRefused, credentials_for
from meetings.models import Meeting

JOIN_SALT = "classroom.join-link"
FEEDBACK_SALT = "classroom.feedback-link"


def _sign(value: int, salt: str) -> str:
    return signing.dumps(value, salt=salt, compress=True)


def read(token: str, salt: str) -> int | None:
    try:
        value = signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def join_url(appointment_id: int) -> str:
    return settings.PUBLIC_BASE_URL + reverse("join-link", args=[_sign(appointment_id, JOIN_SALT)])


def feedback_url(appointment_id: int) -> str:
    return settings.PUBLIC_BASE_URL + reverse("feedback-link", args=[_sign(appointment_id, FEEDBACK_SALT)])


class LinkExpired(DomainError, code="link_expired", http_status=410):
    """The link's purpose is over for good (the class ended or was cancelled): the page says so, with 410 Gone."""


# What a click reads (join() below, meetings.access, every provider's join_credentials for a student, and the
# refusal page's title): a third of the columns of the four rows, read by one hand-written statement. Compiling the
# ORM's query and decoding the rest was half of a click's time (issue 22); a column missing here would cost a query
# of its own, which tests/api/test_hot_paths.py counts for each provider.
CLICK_APPOINTMENT = Columns(Appointment, {"id", "booking_id", "meeting_id", "student_id"})
CLICK_BOOKING = Columns(Booking, {"id", "status"})
CLICK_STUDENT = Columns(Student, {"id", "display_name", "time_zone"})
CLICK_MEETING = Columns(
    Meeting,
    {"id", "course_id", "title", "state", "start_time", "end_time", "policy_id"}
    | {"room_provider", "room_name", "room_join_url", "room_provisioned_at"},
)


def clicked(appointment_id: int) -> Appointment | None:
    """The appointment of a join link with what a click reads of its booking, student and meeting; None if gone."""
    sql = (
        f"SELECT {CLICK_APPOINTMENT.sql('a')}, {CLICK_BOOKING.sql('b')}, {CLICK_STUDENT.sql('s')}, "
        f"{CLICK_MEETING.sql('m')} FROM {CLICK_APPOINTMENT.table} a JOIN {CLICK_BOOKING.table} b "
        f"ON b.id = a.booking_id JOIN {CLICK_STUDENT.table} s ON s.id = a.student_id "
        f"JOIN {CLICK_MEETING.table} m ON m.id = a.meeting_id WHERE a.id = %s"
    )
    read = fetch_one(sql, [appointment_id], [CLICK_APPOINTMENT, CLICK_BOOKING, CLICK_STUDENT, CLICK_MEETING])
    if read is None:
        return None
    (found, found.booking, found.student, found.meeting), _ = read
    return found


def join(appointment: Appointment, now: dt.datetime) -> JoinCredentials:
    """What the join link does at ``now``: the student's credentials for their window, or LinkExpired once the room
    has closed, or JoinRefused (the booking is not confirmed; outside the student's window)."""
    meeting = appointment.meeting
    if meeting.state == Meeting.State.CANCELLED:
        raise LinkExpired(_("This class was cancelled."))
    if meeting.state == Meeting.State.CLOSED or now >= meeting.close_at:
        raise LinkExpired(_("This class has ended."))
    if appointment.booking.status != Booking.Status.CONFIRMED:
        raise JoinRefused(_("your booking is %(status)s") % {"status": appointment.booking.status})
    return credentials_for(meeting, appointment.student, "student", now)
