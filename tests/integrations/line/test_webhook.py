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
from integrations.line.models import LineContact, LineWebhookEvent
from tests.concurrency import race
from tests.conftest import LINE_SECRET, LINE_TOKEN
from tests.factories import LineChannelFactory

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


def test_a_follow_creates_a_following_contact_and_no_student(post, line_channel):
    reply = post(body_of(event("follow")))
    assert reply.status_code == 200 and reply.json()["events"] == {"created": 1}
    student = LineContact.objects.get()
    assert student.line_channel == line_channel and student.line_user_id == ALICE and student.following
    assert student.student is None and not Student.objects.exists()  # a follow never makes a student
    assert LineWebhookEvent.objects.get().outcome == "created"


def test_unfollow_is_a_soft_delete_and_a_new_follow_reactivates_the_same_contact(post):
    post(body_of(event("follow")))
    post(body_of(event("unfollow", at=T0 + 1000)))
    student = LineContact.objects.get()
    assert not student.following and student.line_user_id == ALICE
    reply = post(body_of(event("follow", at=T0 + 2000)))
    assert reply.json()["events"] == {"followed": 1}
    assert LineContact.objects.get().pk == student.pk and LineContact.objects.get().following


def test_the_consoles_empty_verify_request_is_answered_200(post):
    reply = post(body_of())
    assert reply.status_code == 200 and not LineWebhookEvent.objects.exists()


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        sign(b"something else"),
        sign(body_of(event("follow")), "another-secret"),
        "é" * 44,  # not ASCII: it cannot match, and must not crash the comparison
        sign(body_of(event("follow")))[:-2],
    ],
    ids=["missing", "empty", "another-body", "another-secret", "not-ascii", "cut-short"],
)
def test_a_missing_or_wrong_signature_is_refused_and_writes_nothing(post, signature):
    reply = post(body_of(event("follow")), signature=signature)
    assert reply.status_code == 401 and "error" in reply.json()
    assert not LineContact.objects.exists() and not LineWebhookEvent.objects.exists()


def test_an_unknown_slug_is_404(post):
    assert post(body_of(event("follow")), slug="nope").status_code == 404
    assert not LineContact.objects.exists()


def test_a_replayed_event_changes_nothing(post):
    body = body_of(event("follow", event_id="01JREPLAY"))
    post(body)
    LineContact.objects.update(display_name="Alice")
    post(body_of(event("unfollow", at=T0 + 1000)))
    reply = post(body)  # LINE redelivers the follow
    assert reply.status_code == 200 and reply.json()["events"] == {"duplicate": 1}
    assert not LineContact.objects.get().following
    assert LineWebhookEvent.objects.count() == 2


def test_a_late_follow_cannot_undo_a_newer_unfollow(post):
    post(body_of(event("follow", at=T0)))
    post(body_of(event("unfollow", at=T0 + 5000)))
    reply = post(body_of(event("follow", at=T0 + 1000, event_id="01JLATE")))
    assert reply.json()["events"] == {"stale": 1}
    assert not LineContact.objects.get().following


def test_events_in_one_body_are_applied_in_timestamp_order(post):
    reply = post(body_of(event("unfollow", at=T0 + 5000), event("follow", at=T0)))
    assert reply.json()["events"] == {"created": 1, "unfollowed": 1}
    assert not LineContact.objects.get().following


def test_an_unfollow_before_its_follow_arrives_leaves_the_contact_unfollowed(post):
    post(body_of(event("unfollow", at=T0 + 5000)))
    post(body_of(event("follow", at=T0)))
    student = LineContact.objects.get()
    assert not student.following and student.line_user_id == ALICE


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
    assert not LineContact.objects.exists()


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
    """LINE may deliver a follow and a newer unfollow of a user we never saw in parallel: one contact, unfollowed."""
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
        LineContact.objects.all().delete()
        LineWebhookEvent.objects.all().delete()
        assert race(*[lambda b=b: deliver(b) for b in bodies]) == [200, 200]
        student = LineContact.objects.get()
        assert not student.following and LineWebhookEvent.objects.count() == 2


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
    before = (LineContact.objects.count(), LineWebhookEvent.objects.count())
    body = json.dumps({"destination": "U0", "events": events} if isinstance(events, list) else events).encode()
    reply = post(body)  # the test client re-raises anything a view lets escape
    assert reply.status_code in (200, 400)
    if reply.status_code == 400:
        assert (LineContact.objects.count(), LineWebhookEvent.objects.count()) == before
    assert not any("\x00" in user for user in LineContact.objects.values_list("line_user_id", flat=True))


