"""POST /integrations/line/webhook/<slug>/: signatures, follow/unfollow, dedupe and ordering."""

import base64
import hashlib
import hmac
import json
import logging

import pytest
import requests
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from classroom.models import Student
from integrations.line.models import LineWebhookEvent
from tests.concurrency import race
from tests.conftest import LINE_SECRET, LINE_TOKEN

T0 = 1_780_000_000_000  # ms
ALICE = "U" + "a" * 32


def sign(body: bytes, secret: str = LINE_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def event(kind: str, user: str = ALICE, *, at: int = T0, event_id: str | None = None) -> dict:
    data = {
        "type": kind,
        "mode": "active",
        "timestamp": at,
        "source": {"type": "user", "userId": user},
        "webhookEventId": event_id or f"01J{kind.upper()}{at}",
        "deliveryContext": {"isRedelivery": False},
    }
    if kind == "follow":
        data["replyToken"] = "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA"
        data["follow"] = {"isUnblocked": False}
    return data


def body_of(*events) -> bytes:
    return json.dumps({"destination": "U" + "0" * 32, "events": list(events)}).encode()


@pytest.fixture
def post(client, line_channel):
    def post(body: bytes, *, signature: str | None = "auto", slug: str = "ielts"):
        headers = {}
        if signature == "auto":
            signature = sign(body)
        if signature is not None:
            headers["HTTP_X_LINE_SIGNATURE"] = signature
        return client.post(f"/integrations/line/webhook/{slug}/", body, content_type="application/json", **headers)

    return post


def test_a_follow_creates_a_following_student(post, line_channel):
    reply = post(body_of(event("follow")))
    assert reply.status_code == 200 and reply.json()["events"] == {"created": 1}
    student = Student.objects.get()
    assert student.line_channel == line_channel and student.line_user_id == ALICE and student.line_following
    assert LineWebhookEvent.objects.get().outcome == "created"


def test_unfollow_is_a_soft_delete_and_a_new_follow_reactivates_the_same_student(post):
    post(body_of(event("follow")))
    post(body_of(event("unfollow", at=T0 + 1000)))
    student = Student.objects.get()
    assert not student.line_following and student.line_user_id == ALICE
    reply = post(body_of(event("follow", at=T0 + 2000)))
    assert reply.json()["events"] == {"followed": 1}
    assert Student.objects.get().pk == student.pk and Student.objects.get().line_following


def test_the_consoles_empty_verify_request_is_answered_200(post):
    reply = post(body_of())
    assert reply.status_code == 200 and not LineWebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "signature", [None, "", sign(b"something else"), sign(body_of(event("follow")), "another-secret")]
)
def test_a_missing_or_wrong_signature_is_refused_and_writes_nothing(post, signature):
    reply = post(body_of(event("follow")), signature=signature)
    assert reply.status_code == 400
    assert not Student.objects.exists() and not LineWebhookEvent.objects.exists()


def test_an_unknown_slug_is_404(post):
    assert post(body_of(event("follow")), slug="nope").status_code == 404
    assert not Student.objects.exists()


def test_a_replayed_event_changes_nothing(post):
    body = body_of(event("follow", event_id="01JREPLAY"))
    post(body)
    Student.objects.update(display_name="Alice")
    post(body_of(event("unfollow", at=T0 + 1000)))
    reply = post(body)  # LINE redelivers the follow
    assert reply.status_code == 200 and reply.json()["events"] == {"duplicate": 1}
    assert not Student.objects.get().line_following
    assert LineWebhookEvent.objects.count() == 2


def test_a_late_follow_cannot_undo_a_newer_unfollow(post):
    post(body_of(event("follow", at=T0)))
    post(body_of(event("unfollow", at=T0 + 5000)))
    reply = post(body_of(event("follow", at=T0 + 1000, event_id="01JLATE")))
    assert reply.json()["events"] == {"stale": 1}
    assert not Student.objects.get().line_following


def test_events_in_one_body_are_applied_in_timestamp_order(post):
    reply = post(body_of(event("unfollow", at=T0 + 5000), event("follow", at=T0)))
    assert reply.json()["events"] == {"created": 1, "unfollowed": 1}
    assert not Student.objects.get().line_following


def test_an_unfollow_before_its_follow_arrives_leaves_the_student_unfollowed(post):
    post(body_of(event("unfollow", at=T0 + 5000)))
    post(body_of(event("follow", at=T0)))
    student = Student.objects.get()
    assert not student.line_following and student.line_user_id == ALICE


@pytest.mark.parametrize("body", [b"not json", b'{"events": [', b'["events"]', b'{"no": "events"}', b"\xff\xfe"])
def test_a_signed_body_that_is_not_a_line_webhook_is_refused(post, body):
    reply = post(body)
    assert reply.status_code == 400 and "error" in reply.json()
    assert not LineWebhookEvent.objects.exists()


