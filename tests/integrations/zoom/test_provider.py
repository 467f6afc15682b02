"""Zoom meetings for classes: what is created, the host link kept fresh, ending, the participants report."""

import datetime as dt
import os
import re
import time

import pytest
import time_machine

from integrations.zoom import client as zoom_client
from integrations.zoom.provider import ZoomProvider, parse_zoom_time
from meetings.access import credentials_for, identity_of
from meetings.models import Meeting
from meetings.rooms import provision_rooms
from tests.factories import book


@pytest.fixture
def provisioned(zoom, zoom_accounts, meeting, now):
    with time_machine.travel(now, tick=False):
        provision_rooms(now)
    meeting.refresh_from_db()
    return meeting


def test_it_creates_a_scheduled_meeting_that_opens_10_minutes_early(provisioned, zoom, now):
    [create] = zoom.calls("/meetings", method="POST")
    sent = create.json()
    assert create.path == "/v2/users/host-ann/meetings"
    assert sent["type"] == 2 and sent["start_time"] == "2026-07-01T13:00:00Z" and sent["duration"] == 70
    assert sent["settings"] == {
        "join_before_host": True,
        "jbh_time": 10,
        "waiting_room": False,
        "auto_recording": "none",
    }
    assert re.fullmatch(r"[A-Za-z0-9]{10}", sent["password"])
    created = zoom.meetings[provisioned.room_external_id]
    assert provisioned.room_external_id > 2**31  # Zoom ids need the bigint column
    assert provisioned.room_provider == "zoom" and provisioned.room_name == str(created["id"])
    assert provisioned.room_join_url == created["join_url"] and provisioned.room_password == sent["password"]
    assert provisioned.room_host_url.startswith(f"{zoom.url}/s/{created['id']}?zak=")
    assert provisioned.room_data["account"] == "Ann" and provisioned.room_data["host_user_id"] == "host-ann"
    assert provisioned.room_data["create_latency_ms"] >= 0
    assert provisioned.room_data["start_url_fetched_at"] == now.isoformat()


def test_a_student_gets_the_join_link_with_their_name_only_inside_their_window(provisioned, alice):
    book(alice, provisioned, now=provisioned.start_time - dt.timedelta(hours=2))
    credentials = credentials_for(provisioned, alice, "student", provisioned.start_time)
    assert credentials.url == provisioned.room_join_url + "&uname=Alice"
    # Valid until the room closes: a student who drops out may come back (the grace limits only the first entry).
    assert credentials.expires_at == provisioned.close_at


def test_the_host_link_is_fetched_again_when_it_may_have_expired(provisioned, zoom, teacher):
    early = provisioned.teacher_may_join_from
    # Provisioned an hour before start: at start − 10 min the link is 50 minutes old and still good.
    with time_machine.travel(early, tick=False):
        assert credentials_for(provisioned, teacher, "teacher", early).url == provisioned.room_host_url
    assert zoom.calls(f"/v2/meetings/{provisioned.room_external_id}", method="GET") == []
    old = provisioned.room_host_url
    later = provisioned.start_time + dt.timedelta(minutes=35)  # 95 minutes old
    with time_machine.travel(later, tick=False):
        fresh = credentials_for(provisioned, teacher, "teacher", later).url
    assert fresh != old and "zak=" in fresh
    assert len(zoom.calls(f"/v2/meetings/{provisioned.room_external_id}", method="GET")) == 1
    stored = Meeting.objects.get(pk=provisioned.pk)
    assert stored.room_host_url == fresh and stored.room_data["start_url_fetched_at"] == later.isoformat()
    assert stored.room_data["account"] == "Ann"  # the rest of room_data is kept


