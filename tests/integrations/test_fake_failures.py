"""The failure modes every fake shares (integrations/fakeserver.py), seen from a client with a short read timeout."""

import threading
import time

import jwt
import pytest
import requests

from integrations.livekit.fake import LiveKitFake
from tests.conftest import LIVEKIT_KEY, LIVEKIT_SECRET

CREATE = "/twirp/livekit.RoomService/CreateRoom"
READ_TIMEOUT = 0.5


@pytest.fixture
def fake():
    with LiveKitFake(api_key=LIVEKIT_KEY, api_secret=LIVEKIT_SECRET) as service:
        service.hang_seconds = 0.7
        yield service


def create(fake, name="r1"):
    now = int(time.time())
    claims = {"iss": LIVEKIT_KEY, "nbf": now, "exp": now + 60, "video": {"roomCreate": True}}
    headers = {"Authorization": f"Bearer {jwt.encode(claims, LIVEKIT_SECRET, algorithm='HS256')}"}
    return requests.post(fake.url + CREATE, json={"name": name}, headers=headers, timeout=READ_TIMEOUT)


def test_500_and_429_answer_without_acting(fake):
    fake.fail_next_with("500")
    fake.fail_next_with("429")
    assert create(fake).status_code == 500
    limited = create(fake)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "30"
    assert fake.created == {} and fake.injected == {"500": 1, "429": 1}
    assert create(fake).status_code == 200 and fake.created == {"r1": 1}


def test_timeout_hangs_past_the_read_timeout_having_done_nothing(fake):
    fake.fail_next_with("timeout")
    with pytest.raises(requests.ReadTimeout):
        create(fake)
    assert fake.created == {} and fake.rooms == {} and fake.calls(CREATE, served=True) == []


def test_timeout_after_act_acts_then_answers_too_late(fake):
    fake.fail_next_with("timeout_after_act")
    with pytest.raises(requests.ReadTimeout):
        create(fake)
    assert fake.created == {"r1": 1} and "r1" in fake.rooms  # the side effect happened
    assert len(fake.calls(CREATE, served=True)) == 1


def test_chaos_is_seeded_and_draws_only_the_modes_asked_for(fake):
    def run(seed):
        with LiveKitFake(api_key=LIVEKIT_KEY, api_secret=LIVEKIT_SECRET) as other:
            other.chaos(0.5, seed=seed, modes=("500", "429"))
            return [create(other, f"r{n}").status_code for n in range(20)], other.injected

    first, injected = run(5)
    assert first == run(5)[0] and set(first) == {200, 500, 429}
    assert set(injected) == {"500", "429"} and sum(injected.values()) == first.count(500) + first.count(429)


def test_a_failure_can_wait_for_the_request_it_is_meant_for(fake):
    headers = {"Authorization": "Bearer nonsense"}
    fake.fail_next_with("500", path="DeleteRoom")
    assert requests.post(fake.url + "/twirp/livekit.RoomService/ListRooms", json={}, headers=headers).status_code == 401
    assert create(fake).status_code == 200  # not a DeleteRoom: served
    delete = requests.post(fake.url + "/twirp/livekit.RoomService/DeleteRoom", json={"room": "r1"}, headers=headers)
    assert delete.status_code == 500 and fake.injected == {"500": 1} and "r1" in fake.rooms


def test_an_unknown_mode_is_refused(fake):
    with pytest.raises(ValueError, match="unknown failure mode"):
        fake.fail_next_with("monthly")  # LINE's own mode: not a LiveKit one
    with pytest.raises(ValueError, match="unknown failure modes"):
        fake.chaos(0.3, modes=("teapot",))


def test_stopping_does_not_wait_for_a_hanging_request(fake):
    fake.hang_seconds = 30
    fake.fail_next_with("timeout")
    caller = threading.Thread(target=lambda: pytest.raises(requests.ReadTimeout, create, fake), daemon=True)
    caller.start()
    caller.join()
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 5


def test_line_keeps_its_own_modes_and_spares_its_by_hand_follow_page():
    from integrations.line.fake import LineFake

    with LineFake(tokens={"t"}, hang_seconds=0) as line:
        line.fail_next_with("monthly")
        line.fail_next_with("500")
        assert requests.post(line.url + "/fake/follow?user=U1", timeout=READ_TIMEOUT).status_code == 200
        headers = {"Authorization": "Bearer t"}
        body = {"to": "U1", "messages": [{"type": "text", "text": "hi"}]}
        monthly = requests.post(line.url + "/v2/bot/message/push", json=body, headers=headers, timeout=READ_TIMEOUT)
        assert monthly.status_code == 429 and "monthly" in monthly.json()["message"]
        assert requests.post(line.url + "/v2/bot/message/push", json=body, headers=headers).status_code == 500
        assert line.injected == {"monthly": 1, "500": 1} and line.accepted == []
