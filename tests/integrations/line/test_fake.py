"""The LINE fake by hand (plain HTTP): it refuses what LINE refuses, remembers retry keys, fails on demand."""

import uuid

import pytest
import requests

from integrations.line.fake import LineFake

TOKEN = "fake-token"


@pytest.fixture
def fake():
    with LineFake(tokens={TOKEN}, hang_seconds=0.5) as fake:
        yield fake


def post(fake, path, body, *, token=TOKEN, key=None, timeout=2):
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["X-Line-Retry-Key"] = key
    return requests.post(f"{fake.url}/v2/bot/message/{path}", json=body, headers=headers, timeout=timeout)


TEXT = [{"type": "text", "text": "hello"}]


def test_a_push_is_accepted_and_recorded(fake):
    reply = post(fake, "push", {"to": "U1", "messages": TEXT})
    assert reply.status_code == 200 and reply.json()["sentMessages"]
    assert fake.copies() == {("U1", "hello"): 1}
    assert fake.accepted[0].request_id == reply.headers["x-line-request-id"]


@pytest.mark.parametrize(
    "path, body, token, status",
    [
        ("push", {"to": "U1", "messages": TEXT}, "wrong", 401),
        ("multicast", {"to": [], "messages": TEXT}, TOKEN, 400),
        ("multicast", {"to": [f"U{n}" for n in range(501)], "messages": TEXT}, TOKEN, 400),
        ("multicast", {"to": ["U1"], "messages": TEXT * 6}, TOKEN, 400),
        ("push", {"to": "U1", "messages": []}, TOKEN, 400),
        ("push", {"to": "U1", "messages": [{"type": "nope"}]}, TOKEN, 400),
        ("push", {"to": "U1", "messages": [{"type": "imagemap", "baseUrl": "https://x"}]}, TOKEN, 400),
    ],
)
def test_it_refuses_what_line_refuses(fake, path, body, token, status):
    assert post(fake, path, body, token=token).status_code == status
    assert fake.accepted == []


def test_500_recipients_is_the_most_a_multicast_takes(fake):
    assert post(fake, "multicast", {"to": [f"U{n}" for n in range(500)], "messages": TEXT}).status_code == 200


def test_a_retry_key_seen_before_gets_409_with_the_accepted_request_id(fake):
    key = str(uuid.uuid4())
    first = post(fake, "multicast", {"to": ["U1", "U2"], "messages": TEXT}, key=key)
    again = post(fake, "multicast", {"to": ["U1", "U2"], "messages": TEXT}, key=key)
    assert again.status_code == 409
    assert again.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert len(fake.accepted) == 1
    assert post(fake, "push", {"to": "U1", "messages": TEXT}, key="not-a-uuid").status_code == 400


def test_injected_failures(fake):
    fake.retry_after = 7
    fake.fail_next_with("429")
    fake.fail_next_with("monthly")
    first, second = (post(fake, "push", {"to": "U1", "messages": TEXT}) for _ in range(2))
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    assert second.status_code == 429 and second.json()["message"] == "You have reached your monthly limit."
    fake.fail_next_with("timeout")
    with pytest.raises(requests.Timeout):
        post(fake, "push", {"to": "U1", "messages": TEXT}, timeout=0.2)
    assert fake.accepted == []
    fake.fail_next_with("timeout_after_accept")
    with pytest.raises(requests.Timeout):
        post(fake, "push", {"to": "U1", "messages": TEXT}, timeout=0.2)
    assert len(fake.accepted) == 1
    with pytest.raises(ValueError):
        fake.fail_next_with("lightning")


def test_chaos_is_reproducible_with_a_seed():
    outcomes = []
    for _ in range(2):
        with LineFake(tokens={TOKEN}, hang_seconds=0) as fake:
            fake.chaos(0.5, seed=3)
            outcomes.append([post(fake, "push", {"to": "U1", "messages": TEXT}).status_code for _ in range(12)])
    assert outcomes[0] == outcomes[1] and set(outcomes[0]) - {200}
