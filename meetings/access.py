""" "May this person join now?" — computed from the clock and the meeting's times at request time, exact to the
second, whatever the sweeps have or have not done yet (DESIGN.md, "Time").

    teacher:  start − teacher_early_join_minutes  ..  close moment (end + meeting_auto_close_delay_minutes)
    student:  start  ..  close moment, with a confirmed seat; but a FIRST entry only until
              start + student_late_join_grace_minutes. A student who has been in the room (any recorded session of
              theirs in this meeting, from any source) may come back after a drop-out until the room closes.

A student's credentials are therefore valid until the close moment (a LiveKit token's ``exp`` is checked when they
(re)connect, the local room's on every request); the first-entry limit is checked here when credentials are handed
out, and again by the local room page when someone enters it.

The windows are policy values (``classroom.policies``), read through ``Meeting.rules_at(now)``: a class that has not
opened follows the version in force now (a change of the grace applies at once, without a restart); an opened class
keeps the version it opened with.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext as _

from bookings.models import Booking
from core.errors import DomainError
from core.statements import Slot, first_row
from core.timezones import to_local
from integrations.video import get_provider
from meetings.models import Meeting, MeetingParticipant


class JoinRefused(DomainError, code="join_refused", http_status=403):
    """The person may not join now: outside their window, the class is over or cancelled, the booking not confirmed."""

    def __init__(self, message: str, *, opens_at: dt.datetime | None = None):
        super().__init__(message)
        self.opens_at = opens_at

    @property
    def extra(self) -> dict:
        """When joining opens (UTC), if it is still ahead."""
        return {"opens_at": self.opens_at.isoformat().replace("+00:00", "Z")} if self.opens_at else {}


class RoomNotReady(JoinRefused, code="room_not_ready", http_status=409):
    """Inside the window, but the provider has not made the room yet (provisioning is retried): try again soon."""

    RETRY_AFTER_SECONDS = 60

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.RETRY_AFTER_SECONDS)}


class NotAParticipant(JoinRefused, code="not_a_participant"):
    """Neither the meeting's teacher nor a student with a seat in it."""


@dataclass(frozen=True)
class JoinWindow:
    opens_at: dt.datetime
    # Credentials are valid until then (the close moment, for everyone).
    closes_at: dt.datetime
    # Students: someone who has not been in the room yet may enter only until then. None: no such limit.
    first_entry_until: dt.datetime | None = None

    def contains(self, now: dt.datetime) -> bool:
        return self.opens_at <= now < self.closes_at


def window_for(meeting: Meeting, role: str, now: dt.datetime) -> JoinWindow:
    rules = meeting.rules_at(now)
    close_at = meeting.close_at_under(rules)
    if role == "teacher":
        return JoinWindow(meeting.start_time - rules.early_entry, close_at)
    return JoinWindow(meeting.start_time, close_at, min(meeting.start_time + rules.late_join_grace, close_at))


def has_been_in_room(meeting: Meeting, identity: str) -> bool:
    """Whether ``identity`` ("student:42") has any recorded session in ``meeting``, from any source (a Zoom session
    matched to the student carries the student, not always our identity)."""
    kind, _, pk = identity.partition(":")
    same_person = Q(identity=identity)
    if kind == "student" and pk.isdigit():
        same_person |= Q(student_id=int(pk))
    return MeetingParticipant.objects.filter(same_person, meeting=meeting).exists()


