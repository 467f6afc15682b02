"""The built-in local room page counts presence, not page loads: entering starts a session, the page's heartbeat keeps
it going, and it ends at the Leave button, when the page closes, or at the last heartbeat plus the margin."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client

from core.runner import run_sweeps
from integrations.local.provider import enter_room, read_token
from meetings.access import credentials_for, identity_of
from meetings.attendance import present_at
from meetings.models import Meeting, MeetingParticipant
from meetings.rooms import provision_rooms
from meetings.verdict import verify_attendance
from tests.concurrency import race
from tests.factories import book

pytestmark = pytest.mark.django_db

SECOND = dt.timedelta(seconds=1)
MINUTE = dt.timedelta(minutes=1)
MARGIN = 45 * SECOND


@pytest.fixture(autouse=True)
def margin(settings):
    """These tests are written for a 45 s margin (the default is 90 s, for hidden tabs)."""
    settings.LOCAL_PRESENCE_MARGIN_SECONDS = 45


@pytest.fixture
def room(meeting, alice, now):
    """Charlie's 13:00–14:00 UTC class with its local room made and Alice's confirmed seat."""
    book(alice, meeting, now=now)
    provision_rooms(now)
    meeting.refresh_from_db()
    assert meeting.room_provider == "local"
    return meeting


def at(moment):
    return time_machine.travel(moment, tick=False)


def link(meeting, person, role, moment) -> str:
    """The room page's path and query from the credentials ``person`` gets at ``moment``."""
    with at(moment):
        parts = urlsplit(credentials_for(meeting, person, role, moment).url)
    return f"{parts.path}?{parts.query}"


def visit(client, url, moment, action=None):
    with at(moment):
        return client.get(url) if action is None else client.post(url, {"action": action})


def stay(client, url, since, until):
    """The open page's heartbeats, every 20 s after ``since`` up to ``until``."""
    moment = since + 20 * SECOND
    while moment <= until:
        assert visit(client, url, moment, "heartbeat").status_code == 200
        moment += 20 * SECOND


def open_class(meeting):
    with at(meeting.start_time):
        run_sweeps(meeting.start_time)
    meeting.refresh_from_db()


def close_class(meeting) -> Meeting:
    with at(meeting.close_at):
        run_sweeps(meeting.close_at)
    return Meeting.objects.select_related("teacher", "course").get(pk=meeting.pk)


def teacher_sessions(meeting):
    return list(MeetingParticipant.objects.filter(meeting=meeting, role="teacher").order_by("joined_at", "id"))


def test_a_page_load_without_heartbeats_counts_the_margin_not_until_the_close(client, room, teacher):
    open_class(room)
    start = room.start_time
    assert visit(client, link(room, teacher, "teacher", start), start).status_code == 200
    # The laptop was closed at once: the single path (a verdict asked for while the class runs) sees 45 s...
    assert verify_attendance(Meeting.objects.get(pk=room.pk), now=start + 30 * MINUTE).seconds == 45
    closed = close_class(room)
    # ... and so do the room's end (the session's left_at) and the settle sweep's batch path.
    assert [s.left_at for s in teacher_sessions(room)] == [start + MARGIN]
    assert (closed.attendance_verdict, closed.teacher_attended_seconds) == ("absent", 45)


def test_heartbeats_every_20_seconds_for_six_minutes_count_six_minutes(client, room, teacher):
    open_class(room)
    start = room.start_time
    url = link(room, teacher, "teacher", start)
    assert visit(client, url, start).status_code == 200
    assert visit(client, url, start + 20 * SECOND, "heartbeat").json() == {"in_room": True, "heartbeat_seconds": 20}
    stay(client, url, start + 20 * SECOND, start + 6 * MINUTE)
    closed = close_class(room)
    [session] = teacher_sessions(room)
    assert (session.joined_at, session.last_seen_at, session.left_at) == (
        start,
        start + 6 * MINUTE,
        start + 6 * MINUTE + MARGIN,
    )
    assert (closed.attendance_verdict, closed.teacher_attended_seconds) == ("present", 6 * 60 + 45)


@pytest.mark.django_db(transaction=True)
def test_the_open_and_close_sweeps_run_twice_change_nothing_more(client, room, teacher):
    """With real commits: a teacher who vanished before the start neither starts the class nor gets the time until
    the close, however often the sweeps run."""
    early = room.start_time - 10 * MINUTE
    visit(client, link(room, teacher, "teacher", early), early)
    for _ in range(2):
        open_class(room)
        assert room.state == Meeting.State.OPEN
    first = close_class(room)
    with at(room.close_at):
        again = run_sweeps(room.close_at)
    assert not again["end_rooms"] and not again["settle_closed_meetings"]
    assert [s.left_at for s in teacher_sessions(room)] == [early + MARGIN]
    assert (first.attendance_verdict, first.teacher_attended_seconds) == ("absent", 0)
    assert first.review_reason == "teacher seen only before the class started"


