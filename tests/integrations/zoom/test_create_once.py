"""Zoom "create meeting" is not idempotent: an answer lost after Zoom created the meeting must not make a second one.

The fake hangs longer than the client's read timeout (HTTP_TIMEOUT_SECONDS 0.5 s, hang 0.7 s): no other waiting.
"""

import datetime as dt
from collections import Counter

import pytest

from integrations.zoom.client import ZoomClient
from integrations.zoom.provider import ZoomProvider, agenda_tag
from meetings.models import Meeting
from meetings.rooms import end_rooms, provision_rooms
from tests import factories
from tests.concurrency import race

LIST = "/meetings"


@pytest.fixture
def short_timeouts(zoom, settings):
    settings.HTTP_TIMEOUT_SECONDS = 0.5
    zoom.hang_seconds = 0.7
    return zoom


def creates(zoom):
    return zoom.calls("/v2/users/", method="POST")


def listings(zoom):
    return [r for r in zoom.calls("/v2/users/", method="GET") if r.path.endswith(LIST)]


def ours(zoom, meeting):
    return [m for m in zoom.meetings.values() if m["agenda"] == agenda_tag(meeting)]


def test_the_happy_path_creates_once_and_lists_nothing(short_timeouts, zoom_accounts, meeting, now):
    assert provision_rooms(now)["provisioned"] == 1
    meeting.refresh_from_db()
    assert len(creates(short_timeouts)) == 1 and listings(short_timeouts) == []
    assert meeting.room_data["zoom_create_tried"] == [zoom_accounts[0].pk] and "adopted" not in meeting.room_data
    assert [m["id"] for m in ours(short_timeouts, meeting)] == [meeting.room_external_id]


def test_a_timeout_after_zoom_created_the_meeting_adopts_it_on_the_retry(short_timeouts, zoom_accounts, meeting, now):
    zoom = short_timeouts
    zoom.fail_next_with("timeout_after_act", path="/meetings", method="POST")
    first = provision_rooms(now)
    assert first == {"failed": 1}
    stored = Meeting.objects.get(pk=meeting.pk)
    assert stored.room_provisioned_at is None and "timed out" in stored.last_error
    assert stored.room_data["zoom_create_tried"] == [zoom_accounts[0].pk]  # written before the call
    [made] = ours(zoom, meeting)  # Zoom did create it
    assert zoom.requests_today("host-ann") == 1

    second = provision_rooms(now + dt.timedelta(minutes=1))
    assert second["provisioned"] == 1
    stored.refresh_from_db()
    assert len(ours(zoom, meeting)) == 1 and len(creates(zoom)) == 1  # adopted, not created again
    assert len(listings(zoom)) == 1
    assert stored.room_external_id == made["id"] and stored.room_data["adopted"] is True
    assert stored.room_join_url == made["join_url"] and stored.room_password == made["password"]
    assert stored.room_host_url.startswith(f"{zoom.url}/s/{made['id']}?zak=")  # fetched: the list has no host link
    assert stored.room_data["account"] == "Ann" and stored.room_data["host_user_id"] == "host-ann"
    assert zoom.requests_today("host-ann") == 1  # the host's daily allowance is not spent twice
    assert provision_rooms(now + dt.timedelta(minutes=2)) == {}  # and a third run has nothing to do


def test_a_timeout_before_zoom_acted_creates_once_on_the_retry(short_timeouts, zoom_accounts, meeting, now):
    zoom = short_timeouts
    zoom.fail_next_with("timeout", path="/meetings", method="POST")
    assert provision_rooms(now) == {"failed": 1}
    assert ours(zoom, meeting) == []
    assert provision_rooms(now + dt.timedelta(minutes=1))["provisioned"] == 1
    meeting.refresh_from_db()
    assert len(listings(zoom)) == 1  # looked first, found nothing
    assert [m["id"] for m in ours(zoom, meeting)] == [meeting.room_external_id]
    assert "adopted" not in meeting.room_data


def test_a_host_that_cannot_be_listed_blocks_the_create_until_it_can(short_timeouts, zoom_accounts, meeting, now):
    zoom = short_timeouts
    zoom.fail_next_with("timeout_after_act", path="/meetings", method="POST")
    provision_rooms(now)
    zoom.fail_next_with("500", 3, path="/meetings", method="GET")  # the listing, and its two retries
    assert provision_rooms(now + dt.timedelta(minutes=1)) == {"failed": 1}
    assert len(creates(zoom)) == 1  # no blind second create
    assert provision_rooms(now + dt.timedelta(minutes=5))["provisioned"] == 1
    assert len(ours(zoom, meeting)) == 1 and len(creates(zoom)) == 1


def test_only_our_class_at_our_start_is_adopted(short_timeouts, zoom_accounts, meeting, now):
    """Another class's meeting, or this tag with another start (an old meeting of a reused id), is not ours."""
    zoom = short_timeouts
    provider = ZoomProvider()
    Meeting.objects.filter(pk=meeting.pk).update(room_data={"zoom_create_tried": [zoom_accounts[0].pk]})
    meeting.refresh_from_db()
    client = ZoomClient(zoom_accounts[0])
    client.create_meeting(
        {"type": 2, "start_time": "2026-06-01T13:00:00Z", "duration": 60, "agenda": agenda_tag(meeting)}
    )
    client.create_meeting(
        {"type": 2, "start_time": "2026-07-01T13:00:00Z", "duration": 60, "agenda": f"Class {meeting.pk + 1}"}
    )
    room = provider.create_room(meeting, now=now)
    assert "adopted" not in room.data and len(creates(zoom)) == 3