def test_a_huge_body_is_refused_before_it_is_read(post, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 2048
    body = body_of(*[event("follow", f"U{n:032x}", at=T0 + n) for n in range(40)])
    assert len(body) > 2048
    assert post(body).status_code == 413
    assert not Student.objects.exists()


def test_only_get_is_refused(client, line_channel):
    assert client.get("/integrations/line/webhook/ielts/").status_code == 405


def test_the_channel_secret_never_reaches_the_log(post, caplog):
    caplog.set_level(logging.DEBUG)
    post(body_of(event("follow")), signature=sign(b"x"))
    post(body_of(event("follow")))
    logged = caplog.text + repr([r.__dict__ for r in caplog.records])
    assert LINE_SECRET not in logged and LINE_TOKEN not in logged


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_first_events_of_a_new_user_at_once_make_one_student(line_channel):
    """LINE may deliver a follow and a newer unfollow of a user we never saw in parallel: one student, unfollowed."""
    bodies = [body_of(event("follow", at=T0)), body_of(event("unfollow", at=T0 + 1000))]

    def deliver(body):
        return (
            Client()
            .post(
                "/integrations/line/webhook/ielts/",
                body,
                content_type="application/json",
                HTTP_X_LINE_SIGNATURE=sign(body),
            )
            .status_code
        )

    for _ in range(3):  # a few rounds, fresh user each time
        Student.objects.all().delete()
        LineWebhookEvent.objects.all().delete()
        assert race(*[lambda b=b: deliver(b) for b in bodies]) == [200, 200]
        student = Student.objects.get()
        assert not student.line_following and LineWebhookEvent.objects.count() == 2


@pytest.mark.parametrize(
    "mangle",
    [
        {"source": {"type": "user", "userId": "U" + "a" * 80}},
        {"source": {"type": "user", "userId": "U\x00a"}},
        {"webhookEventId": "x" * 65},
        {"timestamp": 10**20},
    ],
)
def test_a_follow_with_unusable_fields_is_refused_and_nothing_is_written(post, mangle):
    good = event("follow", "U" + "b" * 32, event_id="01JGOOD")
    reply = post(body_of(good, {**event("follow", at=T0 + 1), **mangle}))
    assert reply.status_code == 400 and "follow event" in reply.json()["error"]
    assert not Student.objects.exists() and not LineWebhookEvent.objects.exists()


scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
any_json = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def maybe(plausible):
    return st.integers(0, 9).flatmap(lambda n: any_json if n == 8 else st.just(...) if n == 9 else plausible)


def fields(**strategies):
    return st.fixed_dictionaries({k: maybe(v) for k, v in strategies.items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not ...}
    )


line_events = fields(
    type=st.sampled_from(["follow", "unfollow", "message", "join"]),
    mode=st.just("active"),
    timestamp=st.integers(min_value=T0, max_value=T0 + 10_000) | st.integers(),
    source=fields(type=st.sampled_from(["user", "group"]), userId=st.sampled_from([ALICE, "", "U\x00", "U" * 70])),
    webhookEventId=st.sampled_from(["01JA", "01JB", "01JC", "", "x" * 70]),
    replyToken=st.just("r"),
    deliveryContext=st.just({"isRedelivery": False}),
    follow=st.just({"isUnblocked": False}),
)


@hypothesis_settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(events=st.lists(line_events, max_size=4) | any_json)
def test_any_signed_body_is_answered_200_or_400_and_a_refusal_writes_nothing(post, events):
    before = (Student.objects.count(), LineWebhookEvent.objects.count())
    body = json.dumps({"destination": "U0", "events": events} if isinstance(events, list) else events).encode()
    reply = post(body)  # the test client re-raises anything a view lets escape
    assert reply.status_code in (200, 400)
    if reply.status_code == 400:
        assert (Student.objects.count(), LineWebhookEvent.objects.count()) == before
    assert not any("\x00" in user for user in Student.objects.values_list("line_user_id", flat=True))


def test_the_fakes_follow_and_unfollow_webhooks_are_accepted(client, line, line_channel):
    url = "/integrations/line/webhook/ielts/"
    follow = line.follow(ALICE)
    assert client.post(url, follow.body, **follow.headers()).status_code == 200
    student = Student.objects.get(line_user_id=ALICE)
    assert student.line_following
    requests.post(f"{line.url}/fake/unfollow?user={ALICE}", timeout=2).raise_for_status()  # by hand, over HTTP
    unfollow = line.events[-1]
    assert client.post(url, unfollow.body, **unfollow.headers()).json()["events"] == {"unfollowed": 1}
    student.refresh_from_db()
    assert not student.line_following