def test_a_teacher_heartbeating_to_the_end_is_counted_until_the_close(client, room, teacher):
    open_class(room)
    start = room.start_time
    url = link(room, teacher, "teacher", start)
    visit(client, url, start)
    moment = start
    while moment + 40 * SECOND < room.close_at:
        moment += 40 * SECOND
        assert visit(client, url, moment, "heartbeat").status_code == 200
    closed = close_class(room)
    assert [s.left_at for s in teacher_sessions(room)] == [room.close_at]
    assert closed.teacher_attended_seconds == (room.close_at - start).total_seconds()


def test_leave_ends_the_session_at_once(client, room, teacher):
    open_class(room)
    start = room.start_time
    url = link(room, teacher, "teacher", start)
    visit(client, url, start)
    stay(client, url, start, start + 2 * MINUTE)
    reply = visit(client, url, start + 2 * MINUTE + 10 * SECOND, "leave")
    assert reply.status_code == 200 and "You left the room" in reply.content.decode()
    assert [s.left_at for s in teacher_sessions(room)] == [start + 2 * MINUTE + 10 * SECOND]
    assert not present_at(start + 2 * MINUTE + 10 * SECOND, MeetingParticipant.objects.filter(meeting=room)).exists()


def test_a_leave_after_the_heartbeat_stopped_keeps_the_earlier_end(client, room, teacher):
    start = room.start_time
    url = link(room, teacher, "teacher", start)
    visit(client, url, start)
    visit(client, url, start + 2 * MINUTE, "leave")  # the page was frozen in between: gone at start + 45 s
    assert [s.left_at for s in teacher_sessions(room)] == [start + MARGIN]


def test_the_old_leave_form_without_an_action_still_leaves(client, room, teacher):
    start = room.start_time
    url = link(room, teacher, "teacher", start)
    visit(client, url, start)
    with at(start + 30 * SECOND):
        assert client.post(url).status_code == 200
    assert [s.left_at for s in teacher_sessions(room)] == [start + 30 * SECOND]


def test_a_heartbeat_after_the_margin_starts_a_new_session(client, room, teacher):
    open_class(room)
    start = room.start_time
    url = link(room, teacher, "teacher", start)
    visit(client, url, start)
    visit(client, url, start + 20 * SECOND, "heartbeat")
    # The wifi dropped for three minutes; the page's next heartbeat gets through.
    visit(client, url, start + 3 * MINUTE + 20 * SECOND, "heartbeat")
    visit(client, url, start + 3 * MINUTE + 40 * SECOND, "leave")
    assert [(s.joined_at, s.left_at) for s in teacher_sessions(room)] == [
        (start, start + 20 * SECOND + MARGIN),  # ended at its last heartbeat plus the margin, not stretched
        (start + 3 * MINUTE + 20 * SECOND, start + 3 * MINUTE + 40 * SECOND),
    ]


def test_the_page_sends_the_heartbeat_with_the_csrf_token(client, room, teacher):
    reply = visit(client, link(room, teacher, "teacher", room.start_time), room.start_time)
    page = reply.content.decode()
    assert reply.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in page and 'data-heartbeat-ms="20000"' in page
    assert "fetch(form.action" in page and '"X-CSRFToken": csrf' in page and 'body("heartbeat")' in page
    assert 'addEventListener("pagehide"' in page and 'navigator.sendBeacon(form.action, body("leave"))' in page
    assert ">Leave the room</button>" in page
    assert read_token(reply.wsgi_request.GET["t"])["i"] not in page  # the token's identity is not echoed


def test_a_heartbeat_without_the_csrf_token_is_refused_and_writes_nothing(room, teacher):
    browser = Client(enforce_csrf_checks=True)
    start = room.start_time
    url = link(room, teacher, "teacher", start)
    assert visit(browser, url, start).status_code == 200
    before = teacher_sessions(room)
    with at(start + 20 * SECOND):
        assert browser.post(url, {"action": "heartbeat"}).status_code == 403
    assert (
        [(s.last_seen_at, s.left_at) for s in teacher_sessions(room)]
        == [(start, None)]
        == [(s.last_seen_at, s.left_at) for s in before]
    )
    with at(start + 40 * SECOND):  # what the page's script sends
        token = browser.cookies["csrftoken"].value
        assert browser.post(url, {"action": "heartbeat", "csrfmiddlewaretoken": token}).status_code == 200
    assert [s.last_seen_at for s in teacher_sessions(room)] == [start + 40 * SECOND]


def test_a_heartbeat_with_a_bad_token_is_refused_and_writes_nothing(client, room, teacher):
    start = room.start_time
    url = link(room, teacher, "teacher", start)
    forged = url[:-3] + ("aaa" if not url.endswith("aaa") else "bbb")
    assert visit(client, forged, start, "heartbeat").status_code == 403
    assert visit(client, forged, start).status_code == 403
    assert not MeetingParticipant.objects.filter(meeting=room).exists()


