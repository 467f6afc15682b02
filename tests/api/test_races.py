"""API requests racing on real concurrent connections (threads with their own connections; run on PostgreSQL in CI's
second half, where row locks and the unique index do the work; SQLite serializes the writers)."""

import datetime as dt
from collections import Counter

import pytest

from bookings.models import Booking
from classroom.models import IdempotencyKey
from core.models import StateChange
from meetings.models import Meeting
from tests import factories
from tests.api.conftest import client_for
from tests.concurrency import race

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


def post(user, path, body, **headers):
    return lambda: client_for(user).post(path, body, format="json", **headers)


def test_two_students_racing_for_the_last_seat_one_gets_it(alice, bob, teacher, now):
    meeting = factories.MeetingFactory(teacher=teacher, course=factories.CourseFactory(capacity=1))
    results = race(
        post(alice.user, "/api/v1/bookings/", {"meeting": meeting.pk}),
        post(bob.user, "/api/v1/bookings/", {"meeting": meeting.pk}),
    )
    assert sorted(r.status_code for r in results) == [201, 409], [r.content for r in results]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["error"]["code"] == "class_full"
    assert Booking.objects.count() == 1 and Meeting.objects.get(pk=meeting.pk).seats_taken == 1


def test_two_identical_bookings_at_once_book_once(alice, teacher, now):
    meeting = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(days=3))
    request = post(alice.user, "/api/v1/bookings/", {"meeting": meeting.pk}, HTTP_IDEMPOTENCY_KEY="twin")
    results = race(request, request, request)
    assert [r.status_code for r in results] == [201, 201, 201], [r.content for r in results]
    assert len({r.content for r in results}) == 1  # the same answer three times
    assert Counter(r.get("Idempotent-Replayed") for r in results) == {None: 1, "true": 2}
    assert Booking.objects.count() == 1 and Meeting.objects.get(pk=meeting.pk).seats_taken == 1
    assert IdempotencyKey.objects.count() == 1


def test_two_identical_opens_at_once_open_once(staff, meeting):
    request = post(staff, f"/api/v1/admin/meetings/{meeting.pk}/open/", {}, HTTP_IDEMPOTENCY_KEY="open-twin")
    results = race(request, request)
    assert [r.status_code for r in results] == [200, 200], [r.content for r in results]
    assert [r.json()["changed"] for r in results] == [True, True]  # the replay repeats the first answer
    assert StateChange.objects.filter(meeting=meeting, to_state="open").count() == 1
