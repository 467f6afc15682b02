"""Bad input at the webhooks: every body a sender could produce is answered 200, 400, 401 or 413 (never a 500),
and a refused body writes nothing; forged signature and timestamp headers are a 401, whatever their characters.

Hypothesis builds event objects that are *correctly signed*, so they get past the signature check and reach the
parsers; their fields are sometimes plausible and sometimes any JSON at all (lists where objects belong, numbers for
ids, missing keys, unknown event types). The Django test client re-raises any exception a view lets escape, so an
escaping exception fails the test as surely as a 500 would.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from classroom.models import Student
from core.models import StateChange
from integrations.line.models import LineWebhookEvent
from integrations.livekit.models import LiveKitWebhookEvent
from integrations.zoom.models import ZoomWebhookEvent
from meetings.models import Meeting, MeetingParticipant
from tests.factories import MeetingFactory

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
any_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def maybe(plausible):
    """Mostly (about 4 in 5) the plausible value, else any JSON or the key missing (``...``): with a few fields
    mangled at a time, many events get past the shape checks and reach the attendance code."""
    return st.integers(0, 9).flatmap(lambda n: any_json if n == 8 else st.just(...) if n == 9 else plausible)


def event_object(**fields):
    return st.fixed_dictionaries({key: maybe(value) for key, value in fields.items()}).map(
        lambda event: {key: value for key, value in event.items() if value is not ...}
    )


livekit_events = event_object(
    event=st.sampled_from(
        ["participant_joined", "participant_left", "room_started", "room_finished", "track_published", "egress_x"]
    ),
    id=st.text(min_size=1, max_size=12) | st.text(min_size=120, max_size=300),
    createdAt=st.integers(min_value=1_780_000_000, max_value=1_790_000_000).map(str) | st.integers().map(str),
    room=event_object(name=st.sampled_from(["room-1", "", "x" * 300]), sid=st.text(max_size=8)),
    participant=event_object(
        sid=st.text(max_size=8),
        identity=st.sampled_from(["teacher:1", "student:1", "student:999999", "nobody", ""]),
        name=st.text(max_size=8) | st.text(min_size=250, max_size=300),
        joinedAt=st.integers().map(str),
        joinedAtMs=st.integers().map(str),
    ),
)

zoom_events = event_object(
    event=st.sampled_from(
        [
            "meeting.participant_joined",
            "meeting.participant_left",
            "meeting.started",
            "meeting.ended",
            "endpoint.url_validation",
            "recording.completed",
        ]
    ),
    event_ts=st.integers(),
    payload=event_object(
        plainToken=st.text(max_size=12),
        object=event_object(
            id=st.sampled_from(["1", "1", str(2**63), str(2**70)]) | st.integers(min_value=0).map(str) | st.integers(),
            uuid=st.text(max_size=12),
            end_time=st.sampled_from(["2026-07-01T13:00:00Z", "yesterday", ""]),
            participant=event_object(
                user_id=st.text(max_size=8),
                id=st.text(max_size=8),
                user_name=st.text(max_size=8) | st.text(min_size=250, max_size=300),
                email=st.text(max_size=12),
                join_time=st.sampled_from(["2026-07-01T13:00:00Z", "2026-13-45T99:00:00Z", "", "13:00"]),
                leave_time=st.sampled_from(["2026-07-01T13:10:00Z", "not a time"]),
            ),
        ),
    ),
)

raw_bodies = st.binary(max_size=200) | any_json.map(lambda value: json.dumps(value).encode())


def written():
    return (
        MeetingParticipant.objects.count(),
        StateChange.objects.count(),
        LiveKitWebhookEvent.objects.count(),
        ZoomWebhookEvent.objects.count(),
        LineWebhookEvent.objects.count(),
        Student.objects.count(),
    )


def post(client, url, body: bytes, headers: dict):
    before = written()
    response = client.post(url, data=body, **{"content_type": "application/json", **headers})
    assert response.status_code in (200, 400, 401, 413), (response.status_code, body[:200])
    if currently_in_test_context():  # what the fuzzing reached, shown by --hypothesis-show-statistics
        answer = response.json()
        event(f"{response.status_code} {answer.get('status', '')}{answer.get('error', '')[:40]}")
    if response.status_code != 200:
        assert written() == before, f"a refused webhook ({response.status_code}) wrote something"
        assert "error" in response.json()
    return response


@pytest.fixture
def rooms(db, teacher, alice):
    """An open class with a LiveKit room "room-1" and one with Zoom meeting id 1, so fuzzed events that name them
    reach the attendance code, not only the "unknown room" answer."""
    for provider, extra in (("livekit", {"room_name": "room-1"}), ("zoom", {"room_external_id": 1})):
        meeting = MeetingFactory(teacher=teacher, room_provider=provider, **extra)
        Meeting.objects.filter(pk=meeting.pk).update(state="open")


def deliver(client, request, service: str, body: bytes):
    """POST ``body`` to the service's webhook, signed by its fake the way the real service signs."""
    fake = request.getfixturevalue(service)
    return post(client, f"/integrations/{service}/webhook/", body, fake.sign(body).headers())