def test_ending_twice_and_an_end_answered_too_late_count_as_ended(short_timeouts, zoom_accounts, meeting, now):
    zoom = short_timeouts
    provision_rooms(now)
    meeting.refresh_from_db()
    zoom.join(meeting.room_external_id, "Charlie", host=True)
    Meeting.objects.filter(pk=meeting.pk).update(state=Meeting.State.CLOSED)
    # Ended, but the answer is lost; the PUT is resent and answered "not started": that counts as ended too.
    zoom.fail_next_with("timeout_after_act", path="/status")
    assert end_rooms(meeting.close_at) == {"ended": 1}
    assert zoom.meetings[meeting.room_external_id]["status"] == "ended"
    meeting.refresh_from_db()
    ZoomProvider().end_room(meeting, now=meeting.close_at)  # again: still fine
    assert Meeting.objects.get(pk=meeting.pk).room_ended_at == meeting.close_at


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_workers_racing_to_provision_under_chaos_make_one_zoom_meeting_per_class(zoom, settings, now):
    """Four workers, each with its own connection, provision the same eight classes at the same moments while Zoom
    fails 30% of requests in every mode and answers 500 to three creates it carried out; rounds go on (the clock a
    minute further each) until all have a room."""
    settings.HTTP_TIMEOUT_SECONDS = 0.3
    zoom.hang_seconds = 0.4
    for name in ("ann", "ben", "cat"):
        zoom.add_account(f"acct-{name}", f"client-{name}", f"secret-{name}", users=[f"host-{name}"])
        factories.ZoomAccountFactory(name=name.title(), suffix=name)
    classes = [
        factories.MeetingFactory(
            start_time=now + dt.timedelta(minutes=30 + n), end_time=now + dt.timedelta(hours=1, minutes=30)
        )
        for n in range(8)
    ]
    zoom.chaos(0.3, seed=5)
    zoom.fail_after_create(3)  # and three creates are made, then answered 500
    clock, rounds = now, 0
    while Meeting.objects.filter(room_provisioned_at__isnull=True).exists() and rounds < 60:
        results = race(*[lambda at=clock: provision_rooms(at)] * 4)
        assert not [r for r in results if isinstance(r, Exception)], results
        clock, rounds = clock + dt.timedelta(minutes=1), rounds + 1
    per_tag = Counter(m["agenda"] for m in zoom.meetings.values())
    assert per_tag == Counter({agenda_tag(m): 1 for m in classes}), (per_tag, zoom.injected)
    stored = dict(Meeting.objects.values_list("pk", "room_external_id"))
    assert {m["id"] for m in zoom.meetings.values()} == set(stored.values())


# --- error answers to the create (hardening item 14) ------------------------------------------------------------------


def test_a_500_after_zoom_created_the_meeting_adopts_it_on_the_retry(short_timeouts, zoom_accounts, meeting, now):
    """Zoom made the meeting and answered 500: the create is not resent; the sweep's next attempt adopts it."""
    zoom = short_timeouts
    zoom.fail_after_create(status=500)
    first = provision_rooms(now)
    assert len(ours(zoom, meeting)) == 1 and len(creates(zoom)) == 1  # one request, and Zoom did make it
    assert first == {"failed": 1}
    stored = Meeting.objects.get(pk=meeting.pk)
    assert stored.room_provisioned_at is None and "answered 500" in stored.last_error

    assert provision_rooms(now + dt.timedelta(minutes=1))["provisioned"] == 1
    stored.refresh_from_db()
    [made] = ours(zoom, meeting)
    assert stored.room_external_id == made["id"] and stored.room_data["adopted"] is True
    assert len(creates(zoom)) == 1 and zoom.requests_today("host-ann") == 1
    assert provision_rooms(now + dt.timedelta(minutes=2)) == {}


def test_a_500_before_zoom_acted_creates_once_on_the_retry(short_timeouts, zoom_accounts, meeting, now):
    zoom = short_timeouts
    zoom.fail_next_with("500", path="/meetings", method="POST")  # answered before the create was acted on
    assert provision_rooms(now) == {"failed": 1}  # not resent: the answer does not say nothing was made
    assert ours(zoom, meeting) == [] and len(creates(zoom)) == 1
    assert provision_rooms(now + dt.timedelta(minutes=1))["provisioned"] == 1
    meeting.refresh_from_db()
    assert [m["id"] for m in ours(zoom, meeting)] == [meeting.room_external_id]
    assert len(creates(zoom)) == 2 and len(listings(zoom)) == 1  # the retry looked before creating


@pytest.mark.parametrize("retry_after", [0, 1, 30])
def test_a_rate_limited_create_sets_the_account_aside_and_the_next_one_creates(
    short_timeouts, zoom_accounts, meeting, now, retry_after
):
    """A 429 is Zoom refusing the request (nothing made): not resent to the same host, whatever its Retry-After;
    that host is set aside for the Retry-After (60 s without one) and the next host creates the meeting."""
    zoom = short_timeouts
    zoom.retry_after = retry_after
    zoom.fail_next_with("429", path="/meetings", method="POST")
    assert provision_rooms(now)["provisioned"] == 1
    meeting.refresh_from_db()
    assert [m["id"] for m in ours(zoom, meeting)] == [meeting.room_external_id]
    assert [r.path for r in creates(zoom)] == ["/v2/users/host-ann/meetings", "/v2/users/host-ben/meetings"]
    assert meeting.room_data["account"] == "Ben" and meeting.room_data["zoom_create_tried"] == [
        zoom_accounts[0].pk,
        zoom_accounts[1].pk,
    ]
    ann = zoom_accounts[0]
    ann.refresh_from_db()
    assert ann.rate_limited_until == now + dt.timedelta(seconds=retry_after or 60)
