"""/integrations/zoom/webhook/: signed, fresh events become sessions once; the URL validation is answered."""

import datetime as dt
import hashlib
import hmac
import json

import pytest
import time_machine

from integrations.zoom.models import ZoomWebhookEvent
from integrations.zoom.provider import ZoomProvider
from meetings.access import identity_of
from meetings.lifecycle import open_meeting
from meetings.models import Meeting, MeetingParticipant
from meetings.rooms import provision_rooms
from tests.conftest import ZOOM_WEBHOOK_SECRET
from tests.factories import book

URL = "/integrations/zoom/webhook/"


@pytest.fixture
def room(zoom, zoom_accounts, meeting, now, alice):
    """Charlie's class with its Zoom meeting, Alice booked, and the clock at its start."""
    book(alice, meeting, now=now)
    provision_rooms(now)
    meeting.refresh_from_db()
    with time_machine.travel(meeting.start_time, tick=False):
        yield meeting


def deliver(client, webhook):
    return client.post(URL, data=webhook.body, **webhook.headers())


def test_it_answers_the_url_validation_challenge(client, zoom):
    body = json.dumps({"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}})
    reply = deliver(client, zoom.sign(body.encode()))
    expected = hmac.new(ZOOM_WEBHOOK_SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert reply.status_code == 200
    assert reply.json() == {"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": expected}


def test_a_join_and_a_leave_become_one_session(client, zoom, room, alice):
    user_id = zoom.join(room.room_external_id, "Alice")
    assert deliver(client, zoom.events[-1]).json() == {"status": "meeting.participant_joined"}
    with time_machine.travel(room.start_time + dt.timedelta(minutes=25), tick=False):
        zoom.leave(room.room_external_id, user_id)
        assert deliver(client, zoom.events[-1]).status_code == 200
    session = MeetingParticipant.objects.get()
    assert (session.source, session.identity, session.student) == ("zoom_webhook", identity_of(alice), alice)
    assert (session.joined_at, session.left_at) == (room.start_time, room.start_time + dt.timedelta(minutes=25))


def test_the_host_joining_starts_the_class(client, zoom, room, teacher):
    open_meeting(room, now=room.start_time)
    zoom.join(room.room_external_id, "Charlie (host)", host=True)
    deliver(client, zoom.events[-1])
    room.refresh_from_db()
    assert room.state == Meeting.State.IN_PROGRESS
    assert MeetingParticipant.objects.get().teacher == teacher


def test_a_repeated_delivery_changes_nothing(client, zoom, room):
    user_id = zoom.join(room.room_external_id, "Alice")
    joined = zoom.events[-1]
    deliver(client, joined)
    zoom.leave(room.room_external_id, user_id)
    deliver(client, zoom.events[-1])
    before = list(MeetingParticipant.objects.values())
    again = zoom.sign(joined.body)  # Zoom's retry: the same body, a new timestamp and signature
    assert deliver(client, again).json() == {"status": "duplicate"}
    assert list(MeetingParticipant.objects.values()) == before and ZoomWebhookEvent.objects.count() == 2


def test_a_leave_before_its_join_still_makes_one_session(client, zoom, room):
    user_id = zoom.join(room.room_external_id, "Alice")
    joined = zoom.events[-1]
    with time_machine.travel(room.start_time + dt.timedelta(minutes=5), tick=False):
        zoom.leave(room.room_external_id, user_id)
        deliver(client, zoom.events[-1])
        deliver(client, joined)
    session = MeetingParticipant.objects.get()
    assert (session.joined_at, session.left_at) == (room.start_time, room.start_time + dt.timedelta(minutes=5))


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda zoom, w: {}, id="missing"),
        pytest.param(lambda zoom, w: zoom.sign(w.body, secret="not-the-secret").headers(), id="wrong-secret"),
        pytest.param(
            lambda zoom, w: {**w.headers(), "HTTP_X_ZM_REQUEST_TIMESTAMP": str(int(w.timestamp) + 1)},
            id="timestamp-not-the-signed-one",
        ),
        pytest.param(
            lambda zoom, w: zoom.sign(w.body, timestamp=int(w.timestamp) - 301).headers(), id="stale-timestamp"
        ),
    ],
)
def test_a_bad_signature_is_refused_and_writes_nothing(client, zoom, room, headers):
    zoom.join(room.room_external_id, "Alice")
    joined = zoom.events[-1]
    reply = client.post(URL, data=joined.body, **{"content_type": "application/json", **headers(zoom, joined)})
    assert reply.status_code == 401
    assert not MeetingParticipant.objects.exists() and not ZoomWebhookEvent.objects.exists()


