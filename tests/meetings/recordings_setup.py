"""What the recording tests share: a recorded class on the Zoom fake, run to its close, and the recordings storage
in a temporary folder."""

import datetime as dt

import pytest
import time_machine
from django.core.files.storage import FileSystemStorage

from core.runner import run_sweeps
from meetings.models import Meeting, Recording
from tests.factories import StudentFactory, TeacherFactory, UserFactory, book

URL = "/integrations/zoom/webhook/"
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
RECORDING_SWEEPS = ["expect_recordings", "poll_recordings", "download_recordings", "expire_recordings"]


@pytest.fixture
def alice(db):
    return StudentFactory(display_name="Alice", time_zone="Asia/Ho_Chi_Minh", user=UserFactory(username="alice"))


@pytest.fixture
def teacher(db):
    return TeacherFactory(display_name="Charlie", time_zone="America/New_York", user=UserFactory(username="charlie"))


@pytest.fixture
def storage(tmp_path, monkeypatch):
    """The recordings storage in a temporary folder (the file field's storage is made once, at model load)."""
    field = Recording._meta.get_field("file")
    store = FileSystemStorage(location=tmp_path / "recordings", base_url=None)
    monkeypatch.setattr(field, "storage", store)
    return store


def record_course(settings, meeting, student, now):
    """Recordings on, the class's course recorded, ``student`` booked."""
    settings.RECORDINGS_ENABLED = True
    meeting.course.record_classes = True
    meeting.course.save()
    book(student, meeting, now=now)
    return meeting


@pytest.fixture
def recorded(settings, storage, zoom, zoom_accounts, meeting, alice, now):
    """Charlie's class of a recorded course on Zoom, Alice booked."""
    return record_course(settings, meeting, alice, now)


def deliver(client, webhook):
    return client.post(URL, data=webhook.body, **webhook.headers())


def hold_class(zoom, meeting) -> Meeting:
    """Rooms ahead, the host in the room at the start, the close: Zoom has the recording once it ends."""
    start = meeting.start_time
    with time_machine.travel(start - HOUR, tick=False):
        run_sweeps(start - HOUR, names=["provision_rooms"])
    meeting.refresh_from_db()
    with time_machine.travel(start, tick=False):
        run_sweeps(start, names=["open_due_meetings"])
        zoom.join(meeting.room_external_id, "Charlie (host)", host=True)
    with time_machine.travel(meeting.close_at, tick=False):
        run_sweeps(meeting.close_at, names=["close_due_meetings", "end_rooms", *RECORDING_SWEEPS])
    meeting.refresh_from_db()
    return meeting


def sweep(at, names=RECORDING_SWEEPS):
    with time_machine.travel(at, tick=False):
        return run_sweeps(at, names=names)


def states(meeting):
    return sorted((r.kind, r.state) for r in Recording.objects.filter(meeting=meeting))


def stored_bytes(storage, recording):
    with storage.open(recording.file.name) as f:
        return f.read()