def test_a_heartbeat_with_an_expired_token_is_refused_and_writes_nothing(client, room, teacher):
    start = room.start_time
    url = link(room, teacher, "teacher", start)
    visit(client, url, start)
    visit(client, url, start + 20 * SECOND, "heartbeat")
    # No sweep closed the class (the cluster was down), but the token expired at the close moment.
    assert visit(client, url, room.close_at, "heartbeat").status_code == 403
    assert visit(client, url, room.close_at, "leave").status_code == 403
    assert [(s.last_seen_at, s.left_at) for s in teacher_sessions(room)] == [(start + 20 * SECOND, None)]


def test_a_heartbeat_for_a_closed_class_is_refused(client, room, teacher):
    open_class(room)
    url = link(room, teacher, "teacher", room.start_time)
    visit(client, url, room.start_time)
    close_class(room)
    before = [(s.last_seen_at, s.left_at) for s in teacher_sessions(room)]
    assert visit(client, url, room.close_at + SECOND, "heartbeat").status_code == 403
    assert [(s.last_seen_at, s.left_at) for s in teacher_sessions(room)] == before


def test_an_unknown_action_is_a_clear_400(client, room, teacher):
    url = link(room, teacher, "teacher", room.start_time)
    reply = visit(client, url, room.start_time, "<script>")
    assert reply.status_code == 400 and reply["Content-Type"].startswith("text/plain")
    assert not MeetingParticipant.objects.filter(meeting=room).exists()


# --- the open sweep's "teacher already in the room" ------------------------------------------------------------------


def test_a_teacher_who_vanished_before_the_start_does_not_make_the_class_in_progress(client, room, teacher):
    early = room.start_time - 10 * MINUTE
    visit(client, link(room, teacher, "teacher", early), early)  # then the page went silent
    open_class(room)
    assert room.state == Meeting.State.OPEN


def test_a_teacher_still_heartbeating_at_the_start_makes_it_in_progress(client, room, teacher):
    early = room.start_time - 2 * MINUTE
    url = link(room, teacher, "teacher", early)
    visit(client, url, early)
    stay(client, url, early, room.start_time)
    open_class(room)
    assert room.state == Meeting.State.IN_PROGRESS


def test_a_teacher_coming_back_after_the_open_makes_it_in_progress(client, room, teacher):
    early = room.start_time - 10 * MINUTE
    url = link(room, teacher, "teacher", early)
    visit(client, url, early)
    open_class(room)
    assert visit(client, url, room.start_time + MINUTE, "heartbeat").status_code == 200
    room.refresh_from_db()
    assert room.state == Meeting.State.IN_PROGRESS and len(teacher_sessions(room)) == 2


# --- students: the grace limits a first entry, a rejoin works until the close ----------------------------------


def test_a_student_who_never_entered_is_refused_after_the_grace_although_her_token_is_valid(client, room, alice):
    url = link(room, alice, "student", room.start_time + 2 * MINUTE)  # valid until the close moment
    for action in (None, "heartbeat"):
        reply = visit(client, url, room.student_may_join_until, action)
        assert reply.status_code == 403 and "late-join grace period is over" in reply.content.decode()
    assert not MeetingParticipant.objects.filter(meeting=room).exists()


def test_a_student_who_dropped_out_comes_back_with_the_same_link(client, room, alice):
    start = room.start_time
    url = link(room, alice, "student", start + 2 * MINUTE)
    assert visit(client, url, start + 2 * MINUTE).status_code == 200
    stay(client, url, start + 2 * MINUTE, start + 5 * MINUTE)
    visit(client, url, start + 5 * MINUTE, "leave")
    assert visit(client, url, start + 30 * MINUTE).status_code == 200
    sessions = MeetingParticipant.objects.filter(meeting=room, identity=identity_of(alice)).order_by("joined_at")
    assert [(s.joined_at, s.left_at, s.student) for s in sessions] == [
        (start + 2 * MINUTE, start + 5 * MINUTE, alice),
        (start + 30 * MINUTE, None, alice),
    ]


# --- settings --------------------------------------------------------------------------------------------------------


def test_a_margin_not_longer_than_the_heartbeat_stops_start_up(tmp_path):
    env = {
        **os.environ,
        "ENV_FILE": str(tmp_path / "none.env"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOCAL_HEARTBEAT_SECONDS": "30",
        "LOCAL_PRESENCE_MARGIN_SECONDS": "30",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "LOCAL_PRESENCE_MARGIN_SECONDS" in result.stderr and "larger than LOCAL_HEARTBEAT_SECONDS" in result.stderr


# --- two tabs opened at once -----------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_tabs_entering_at_once_make_one_session(room, teacher):
    start = room.start_time
    claims = read_token(link(room, teacher, "teacher", start).partition("?t=")[2])

    def enter(now):
        return lambda: enter_room(Meeting.objects.select_related("teacher").get(pk=room.pk), claims, now=now).pk

    first, second = race(enter(start), enter(start + dt.timedelta(milliseconds=300)))
    assert first == second, (first, second)
    assert len(teacher_sessions(room)) == 1
