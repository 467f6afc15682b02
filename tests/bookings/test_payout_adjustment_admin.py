"""The payout adjustment ledger in the admin: staff read it; nobody adds, edits or deletes a row."""

import datetime as dt

import pytest
from django.urls import reverse

from bookings import transitions
from bookings.models import PayoutAdjustment
from tests.bookings.test_refunds import later, settled_class

pytestmark = pytest.mark.django_db


@pytest.fixture
def adjustment(now, staff):
    payout, (alice, _bob, _carol) = settled_class(now)
    transitions.approve_payout(payout, now=later(payout))
    transitions.refund_booking(alice, now=later(payout) + dt.timedelta(hours=1), actor=staff, reason="goodwill")
    return PayoutAdjustment.objects.get()


def test_staff_see_the_ledger_and_each_row(client, staff, adjustment):
    client.force_login(staff)
    listing = client.get(reverse("admin:bookings_payoutadjustment_changelist")).content.decode()
    assert "-8.24" in listing and "Alice" in listing
    page = client.get(reverse("admin:bookings_payoutadjustment_change", args=[adjustment.pk])).content.decode()
    assert "goodwill" in page and "sam" in page
    assert 'name="_save"' not in page


def test_the_ledger_is_never_written_in_the_admin(client, staff, adjustment):
    client.force_login(staff)
    assert client.get(reverse("admin:bookings_payoutadjustment_add")).status_code == 403
    delete = reverse("admin:bookings_payoutadjustment_delete", args=[adjustment.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert PayoutAdjustment.objects.filter(pk=adjustment.pk).exists()
