"""Recordings under real concurrency (threads with their own connections, real commits): two workers downloading the
same recording make one stored copy, two sweeps split the due files between them, and Zoom's duplicate webhooks
arriving at once make one row per file. On PostgreSQL these exercise SKIP LOCKED and the compare-and-set; on SQLite
the IMMEDIATE transactions serialize the writers."""

from collections import Counter

import pytest
import time_machine
from django.test import Client

from meetings import recording_sweeps
from meetings.models import Recording
from tests.concurrency import race
from tests.meetings import recordings_setup
from tests.meetings.recordings_setup import HOUR, deliver, hold_class

pytestmark = pytest.mark.django_db(transaction=True)

alice, teacher, storage, recorded = (
    recordings_setup.alice,
    recordings_setup.teacher,
    recordings_setup.storage,
    recordings_setup.recorded,
)


@pytest.fixture
def completed(client, recorded, zoom):
    """The class held and closed, Zoom's recording.completed applied: three files waiting to be copied."""
    meeting = hold_class(zoom, recorded)
    later = meeting.close_at + HOUR
    with time_machine.travel(later, tick=False):
        deliver(client, zoom.complete_recording(meeting.room_external_id)[0])
    return meeting, later


def test_two_workers_copying_the_same_file_make_one_copy(completed, zoom, storage):
    meeting, later = completed
    video = Recording.objects.select_related("meeting").get(meeting=meeting, kind="video")
    twin = Recording.objects.select_related("meeting").get(pk=video.pk)
    with time_machine.travel(later, tick=False):
        # Both past the lease (a worker whose lease ran out while it was still copying, and the next one).
        results = race(
            lambda: recording_sweeps.download_one(video, now=later),
            lambda: recording_sweeps.download_one(twin, now=later),
        )
    assert sorted(results) == ["already stored", "ready"]
    video.refresh_from_db()
    assert video.state == "ready"
    assert storage.listdir(str(meeting.pk))[1] == [video.file.name.split("/")[-1]]  # the loser's copy is gone


def test_two_sweeps_at_once_copy_each_file_once(completed, zoom, storage):
    meeting, later = completed
    with time_machine.travel(later, tick=False):
        results = race(
            lambda: recording_sweeps.download_recordings(later), lambda: recording_sweeps.download_recordings(later)
        )
    # Whoever leased a file copied it; the other skipped it (SKIP LOCKED, then the lease).
    assert sum(results, start=Counter()) == {"ready": 3}
    assert len(zoom.calls("/rec/download/", served=True)) == 3
    assert len(storage.listdir(str(meeting.pk))[1]) == 3
    assert set(Recording.objects.filter(meeting=meeting).values_list("state", flat=True)) == {"ready"}


def test_duplicate_webhooks_at_once_make_one_row_per_file(recorded, zoom):
    meeting = hold_class(zoom, recorded)
    with time_machine.travel(meeting.close_at + HOUR, tick=False):
        first, second = zoom.complete_recording(meeting.room_external_id, times=2)
        answers = race(lambda: deliver(Client(), first), lambda: deliver(Client(), second))
    assert [a.status_code for a in answers] == [200, 200]
    assert sorted(Recording.objects.filter(meeting=meeting).values_list("kind", "state")) == [
        ("audio", "processing"),
        ("chat", "processing"),
        ("video", "processing"),
    ]
