"""LiveKit under lost answers: CreateRoom of an existing room returns it, DeleteRoom of a deleted room is "ended".

The fake hangs longer than the client's read timeout (HTTP_TIMEOUT_SECONDS 0.5 s, hang 0.7 s): no other waiting.
"""

import datetime as dt

import pytest

from meetings.models import Meeting
from meetings.rooms import end_rooms, provision_rooms


@pytest.fixture
def short_timeouts(livekit, settings):
    settings.HTTP_TIMEOUT_SECONDS = 0.5
    livekit.hang_seconds = 0.7
    return livekit


def test_create_answered_too_late_is_retried_and_returns_the_same_room(short_timeouts, meeting, now):
    livekit = short_timeouts
    livekit.fail_next_with("timeout_after_act")
    assert provision_rooms(now)["provisioned"] == 1  # the helper resent CreateRoom (idempotent on the name)
    name = f"class-{meeting.pk}"
    assert len(livekit.calls("CreateRoom", served=True)) == 2 and livekit.created == {name: 1}
    meeting.refresh_from_db()
    assert meeting.room_data["sid"] == livekit.rooms[name]["sid"]


def test_a_failed_create_is_retried_by_the_next_sweep_and_makes_one_room(short_timeouts, meeting, now):
    livekit = short_timeouts
    livekit.fail_next_with("timeout_after_act", 3)  # created on the first try; every answer lost
    assert provision_rooms(now) == {"failed": 1}
    assert Meeting.objects.get(pk=meeting.pk).room_provisioned_at is None
    assert provision_rooms(now + dt.timedelta(minutes=1))["provisioned"] == 1
    assert livekit.created == {f"class-{meeting.pk}": 1}


@pytest.mark.parametrize("mode", ["timeout_after_act", "timeout", "500", "429"])
def test_ending_survives_each_failure_mode_and_deletes_once(short_timeouts, meeting, now, mode):
    livekit = short_timeouts
    provision_rooms(now)
    Meeting.objects.filter(pk=meeting.pk).update(state=Meeting.State.CLOSED)
    livekit.fail_next_with(mode)
    first = end_rooms(meeting.close_at)
    if mode == "429":  # Retry-After 30 s is longer than a sweep may sleep: the next sweep ends it
        assert first == {"failed": 1}
        assert end_rooms(meeting.close_at + dt.timedelta(minutes=1)) == {"ended": 1}
    else:
        assert first == {"ended": 1}
    name = f"class-{meeting.pk}"
    assert livekit.rooms == {} and livekit.deleted == {name: 1}
    assert Meeting.objects.get(pk=meeting.pk).room_ended_at is not None


def test_deleting_a_room_that_is_already_gone_counts_as_ended(short_timeouts, meeting, now):
    livekit = short_timeouts
    provision_rooms(now)
    meeting.refresh_from_db()
    del livekit.rooms[meeting.room_name]  # LiveKit closed it (empty timeout) or an earlier DeleteRoom did
    Meeting.objects.filter(pk=meeting.pk).update(state=Meeting.State.CLOSED)
    assert end_rooms(meeting.close_at) == {"ended": 1}
    assert end_rooms(meeting.close_at) == {}  # and it is not tried again
