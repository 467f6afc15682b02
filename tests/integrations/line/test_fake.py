"""The LINE fake by hand (plain HTTP): it refuses what LINE refuses, remembers retry keys, fails on demand."""

import uuid

import pytest
import requests

from integrations.line.fake import LineFake

TOKEN = "fake-token"
ALICE, BOB = "U" + "a" * 32, "U" + "b" * 32  # LINE user ids: U and 32 lowercase hex characters


def user(n: int) -> str:
    return f"U{n:032x}"


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
    reply = post(fake, "push", {"to": ALICE, "messages": TEXT})
    assert reply.status_code == 200 and reply.json()["sentMessages"]
    assert fake.copies() == {(ALICE, "hello"): 1}
    assert fake.accepted[0].request_id == reply.headers["x-line-request-id"]


@pytest.mark.parametrize(
    "path, body, token, status",
    [
        ("push", {"to": ALICE, "messages": TEXT}, "wrong", 401),
        ("multicast", {"to": [], "messages": TEXT}, TOKEN, 400),
        ("multicast", {"to": [user(n) for n in range(501)], "messages": TEXT}, TOKEN, 400),
        ("multicast", {"to": [ALICE], "messages": TEXT * 6}, TOKEN, 400),
        ("push", {"to": ALICE, "messages": []}, TOKEN, 400),
        ("push", {"to": ALICE, "messages": [{"type": "nope"}]}, TOKEN, 400),
        ("push", {"to": ALICE, "messages": [{"type": "imagemap", "baseUrl": "https://x"}]}, TOKEN, 400),
    ],
)
def test_it_refuses_what_line_refuses(fake, path, body, token, status):
    assert post(fake, path, body, token=token).status_code == status
    assert fake.accepted == []


def test_500_recipients_is_the_most_a_multicast_takes(fake):
    assert post(fake, "multicast", {"to": [user(n) for n in range(500)], "messages": TEXT}).status_code == 200


def test_a_retry_key_seen_before_gets_409_with_the_accepted_request_id(fake):
    key = str(uuid.uuid4())
    first = post(fake, "multicast", {"to": [ALICE, BOB], "messages": TEXT}, key=key)
    again = post(fake, "multicast", {"to": [ALICE, BOB], "messages": TEXT}, key=key)
    assert again.status_code == 409
    assert again.headers["x-line-accepted-request-id"] == first.headers["x-line-request-id"]
    assert len(fake.accepted) == 1
    assert post(fake, "push", {"to": ALICE, "messages": TEXT}, key="not-a-uuid").status_code == 400


def test_injected_failures(fake):
    fake.retry_after = 7
    fake.fail_next_with("429")
    fake.fail_next_with("monthly")
    first, second = (post(fake, "push", {"to": ALICE, "messages": TEXT}) for _ in range(2))
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    assert second.status_code == 429 and second.json()["message"] == "You have reached your monthly limit."
    fake.fail_next_with("timeout")
    with pytest.raises(requests.Timeout):
        post(fake, "push", {"to": ALICE, "messages": TEXT}, timeout=0.2)
    assert fake.accepted == []
    fake.fail_next_with("timeout_after_accept")
    with pytest.raises(requests.Timeout):
        post(fake, "push", {"to": ALICE, "messages": TEXT}, timeout=0.2)
    assert len(fake.accepted) == 1
    with pytest.raises(ValueError):
        fake.fail_next_with("lightning")


def test_chaos_is_reproducible_with_a_seed():
    outcomes = []
    for _ in range(2):
        with LineFake(tokens={TOKEN}, hang_seconds=0) as fake:
            fake.chaos(0.5, seed=3)
            outcomes.append([post(fake, "push", {"to": ALICE, "messages": TEXT}).status_code for _ in range(12)])
    assert outcomes[0] == outcomes[1] and set(outcomes[0]) - {200}


MALFORMED = "The property, 'to', in the request body is invalid (line: -, column: -)"


@pytest.mark.parametrize(
    "path, to",
    [
        ("push", "U1"),
        ("push", "U" + "A" * 32),  # LINE's ids are lowercase hex
        ("push", "alice"),  # a LINE ID from the app is not a user id
        ("multicast", [ALICE, "U" + "a" * 31]),
        ("multicast", [ALICE, "C" + "c" * 32]),  # a group can be pushed to, never multicast to
    ],
)
def test_a_malformed_user_id_is_refused_as_line_refuses_it(fake, path, to):
    reply = post(fake, path, {"to": to, "messages": TEXT})
    assert (reply.status_code, reply.json()) == (400, {"message": MALFORMED})
    assert fake.accepted == []


def test_a_push_to_a_group_or_a_room_is_accepted(fake):
    for to in ("C" + "c" * 32, "R" + "d" * 32):
        assert post(fake, "push", {"to": to, "messages": TEXT}).status_code == 200
    assert len(fake.accepted) == 2


def test_an_id_line_does_not_know_fails_the_whole_request_and_frees_its_key(fake):
    """A well-formed id LINE never issued (or issued under another provider): 400 "Failed to send messages", and
    nobody in that request gets the message; the key was not accepted, so a retry with it is not a 409."""
    fake.unknown.add(BOB)
    key = str(uuid.uuid4())
    refused = post(fake, "multicast", {"to": [ALICE, BOB], "messages": TEXT}, key=key)
    assert (refused.status_code, refused.json()) == (400, {"message": "Failed to send messages"})
    assert post(fake, "push", {"to": BOB, "messages": TEXT}).status_code == 400
    assert fake.accepted == []
    assert post(fake, "multicast", {"to": [ALICE], "messages": TEXT}, key=key).status_code == 200
    assert fake.copies() == {(ALICE, "hello"): 1}


def test_the_fake_plays_account_linking_over_http():
    """Link tokens once, replies to reply tokens it issued (each once), the dialog's signed accountLink event."""
    http = requests
    user = "U" + "d4" * 16
    with LineFake(tokens={"t"}, channel_secret="s") as fake:
        auth = {"Authorization": "Bearer t"}
        assert http.post(f"{fake.url}/v2/bot/user/{user}/linkToken", timeout=5).status_code == 401
        token = http.post(f"{fake.url}/v2/bot/user/{user}/linkToken", headers=auth, timeout=5).json()["linkToken"]
        said = fake.send_text(user, "link")
        reply_token = said.event["events"][0]["replyToken"]
        body = {"replyToken": reply_token, "messages": [{"type": "text", "text": "hi"}]}
        assert http.post(f"{fake.url}/v2/bot/message/reply", json=body, headers=auth, timeout=5).status_code == 200
        assert http.post(f"{fake.url}/v2/bot/message/reply", json=body, headers=auth, timeout=5).status_code == 400
        assert fake.replies_to(user) == ["hi"]
        dialog = f"{fake.url}/dialog/bot/accountLink?linkToken={token}&nonce=n0nce-0123456789"
        assert http.get(dialog, timeout=5).status_code == 200
        event = fake.events[-1].event["events"][0]
        assert event["type"] == "accountLink" and event["link"] == {"result": "ok", "nonce": "n0nce-0123456789"}
        assert fake.events[-1].signature == fake.sign(fake.events[-1].body)
        http.get(dialog, timeout=5)  # the same link token again: used, so "failed"
        assert fake.events[-1].event["events"][0]["link"]["result"] == "failed"
