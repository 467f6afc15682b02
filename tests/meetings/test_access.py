"""meetings.access: who may enter the room when. A student's first entry ends with the late-join grace; a student
who has been in the room may come back until it closes, with the credentials they already have."""

import datetime as dt

import pytest
import time_machine

from meetings.access import JoinRefused, check_join, credentials_for, has_been_in_room, identity_of
from meetings.attendance import record_session
from meetings.rooms import provision_rooms
from tests import factories

MINUTE = dt.timedelta(minutes=1)


def session_of(meeting, student, *, minutes, source="local", identity=None):
    record_session(
        meeting,
        source=source,
        session_key=f"{student.pk}-{minutes[0]}-{source}",
        identity=identity or identity_of(student),
        role="student",
        joined_at=meeting.start_time + minutes[0] * MINUTE,
        left_at=meeting.start_time + minutes[1] * MINUTE,
        student=student,
    )


def test_the_grace_limits_only_a_first_entry(meeting, alice, bob):
    late = meeting.student_may_join_until
    with pytest.raises(JoinRefused, match="late-join grace period is over"):
        check_join(meeting, "student", late, identity=identity_of(alice))
    session_of(meeting, alice, minutes=(1, 4))
    window = check_join(meeting, "student", late, identity=identity_of(alice))
    assert (window.opens_at, window.closes_at, window.first_entry_until) == (
        meeting.start_time,
        meeting.close_at,
        meeting.student_may_join_until,
    )
    with pytest.raises(JoinRefused, match="this class has ended"):
        check_join(meeting, "student", meeting.close_at, identity=identity_of(alice))
    with pytest.raises(JoinRefused, match="late-join grace"):  # Alice's session does not let Bob in
        check_join(meeting, "student", late, identity=identity_of(bob))


def test_a_zoom_session_matched_to_the_student_counts_although_its_identity_is_zooms(meeting, alice):
    session_of(meeting, alice, minutes=(1, 4), source="zoom_webhook", identity="zoom:alice@example.com")
    assert has_been_in_room(meeting, identity_of(alice))
    assert not has_been_in_room(meeting, identity_of(meeting.teacher))


def test_a_livekit_student_who_dropped_out_reconnects_with_the_same_token(livekit, meeting, alice, now):
    factories.book(alice, meeting, now=now)
    provision_rooms(now)
    meeting.refresh_from_db()
    joined = meeting.start_time + 2 * MINUTE
    with time_machine.travel(joined, tick=False):
        credentials = credentials_for(meeting, alice, "student", joined)
        livekit.join(credentials.token)
    assert credentials.expires_at == meeting.close_at
    session_of(meeting, alice, minutes=(2, 20), source="livekit_webhook")  # what LiveKit's webhooks told us
    livekit.leave(meeting.room_name, identity_of(alice))
    back = meeting.start_time + 30 * MINUTE
    with time_machine.travel(back, tick=False):
        assert livekit.join(credentials.token)["identity"] == identity_of(alice)  # LiveKit takes it back
        assert credentials_for(meeting, alice, "student", back).expires_at == meeting.close_at  # and so do we
