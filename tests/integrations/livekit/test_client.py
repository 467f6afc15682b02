"""LiveKit's RoomService through our client, against the fake that checks auth the way LiveKit does."""

import jwt
import pytest

from integrations.http import ProviderError
from integrations.livekit.client import LiveKitClient
from tests.conftest import LIVEKIT_KEY, LIVEKIT_SECRET


def test_it_signs_each_call_with_the_grant_the_method_needs(livekit):
    client = LiveKitClient()
    client.create_room("class-1", empty_timeout=600, departure_timeout=600, max_participants=3)
    client.list_participants("class-1")
    create, listing = livekit.calls("CreateRoom")[0], livekit.calls("ListParticipants")[0]
    for call, grants in ((create, {"roomCreate": True}), (listing, {"roomAdmin": True, "room": "class-1"})):
        claims = jwt.decode(call.headers["authorization"].removeprefix("Bearer "), LIVEKIT_SECRET, algorithms=["HS256"])
        assert claims["iss"] == LIVEKIT_KEY and claims["video"] == grants and claims["exp"] > claims["nbf"]
    assert create.json() == {
        "name": "class-1",
        "empty_timeout": 600,
        "departure_timeout": 600,
        "max_participants": 3,
        "metadata": "",
    }


def test_create_room_is_idempotent_on_the_name(livekit):
    client = LiveKitClient()
    first = client.create_room("class-1", empty_timeout=60, departure_timeout=60, max_participants=3)
    again = client.create_room("class-1", empty_timeout=60, departure_timeout=60, max_participants=3)
    assert first["sid"] == again["sid"] and list(livekit.rooms) == ["class-1"]


def test_a_wrong_secret_is_refused_as_livekit_refuses_it(livekit):
    with pytest.raises(ProviderError) as caught:
        LiveKitClient(api_secret="not-the-secret-0123456789abcdef0123456").list_participants("class-1")
    assert caught.value.status == 401 and caught.value.permanent and len(livekit.requests) == 1


def test_a_token_for_another_room_is_refused(livekit):
    client = LiveKitClient()
    client.create_room("class-1", empty_timeout=60, departure_timeout=60, max_participants=3)
    token = client._api_token(roomAdmin=True, room="class-2")
    reply = client.http.session.post(
        f"{livekit.url}/twirp/livekit.RoomService/ListParticipants",
        json={"room": "class-1"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=2,
    )
    assert reply.status_code == 403 and reply.json()["code"] == "permission_denied"


def test_missing_rooms_read_as_gone_not_as_errors(livekit):
    client = LiveKitClient()
    assert client.list_participants("class-404") is None
    assert client.delete_room("class-404") is False
