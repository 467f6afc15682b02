"""The local fakes themselves: started by hand, forwarding their webhooks, failing on request reproducibly."""

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from integrations.fakeserver import FakeService, Reply
from integrations.http import ProviderError
from integrations.livekit.client import LiveKitClient
from integrations.livekit.fake import LiveKitFake
from tests.conftest import LIVEKIT_KEY, LIVEKIT_SECRET

ROOT = Path(__file__).resolve().parents[2]


class Inbox(FakeService):
    """Stands in for our webhook endpoint."""

    name = "inbox"

    def __init__(self):
        super().__init__()
        self.arrived = threading.Event()

    def route(self, request):
        self.arrived.set()
        return Reply(200, {"status": "ok"})


@pytest.mark.parametrize(
    "module, args",
    [
        ("integrations.livekit.fake", ["--key", "devkey", "--secret", "devsecret"]),
        ("integrations.zoom.fake", ["--client-id", "cid", "--client-secret", "csecret"]),
    ],
)
def test_a_fake_can_be_started_by_hand(module, args):
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert "fake listening on http://127.0.0.1:" in line
        url = line.split(" on ")[1].split()[0]
        assert requests.post(url + "/twirp/livekit.RoomService/ListParticipants", json={}, timeout=5).status_code in (
            401,  # LiveKit: no token
            404,  # Zoom: no such route
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_webhooks_are_posted_to_the_webhook_url_as_the_service_signs_them(livekit):
    with Inbox() as inbox:
        livekit.webhook_url = inbox.url + "/integrations/livekit/webhook/"
        LiveKitClient().create_room("class-1", empty_timeout=60, departure_timeout=60, max_participants=2)
        LiveKitClient().delete_room("class-1")
        assert inbox.arrived.wait(5)
    [delivered] = inbox.requests
    assert delivered.path == "/integrations/livekit/webhook/" and delivered.body == livekit.events[-1].body
    assert delivered.headers["content-type"] == "application/webhook+json"
    assert LiveKitClient().verify_webhook(delivered.body, delivered.headers["authorization"])["iss"] == LIVEKIT_KEY


def test_a_seeded_share_of_failures_is_the_same_every_run():
    def outcomes():
        with LiveKitFake(api_key=LIVEKIT_KEY, api_secret=LIVEKIT_SECRET) as fake:
            fake.fail_fraction(0.5, seed=7)
            client = LiveKitClient(url=fake.url, api_key=LIVEKIT_KEY, api_secret=LIVEKIT_SECRET)
            client.http.retries = 0
            results = []
            for _ in range(12):
                try:
                    client.list_participants("class-1")  # no such room: None, when the call gets through
                    results.append("answered")
                except ProviderError as exc:
                    results.append(exc.status)
            return results

    first = outcomes()
    assert first == outcomes() and set(first) == {"answered", 500}