def test_ending_removes_everyone_and_a_retry_is_fine(provisioned, zoom, now):
    zoom_id = provisioned.room_external_id
    zoom.join(zoom_id, "Charlie", host=True)
    zoom.join(zoom_id, "Alice")
    provider = ZoomProvider()
    provider.end_room(provisioned, now=provisioned.close_at)
    assert zoom.in_meeting(zoom_id) == [] and zoom.meetings[zoom_id]["status"] == "ended"
    [end] = zoom.calls(f"/v2/meetings/{zoom_id}/status", method="PUT")
    assert end.json() == {"action": "end"}
    provider.end_room(provisioned, now=provisioned.close_at)  # "not started" now: already over
    del zoom.meetings[zoom_id]
    provider.end_room(provisioned, now=provisioned.close_at)  # 404: already gone


def test_a_meeting_nobody_started_counts_as_ended(provisioned, zoom):
    ZoomProvider().end_room(provisioned, now=provisioned.close_at)
    assert zoom.calls("/status")[-1].path.endswith("/status")


def test_attendance_reads_every_page_and_keeps_each_rejoin_as_a_session(
    provisioned, zoom, teacher, alice, bob, monkeypatch
):
    monkeypatch.setattr(zoom_client, "REPORT_PAGE_SIZE", 2)
    for student in (alice, bob):
        book(student, provisioned, now=provisioned.start_time - dt.timedelta(hours=2))
    zoom_id = provisioned.room_external_id
    start = provisioned.start_time
    with time_machine.travel(start, tick=False):
        zoom.join(zoom_id, "Teacher Charlie", host=True)
        first = zoom.join(zoom_id, "alice ")  # the name we filled in, as Zoom sends it back
        zoom.join(zoom_id, "Someone", email=bob.email)
        zoom.join(zoom_id, "Zed")
    with time_machine.travel(start + dt.timedelta(minutes=10), tick=False):
        zoom.leave(zoom_id, first)
    with time_machine.travel(start + dt.timedelta(minutes=12), tick=False):
        zoom.join(zoom_id, "Alice")
    with time_machine.travel(start + dt.timedelta(minutes=60), tick=False):
        ZoomProvider().end_room(provisioned, now=start + dt.timedelta(minutes=60))
    sessions = ZoomProvider().attendance(provisioned)
    assert len(zoom.calls("/participants")) == 3  # 5 rows, 2 a page
    assert [(s.identity, s.joined_at, s.left_at) for s in sessions] == [
        (identity_of(teacher), start, start + dt.timedelta(minutes=60)),
        (identity_of(alice), start, start + dt.timedelta(minutes=10)),
        (identity_of(bob), start, start + dt.timedelta(minutes=60)),
        ("zoom:Zed", start, start + dt.timedelta(minutes=60)),  # nobody we know: a guest, by name
        (identity_of(alice), start + dt.timedelta(minutes=12), start + dt.timedelta(minutes=60)),
    ]
    assert len({s.session_key for s in sessions}) == 5


@pytest.fixture
def server_in_taipei(monkeypatch):
    """The process's local zone is Asia/Taipei (UTC+8), as on a server set up there; back to what it was after."""
    monkeypatch.setenv("TZ", "Asia/Taipei")
    time.tzset()
    assert time.localtime(0).tm_hour == 8
    yield
    monkeypatch.undo()
    time.tzset()
    assert os.environ.get("TZ") != "Asia/Taipei"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-07-01T13:00:00", dt.datetime(2026, 7, 1, 13, 0, tzinfo=dt.UTC)),  # no offset: UTC, as Zoom means it
        ("2026-07-01T13:00:00Z", dt.datetime(2026, 7, 1, 13, 0, tzinfo=dt.UTC)),
        ("2026-07-01T21:00:00+08:00", dt.datetime(2026, 7, 1, 13, 0, tzinfo=dt.UTC)),
        ("2026-07-01 13:00:00", dt.datetime(2026, 7, 1, 13, 0, tzinfo=dt.UTC)),
    ],
)
def test_a_zoom_time_without_an_offset_is_utc_whatever_the_servers_zone(server_in_taipei, text, expected):
    parsed = parse_zoom_time(text)
    assert parsed == expected and parsed.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-45T99:00:00Z", None, 1780000000])
def test_what_is_not_a_zoom_time_is_none(text):
    assert parse_zoom_time(text) is None