def test_without_a_secret_token_nothing_is_accepted(client, zoom, room, settings):
    zoom.join(room.room_external_id, "Alice")
    settings.ZOOM_WEBHOOK_SECRET_TOKEN = ""
    assert deliver(client, zoom.events[-1]).status_code == 401
    assert not MeetingParticipant.objects.exists()


def test_an_event_for_an_unknown_meeting_is_answered_and_ignored(client, zoom, room, caplog):
    zoom.join(room.room_external_id, "Alice")
    event = zoom.events[-1].event
    event["payload"]["object"]["id"] = "99999999999"
    reply = deliver(client, zoom.sign(json.dumps(event).encode()))
    assert reply.status_code == 200 and reply.json() == {"status": "unknown meeting"}
    assert not MeetingParticipant.objects.exists() and not ZoomWebhookEvent.objects.exists()
    assert "unknown meeting" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        json.dumps({"payload": {}}).encode(),
        json.dumps({"event": "meeting.participant_joined", "payload": {"object": {"id": "1"}}}).encode(),
        json.dumps({"event": "endpoint.url_validation", "payload": {}}).encode(),
    ],
    ids=["not-json", "no-event", "no-participant", "no-plain-token"],
)
def test_a_signed_but_malformed_body_is_a_400(client, zoom, room, body):
    assert deliver(client, zoom.sign(body)).status_code == 400
    assert not ZoomWebhookEvent.objects.exists()


def test_an_oversized_body_is_a_413(client, zoom, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    assert deliver(client, zoom.sign(b"{" + b" " * 2000 + b"}")).status_code == 413


def test_meeting_ended_closes_the_open_sessions(client, zoom, room):
    zoom.join(room.room_external_id, "Alice")
    deliver(client, zoom.events[-1])
    with time_machine.travel(room.close_at, tick=False):
        ZoomProvider()._client(room).end_meeting(room.room_external_id)
        ended = zoom.events[-1]  # after Alice's participant_left, lost here
        assert ended.event["event"] == "meeting.ended"
        assert deliver(client, ended).json() == {"status": "meeting.ended"}
    assert MeetingParticipant.objects.get().left_at == room.close_at


# --- forged headers and unencodable tokens (hardening item 7) ---------------------------------------------------------


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda w: {"HTTP_X_ZM_SIGNATURE": "v0=" + "é" * 64}, id="non-ascii-signature"),
        pytest.param(lambda w: {"HTTP_X_ZM_SIGNATURE": w.signature[:-1] + "\u0663"}, id="arabic-digit-signature"),
        pytest.param(lambda w: {"HTTP_X_ZM_REQUEST_TIMESTAMP": "9" * 400}, id="400-digit-timestamp"),
        pytest.param(lambda w: {"HTTP_X_ZM_REQUEST_TIMESTAMP": "\u0661" * 10}, id="non-ascii-digit-timestamp"),
        pytest.param(lambda w: {"HTTP_X_ZM_REQUEST_TIMESTAMP": f" {w.timestamp}"}, id="timestamp-with-a-space"),
        pytest.param(lambda w: {"HTTP_X_ZM_REQUEST_TIMESTAMP": "-" + w.timestamp}, id="negative-timestamp"),
    ],
)
def test_forged_headers_are_a_401_and_write_nothing(client, zoom, room, forge):
    zoom.join(room.room_external_id, "Alice")
    joined = zoom.events[-1]
    reply = client.post(URL, data=joined.body, **{**joined.headers(), **forge(joined)})
    assert reply.status_code == 401 and "error" in reply.json()
    assert not MeetingParticipant.objects.exists() and not ZoomWebhookEvent.objects.exists()


def test_a_signed_url_validation_whose_token_cannot_be_encoded_is_a_400(client, zoom, db):
    body = b'{"event": "endpoint.url_validation", "payload": {"plainToken": "\\ud800"}}'
    reply = deliver(client, zoom.sign(body))
    assert reply.status_code == 400 and "error" in reply.json()
    assert not ZoomWebhookEvent.objects.exists()


def test_a_signed_event_with_a_lone_surrogate_in_a_name_is_a_400(client, zoom, room):
    zoom.join(room.room_external_id, "Alice")
    body = zoom.events[-1].body.replace(b'"Alice"', b'"Al\\udcffice"')
    reply = deliver(client, zoom.sign(body))
    assert reply.status_code == 400
    assert not MeetingParticipant.objects.exists() and not ZoomWebhookEvent.objects.exists()


def test_an_unsigned_body_that_is_not_utf8_is_a_401(client, zoom):
    reply = client.post(URL, data=b"\xff\xfe", **{**zoom.sign(b"{}").headers()})
    assert reply.status_code == 401
