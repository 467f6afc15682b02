"""Idempotency-Key on booking creation and staff open/close: the first answer is replayed, never acted twice."""

import datetime as dt

import pytest

from bookings.models import Booking
from classroom.idempotency import expire_idempotency_keys
from classroom.models import IdempotencyKey
from core.models import StateChange
from meetings.models import Meeting
from tests import factories
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def later_meeting(teacher, now):
    """Charlie's class in three days, so a booking outlives a key."""
    return factories.MeetingFactory(teacher=teacher, start_time=now + dt.timedelta(days=3))


def book(client, meeting, key, **body):
    return client.post("/api/v1/bookings/", {"meeting": meeting.pk, **body}, HTTP_IDEMPOTENCY_KEY=key)


def test_a_repeated_booking_replays_the_first_answer(as_alice, later_meeting):
    first = book(as_alice, later_meeting, "k-1")
    second = book(as_alice, later_meeting, "k-1")
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Booking.objects.count() == 1 and Meeting.objects.get(pk=later_meeting.pk).seats_taken == 1


def test_without_a_key_a_repeat_acts_again(as_alice, later_meeting):
    as_alice.post("/api/v1/bookings/", {"meeting": later_meeting.pk})
    assert_error(as_alice.post("/api/v1/bookings/", {"meeting": later_meeting.pk}), 409, "already_booked")


def test_an_error_answer_is_replayed_too(as_alice, as_bob, bob, teacher, now):
    meeting = factories.MeetingFactory(teacher=teacher, course=factories.CourseFactory(capacity=1))
    factories.book(bob, meeting, now=now)
    assert_error(book(as_alice, meeting, "k-full"), 409, "class_full")
    replay = book(as_alice, meeting, "k-full")
    assert_error(replay, 409, "class_full")
    assert replay["Idempotent-Replayed"] == "true"


def test_the_same_key_with_a_different_body_is_refused(as_alice, later_meeting, meeting):
    book(as_alice, later_meeting, "k-2")
    response = as_alice.post("/api/v1/bookings/", {"meeting": meeting.pk}, HTTP_IDEMPOTENCY_KEY="k-2")
    assert_error(response, 422, "idempotency_key_reused", "Idempotency-Key")
    assert Booking.objects.count() == 1


def test_keys_belong_to_one_user(as_alice, as_bob, later_meeting):
    assert book(as_alice, later_meeting, "shared").status_code == 201
    response = book(as_bob, later_meeting, "shared")
    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert Booking.objects.count() == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
def test_a_malformed_key_is_a_400_naming_the_header(as_alice, later_meeting, key):
    response = as_alice.post(
        "/api/v1/bookings/", {"meeting": later_meeting.pk}, HTTP_IDEMPOTENCY_KEY=key.encode().decode("latin-1")
    )
    assert_error(response, 400, "validation_error", "Idempotency-Key")
    assert not Booking.objects.exists() and not IdempotencyKey.objects.exists()


def test_an_expired_key_acts_afresh(as_alice, alice, later_meeting, frozen_clock, now, settings):
    first = book(as_alice, later_meeting, "k-3")
    from bookings.transitions import cancel_booking

    cancel_booking(Booking.objects.get(pk=first.json()["id"]), now=now)
    frozen_clock.move_to(now + dt.timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS, seconds=1))
    again = book(as_alice, later_meeting, "k-3")
    assert again.status_code == 201 and again.json()["id"] != first.json()["id"]
    assert IdempotencyKey.objects.count() == 1


def test_a_server_error_is_not_remembered(as_alice, later_meeting, monkeypatch):
    from bookings import transitions

    real = transitions.book
    monkeypatch.setattr(transitions, "book", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("db hiccup")))
    assert_error(book(as_alice, later_meeting, "k-4"), 500, "server_error")
    assert not IdempotencyKey.objects.exists()
    monkeypatch.setattr(transitions, "book", real)
    assert book(as_alice, later_meeting, "k-4").status_code == 201


def test_staff_open_is_idempotent(as_staff, meeting):
    first = as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/open/", {}, HTTP_IDEMPOTENCY_KEY="open-1")
    second = as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/open/", {}, HTTP_IDEMPOTENCY_KEY="open-1")
    assert first.json()["changed"] is True and second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert StateChange.objects.filter(meeting=meeting, to_state="open").count() == 1


def test_staff_close_is_idempotent_and_the_key_is_per_endpoint(as_staff, meeting, now):
    as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/open/", {}, HTTP_IDEMPOTENCY_KEY="same")
    first = as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/close/", {}, HTTP_IDEMPOTENCY_KEY="same")
    assert first.status_code == 200 and first.json()["meeting"]["state"] == "closed"
    second = as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/close/", {}, HTTP_IDEMPOTENCY_KEY="same")
    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"


def test_the_same_key_on_another_meeting_is_refused(as_staff, meeting, danas_meeting):
    as_staff.post(f"/api/v1/admin/meetings/{meeting.pk}/open/", {}, HTTP_IDEMPOTENCY_KEY="open-2")
    response = as_staff.post(f"/api/v1/admin/meetings/{danas_meeting.pk}/open/", {}, HTTP_IDEMPOTENCY_KEY="open-2")
    assert_error(response, 422, "idempotency_key_reused", "Idempotency-Key")
    assert Meeting.objects.get(pk=danas_meeting.pk).state == "scheduled"


def test_the_expiry_sweep_forgets_old_keys_once(as_alice, later_meeting, meeting, now, settings, frozen_clock):
    book(as_alice, later_meeting, "old")
    frozen_clock.move_to(now + dt.timedelta(hours=1))
    book(as_alice, meeting, "newer")
    at = now + dt.timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    assert expire_idempotency_keys(at) == {"expired": 1}
    assert expire_idempotency_keys(at) == {}
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["newer"]


def test_the_expiry_sweep_is_run_by_the_maintenance_pass(as_alice, later_meeting, now, settings):
    from core.runner import SWEEPS, run_sweeps

    book(as_alice, later_meeting, "old")
    assert SWEEPS["expire_idempotency_keys"] is expire_idempotency_keys
    results = run_sweeps(now + dt.timedelta(days=2), names=["expire_idempotency_keys"], record=False)
    assert results["expire_idempotency_keys"] == {"expired": 1}
    assert not IdempotencyKey.objects.exists()
