"""MeetingSerializer writes its answer out by hand (issue 22: DRF's generic walk was most of a list request's Python).
These tests hold it to DRF's own walk of the same declared fields, key for key and value for value, for every kind of
caller and meeting; and the list's seats, read for a whole page at once, to the one-meeting answer."""

import datetime as dt

import pytest
from django.db.models import Q
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from bookings.serializers import BookedMeetingSerializer
from bookings.transitions import cancel_booking
from classroom import tokens
from meetings import lifecycle, series
from meetings.api import visible_meetings
from meetings.models import Meeting
from meetings.serializers import MeetingSerializer
from tests import factories

pytestmark = pytest.mark.django_db


def generic(meeting, context, serializer=MeetingSerializer) -> dict:
    """DRF's walk over the serializer's declared fields (what to_representation replaced)."""
    return serializers.ModelSerializer.to_representation(serializer(context=context), meeting)


def context_of(user) -> dict:
    request = APIRequestFactory().get("/api/v1/meetings/")
    request.user = user
    return {"request": request}


@pytest.fixture
def meetings(alice, bob, teacher, now):
    """A booked class, one re-booked after a cancel, one booked by someone else, a cancelled one, two starting
    together, a full one, an occurrence of a weekly class, and one that no sweep has pinned a policy on yet."""
    soon = [
        factories.MeetingFactory(teacher=teacher, title=f"Class {n}", start_time=now + dt.timedelta(days=1, hours=n))
        for n in range(5)
    ]
    factories.book(alice, soon[0], now=now)
    cancel_booking(factories.book(alice, soon[1], now=now), now=now)
    factories.book(alice, soon[1], now=now + dt.timedelta(minutes=1))  # the newer seat is the one shown
    factories.book(bob, soon[2], now=now)
    lifecycle.cancel_meeting(soon[3], now=now, reason="ill")
    full = factories.MeetingFactory(teacher=teacher, capacity=1, start_time=now + dt.timedelta(days=2))
    factories.book(bob, full, now=now)
    weekly = series.create_series(
        teacher=teacher,
        course=soon[0].course,
        title="Weekly",
        local_start="2026-07-06T19:30",
        time_zone="Asia/Taipei",
        duration_minutes=60,
        rrule="FREQ=WEEKLY;COUNT=1",
        now=now,
    )
    weekly.occurrences.update(series_note="moved to 03:30 (the clocks skip 02:30)")  # a note as the rule writes one
    twin = factories.MeetingFactory(teacher=teacher, title="Twin", start_time=soon[4].start_time)  # ordered by id
    unpinned = factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(days=3))
    Meeting.objects.filter(pk=unpinned.pk).update(policy=None)
    return (
        Meeting.objects.select_related("teacher", "course")
        .order_by("start_time", "id")
        .filter(pk__in=[m.pk for m in (*soon, twin, full, unpinned, *weekly.occurrences.all())])
    )


@pytest.mark.parametrize("serializer", [MeetingSerializer, BookedMeetingSerializer])
@pytest.mark.parametrize("who", ["alice", "bob", "teacher", "staff", "nobody"])
def test_each_meeting_reads_as_drfs_generic_walk_would_for_every_caller(
    who, serializer, meetings, alice, bob, teacher, staff
):
    user = {"alice": alice.user, "bob": bob.user, "teacher": teacher.user, "staff": staff}.get(who)
    context = context_of(user) if user is not None else {}
    rows = list(meetings)
    assert len(rows) == 9 and any(m.series_id for m in rows) and any(m.policy_id is None for m in rows)
    for meeting in rows:
        mine = serializer(meeting, context=context).data
        # the same keys in the same order (the JSON's), with the same values
        assert list(mine.items()) == list(generic(meeting, context, serializer).items())
    many = serializer(rows, many=True, context=context).data
    assert many == [generic(m, context, serializer) for m in rows]
    if serializer is BookedMeetingSerializer:
        return
    if who == "alice":
        seats = [row["my_booking"] for row in MeetingSerializer(rows, many=True, context=context).data]
        assert seats[0]["status"] == "confirmed" and seats[1]["status"] == "confirmed" and seats[2] is None


@pytest.mark.parametrize("who", ["alice", "teacher", "staff"])
@pytest.mark.parametrize("query", ["", "&state=scheduled", "&starts_after=2026-07-02T14:00:00Z", "&series=0"])
def test_the_lists_pages_are_the_orms_visible_meetings_each_as_its_own_answer(
    who, query, client, meetings, alice, teacher, staff, now, frozen_clock
):
    """VisibleUnion reads a page, its count, rows and seats in one SQL query: page by page (3 rows a page, so the
    last one is short) the same meetings in the same order as the ORM's visible_meetings, each row what the
    meeting's own answer (read by the ORM) is."""
    user = {"alice": alice.user, "teacher": teacher.user, "staff": staff}[who]
    _, token = tokens.issue(user, now=now)
    auth = {"HTTP_AUTHORIZATION": f"Token {token}"}
    if query == "&series=0":
        query = f"&series={Meeting.objects.exclude(series=None).get().series_id}"
    listed, page = [], 1
    while True:
        response = client.get(f"/api/v1/meetings/?page_size=3&page={page}{query}", **auth)
        assert response.status_code == 200, response.content
        body = response.json()
        listed += body["results"]
        assert body["count"] >= len(listed) and len(body["results"]) <= 3
        if body["next"] is None:
            break
        page += 1
    assert body["count"] == len(listed) >= 1
    assert client.get(f"/api/v1/meetings/?page_size=3&page={page + 1}{query}", **auth).status_code == 404
    params = dict(part.split("=") for part in query.split("&")[1:])
    filters = Q()
    if "starts_after" in params:
        filters &= Q(start_time__gte=dt.datetime.fromisoformat(params.pop("starts_after")))
    visible = visible_meetings(user, now).filter(filters, **params)
    assert [row["id"] for row in listed] == list(visible.values_list("pk", flat=True))
    for row in listed:
        # one meeting by id: its course, teacher and seat read by the ORM (the serializer's fallback)
        assert client.get(f"/api/v1/meetings/{row['id']}/", **auth).json() == row
    if who == "alice" and not query:
        mine = {row["title"]: row["my_booking"] for row in listed}
        assert mine["Class 0"]["status"] == "confirmed" and mine["Class 1"]["status"] == "confirmed"
        assert mine["Class 2"] is None  # Bob's seat, not hers
