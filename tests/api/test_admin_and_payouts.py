"""Staff's open/close (the admin's transitions) and teachers' read-only payouts."""

from decimal import Decimal

import pytest

from bookings.transitions import create_payout
from core.models import StateChange
from meetings import lifecycle
from meetings.models import Meeting
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db


def test_staff_open_and_close_a_meeting(as_staff, staff, meeting, now):
    response = as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/open/", {"reason": "teacher asked"})
    assert response.status_code == 200, response.content
    assert response.json()["changed"] is True and response.json()["meeting"]["state"] == "open"
    opened = StateChange.objects.get(meeting=meeting, to_state="open")
    assert opened.actor == staff and opened.reason == "teacher asked"
    assert Meeting.objects.get(pk=meeting.pk).auto_opened is False

    response = as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/close/", {})
    assert response.status_code == 200 and response.json()["meeting"]["state"] == "closed"
    closed = StateChange.objects.get(meeting=meeting, to_state="closed")
    assert closed.actor == staff and closed.reason == "closed by sam"


def test_repeating_says_already(as_staff, meeting, now):
    lifecycle.open_meeting(meeting, now=now)
    response = as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/open/", {})
    assert response.status_code == 200
    assert response.json()["changed"] is False and "already open" in response.json()["message"]


def test_a_cancelled_meeting_cannot_be_opened_or_closed(as_staff, meeting, now):
    lifecycle.cancel_meeting(meeting, now=now, reason="x")
    assert_error(as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/open/", {}), 409, "illegal_transition")
    assert_error(as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/close/", {}), 409, "illegal_transition")


def test_closing_a_scheduled_meeting_is_a_conflict(as_staff, meeting):
    assert_error(as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/close/", {}), 409, "illegal_transition")


def test_unknown_meeting_is_a_404(as_staff):
    assert_error(as_staff.post("/api/v1/admin/meetings/999/open/", {}), 404, "not_found")


@pytest.mark.parametrize("who", ["as_charlie", "as_alice"])
@pytest.mark.parametrize("verb", ["open", "close"])
def test_only_staff_open_and_close(request, who, verb, meeting):
    client = request.getfixturevalue(who)
    assert_error(client.post(f"/api/v1/admin/meetings/{meeting.pk}/{verb}/", {}), 403, "permission_denied")
    assert Meeting.objects.get(pk=meeting.pk).state == "scheduled"


@pytest.mark.parametrize("verb", ["open", "close"])
def test_staff_who_may_only_look_cannot_open_or_close(verb, meeting):
    """The admin's "Open now" and "Close now" need meetings.change_meeting; the API's twins need the same, not just
    a staff login."""
    from tests.admin_users import staff_with
    from tests.api.conftest import client_for

    viewer = client_for(staff_with("vera", "meetings.view_meeting"))
    assert_error(viewer.post(f"/api/v1/admin/meetings/{meeting.pk}/{verb}/", {}), 403, "permission_denied")
    assert Meeting.objects.get(pk=meeting.pk).state == "scheduled"
    operator = client_for(staff_with("otto", "meetings.view_meeting", "meetings.change_meeting"))
    if verb == "close":
        lifecycle.open_meeting(meeting, now=meeting.start_time)
    assert operator.post(f"/api/v1/admin/meetings/{meeting.pk}/{verb}/", {}).status_code == 200


def test_a_bad_reason_is_a_400(as_staff, meeting):
    assert_error(
        as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/open/", {"reason": "x" * 501}),
        400,
        "validation_error",
        "reason",
    )
    assert Meeting.objects.get(pk=meeting.pk).state == "scheduled"


# --- payouts ---------------------------------------------------------------------------------------------------------


@pytest.fixture
def payouts(meeting, danas_meeting, now):
    mine, _ = create_payout(meeting, gross=Decimal("100"), rate=Decimal("0.2"), now=now)
    theirs, _ = create_payout(danas_meeting, gross=Decimal("50"), rate=Decimal("0.2"), now=now)
    return mine, theirs


def test_a_teacher_sees_only_their_payouts(as_charlie, payouts):
    mine, theirs = payouts
    body = as_charlie.get("/api/v1/payouts/").json()
    assert [p["id"] for p in body["results"]] == [mine.pk]
    payout = body["results"][0]
    assert (payout["gross"], payout["commission"], payout["net"], payout["state"]) == (
        "100.00",
        "20.00",
        "80.00",
        "pending",
    )
    assert payout["meeting"] == {"id": mine.meeting_id, "title": "IELTS Practice", "start_time": "2026-07-01T13:00:00Z"}
    assert_error(as_charlie.get(f"/api/v1/payouts/{theirs.pk}/"), 404, "not_found")


def test_students_have_no_payouts(as_alice, payouts):
    assert_error(as_alice.get("/api/v1/payouts/"), 403, "permission_denied")
    assert_error(as_alice.get(f"/api/v1/payouts/{payouts[0].pk}/"), 403, "permission_denied")


def test_staff_see_every_payout(as_staff, payouts):
    assert as_staff.get("/api/v1/payouts/").json()["count"] == 2


def test_payouts_are_read_only(as_charlie, payouts):
    assert_error(as_charlie.post("/api/v1/payouts/", {}), 405, "method_not_allowed")
    assert_error(as_charlie.patch(f"/api/v1/payouts/{payouts[0].pk}/", {"net": "1000"}), 405, "method_not_allowed")