@pytest.mark.django_db
@pytest.mark.parametrize("service, events", [("livekit", livekit_events), ("zoom", zoom_events)])
@FUZZ
@given(data=st.data())
def test_signed_events_of_any_shape_never_escape(client, request, rooms, service, events, data):
    deliver(client, request, service, json.dumps(data.draw(events)).encode())


@pytest.mark.django_db
@pytest.mark.parametrize("service", ["livekit", "zoom"])
@FUZZ
@given(body=raw_bodies)
def test_signed_bodies_that_are_not_json_are_a_400(client, request, service, body):
    response = deliver(client, request, service, body)
    try:
        json.loads(body)
    except ValueError:
        assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("service", ["livekit", "zoom"])
def test_a_ten_megabyte_body_is_refused_unread(client, request, service):
    body = b'{"event": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert deliver(client, request, service, body).status_code == 413


@pytest.mark.django_db
@pytest.mark.parametrize("service", ["livekit", "zoom"])
def test_a_truncated_signed_body_is_refused(client, request, service):
    """The signature was made over the whole body; the body arrives cut short: the signature no longer matches."""
    fake = request.getfixturevalue(service)
    body = json.dumps({"event": "room_started", "id": "EV_1", "room": {"name": "r"}}).encode()
    response = post(client, f"/integrations/{service}/webhook/", body[:-7], fake.sign(body).headers())
    assert response.status_code == 401


# --- forged headers: what an attacker controls besides the body ----------------------------------------------------

# A real server hands headers over as latin-1 text; the test client passes any text, so both are drawn.
header_text = st.text(max_size=80) | st.text(alphabet=st.characters(max_codepoint=255), max_size=80)
forged_timestamps = (
    st.just("fresh")  # the real, signed one: the signature alone must then be refused
    | st.text(alphabet="0123456789", min_size=1, max_size=500)
    | header_text
)
forged_signatures = st.just("signed") | header_text.map(lambda text: "v0=" + text) | header_text


def zoom_join(meeting_id: int = 1) -> bytes:
    participant = {"user_id": "16778240", "user_name": "Alice", "join_time": "2026-07-01T13:00:00Z"}
    return json.dumps(
        {
            "event": "meeting.participant_joined",
            "payload": {"object": {"id": str(meeting_id), "participant": participant}},
        }
    ).encode()


@pytest.mark.django_db
@FUZZ
@given(timestamp=forged_timestamps, signature=forged_signatures)
def test_forged_zoom_headers_are_a_401(client, zoom, rooms, timestamp, signature):
    body = zoom_join()
    signed = zoom.sign(body)
    if (timestamp, signature) == ("fresh", "signed"):
        signature = signed.signature[:-1] + ("0" if signed.signature[-1] != "0" else "1")
    headers = {
        "HTTP_X_ZM_REQUEST_TIMESTAMP": str(int(time.time())) if timestamp == "fresh" else timestamp,
        "HTTP_X_ZM_SIGNATURE": signed.signature if signature == "signed" else signature,
    }
    assert post(client, "/integrations/zoom/webhook/", body, headers).status_code == 401


@pytest.mark.django_db
@FUZZ
@given(authorization=header_text | header_text.map(lambda text: "Bearer " + text))
def test_a_forged_livekit_authorization_is_a_401(client, livekit, rooms, authorization):
    body = json.dumps({"event": "room_finished", "id": "EV_1", "room": {"name": "room-1"}}).encode()
    assert (
        post(client, "/integrations/livekit/webhook/", body, {"HTTP_AUTHORIZATION": authorization}).status_code == 401
    )


@pytest.mark.django_db
@FUZZ
@given(signature=header_text)
def test_a_forged_line_signature_is_a_401(client, line_channel, signature):
    event = {
        "type": "follow",
        "mode": "active",
        "timestamp": 1_780_000_000_000,
        "source": {"type": "user", "userId": "U" + "a" * 32},
        "webhookEventId": "01JFUZZ",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": "r",
        "follow": {"isUnblocked": False},
    }
    body = json.dumps({"destination": "U0", "events": [event]}).encode()
    headers = {"HTTP_X_LINE_SIGNATURE": signature} if signature else {}
    assert post(client, "/integrations/line/webhook/ielts/", body, headers).status_code == 401