def test_the_fakes_follow_and_unfollow_webhooks_are_accepted(client, line, line_channel):
    url = "/integrations/line/webhook/ielts/"
    follow = line.follow(ALICE)
    assert client.post(url, follow.body, **follow.headers()).status_code == 200
    student = LineContact.objects.get(line_user_id=ALICE)
    assert student.following
    requests.post(f"{line.url}/fake/unfollow?user={ALICE}", timeout=2).raise_for_status()  # by hand, over HTTP
    unfollow = line.events[-1]
    assert client.post(url, unfollow.body, **unfollow.headers()).json()["events"] == {"unfollowed": 1}
    student.refresh_from_db()
    assert not student.following


# --- event by event, body order, per channel (hardening item 16) ------------------------------------------------------

BOB = "U" + "b" * 32


def sdk_shaped(kind: str, **fields) -> dict:
    """Events shaped like those in line-bot-sdk-python's own test body (tests/v3/text/webhook.json)."""
    data = {
        "type": kind,
        "mode": "active",
        "timestamp": 1462629479859,
        "source": {"type": "user", "userId": "U206d25c2ea6bd87c17655609a1c37cb8"},
        "webhookEventId": "testwebhookeventid",
        "deliveryContext": {"isRedelivery": True},
    }
    return {**data, **fields}


@pytest.mark.parametrize(
    "unreadable",
    [
        pytest.param({**event("follow", ALICE), "mode": "sleeping"}, id="follow-with-an-unknown-mode"),
        pytest.param({**event("unfollow", ALICE), "source": ["user"]}, id="unfollow-with-a-list-source"),
        pytest.param({**event("follow", ALICE), "timestamp": "yesterday"}, id="follow-with-a-text-timestamp"),
        pytest.param({**event("follow", ALICE), "type": 5}, id="a-number-type"),
        pytest.param({"no": "type"}, id="no-type"),
        pytest.param("follow", id="not-an-object"),
        pytest.param({**event("follow", "U" + "a" * 80)}, id="a-user-id-too-long-to-store"),
        pytest.param({**event("follow", "U\x00a")}, id="a-nul-in-the-user-id"),
        pytest.param({**event("follow", ALICE), "timestamp": 10**20}, id="a-timestamp-beyond-year-9999"),
        pytest.param({**event("follow", ALICE), "webhookEventId": "x" * 65}, id="an-event-id-too-long-to-store"),
    ],
)
def test_an_event_that_cannot_be_read_is_skipped_and_the_others_are_applied(post, unreadable, caplog):
    reply = post(body_of(unreadable, event("follow", BOB, event_id="01JBOB")))
    assert reply.status_code == 200
    assert reply.json()["events"] == {"created": 1, "unreadable": 1}
    assert list(LineContact.objects.values_list("line_user_id", flat=True)) == [BOB]
    assert list(LineWebhookEvent.objects.values_list("webhook_event_id", flat=True)) == ["01JBOB"]
    assert "line webhook event skipped" in caplog.text and LINE_SECRET not in caplog.text


def test_events_of_other_kinds_from_the_sdks_own_body_are_ignored_beside_a_follow(post):
    """A standby-mode follow is still a follow; join and unknown ("undefined") kinds are not ours; a text message
    that is neither a command nor a code is recorded and ignored."""
    body = body_of(
        sdk_shaped(
            "message",
            webhookEventId="testwebhookeventid-message",
            replyToken="nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
            message={"id": "325708", "type": "text", "text": "Hello, world", "quoteToken": "quoteToken"},
        ),
        sdk_shaped(
            "join",
            replyToken="nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
            source={"type": "group", "groupId": "Ca56f94637cc4347f90a25382909b24b9"},
        ),
        sdk_shaped("undefined", undefinedField={"1": 1}),
        sdk_shaped("follow", mode="standby", replyToken="nHuyWiB7yP5Zw52FIkcQobQuGDXCTA", follow={"isUnblocked": True}),
    )
    reply = post(body)
    assert reply.status_code == 200 and reply.json()["events"] == {
        "ignored": 1,
        "followed": 1,
    }
    assert LineContact.objects.get().line_user_id == "U206d25c2ea6bd87c17655609a1c37cb8"


