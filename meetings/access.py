""" "May this person join now?" — computed from the clock and the meeting's times at request time, exact to the
second, whatever the sweeps have or have not done yet (DESIGN.md, "Time").

    teacher:  start − TEACHER_EARLY_JOIN_MINUTES  ..  close moment (end + MEETING_AUTO_CLOSE_DELAY_MINUTES)
    student:  start  ..  start + STUDENT_LATE_JOIN_GRACE_MINUTES (never after the close moment), with a confirmed seat
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from classroom.errors import DomainError
from classroom.timezones import to_local
from meetings.models import Meeting


class JoinRefused(DomainError):
    code = "join_refused"

    def __init__(self, message: str, *, opens_at: dt.datetime | None = None):
        super().__init__(message)
        self.opens_at = opens_at


class RoomNotReady(JoinRefused):
    """Inside the window, but the provider has not made the room yet (provisioning is retried): try again soon."""

    code = "room_not_ready"


@dataclass(frozen=True)
class JoinWindow:
    opens_at: dt.datetime
    closes_at: dt.datetime

    def contains(self, now: dt.datetime) -> bool:
        return self.opens_at <= now < self.closes_at


def window_for(meeting: Meeting, role: str) -> JoinWindow:
    if role == "teacher":
        return JoinWindow(meeting.teacher_may_join_from, meeting.close_at)
    return JoinWindow(meeting.start_time, min(meeting.student_may_join_until, meeting.close_at))


def check_join(meeting: Meeting, role: str, now: dt.datetime, *, tz_name: str = "UTC") -> JoinWindow:
    """Return the person's window if they may join at ``now``; otherwise raise JoinRefused with the reason and, when
    it is still ahead, the moment joining opens in the person's zone ("opens at 19:50 Asia/Ho_Chi_Minh")."""
    if meeting.state == Meeting.State.CANCELLED:
        raise JoinRefused("this class was cancelled")
    if meeting.state == Meeting.State.CLOSED:
        raise JoinRefused("this class has ended")
    window = window_for(meeting, role)
    if now < window.opens_at:
        local = to_local(window.opens_at, tz_name)
        raise JoinRefused(f"joining opens at {local:%H:%M} {tz_name} ({local:%Y-%m-%d})", opens_at=window.opens_at)
    if now >= window.closes_at:
        if role == "teacher":
            raise JoinRefused("this class has ended")
        raise JoinRefused(
            f"joining closed at {to_local(window.closes_at, tz_name):%H:%M} {tz_name} "
            "(the late-join grace period is over)"
        )
    return window


def identity_of(person) -> str:
    """Our id for a person in a provider's room: "teacher:7", "student:42"."""
    return f"{type(person).__name__.lower()}:{person.pk}"


def credentials_for(meeting: Meeting, person, role: str, now: dt.datetime):
    """Join credentials for ``person`` valid exactly for their window; JoinRefused outside it."""
    from integrations.video import get_provider

    window = check_join(meeting, role, now, tz_name=person.time_zone)
    if not meeting.room_provisioned_at:
        raise RoomNotReady("the room is not ready yet; try again in a minute")
    return get_provider(meeting.room_provider).join_credentials(
        meeting,
        identity=identity_of(person),
        display_name=person.display_name,
        role=role,
        not_before=window.opens_at,
        expires_at=window.closes_at,
    )
