"""Recordings on LiveKit (the fake): a recorded class's room is created with a room-composite Egress that starts with
it; egress_ended brings the file, which is copied into our storage; ListEgress recovers a lost webhook; a failed
Egress fails the recording with LiveKit's error; webhooks are verified as the others."""

import pytest
import time_machine

from core.models import StateChange
from core.runner import run_sweeps
from integrations.livekit.models import LiveKitWebhookEvent
from meetings.models import Recording
from tests.meetings import recordings_setup
from tests.meetings.recordings_setup import HOUR, MINUTE, RECORDING_SWEEPS, record_course, states, stored_bytes, sweep

URL = "/integrations/livekit/webhook/"
alice, teacher, storage = recordings_setup.alice, recordings_setup.teacher, recordings_setup.storage


@pytest.fixture
def recorded(settings, storage, livekit, meeting, alice, now):
    """Charlie's class of a recorded course on LiveKit, Alice booked."""
    return record_course(settings, meeting, alice, now)


def deliver(client, webhook):
    return client.post(URL, data=webhook.body, **webhook.headers())


def egress_events(livekit, kind):
    return [w for w in livekit.events if w.event["event"] == kind]


def hold_class(client, livekit, meeting, *, deliver_egress=True):
    start = meeting.start_time
    with time_machine.travel(start - HOUR, tick=False):
        run_sweeps(start - HOUR, names=["provision_rooms"])
        (started,) = egress_events(livekit, "egress_started")  # Egress starts with the room
        assert deliver(client, started).json() == {"status": "egress_started"}
    meeting.refresh_from_db()
    with time_machine.travel(start, tick=False):
        run_sweeps(start, names=["open_due_meetings"])
    with time_machine.travel(meeting.close_at, tick=False):
        run_sweeps(meeting.close_at, names=["close_due_meetings", "end_rooms", "expect_recordings"])
        if deliver_egress:
            (ended,) = egress_events(livekit, "egress_ended")
            assert deliver(client, ended).status_code == 200
    meeting.refresh_from_db()
    return meeting


def test_a_recorded_class_gets_an_egress_with_its_room_and_ends_ready_in_storage(client, recorded, livekit, storage):
    meeting = hold_class(client, livekit, recorded)
    (create,) = livekit.calls("CreateRoom")
    assert create.json()["egress"]["room"]["file_outputs"][0]["file_type"] == "MP4"
    assert states(meeting) == [("video", "processing")]
    assert sweep(meeting.close_at + MINUTE)["download_recordings"] == {"ready": 1}
    video = Recording.objects.get(meeting=meeting)
    (ended,) = egress_events(livekit, "egress_ended")
    name = ended.event["egressInfo"]["fileResults"][0]["filename"]
    assert (video.provider, video.external_id, video.file_id) == (
        "livekit",
        ended.event["egressInfo"]["egressId"],
        name,
    )
    assert stored_bytes(storage, video) == livekit.files[name] and video.size_bytes == len(livekit.files[name])
    with time_machine.travel(meeting.close_at + MINUTE, tick=False):
        assert deliver(client, ended).json() == {"status": "duplicate"}  # a replay: nothing new
    assert Recording.objects.filter(meeting=meeting).count() == 1


def test_a_lost_egress_ended_is_recovered_by_list_egress(client, recorded, livekit):
    meeting = hold_class(client, livekit, recorded, deliver_egress=False)
    assert states(meeting) == [("video", "expected")]
    counts = sweep(meeting.close_at + 3 * HOUR)
    assert counts["poll_recordings"]["new"] == 1 and counts["download_recordings"] == {"ready": 1}
    (listed,) = livekit.calls("ListEgress")
    assert listed.json() == {"room_name": meeting.room_name}


def test_a_failed_egress_fails_the_recording_with_livekits_error(client, recorded, livekit):
    livekit.fail_next_egress("no egress workers available")
    meeting = hold_class(client, livekit, recorded)
    recording = Recording.objects.get(meeting=meeting)
    assert recording.state == "failed"
    change = StateChange.objects.get(object_id=recording.pk, to_state="failed")
    assert change.reason == "the provider failed: no egress workers available"


def test_a_truncated_egress_file_is_retried(client, recorded, livekit):
    meeting = hold_class(client, livekit, recorded)
    livekit.fail_downloads("truncated")
    assert sweep(meeting.close_at + MINUTE)["download_recordings"] == {"retry": 1}
    assert sweep(meeting.close_at + 2 * MINUTE)["download_recordings"] == {"ready": 1}


def test_a_forged_egress_webhook_is_a_401_and_writes_nothing(client, recorded, livekit):
    meeting = hold_class(client, livekit, recorded, deliver_egress=False)
    (ended,) = egress_events(livekit, "egress_ended")
    with time_machine.travel(meeting.close_at, tick=False):
        forged = livekit.sign(ended.body, secret="not-the-secret-not-the-secret-0123")
        assert deliver(client, forged).status_code == 401
    assert states(meeting) == [("video", "expected")]
    assert not LiveKitWebhookEvent.objects.filter(event="egress_ended").exists()


def test_a_class_of_a_course_not_recorded_has_no_egress(client, settings, storage, livekit, meeting):
    settings.RECORDINGS_ENABLED = True
    run_sweeps(meeting.start_time - HOUR, names=["provision_rooms"])
    assert "egress" not in livekit.calls("CreateRoom")[0].json() and not livekit.egresses
    assert run_sweeps(meeting.close_at, names=RECORDING_SWEEPS) == {name: {} for name in RECORDING_SWEEPS}
