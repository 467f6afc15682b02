"""Who may move money in the admin: booking cancel/refund/complaint, payout approve/pay/hold, the payout export.

A staff user holding only view permissions must see no mutating action, and posting one anyway must change nothing.
"""

import datetime as dt

import pytest
from django.urls import reverse

from bookings.models import Booking, Payout
from bookings.transitions import approve_payout
from core.models import StateChange
from tests.admin_users import actions_offered, post_action, staff_with
from tests.bookings.test_payout_admin import payout_for
from tests.factories import TeacherFactory, book

pytestmark = pytest.mark.django_db
EXPORT = "admin:bookings_payout_export"


@pytest.fixture
def vera(client):
    """Vera may look at bookings and payouts and change nothing."""
    client.force_login(staff_with("vera", "bookings.view_booking", "bookings.view_payout", "meetings.view_meeting"))
    return client


@pytest.fixture
def charlie(db):
    return TeacherFactory(display_name="Charlie")


def states(model, objects):
    return [model.objects.values_list(model.state_field, flat=True).get(pk=o.pk) for o in objects]


def test_a_view_only_user_is_offered_no_booking_action(vera, meeting, alice, now):
    book(alice, meeting, now=now)
    assert actions_offered(vera, Booking) == []


@pytest.mark.parametrize("action", ["cancel", "refund_booking", "record_complaint"])
def test_posting_a_booking_action_without_its_permission_changes_nothing(vera, meeting, alice, now, action):
    booking = book(alice, meeting, now=now)
    history = StateChange.objects.count()
    post_action(vera, Booking, action, [booking], reason="forged" if action == "cancel" else None)
    booking.refresh_from_db()
    assert (booking.status, booking.has_complaint) == ("confirmed", False)
    assert StateChange.objects.count() == history


def test_changing_bookings_allows_cancel_and_complaints_but_refunds_need_their_own_permission(
    client, meeting, alice, bob, now
):
    alices, bobs = book(alice, meeting, now=now), book(bob, meeting, now=now)
    client.force_login(staff_with("olga", "bookings.view_booking", "bookings.change_booking"))
    assert set(actions_offered(client, Booking)) == {"cancel", "record_complaint"}
    post_action(client, Booking, "refund_booking", [alices])
    assert states(Booking, [alices]) == ["confirmed"]
    post_action(client, Booking, "cancel", [bobs], reason="Bob phoned: he is ill")
    assert states(Booking, [bobs]) == ["cancelled"]
    client.force_login(staff_with("rob", "bookings.view_booking", "bookings.refund_booking"))
    assert actions_offered(client, Booking) == ["refund_booking", "excuse"]  # excusing a charge is a refund too
    post_action(client, Booking, "refund_booking", [alices])
    assert states(Booking, [alices]) == ["refunded"]


def test_a_view_only_user_may_only_export_payouts(vera, charlie, now):
    payout_for(charlie, now)
    assert actions_offered(vera, Payout) == ["export_selected"]


@pytest.mark.parametrize(
    ("action", "start_in"), [("approve", "pending"), ("mark_payout_paid", "approved"), ("hold", "pending")]
)
def test_posting_a_payout_action_without_its_permission_changes_nothing(vera, charlie, now, action, start_in):
    payout = payout_for(charlie, now)
    if start_in == "approved":
        approve_payout(payout, now=now + dt.timedelta(days=2))
    history = StateChange.objects.count()
    post_action(vera, Payout, action, [payout])
    assert states(Payout, [payout]) == [start_in]
    assert StateChange.objects.count() == history


def test_each_money_step_has_its_own_permission(client, charlie, now):
    first, second = payout_for(charlie, now), payout_for(charlie, now + dt.timedelta(days=1))
    client.force_login(staff_with("ann", "bookings.view_payout", "bookings.approve_payout"))
    assert set(actions_offered(client, Payout)) == {"approve", "export_selected"}
    post_action(client, Payout, "approve", [first])
    post_action(client, Payout, "mark_payout_paid", [first])  # approving is not paying
    post_action(client, Payout, "hold", [second])
    assert states(Payout, [first, second]) == ["approved", "pending"]
    client.force_login(staff_with("paul", "bookings.view_payout", "bookings.pay_payout"))
    assert set(actions_offered(client, Payout)) == {"mark_payout_paid", "export_selected"}
    post_action(client, Payout, "mark_payout_paid", [first])
    client.force_login(staff_with("hal", "bookings.view_payout", "bookings.hold_payout"))
    post_action(client, Payout, "hold", [second])
    assert states(Payout, [first, second]) == ["paid", "held"]


def test_the_export_needs_the_payout_view_permission(client, charlie, now):
    payout = payout_for(charlie, now)
    approve_payout(payout, now=now + dt.timedelta(days=2))
    period = {"start": "2026-07-01", "end": "2026-07-31"}
    client.force_login(staff_with("nina", "meetings.view_meeting"))  # staff, but not allowed to see payouts
    assert client.get(reverse(EXPORT)).status_code == 403
    assert client.get(reverse(EXPORT), period).status_code == 403
    client.force_login(staff_with("vera", "bookings.view_payout"))
    response = client.get(reverse(EXPORT), period)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert str(payout.pk) in response.content.decode()
