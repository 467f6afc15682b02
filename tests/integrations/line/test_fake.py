"""The LINE fake by hand (plain HTTP): it refuses what LINE refuses, remembers retry keys, fails on demand."""

import threading
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


# --- under load: latency, jitter, the rate limit, concurrent requests, counting ---------------------------------


def test_latency_and_jitter_set_each_answers_wait(fake, monkeypatch):
    waits = []
    monkeypatch.setattr(fake._stopping, "wait", lambda seconds: waits.append(seconds))
    fake.latency_ms, fake.jitter_ms = 100, 20
    for n in range(30):
        assert post(fake, "push", {"to": user(n), "messages": TEXT}).status_code == 200
    assert len(waits) == 30
    assert all(0.08 <= w <= 0.12 for w in waits) and len(set(waits)) > 1  # 100 ms +- 20 ms, varying


def test_it_answers_concurrent_requests_at_once():
    with LineFake(tokens={TOKEN}) as fake:
        fake.latency_ms = 300
        threads = [
            threading.Thread(target=post, args=(fake, "push", {"to": user(n), "messages": TEXT})) for n in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert len(fake.accepted) == 8
        assert fake.peak_in_flight >= 2  # a server answering one at a time would never have two in flight


def test_the_rate_limit_is_per_channel_and_endpoint_over_a_sliding_second():
    with LineFake(tokens={TOKEN, "other"}) as fake:
        now = [1000.0]
        fake.clock = lambda: now[0]
        fake.rate_limit = 3
        keys = [str(uuid.uuid4()) for _ in range(5)]
        answers = [post(fake, "push", {"to": user(n), "messages": TEXT}, key=k) for n, k in enumerate(keys)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        assert answers[3].headers["Retry-After"] == "1"
        assert answers[3].json()["message"] == "The API rate limit has been exceeded. Try again later."
        # Another channel, and the other endpoint, have their own count.
        assert post(fake, "push", {"to": ALICE, "messages": TEXT}, token="other").status_code == 200
        assert post(fake, "multicast", {"to": [user(10), user(11)], "messages": TEXT}).status_code == 200
        now[0] += 1.0  # a second later: the refused request, retried with its key, is accepted (nothing was sent)
        assert post(fake, "push", {"to": user(3), "messages": TEXT}, key=keys[3]).status_code == 200
        assert post(fake, "push", {"to": user(3), "messages": TEXT}, key=keys[3]).status_code == 409
        assert fake.rate_limited == 2
        stats = fake.stats()
        assert stats["accepted_requests"] == 6 and stats["accepted_messages"] == 7 and stats["duplicates"] == 0
        assert stats["statuses"] == {"200": 6, "409": 1, "429": 2}


def test_stats_and_accepted_over_http_count_each_message_once(fake):
    key = str(uuid.uuid4())
    for _ in range(3):  # the same key three times: accepted once
        post(fake, "push", {"to": ALICE, "messages": TEXT}, key=key)
    post(fake, "push", {"to": ALICE, "messages": TEXT}, key=str(uuid.uuid4()))  # a real duplicate (another key)
    stats = requests.get(f"{fake.url}/fake/stats", timeout=2).json()
    assert stats["accepted_messages"] == 2 and stats["duplicates"] == 1 and stats["statuses"]["409"] == 2
    accepted = requests.get(f"{fake.url}/fake/accepted", timeout=2).json()
    assert [a[0] for a in accepted][0] == key and accepted[0][1] == [ALICE] and accepted[0][2] > 0


def test_the_flags_by_hand(monkeypatch):
    from integrations.fakeserver import run_by_hand

    fake = LineFake()
    monkeypatch.setattr(fake, "start", lambda host, port: fake)
    monkeypatch.setattr(type(fake), "url", property(lambda self: "http://127.0.0.1:0"))
    monkeypatch.setattr(
        "integrations.fakeserver.threading.Event.wait", lambda self, *a: (_ for _ in ()).throw(KeyboardInterrupt)
    )
    monkeypatch.setattr(fake, "stop", lambda: None)
    extra = {
        "token": {"default": "demo-token"},
        "secret": {"default": "demo-secret"},
        "latency_ms": {"type": float, "default": 0.0},
        "jitter_ms": {"type": float, "default": 0.0},
        "rate_limit": {"type": int, "default": 0},
    }
    run_by_hand(fake, ["--latency-ms", "100", "--jitter-ms", "20", "--rate-limit", "2000"], **extra)
    assert (fake.latency_ms, fake.jitter_ms, fake.rate_limit) == (100, 20, 2000)
