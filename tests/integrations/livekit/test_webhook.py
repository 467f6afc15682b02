"""/integrations/livekit/webhook/: LiveKit's signed events become attendance sessions, once, in any order."""

import datetime as dt
import json

import jwt
import pytest
import time_machine

from integrations.livekit.models import LiveKitWebhookEvent
from integrations.livekit.provider import LiveKitProvider
from meetings.access import identity_of
from meetings.lifecycle import open_meeting
from meetings.models import Meeting, MeetingParticipant
from meetings.rooms import provision_rooms
from tests.conftest import LIVEKIT_SECRET
from tests.integrations.livekit import token_for

URL = "/integrations/livekit/webhook/"


@pytest.fixture
def room(livekit, meeting, now):
    """Charlie's class with its LiveKit room, and the clock at its start."""
    provision_rooms(now)
    meeting.refresh_from_db()
    with time_machine.travel(meeting.start_time, tick=False):
        yield meeting


def enter(livekit, meeting, person, role):
    """``person`` connects with the token we give them; returns the webhook LiveKit sends about it."""
    token = token_for(meeting, person, role)
    livekit.join(token)
    return livekit.events[-1]


def deliver(client, webhook):
    return client.post(URL, data=webhook.body, **webhook.headers())


def test_a_signed_join_and_leave_become_one_session(client, livekit, room, alice):
    joined = enter(livekit, room, alice, "student")
    assert deliver(client, joined).json() == {"status": "participant_joined"}
    session = MeetingParticipant.objects.get(meeting=room)
    assert (session.source, session.student, session.role, session.left_at) == (
        "livekit_webhook",
        alice,
        "student",
        None,
    )
    assert session.session_key == joined.event["participant"]["sid"]
    with time_machine.travel(room.start_time + dt.timedelta(minutes=30), tick=False):
        livekit.leave(room.room_name, identity_of(alice))
        assert deliver(client, livekit.events[-1]).status_code == 200
    session.refresh_from_db()
    assert session.joined_at == room.start_time
    assert session.left_at == room.start_time + dt.timedelta(minutes=30)


def test_the_teacher_joining_starts_an_open_meeting(client, livekit, room, teacher):
    open_meeting(room, now=room.start_time)
    assert deliver(client, enter(livekit, room, teacher, "teacher")).status_code == 200
    room.refresh_from_db()
    assert room.state == Meeting.State.IN_PROGRESS
    assert room.history.filter(to_state="in_progress", reason="the teacher joined").exists()


def test_a_replayed_event_changes_nothing(client, livekit, room, alice):
    joined = enter(livekit, room, alice, "student")
    deliver(client, joined)
    livekit.leave(room.room_name, identity_of(alice))
    deliver(client, livekit.events[-1])
    before = list(MeetingParticipant.objects.values())
    replay = deliver(client, joined)
    assert replay.status_code == 200 and replay.json() == {"status": "duplicate"}
    assert list(MeetingParticipant.objects.values()) == before  # still ended: the replayed join did not reopen it
    assert LiveKitWebhookEvent.objects.count() == 2


def test_a_leave_that_arrives_before_its_join_still_makes_one_session(client, livekit, room, bob):
    joined = enter(livekit, room, bob, "student")
    with time_machine.travel(room.start_time + dt.timedelta(minutes=20), tick=False):
        livekit.leave(room.room_name, identity_of(bob))
        left = livekit.events[-1]
        deliver(client, left)
        deliver(client, joined)
    session = MeetingParticipant.objects.get()
    assert (session.joined_at, session.left_at) == (room.start_time, room.start_time + dt.timedelta(minutes=20))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda livekit, w: {"HTTP_AUTHORIZATION": ""}, id="missing"),
        pytest.param(
            lambda livekit, w: {"HTTP_AUTHORIZATION": livekit.sign(w.body, secret="x" * 40).authorization},
            id="wrong-secret",
        ),
        pytest.param(
            lambda livekit, w: {
                "HTTP_AUTHORIZATION": livekit.sign(w.body.replace(b"student", b"teacher")).authorization
            },
            id="body-hash-mismatch",
        ),
    ],
)
def test_an_unsigned_or_wrongly_signed_event_is_refused_and_writes_nothing(client, livekit, room, alice, tamper):
    joined = enter(livekit, room, alice, "student")
    reply = client.post(URL, data=joined.body, content_type="application/webhook+json", **tamper(livekit, joined))
    assert reply.status_code == 401
    assert not MeetingParticipant.objects.exists() and not LiveKitWebhookEvent.objects.exists()


def test_an_expired_signature_is_refused(client, livekit, room, alice):
    joined = enter(livekit, room, alice, "student")
    with time_machine.travel(room.start_time + dt.timedelta(minutes=10), tick=False):
        assert deliver(client, joined).status_code == 401  # exp is 5 min, plus a minute of leeway
    assert not MeetingParticipant.objects.exists()


