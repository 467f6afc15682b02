"""Recordings of classes, against the Zoom fake: a recorded class ends with a ready recording in storage that its
booked students can play (and nobody else), duplicates and late webhooks make no second copy, a lost webhook is
recovered by polling, an expired token goes through the poll, bad downloads are retried then failed with the reason,
and retention deletes the file (keeping the row)."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from core.models import StateChange
from core.runner import run_sweeps
from integrations.zoom.client import uuid_path
from integrations.zoom.models import ZoomAccount, ZoomWebhookEvent
from meetings.models import Meeting, Recording
from notifications.models import Notification
from tests.admin_users import staff_with
from tests.factories import StaffFactory, StudentFactory, UserFactory, book
from tests.meetings import recordings_setup
from tests.meetings.recordings_setup import (
    HOUR,
    MINUTE,
    RECORDING_SWEEPS,
    deliver,
    hold_class,
    states,
    stored_bytes,
    sweep,
)

# The shared fixtures (pytest finds them by these names).
alice, teacher, storage, recorded = (
    recordings_setup.alice,
    recordings_setup.teacher,
    recordings_setup.storage,
    recordings_setup.recorded,
)


def test_a_recorded_class_ends_ready_in_storage_a_booked_student_plays_it_another_cannot(
    client, recorded, zoom, storage, alice
):
    meeting = hold_class(zoom, recorded)
    zoom_meeting = zoom.meetings[meeting.room_external_id]
    assert zoom_meeting["settings"]["auto_recording"] == "cloud"
    assert states(meeting) == [("video", "expected")]

    later = meeting.close_at + HOUR  # Zoom processes the recording after the class
    with time_machine.travel(later, tick=False):
        (webhook,) = zoom.complete_recording(meeting.room_external_id)
        assert deliver(client, webhook).json() == {"status": "recording.completed"}
    assert states(meeting) == [("audio", "processing"), ("chat", "processing"), ("video", "processing")]
    counts = sweep(later)["download_recordings"]
    assert counts == {"ready": 3}
    assert states(meeting) == [("audio", "ready"), ("chat", "ready"), ("video", "ready")]
    video = Recording.objects.get(meeting=meeting, kind="video")
    assert stored_bytes(storage, video) == zoom.file_bytes[video.file_id]
    assert video.size_bytes == len(zoom.file_bytes[video.file_id]) and video.download_token == ""
    assert video.retention_until == later + dt.timedelta(days=30)
    told = Notification.objects.filter(kind="recording_ready")
    assert [(n.student, n.meeting_id) for n in told] == [(alice, meeting.pk)]  # once for the set of three files
    assert f"/recordings/{meeting.pk}/" in told.get().payload["text"]

    with time_machine.travel(later + MINUTE, tick=False):
        client.force_login(alice.user)
        listed = client.get(f"/api/v1/meetings/{meeting.pk}/recordings/")
        assert listed.status_code == 200
        rows = {row["kind"]: row for row in listed.json()}
        assert rows["video"]["state"] == "ready" and rows["video"]["size_bytes"] == video.size_bytes
        play = rows["video"]["play_url"].removeprefix("http://127.0.0.1:8000")
        played = client.get(play)
        assert played.status_code == 200 and played["Content-Type"] == "video/mp4"
        assert b"".join(played.streaming_content) == zoom.file_bytes[video.file_id]
        assert client.get(f"/recordings/{meeting.pk}/")["Location"].startswith("http://127.0.0.1:8000/recordings/play/")

        client.force_login(meeting.teacher.user)
        assert client.get(f"/api/v1/meetings/{meeting.pk}/recordings/").status_code == 200
        client.force_login(StaffFactory(username="sam", is_superuser=True))
        assert client.get(f"/api/v1/meetings/{meeting.pk}/recordings/").status_code == 200
        client.force_login(
            StaffFactory(username="kim", is_superuser=False)
        )  # staff without the permission to view recordings
        assert client.get(f"/api/v1/meetings/{meeting.pk}/recordings/").status_code == 404

        eve = StudentFactory(display_name="Eve", user=UserFactory(username="eve"))  # not booked
        client.force_login(eve.user)
        assert client.get(f"/api/v1/meetings/{meeting.pk}/recordings/").status_code == 404
        assert client.get(play).status_code == 404  # Alice's link, in someone else's hands
        assert client.get(f"/recordings/{meeting.pk}/").status_code == 404

    with time_machine.travel(later + 11 * MINUTE + dt.timedelta(seconds=1), tick=False):
        client.force_login(alice.user)
        assert client.get(play).status_code == 410  # the link lasted 10 minutes; the page makes a new one


def test_a_cancelled_booking_can_no_longer_play(client, recorded, zoom, alice):
    meeting = hold_class(zoom, recorded)
    later = meeting.close_at + HOUR
    with time_machine.travel(later, tick=False):
        deliver(client, zoom.complete_recording(meeting.room_external_id)[0])
    sweep(later)
    with time_machine.travel(later, tick=False):
        client.force_login(alice.user)
        play = client.get(f"/recordings/{meeting.pk}/")["Location"].removeprefix("http://127.0.0.1:8000")
        meeting.bookings.update(status="refunded")  # checked at the request, not when the link was made
        assert client.get(play).status_code == 404


def test_a_duplicate_a_replay_and_a_late_copy_make_no_second_copy(client, recorded, zoom, storage):
    meeting = hold_class(zoom, recorded)
    later = meeting.close_at + HOUR
    with time_machine.travel(later, tick=False):
        first, second = zoom.complete_recording(meeting.room_external_id, times=2)
        assert deliver(client, first).status_code == 200
        assert deliver(client, second).status_code == 200  # Zoom's duplicate: a new URL and token only
        events, history = ZoomWebhookEvent.objects.count(), StateChange.objects.count()
        assert deliver(client, first).json() == {"status": "duplicate"}  # a replay of the first: nothing new
        assert (ZoomWebhookEvent.objects.count(), StateChange.objects.count()) == (events, history)
    video = Recording.objects.get(meeting=meeting, kind="video")
    assert Recording.objects.filter(meeting=meeting).count() == 3
    assert video.download_token == second.event["download_token"]  # the newest token is kept
    assert sweep(later)["download_recordings"] == {"ready": 3}

    with time_machine.travel(later + 20 * MINUTE, tick=False):  # Zoom's retry, after the copy
        (late,) = zoom.complete_recording(meeting.room_external_id)
        assert deliver(client, late).status_code == 200
    assert sweep(later + 20 * MINUTE)["download_recordings"] == {}
    assert len(zoom.calls("/rec/download/", served=True)) == 3  # each file copied once
    assert len(storage.listdir(str(meeting.pk))[1]) == 3  # one stored copy per file


def test_a_lost_webhook_is_recovered_by_polling(client, recorded, zoom, storage):
    meeting = hold_class(zoom, recorded)  # Zoom never sends recording.completed
    assert zoom.recording_of(meeting.room_external_id) is not None
    assert sweep(meeting.close_at + 2 * HOUR)["poll_recordings"] == {}  # waits 3 h for the webhook
    assert not zoom.calls("/recordings")
    counts = sweep(meeting.close_at + 3 * HOUR)
    assert counts["poll_recordings"]["new"] == 3 and counts["download_recordings"] == {"ready": 3}
    assert states(meeting) == [("audio", "ready"), ("chat", "ready"), ("video", "ready")]
    (poll,) = zoom.calls("/recordings", "GET")
    assert poll.query == {"include_fields": "download_access_token"}
    assert sweep(meeting.close_at + 3 * HOUR + MINUTE)["poll_recordings"] == {}  # run twice: nothing left


def test_an_expired_download_token_goes_through_the_poll(client, recorded, zoom):
    meeting = hold_class(zoom, recorded)
    days_late = meeting.close_at + 30 * HOUR  # the webhook came after its token expired (24 h)
    with time_machine.travel(days_late, tick=False):
        deliver(client, zoom.complete_recording(meeting.room_external_id)[0])
    counts = sweep(days_late, names=["download_recordings"])
    assert counts["download_recordings"] == {"token expired": 3}
    assert Recording.objects.filter(meeting=meeting, needs_poll=True).count() == 3
    counts = sweep(days_late + MINUTE)
    assert counts["poll_recordings"]["refreshed"] == 3 and counts["download_recordings"] == {"ready": 3}


def test_a_truncated_download_is_retried_with_backoff_then_failed_with_the_reason(settings, client, recorded, zoom):
    settings.RECORDING_MAX_ATTEMPTS = 3
    meeting = hold_class(zoom, recorded)
    later = meeting.close_at + HOUR
    with time_machine.travel(later, tick=False):
        deliver(client, zoom.complete_recording(meeting.room_external_id)[0])
    Recording.objects.filter(meeting=meeting).exclude(kind="video").update(next_attempt_at=later + 30 * 24 * HOUR)
    zoom.fail_downloads("truncated", 5)
    assert sweep(later)["download_recordings"] == {"retry": 1}
    video = Recording.objects.get(meeting=meeting, kind="video")
    assert (
        video.last_error.startswith("zoom-download download /rec/download/") and "was cut off after" in video.last_error
    )
    assert video.next_attempt_at == later + MINUTE and not video.file
    assert sweep(later + 30 * dt.timedelta(seconds=1))["download_recordings"] == {}  # backing off
    assert sweep(later + MINUTE)["download_recordings"] == {"retry": 1}
    assert sweep(later + 3 * MINUTE)["download_recordings"] == {"failed": 1}
    video.refresh_from_db()
    assert video.state == "failed" and video.attempts == 3
    change = StateChange.objects.filter(object_id=video.pk, to_state="failed").get()
    assert change.reason.startswith("download failed 3 times:")


def test_a_download_over_the_cap_is_retried_then_failed(settings, client, recorded, zoom):
    settings.RECORDING_MAX_ATTEMPTS = 2
    settings.RECORDING_MAX_BYTES = 4096  # the fake's files are 12-48 KiB
    meeting = hold_class(zoom, recorded)
    later = meeting.close_at + HOUR
    with time_machine.travel(later, tick=False):
        deliver(client, zoom.complete_recording(meeting.room_external_id)[0])
    assert sweep(later)["download_recordings"] == {"retry": 3}
    assert sweep(later + MINUTE)["download_recordings"] == {"failed": 3}
    assert {(r.state, r.last_error.split(": ")[-1]) for r in Recording.objects.filter(meeting=meeting)} == {
        ("failed", "49152 bytes is over the 4096 byte cap"),
        ("failed", "12288 bytes is over the 4096 byte cap"),
    }


def test_a_500_and_a_stalled_download_are_retried(settings, client, recorded, zoom, storage):
    settings.HTTP_TIMEOUT_SECONDS = 0.2  # the fake stalls for a second: the client gives up first
    meeting = hold_class(zoom, recorded)
    later = meeting.close_at + HOUR
    with time_machine.travel(later, tick=False):
        deliver(client, zoom.complete_recording(meeting.room_external_id)[0])
    zoom.fail_downloads("500")
    zoom.fail_downloads("stall")
    assert sweep(later)["download_recordings"] == {"retry": 2, "ready": 1}
    assert sweep(later + MINUTE)["download_recordings"] == {"ready": 2}
    assert zoom.injected["download_500"] == 1 and zoom.injected["timeout"] == 1


def test_the_recording_is_deleted_after_the_retention_period(settings, client, recorded, zoom, storage):
    meeting = hold_class(zoom, recorded)
    later = meeting.close_at + HOUR
    with time_machine.travel(later, tick=False):
        deliver(client, zoom.complete_recording(meeting.room_external_id)[0])
    sweep(later)
    video = Recording.objects.get(meeting=meeting, kind="video")
    name = video.file.name
    assert storage.exists(name)
    assert sweep(video.retention_until - MINUTE)["expire_recordings"] == {}
    assert sweep(video.retention_until)["expire_recordings"] == {"deleted": 3}
    video.refresh_from_db()
    assert (video.state, video.file.name, video.deleted_at) == ("deleted", "", video.retention_until)
    assert not storage.exists(name) and video.provider_deleted_at == video.retention_until
    assert zoom.recording_of(meeting.room_external_id)["files"] == []  # Zoom's copies too
    assert sweep(video.retention_until + MINUTE)["expire_recordings"] == {}  # run twice: nothing more


def test_zoom_copies_are_deleted_once_ours_is_verified_when_the_school_wants(settings, client, recorded, zoom):
    settings.RECORDING_DELETE_FROM_PROVIDER = True
    meeting = hold_class(zoom, recorded)
    later = meeting.close_at + HOUR
    with time_machine.travel(later, tick=False):
        deliver(client, zoom.complete_recording(meeting.room_external_id)[0])
    sweep(later)
    assert zoom.recording_of(meeting.room_external_id)["files"] == []
    assert len(zoom.calls("/recordings/", "DELETE")) == 3
    assert all(r.provider_deleted_at == later for r in Recording.objects.filter(meeting=meeting))


def test_a_bad_signature_is_a_401_and_writes_nothing(client, recorded, zoom):
    meeting = hold_class(zoom, recorded)
    with time_machine.travel(meeting.close_at + HOUR, tick=False):
        (webhook,) = zoom.complete_recording(meeting.room_external_id)
        forged = zoom.sign(webhook.body, secret="not-the-secret")
        assert deliver(client, forged).status_code == 401
    assert states(meeting) == [("video", "expected")] and not ZoomWebhookEvent.objects.filter(
        event="recording.completed"
    )


def test_a_class_of_a_course_that_is_not_recorded_is_not_recorded(
    client, settings, storage, zoom, zoom_accounts, meeting, now
):
    settings.RECORDINGS_ENABLED = True
    meeting = hold_class(zoom, meeting)
    assert zoom.meetings[meeting.room_external_id]["settings"]["auto_recording"] == "none"
    assert zoom.recording_of(meeting.room_external_id) is None and not Recording.objects.exists()


def test_a_recorded_class_is_made_on_a_licensed_host_only(settings, storage, zoom, recorded, now):
    ZoomAccount.objects.exclude(name="Cat").update(plan=ZoomAccount.Plan.BASIC)
    run_sweeps(recorded.start_time - HOUR, names=["provision_rooms"])
    recorded.refresh_from_db()
    assert recorded.room_data["account"] == "Cat"


def test_the_local_room_cannot_record(settings, storage, meeting, alice, now):
    settings.RECORDINGS_ENABLED = True
    meeting.course.record_classes = True
    meeting.course.save()
    book(alice, meeting, now=now)
    run_sweeps(meeting.start_time - HOUR, names=["provision_rooms"])
    run_sweeps(meeting.start_time, names=["open_due_meetings"])
    run_sweeps(meeting.close_at, names=["close_due_meetings", "expect_recordings"])
    recording = Recording.objects.get(meeting=meeting)
    assert (recording.state, recording.last_error, recording.provider) == ("none", "recording not supported", "local")
    assert run_sweeps(meeting.close_at + MINUTE, names=RECORDING_SWEEPS) == {name: {} for name in RECORDING_SWEEPS}


@pytest.mark.parametrize(
    ("uuid", "path"),
    [
        ("aDYlohsHRtCd4ii1uC2+hA==", "aDYlohsHRtCd4ii1uC2%2BhA%3D%3D"),
        ("/ajXp112QmuoKj4854875==", "%252FajXp112QmuoKj4854875%253D%253D"),  # begins with /: twice
        ("ab//cd==", "ab%252F%252Fcd%253D%253D"),  # contains //: twice
        ("ab/cd==", "ab%2Fcd%3D%3D"),
    ],
)
def test_a_meeting_uuid_is_encoded_once_or_twice_as_zoom_requires(uuid, path):
    assert uuid_path(uuid) == path


def test_the_poll_finds_a_meeting_whose_uuid_needs_double_encoding(client, recorded, zoom):
    meeting = hold_class(zoom, recorded)
    recording = zoom.recording_of(meeting.room_external_id)
    zoom.recordings["/ab//cd=="] = {**zoom.recordings.pop(recording["uuid"]), "uuid": "/ab//cd=="}
    Meeting.objects.filter(pk=meeting.pk).update(room_data={**meeting.room_data, "uuid": "/ab//cd=="})
    counts = sweep(meeting.close_at + 3 * HOUR)
    assert counts["poll_recordings"]["new"] == 3
    assert zoom.calls("/recordings", "GET")[0].path == "/v2/meetings/%252Fab%252F%252Fcd%253D%253D/recordings"
    assert {r.external_id for r in Recording.objects.filter(meeting=meeting)} == {"/ab//cd=="}


def test_nothing_arriving_is_failed_after_the_give_up_time(settings, client, recorded, zoom):
    meeting = hold_class(zoom, recorded)
    zoom.recordings.clear()  # Zoom has nothing for it (the host stopped the recording, say)
    assert sweep(meeting.close_at + 3 * HOUR)["poll_recordings"] == {"nothing yet": 1}
    assert sweep(meeting.close_at + 72 * HOUR)["poll_recordings"] == {"given up": 1}
    recording = Recording.objects.get(meeting=meeting)
    assert recording.state == "failed"
    assert StateChange.objects.filter(object_id=recording.pk, to_state="failed").get().reason == "no recording arrived"
    assert sweep(meeting.close_at + 73 * HOUR)["poll_recordings"] == {}


def test_expecting_twice_makes_one_row(settings, recorded, zoom):
    meeting = hold_class(zoom, recorded)
    assert Recording.objects.filter(meeting=meeting).count() == 1
    assert sweep(meeting.close_at + MINUTE, names=["expect_recordings"])["expect_recordings"] == {}
    assert Recording.objects.filter(meeting=meeting).count() == 1


def test_the_admin_lists_a_meetings_recordings_to_staff_who_may_view_them(client, recorded, zoom):
    meeting = hold_class(zoom, recorded)
    later = meeting.close_at + HOUR
    with time_machine.travel(later, tick=False):
        deliver(client, zoom.complete_recording(meeting.room_external_id)[0])
    sweep(later)
    page = reverse("admin:meetings_meeting_change", args=[meeting.pk])
    client.force_login(staff_with("rita", "meetings.view_meeting", "meetings.view_recording"))
    shown = client.get(page)
    recordings = shown.context["inline_admin_formsets"]
    (inline,) = [i for i in recordings if i.opts.model is Recording]
    rows = {form.original.kind: form.original for form in inline}
    assert rows["video"].state == "ready" and rows["video"].retention_until == later + dt.timedelta(days=30)
    assert "49152" in shown.content.decode()  # the size, on the page
    client.force_login(staff_with("otto", "meetings.view_meeting"))  # may see the class, not its recordings
    assert not [i for i in client.get(page).context["inline_admin_formsets"] if i.opts.model is Recording]


def test_a_refused_token_and_no_fresh_link_is_retried_then_failed(settings, client, recorded, zoom):
    settings.RECORDING_MAX_ATTEMPTS = 2
    meeting = hold_class(zoom, recorded)
    late = meeting.close_at + 30 * HOUR
    with time_machine.travel(late, tick=False):
        deliver(client, zoom.complete_recording(meeting.room_external_id)[0])
    assert sweep(late, names=["download_recordings"])["download_recordings"] == {"token expired": 3}
    zoom.recordings.clear()  # Zoom no longer has it (deleted on its side)
    assert sweep(late + MINUTE)["poll_recordings"] == {"retry": 3}
    assert sweep(late + MINUTE + dt.timedelta(seconds=59))["poll_recordings"] == {}  # backing off (60 s)
    assert sweep(late + 2 * MINUTE)["poll_recordings"] == {"failed": 3}
    assert {r.state for r in Recording.objects.filter(meeting=meeting)} == {"failed"}
