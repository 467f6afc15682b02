"""One account that is both a teacher and a student (Erin teaches, and takes Dana's classes): what the API lets her
see and change. She acts as a teacher on her own classes and as a student on other teachers' classes; she cannot take
a seat in a class she teaches, and she cannot change anyone else's."""

import datetime as dt
from decimal import Decimal

import pytest

from bookings.models import Booking
from bookings.transitions import create_payout
from tests import factories
from tests.api.conftest import assert_error, client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def erin(db):
    user = factories.UserFactory(username="erin")
    teacher = factories.TeacherFactory(user=user, display_name="Erin", time_zone="Europe/Berlin")
    student = factories.StudentFactory(user=user, display_name="Erin", time_zone="Europe/Berlin")
    return user, teacher, student


@pytest.fixture
def as_erin(erin):
    return client_for(erin[0])


@pytest.fixture
def erins_meeting(erin, now):
    return factories.MeetingFactory(
        teacher=erin[1],
        title="German Grammar",
        start_time=now + dt.timedelta(days=1),
        end_time=now + dt.timedelta(days=1, hours=1),
    )


@pytest.fixture
def danas_past_meeting(dana, now):
    """Over and closed, and Erin never booked it: nothing of hers."""
    return factories.MeetingFactory(
        teacher=dana,
        state="closed",
        start_time=now - dt.timedelta(days=1),
        end_time=now - dt.timedelta(days=1) + dt.timedelta(hours=1),
    )


def test_me_shows_both_roles_and_both_records(as_erin, erin):
    me = as_erin.get("/api/v1/me/").json()
    assert me["roles"] == ["teacher", "student"]
    assert (me["teacher_id"], me["student_id"]) == (erin[1].pk, erin[2].pk)


def test_changing_her_zone_changes_it_for_both_roles(as_erin, erin):
    assert as_erin.patch("/api/v1/me/", {"time_zone": "Asia/Taipei"}).status_code == 200
    erin[1].refresh_from_db()
    erin[2].refresh_from_db()
    assert erin[1].time_zone == erin[2].time_zone == "Asia/Taipei"


def test_she_sees_her_own_classes_and_those_she_may_book_but_not_others(
    as_erin, erins_meeting, danas_meeting, danas_past_meeting
):
    listed = {m["id"] for m in as_erin.get("/api/v1/meetings/").json()["results"]}
    assert listed == {erins_meeting.pk, danas_meeting.pk}
    assert_error(as_erin.get(f"/api/v1/meetings/{danas_past_meeting.pk}/"), 404, "not_found")


def test_she_edits_her_own_class(as_erin, erins_meeting):
    response = as_erin.patch(f"/api/v1/meetings/{erins_meeting.pk}/", {"title": "German Grammar B1"})
    assert response.status_code == 200, response.content
    erins_meeting.refresh_from_db()
    assert erins_meeting.title == "German Grammar B1"


def test_she_cannot_change_or_cancel_another_teachers_class(as_erin, danas_meeting):
    edit = as_erin.patch(f"/api/v1/meetings/{danas_meeting.pk}/", {"title": "Mine now"})
    assert_error(edit, 403, "permission_denied")
    assert_error(as_erin.post(f"/api/v1/meetings/{danas_meeting.pk}/cancel/", {}), 403, "permission_denied")
    danas_meeting.refresh_from_db()
    assert (danas_meeting.title, danas_meeting.state) == ("Taiwanese Cooking", "scheduled")


def test_she_books_and_cancels_a_seat_in_another_teachers_class(as_erin, erin, danas_meeting):
    booked = as_erin.post("/api/v1/bookings/", {"meeting": danas_meeting.pk})
    assert booked.status_code == 201, booked.content
    assert [b["id"] for b in as_erin.get("/api/v1/bookings/").json()["results"]] == [booked.json()["id"]]
    cancelled = as_erin.post(f"/api/v1/bookings/{booked.json()['id']}/cancel/", {})
    assert cancelled.status_code == 200, cancelled.content
    assert Booking.objects.get(pk=booked.json()["id"], student=erin[2]).status == "cancelled"


def test_she_cannot_book_a_seat_in_her_own_class(as_erin, erins_meeting):
    """She would pay herself, count towards her own payout and take a real student's seat: a 409 that says why."""
    error = assert_error(as_erin.post("/api/v1/bookings/", {"meeting": erins_meeting.pk}), 409, "own_class")
    assert "German Grammar" in error["message"]
    assert not erins_meeting.bookings.exists()


def test_her_payouts_are_only_her_own(as_erin, erin, danas_past_meeting, now):
    mine = factories.MeetingFactory(
        teacher=erin[1], state="closed", start_time=now - dt.timedelta(hours=3), end_time=now - dt.timedelta(hours=2)
    )
    create_payout(mine, gross=Decimal("20"), rate=Decimal("0.2"), now=now)
    create_payout(danas_past_meeting, gross=Decimal("30"), rate=Decimal("0.2"), now=now)
    payouts = as_erin.get("/api/v1/payouts/").json()["results"]
    assert [p["meeting"]["id"] for p in payouts] == [mine.pk]