def test_an_event_for_an_unknown_room_is_answered_and_ignored(client, livekit, room, alice, caplog):
    body = enter(livekit, room, alice, "student").body.replace(room.room_name.encode(), b"class-999999")
    reply = deliver(client, livekit.sign(body))
    assert reply.status_code == 200 and reply.json() == {"status": "unknown room"}
    assert not MeetingParticipant.objects.exists() and not LiveKitWebhookEvent.objects.exists()
    assert "unknown room" in caplog.text


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", json.dumps({"event": "participant_joined", "id": "EV_1"}).encode()],
    ids=["not-json", "not-an-object", "no-room"],
)
def test_a_signed_but_malformed_body_is_a_400(client, livekit, room, body):
    assert deliver(client, livekit.sign(body)).status_code == 400
    assert not LiveKitWebhookEvent.objects.exists()


def test_a_participant_event_without_a_participant_is_a_400(client, livekit, room, alice):
    event = enter(livekit, room, alice, "student").event
    del event["participant"]["sid"]
    assert deliver(client, livekit.sign(json.dumps(event).encode())).status_code == 400
    assert not MeetingParticipant.objects.exists()


def test_an_oversized_body_is_a_413(client, livekit, room, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    assert deliver(client, livekit.sign(b"{" + b" " * 2000 + b"}")).status_code == 413


def test_only_post_is_accepted(client):
    assert client.get(URL).status_code == 405


def test_room_finished_ends_the_open_sessions(client, livekit, room, alice, teacher):
    deliver(client, enter(livekit, room, alice, "student"))
    deliver(client, enter(livekit, room, teacher, "teacher"))
    with time_machine.travel(room.close_at, tick=False):
        LiveKitProvider().client.delete_room(room.room_name)
        finished = livekit.events[-1]  # after two participant_left, lost here
        assert finished.event["event"] == "room_finished"
        assert deliver(client, finished).json() == {"status": "room_finished"}
    assert list(MeetingParticipant.objects.values_list("left_at", flat=True)) == [room.close_at] * 2


# --- several API keys: key rotation (hardening item 19) ---------------------------------------------------------------

OLD_KEY, OLD_SECRET = "old-livekit-key", "old-livekit-secret-0123456789abcdef012"


@pytest.fixture
def rotating(settings):
    """LiveKit still signs some webhooks with the key being retired, listed in LIVEKIT_WEBHOOK_KEYS."""
    settings.LIVEKIT_WEBHOOK_KEYS = {OLD_KEY: OLD_SECRET, "other-key": "other-secret-0123456789abcdef0123456"}
    return settings


def test_a_webhook_signed_with_another_listed_key_is_verified_with_that_keys_secret(
    client, livekit, room, alice, rotating
):
    joined = enter(livekit, room, alice, "student")
    reply = deliver(client, livekit.sign(joined.body, key=OLD_KEY, secret=OLD_SECRET))
    assert reply.status_code == 200 and reply.json() == {"status": "participant_joined"}
    assert MeetingParticipant.objects.get().student == alice


def test_the_api_key_itself_still_verifies_beside_the_listed_ones(client, livekit, room, alice, rotating):
    assert deliver(client, enter(livekit, room, alice, "student")).status_code == 200


@pytest.mark.parametrize(
    "key, secret",
    [
        pytest.param("stranger-key", OLD_SECRET, id="unknown-key"),
        pytest.param("stranger-key", None, id="unknown-key-signed-with-the-api-secret"),
        pytest.param(OLD_KEY, "other-secret-0123456789abcdef0123456", id="listed-key-another-keys-secret"),
        pytest.param(OLD_KEY, None, id="listed-key-the-api-secret"),
    ],
)
def test_a_webhook_whose_key_and_secret_do_not_belong_together_is_a_401(
    client, livekit, room, alice, rotating, key, secret
):
    joined = enter(livekit, room, alice, "student")
    reply = deliver(client, livekit.sign(joined.body, key=key, secret=secret))
    assert reply.status_code == 401 and "error" in reply.json()
    assert not MeetingParticipant.objects.exists() and not LiveKitWebhookEvent.objects.exists()


def test_a_token_without_an_issuer_is_a_401(client, livekit, room, alice):
    joined = enter(livekit, room, alice, "student")
    claims = jwt.decode(joined.authorization, options={"verify_signature": False})
    del claims["iss"]
    token = jwt.encode(claims, LIVEKIT_SECRET, algorithm="HS256")
    assert (
        client.post(
            URL, data=joined.body, content_type="application/webhook+json", HTTP_AUTHORIZATION=token
        ).status_code
        == 401
    )
    assert not MeetingParticipant.objects.exists()
