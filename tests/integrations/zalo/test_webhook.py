"""POST /integrations/zalo/webhook/<slug>/: Zalo's receipts, signed with X-ZEvent-Signature."""

import json

import pytest

from integrations.zalo.models import ZaloMessage
from integrations.zalo.signing import signature
from notifications.delivery import deliver_notifications
from tests.integrations.zalo.conftest import APP_ID, OA_SECRET_KEY, enqueue, vietnamese_students

URL = "/integrations/zalo/webhook/ielts-vn/"


@pytest.fixture
def sent(zalo, zalo_channel, meeting, now):
    """One join link sent through the fake (its receipt is the fake's last event)."""
    enqueue("join_link", vietnamese_students(1, now=now), now=now, meeting=meeting, url_for=lambda s: "https://x/j/")
    zalo.receipts = True
    deliver_notifications(now)
    return zalo.sent[0]


def post(client, body: bytes, **headers):
    return client.post(URL, data=body, content_type="application/json", **headers)


def received():
    return list(ZaloMessage.objects.exclude(received_at=None).values_list("msg_id", flat=True))


def test_a_receipt_is_recorded_on_the_message_once(client, zalo, sent):
    receipt = zalo.events[-1]
    assert receipt.event["event_name"] == "user_received_message"
    response = client.post(URL, data=receipt.body, **receipt.headers())
    assert response.status_code == 200 and response.json()["outcome"] == "received"
    message = ZaloMessage.objects.get()
    assert message.msg_id == sent.msg_id and message.received_at is not None
    first = message.received_at
    again = client.post(URL, data=receipt.body, **receipt.headers())  # Zalo redelivers: nothing changes
    assert again.status_code == 200 and again.json()["outcome"] == "already recorded or unknown"
    assert ZaloMessage.objects.get().received_at == first


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_X_ZEVENT_SIGNATURE": ""},
        {"HTTP_X_ZEVENT_SIGNATURE": "mac=" + "0" * 64},
        {"HTTP_X_ZEVENT_SIGNATURE": "not a mac"},
    ],
    ids=["missing", "empty", "wrong", "garbage"],
)
def test_a_missing_or_wrong_signature_gets_401_and_writes_nothing(client, zalo, sent, headers):
    receipt = zalo.events[-1]
    response = post(client, receipt.body, **headers)
    assert response.status_code == 401
    assert received() == []


def test_a_body_changed_after_signing_gets_401(client, zalo, sent):
    receipt = zalo.events[-1]
    forged = receipt.body.replace(sent.msg_id.encode(), b"0" * len(sent.msg_id))
    response = post(client, forged, **{"HTTP_X_ZEVENT_SIGNATURE": receipt.signature})
    assert response.status_code == 401 and received() == []


def test_an_event_signed_for_another_app_gets_401(client, zalo, sent):
    """Someone holding this OA's key signs an event of their own app id: forged, refused."""
    forged = zalo.receipt(sent, app_id="another-app")
    response = client.post(URL, data=forged.body, **forged.headers())
    assert response.status_code == 401 and received() == []


def test_a_signature_with_another_key_gets_401(client, zalo, sent):
    forged = zalo.receipt(sent, oa_secret_key="someone-elses-key")
    assert client.post(URL, data=forged.body, **forged.headers()).status_code == 401
    assert received() == []


def test_other_events_are_acknowledged_and_ignored(client, zalo_channel):
    body = json.dumps({"app_id": APP_ID, "event_name": "user_seen_message", "timestamp": "1"}).encode()
    headers = {"HTTP_X_ZEVENT_SIGNATURE": signature(APP_ID, body, "1", OA_SECRET_KEY)}
    response = post(client, body, **headers)
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"


def test_not_json_is_400_and_an_unknown_channel_404(client, zalo_channel):
    assert post(client, b"{nope", HTTP_X_ZEVENT_SIGNATURE="mac=x").status_code == 400
    assert (
        client.post("/integrations/zalo/webhook/nobody/", data=b"{}", content_type="application/json").status_code
        == 404
    )
    assert client.get(URL).status_code == 405