def check_join(
    meeting: Meeting, role: str, now: dt.datetime, *, tz_name: str = "UTC", identity: str = ""
) -> JoinWindow:
    """Return the person's window if they may join at ``now``; otherwise raise JoinRefused with the reason and, when
    it is still ahead, the moment joining opens in the person's zone ("opens at 19:50 Asia/Ho_Chi_Minh").
    ``identity``: the person's (``identity_of``), to let a student who has been in the room back in after the
    late-join grace; without it, the grace ends every student's entry."""
    if meeting.state == Meeting.State.CANCELLED:
        raise JoinRefused(_("this class was cancelled"))
    if meeting.state == Meeting.State.CLOSED:
        raise JoinRefused(_("this class has ended"))
    window = window_for(meeting, role, now)
    if now < window.opens_at:
        local = to_local(window.opens_at, tz_name)
        raise JoinRefused(
            _("joining opens at %(time)s %(zone)s (%(date)s)")
            % {"time": f"{local:%H:%M}", "zone": tz_name, "date": f"{local:%Y-%m-%d}"},
            opens_at=window.opens_at,
        )
    if now >= window.closes_at:
        raise JoinRefused(_("this class has ended"))
    first_entry_until = window.first_entry_until
    late = first_entry_until is not None and now >= first_entry_until
    if late and not (identity and has_been_in_room(meeting, identity)):
        raise JoinRefused(
            _("joining closed at %(time)s %(zone)s (the late-join grace period is over)")
            % {"time": f"{to_local(first_entry_until, tz_name):%H:%M}", "zone": tz_name}
        )
    return window


def identity_of(person) -> str:
    """Our id for a person in a provider's room: "teacher:7", "student:42"."""
    return f"{type(person).__name__.lower()}:{person.pk}"


# A student with one of these seats took part in the class: after it closed or was cancelled they are told so (the
# close completes confirmed seats, a cancellation or a confirmed no-show refunds them).
PARTICIPATED = (Booking.Status.CONFIRMED, Booking.Status.COMPLETED, Booking.Status.REFUNDED)


def join(meeting: Meeting, *, teacher, student, now: dt.datetime):
    """The join answer for an account that may be a teacher and/or a student (the API): (role, credentials).
    The meeting's teacher joins as the teacher; a student with a confirmed seat as a student. Once the class has
    closed or was cancelled, anyone who took part (``PARTICIPATED``) is told so rather than that they have no seat.
    Everyone else: NotAParticipant."""
    if teacher is not None and meeting.teacher_id == teacher.pk:
        return "teacher", credentials_for(meeting, teacher, "teacher", now)
    if student is not None:
        finished = meeting.state in (Meeting.State.CLOSED, Meeting.State.CANCELLED)
        seats = PARTICIPATED if finished else (Booking.Status.CONFIRMED,)
        if _has_seat(meeting, student, seats):
            return "student", credentials_for(meeting, student, "student", now)
    raise NotAParticipant(_("Only the meeting's teacher and students with a confirmed seat can join."))


SEAT_MEETING, SEAT_STUDENT = Slot("meeting", models.BigIntegerField()), Slot("student", models.BigIntegerField())


def _has_seat(meeting: Meeting, student, statuses) -> bool:
    """Whether ``student`` has a seat of one of ``statuses`` in ``meeting``: asked on every join, so compiled once
    for each set of statuses (core.statements) rather than for each request."""
    condition = Q(meeting=SEAT_MEETING, student=SEAT_STUDENT, status__in=statuses)
    seat = first_row(
        ("seat", condition),
        lambda: Booking.objects.filter(condition).values_list("pk")[:1],
        {SEAT_MEETING.name: meeting.pk, SEAT_STUDENT.name: student.pk},
    )
    return seat is not None


def credentials_for(meeting: Meeting, person, role: str, now: dt.datetime):
    """Join credentials for ``person`` valid until the end of their window (the close moment); JoinRefused when
    they may not enter now."""
    window = check_join(meeting, role, now, tz_name=person.time_zone, identity=identity_of(person))
    if not meeting.room_provisioned_at:
        raise RoomNotReady(_("the room is not ready yet; try again in a minute"))
    return get_provider(meeting.room_provider).join_credentials(
        meeting,
        identity=identity_of(person),
        display_name=person.display_name,
        role=role,
        not_before=window.opens_at,
        expires_at=window.closes_at,
    )
