"""Policies in the admin: a new version made from the current one (form errors for refusals), never edited, shown
with its diff against the previous version; and for any payout, the version that decided it (admin and API)."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from bookings.models import Payout
from classroom import policies
from classroom.models import Policy
from meetings.settlement import settle
from tests import factories
from tests.meetings.closing import MINUTE, run_and_close

pytestmark = pytest.mark.django_db
ADD = "admin:classroom_policy_add"


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def form_data(**changes):
    values = policies.current(policies.FIRST_EFFECTIVE_FROM.replace(year=2100)).values()
    return {**values, "course": "", "effective_from": "", "note": "new term", **changes}


def test_the_new_version_form_is_filled_in_with_the_values_in_force(staff_client):
    page = staff_client.get(reverse(ADD))
    assert page.status_code == 200
    assert page.context["form"]["student_late_join_grace_minutes"].initial == 10
    assert b"Save as a new version" in page.content


def test_saving_makes_a_new_version_and_its_page_shows_the_diff(staff_client, staff):
    before = policies.current(policies.FIRST_EFFECTIVE_FROM.replace(year=2100)).version
    response = staff_client.post(reverse(ADD), form_data(student_late_join_grace_minutes="15"))
    made = Policy.objects.order_by("-id").first()
    assert made.pk != before and response.status_code == 302
    assert (made.values["student_late_join_grace_minutes"], made.author, made.note) == (15, staff, "new term")
    page = staff_client.get(reverse("admin:classroom_policy_change", args=[made.pk])).content.decode()
    assert f"against v{before}" in page
    assert "<tr><td>student_late_join_grace_minutes</td><td>10</td><td>15</td></tr>" in page
    listing = staff_client.get(reverse("admin:classroom_policy_changelist")).content.decode()
    assert "student_late_join_grace_minutes 10 → 15" in listing


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"teacher_early_join_minutes": "-1"}, "teacher_early_join_minutes", "cannot be negative"),
        ({"late_cancel_percent": "150"}, "late_cancel_percent", "from 0 to 100"),
        ({"meeting_auto_close_delay_minutes": "2000"}, "meeting_auto_close_delay_minutes", "more than a day"),
        ({"note": ""}, "note", "required"),
    ],
)
def test_a_refusal_is_a_form_error_and_saves_nothing(staff_client, changes, field, message):
    policies.current(policies.FIRST_EFFECTIVE_FROM)  # the first version exists (made on first use after a flush)
    before = Policy.objects.count()
    response = staff_client.post(reverse(ADD), form_data(**changes))
    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field])
    assert Policy.objects.count() == before


def test_a_version_cannot_be_changed_or_deleted_in_the_admin(staff_client):
    version = Policy.objects.get(pk=policies.current(policies.FIRST_EFFECTIVE_FROM).version)
    page = staff_client.get(reverse("admin:classroom_policy_change", args=[version.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert staff_client.post(reverse("admin:classroom_policy_delete", args=[version.pk])).status_code == 403


def test_staff_without_the_add_permission_cannot_make_a_version(client, db):
    viewer = factories.UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_policy"))
    client.force_login(viewer)
    assert client.get(reverse(ADD)).status_code == 403
    assert client.get(reverse("admin:classroom_policy_changelist")).status_code == 200


def test_staff_see_which_version_decided_any_payout_in_the_admin_and_the_api(staff_client, staff, alice, now):
    meeting = factories.MeetingFactory(start_time=now + 60 * MINUTE, end_time=now + 120 * MINUTE)
    factories.book(alice, meeting, now=now)
    closed = run_and_close(meeting, (0 * MINUTE, 50 * MINUTE))
    settle(closed, now=closed.closed_at)
    payout = Payout.objects.get(meeting=meeting)
    assert payout.policy_id == closed.policy_id and payout.gross == Decimal("10.00")

    page = staff_client.get(reverse("admin:bookings_payout_change", args=[payout.pk])).content.decode()
    assert str(Policy.objects.get(pk=payout.policy_id)) in page
    listing = staff_client.get(reverse("admin:bookings_payout_changelist")).content.decode()
    assert f"policy v{payout.policy_id}" in listing

    api = APIClient()
    api.force_authenticate(staff)
    assert api.get(f"/api/v1/payouts/{payout.pk}/").json()["policy"] == payout.policy_id
    assert api.get(f"/api/v1/meetings/{meeting.pk}/").json()["policy"] == closed.policy_id