@pytest.mark.parametrize(
    "kinds, following",
    [(("follow", "unfollow"), False), (("unfollow", "follow"), True), (("follow", "unfollow", "follow"), True)],
)
def test_events_with_equal_timestamps_apply_in_body_order(post, kinds, following):
    events = [event(kind, event_id=f"01JSAME{n}") for n, kind in enumerate(kinds)]
    assert post(body_of(*events)).status_code == 200
    assert LineContact.objects.get().following is following


def test_an_event_with_the_timestamp_of_the_last_one_applied_still_applies(post):
    """Equal timestamps in two deliveries: the later one wins as it would in one body; an older one still does not."""
    post(body_of(event("follow", at=T0, event_id="01JFIRST")))
    assert post(body_of(event("unfollow", at=T0, event_id="01JSECOND"))).json()["events"] == {"unfollowed": 1}
    assert post(body_of(event("follow", at=T0 - 1, event_id="01JOLDER"))).json()["events"] == {"stale": 1}
    assert not LineContact.objects.get().following


def test_the_same_event_id_on_two_channels_is_applied_on_both(post, line_channel):
    other = LineChannelFactory(name="TOEIC Club", slug="toeic", channel_secret="toeic-channel-secret-0123456789")
    body = body_of(event("follow", event_id="01JSHARED"))
    assert post(body).json()["events"] == {"created": 1}
    reply = post(body, signature=sign(body, other.channel_secret), slug="toeic")
    assert reply.status_code == 200 and reply.json()["events"] == {"created": 1}
    assert sorted(LineContact.objects.values_list("line_channel__slug", flat=True)) == ["ielts", "toeic"]
    assert LineWebhookEvent.objects.filter(webhook_event_id="01JSHARED").count() == 2
    assert post(body, signature=sign(body, other.channel_secret), slug="toeic").json()["events"] == {"duplicate": 1}
    assert set(LineWebhookEvent.objects.values_list("outcome", flat=True)) == {"created"}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_event_id_racing_on_two_channels_and_twice_on_one_is_applied_once_per_channel(line_channel):
    """LINE redelivers while the first delivery is still being applied, and another channel sends the same id."""
    other = LineChannelFactory(name="TOEIC Club", slug="toeic", channel_secret="toeic-channel-secret-0123456789")
    body = body_of(event("follow", event_id="01JRACE"), event("unfollow", event_id="01JRACE2"))

    def deliver(slug, secret):
        reply = Client().post(
            f"/integrations/line/webhook/{slug}/",
            body,
            content_type="application/json",
            HTTP_X_LINE_SIGNATURE=sign(body, secret),
        )
        return reply.status_code

    results = race(
        lambda: deliver("ielts", LINE_SECRET),
        lambda: deliver("ielts", LINE_SECRET),
        lambda: deliver("toeic", other.channel_secret),
    )
    assert results == [200, 200, 200]
    per_channel = sorted(LineWebhookEvent.objects.values_list("line_channel__slug", "webhook_event_id"))
    assert per_channel == [("ielts", "01JRACE"), ("ielts", "01JRACE2"), ("toeic", "01JRACE"), ("toeic", "01JRACE2")]
    # Equal timestamps in body order: the unfollow came second, on both channels.
    assert sorted(LineContact.objects.values_list("line_channel__slug", "following")) == [
        ("ielts", False),
        ("toeic", False),
    ]


def test_messages_in_a_group_and_stickers_are_logged_and_ignored(post, caplog):
    group = {**event("message", BOB, event_id="01JGROUP"), "replyToken": "r1"}
    group["source"] = {"type": "group", "groupId": "C" + "1" * 32, "userId": BOB}
    group["message"] = {"id": "1", "type": "text", "text": "link", "quoteToken": "q"}
    sticker = {**event("message", BOB, event_id="01JSTICKER"), "replyToken": "r2"}
    sticker["message"] = {
        "id": "2",
        "type": "sticker",
        "packageId": "1",
        "stickerId": "1",
        "stickerResourceType": "STATIC",
        "quoteToken": "q",
    }
    reply = post(body_of(group, sticker))
    assert reply.status_code == 200 and reply.json()["events"] == {}
    assert not LineContact.objects.exists() and not LineWebhookEvent.objects.exists()
    assert "line webhook event ignored" in caplog.text
