"""What the peak minute of an evening costs in queries (issue 22; bench/http.py measures it over HTTP): a student's
meeting list, the join API and the join link's click, each with an API token as the apps send it. A fixed number
whatever the size of the school, so a regression (a query per meeting, one more per request) fails here."""

import datetime as dt

import pytest
import time_machine

from bookings import links
from classroom import policies, tokens
from core import statements
from meetings.api import VisibleUnion
from meetings.rooms import provision_rooms
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def policies_read_once(monkeypatch):
    """The policy versions are read once per tick per process; here once per test (the first request reads them)."""
    monkeypatch.setattr(policies, "CACHE_SECONDS", 3600)
    policies.clear_cache()


@pytest.fixture
def with_token(alice, now):
    _, token = tokens.issue(alice.user, now=now)
    return {"HTTP_AUTHORIZATION": f"Token {token}"}


@pytest.fixture
def school(alice, bob, teacher, now):
    """Alice booked into three classes of the next days, ten more she may book, Bob in some of them, and her past."""
    classes = [
        factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(days=1, hours=hours))
        for hours in range(13)
    ]
    for meeting in classes[:3]:
        factories.book(alice, meeting, now=now)
    for meeting in classes[2:6]:
        factories.book(bob, meeting, now=now)
    return classes


def test_a_students_list_costs_two_queries_however_many_classes_they_see(
    client, with_token, school, teacher, alice, now, django_assert_num_queries
):
    assert client.get("/api/v1/meetings/", **with_token).status_code == 200  # warms the policy and content types
    # token + user + records; the page with the count, each row's course and teacher and the student's seat
    with django_assert_num_queries(2):
        body = client.get("/api/v1/meetings/", **with_token).json()
    assert body["count"] == 13 and len(body["results"]) == 13
    assert [row["my_booking"] is not None for row in body["results"]] == [True] * 3 + [False] * 10
    for hours in range(20, 40):
        later = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(days=2, hours=hours))
        factories.book(alice, later, now=now)
    with django_assert_num_queries(2):
        body = client.get("/api/v1/meetings/?page=2", **with_token).json()
    assert body["count"] == 33 and len(body["results"]) == 13
    # A page past the end has no row to carry the count: the count alone, then 404.
    with django_assert_num_queries(3):
        assert client.get("/api/v1/meetings/?page=3", **with_token).status_code == 404


@pytest.fixture
def compiled_pages(monkeypatch) -> list[int]:
    """The list pages compiled into SQL (core.statements), from none, each compiled once (not checked again)."""
    monkeypatch.setattr(statements, "CHECKED", False)
    statements.clear()
    compiled = []
    compile_page = VisibleUnion._compile_page
    monkeypatch.setattr(
        VisibleUnion, "_compile_page", lambda self, stop: compiled.append(stop) or compile_page(self, stop)
    )
    return compiled


def test_the_list_compiles_once_per_kind_of_caller_and_each_request_binds_its_own_values(
    client, school, teacher, alice, bob, now, frozen_clock, compiled_pages
):
    """core.statements: the students share one compiled page, the teacher has their own; each student sees their
    own seats, the teacher their own classes."""

    def seats(person) -> list[bool]:
        _, token = tokens.issue(person.user, now=now)
        body = client.get("/api/v1/meetings/", HTTP_AUTHORIZATION=f"Token {token}").json()
        return [row["my_booking"] is not None for row in body["results"]]

    assert seats(alice) == [True] * 3 + [False] * 10
    assert seats(bob) == [False] * 2 + [True] * 4 + [False] * 7
    assert seats(alice) == [True] * 3 + [False] * 10
    assert len(compiled_pages) == 1
    other = factories.TeacherFactory()
    factories.MeetingFactory(teacher=other, start_time=now + dt.timedelta(days=1))
    assert seats(teacher) == [False] * 13 and seats(other) == [False]
    assert len(compiled_pages) == 2


def test_the_compiled_list_reads_each_requests_time_and_the_policy_in_force(
    client, meeting, bob, now, set_policy, compiled_pages
):
    """A class Bob has not booked is listed while it can still be joined: by the time of the request, and by the
    grace of the version it is pinned to, a new version being a new statement."""
    set_policy(student_late_join_grace_minutes=15)
    _, token = tokens.issue(bob.user, now=now)

    def listed(at) -> bool:
        with time_machine.travel(at, tick=False):
            body = client.get("/api/v1/meetings/", HTTP_AUTHORIZATION=f"Token {token}").json()
        return [row["id"] for row in body["results"]] == [meeting.pk]

    started = meeting.start_time
    assert listed(started + dt.timedelta(minutes=14, seconds=59))
    assert not listed(started + dt.timedelta(minutes=15))
    set_policy(student_late_join_grace_minutes=30)
    assert listed(started + dt.timedelta(minutes=20))
    assert not listed(started + dt.timedelta(minutes=30))
    assert len(compiled_pages) == 2  # one per version, whatever the time


@pytest.fixture
def in_the_room(alice, meeting, now, frozen_clock):
    """Alice's seat in Charlie's class, its room made, one minute after the start."""
    booking = factories.book(alice, meeting, now=now)
    provision_rooms(meeting.start_time - dt.timedelta(minutes=30))
    frozen_clock.move_to(meeting.start_time + dt.timedelta(minutes=1))
    return booking


@pytest.mark.parametrize("provider", ["local", "zoom", "livekit"])
def test_the_join_link_click_is_one_query_with_every_provider(
    provider, request, client, alice, meeting, now, frozen_clock, django_assert_num_queries
):
    """One statement of the columns links.CLICK_* name: a column a provider reads that is missing there would be
    loaded by a query of its own, and counted here."""
    if provider != "local":
        request.getfixturevalue("zoom_accounts" if provider == "zoom" else provider)
    booking = factories.book(alice, meeting, now=now)
    provision_rooms(meeting.start_time - dt.timedelta(minutes=30))
    meeting.refresh_from_db()
    assert meeting.room_provider == provider and meeting.room_provisioned_at is not None
    frozen_clock.move_to(meeting.start_time + dt.timedelta(minutes=1))
    url = links.join_url(booking.appointment.pk).removeprefix("http://127.0.0.1:8000")
    first = client.get(url)
    assert first.status_code == 302
    # the appointment with its booking, student and meeting; the window is the clock and the policy
    with django_assert_num_queries(1):
        response = client.get(url)
    assert response.status_code == 302 and response["Location"] == first["Location"]
    assert {"local": "/rooms/", "zoom": meeting.room_join_url, "livekit": "/join?"}[provider] in response["Location"]


def test_the_join_api_is_three_queries(client, with_token, in_the_room, django_assert_num_queries):
    url = f"/api/v1/meetings/{in_the_room.meeting_id}/join/"
    assert client.get(url, **with_token).status_code == 200
    # token + user + records, the meeting if visible, the confirmed seat
    with django_assert_num_queries(3):
        body = client.get(url, **with_token).json()
    assert body["role"] == "student"
