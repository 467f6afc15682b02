"""Delivering the outbox to LINE, against the local fake over real HTTP."""

import datetime as dt
import logging
import uuid

import pytest
from django.core import mail
from django.db.models import Count

from integrations.line.models import LineChannel
from notifications.delivery import deliver_notifications, retry_now
from notifications.models import Notification
from tests.conftest import LINE_SECRET, LINE_TOKEN
from tests.notifications.line_helpers import enqueue, followers, line_user

HOURS = dt.timedelta(hours=2)


def states():
    return dict(Notification.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))


def test_a_class_of_1200_goes_out_in_three_multicasts(line, line_channel, meeting, now):
    students = followers(line_channel, 1200)
    rows = enqueue("class_open", students, now=now, meeting=meeting)
    assert len({r.payload_hash for r in rows}) == 1
    counts = deliver_notifications(now)
    assert counts["sent"] == 1200
    calls = line.endpoint_calls("multicast")
    assert [len(c.to) for c in calls] == [500, 500, 200]
    assert line.endpoint_calls("push") == []
    assert sorted(u for c in calls for u in c.to) == sorted(line_user(n) for n in range(1200))
    # Each call's key is the retry key of its lowest row, stored on every row of it.
    by_key = {str(r.retry_key): r for r in rows}
    for call in calls:
        first = by_key[call.retry_key]
        assert first.address == call.to[0]
        assert Notification.objects.filter(line_batch_key=first.retry_key).count() == len(call.to)
    sent = Notification.objects.filter(state="sent")
    assert sent.count() == 1200 and not sent.filter(provider_message_id="").exists()
    assert deliver_notifications(now + HOURS) == {}  # twice: nothing more
    assert len(line.accepted) == 3


def test_a_lone_link_is_pushed_with_its_retry_key_text_and_an_imagemap(line, line_channel, meeting, now):
    [alice] = followers(line_channel, 1)
    [row] = enqueue("join_link", [alice], now=now, meeting=meeting, url_for=lambda s: "https://classroom.example/j/x/")
    assert deliver_notifications(now)["sent"] == 1
    [call] = line.endpoint_calls("push")
    assert call.to == [alice.line_user_id] and call.retry_key == str(row.retry_key)
    text, imagemap = call.messages
    assert text == {"type": "text", "text": row.payload["text"]}
    assert "IELTS Practice" in text["text"] and "(Asia/Ho_Chi_Minh)" in text["text"]
    assert imagemap["type"] == "imagemap"
    assert imagemap["baseUrl"] == "https://classroom.example/integrations/line/imagemap/join_link"
    assert imagemap["actions"][0]["linkUri"] == "https://classroom.example/j/x/"
    row.refresh_from_db()
    assert row.state == "sent" and row.provider_message_id == call.request_id and row.sent_at == now
    assert line.calls("/v2/bot/message/push")[0].headers["authorization"] == f"Bearer {LINE_TOKEN}"


def test_thirty_percent_failures_still_deliver_every_message_exactly_once(line, line_channel, meeting, now, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 100
    students = followers(line_channel, 1030)
    enqueue("class_open", students[:1000], now=now, meeting=meeting)  # two multicasts
    enqueue("join_link", students[1000:], now=now, meeting=meeting, url_for=lambda s: f"https://x.example/j/{s.pk}/")
    line.retry_after = 60
    line.chaos(0.3, seed=7)
    moment, sweeps = now, 0
    while Notification.objects.filter(state="pending").exists():
        deliver_notifications(moment)
        moment, sweeps = moment + HOURS, sweeps + 1
        assert sweeps < 40, states()
    assert states() == {"sent": 1030}
    copies = line.copies()
    assert len(copies) == 1030 and set(copies.values()) == {1}  # each message accepted once, none twice
    assert {"500", "429", "timeout", "timeout_after_accept"} <= set(line.injected)
    assert sweeps > 1


@pytest.mark.parametrize("size", [1, 3])
def test_a_timeout_after_line_accepted_is_settled_by_409_without_a_duplicate(line, line_channel, meeting, now, size):
    students = followers(line_channel, size)
    rows = enqueue("class_open", students, now=now, meeting=meeting)
    line.fail_next_with("timeout_after_accept")
    assert deliver_notifications(now) == {"retrying": size}
    assert len(line.accepted) == 1  # LINE has it; we could not know
    row = Notification.objects.get(pk=rows[0].pk)
    assert "no answer" in row.last_error and row.next_attempt_at > now
    assert deliver_notifications(row.next_attempt_at) == {"sent": size}
    assert len(line.accepted) == 1 and set(line.copies().values()) == {1}
    row.refresh_from_db()
    assert row.provider_message_id == line.accepted[0].request_id  # from x-line-accepted-request-id
    assert line.requests[-1].headers["x-line-retry-key"] == str(rows[0].retry_key)


def test_a_retried_batch_goes_whole_with_its_key_even_when_the_claim_is_smaller(line, line_channel, meeting, now):
    students = followers(line_channel, 3)
    rows = enqueue("class_open", students, now=now, meeting=meeting)
    line.fail_next(1, status=503)
    deliver_notifications(now)
    # A fourth student's identical message comes due meanwhile: it must not join the pinned batch.
    [dan] = followers(line_channel, 1, start=3)
    enqueue("class_open", [dan], now=now, meeting=meeting)
    later = Notification.objects.get(pk=rows[0].pk).next_attempt_at
    assert deliver_notifications(later, batch_size=1)["sent"] == 4
    multicast, push = line.endpoint_calls("multicast"), line.endpoint_calls("push")
    assert [len(c.to) for c in multicast] == [3] and multicast[0].retry_key == str(rows[0].retry_key)
    assert [c.to for c in push] == [[dan.line_user_id]]


def test_a_student_who_unfollowed_is_skipped_with_the_reason(line, line_channel, meeting, now):
    [alice] = followers(line_channel, 1, following=False)
    [row] = enqueue("class_open", [alice], now=now, meeting=meeting)
    assert deliver_notifications(now) == {"skipped": 1}
    row.refresh_from_db()
    assert row.state == "skipped" and row.last_error == "the student unfollowed the LINE account"
    assert line.requests == []


def test_a_refused_token_fails_the_messages_and_flags_the_channel(line, line_channel, meeting, now):
    LineChannel.objects.filter(pk=line_channel.pk).update(access_token="revoked-token")
    students = followers(line_channel, 3)
    enqueue("class_open", students[:2], now=now, meeting=meeting)
    enqueue("join_link", students[2:], now=now, meeting=meeting, url_for=lambda s: "https://x.example/j/1/")
    assert deliver_notifications(now)["failed"] == 3
    assert len(line.requests) == 1  # the channel's other batch is not tried after its 401
    line_channel.refresh_from_db()
    assert line_channel.auth_failed_at == now
    assert set(Notification.objects.filter(state="failed").values_list("last_error", flat=True)) == {
        "LINE 401 on multicast: Authentication failed. Confirm that the access token is valid.",
        "LINE 401: the channel's access token was refused",
    }


def test_the_monthly_limit_is_a_permanent_failure(line, line_channel, meeting, now):
    [alice] = followers(line_channel, 1)
    [row] = enqueue("class_open", [alice], now=now, meeting=meeting)
    line.fail_next_with("monthly")
    assert deliver_notifications(now)["failed"] == 1
    row.refresh_from_db()
    assert row.attempts == 1 and row.last_error == "LINE 429 on push: You have reached your monthly limit."


@pytest.mark.parametrize("mode", ["400", "401"])
def test_client_errors_are_permanent(line, line_channel, meeting, now, mode):
    [alice] = followers(line_channel, 1)
    [row] = enqueue("class_open", [alice], now=now, meeting=meeting)
    line.fail_next_with(mode)
    deliver_notifications(now)
    row.refresh_from_db()
    assert row.state == "failed" and row.last_error.startswith(f"LINE {mode} on push")


def test_a_rate_limit_waits_at_least_its_retry_after(line, line_channel, meeting, now):
    students = followers(line_channel, 2)
    enqueue("class_open", students, now=now, meeting=meeting)
    line.retry_after = 3600
    line.fail_next_with("429")
    assert deliver_notifications(now) == {"retrying": 2}
    waits = set(Notification.objects.values_list("next_attempt_at", flat=True))
    assert len(waits) == 1 and waits.pop() >= now + dt.timedelta(hours=1)  # one time for the whole batch
    assert deliver_notifications(now + dt.timedelta(minutes=59)) == {}


def test_server_errors_back_off_exponentially(line, line_channel, meeting, now, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 10
    [alice] = followers(line_channel, 1)
    [row] = enqueue("class_open", [alice], now=now, meeting=meeting)
    line.fail_next(3, status=500)
    delays, moment = [], now
    for _ in range(3):
        deliver_notifications(moment)
        row.refresh_from_db()
        delays.append(row.next_attempt_at - moment)
        moment = row.next_attempt_at
    assert delays[0] < delays[1] < delays[2]
    assert deliver_notifications(moment) == {"sent": 1}


def test_after_max_attempts_a_row_fails_and_staff_are_alerted_once(line, line_channel, meeting, now, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 2
    settings.STAFF_ALERT_EMAILS = ["ops@example.com"]
    students = followers(line_channel, 2)
    rows = enqueue("class_open", students, now=now, meeting=meeting)
    line.fail_next(10, status=500)
    moment = now
    for _ in range(4):  # and then some: more sweeps change nothing
        deliver_notifications(moment)
        moment += dt.timedelta(days=1)
    assert set(Notification.objects.filter(kind="class_open").values_list("state", flat=True)) == {"failed"}
    alert = Notification.objects.get(kind="delivery_failed")
    assert alert.channel == "email" and alert.state == "sent" and alert.address == "ops@example.com"
    assert f"Notification {rows[0].pk} and 1 more" in alert.payload["text"]
    assert "gave up after 2 attempts" in alert.payload["text"]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ops@example.com"]


def test_students_without_line_get_email(line, meeting, now, alice):
    alice.email = "alice@example.com"
    alice.save()
    [row] = enqueue("class_open", [alice], now=now, meeting=meeting)
    assert row.channel == "email"
    assert deliver_notifications(now) == {"sent": 1}
    assert mail.outbox[0].to == ["alice@example.com"] and "IELTS Practice" in mail.outbox[0].body
    assert line.requests == []


def test_retry_now_sends_a_failed_batch_again_whole(line, line_channel, meeting, now):
    students = followers(line_channel, 3)
    rows = enqueue("class_open", students, now=now, meeting=meeting)
    line.fail_next_with("400")
    deliver_notifications(now)
    assert retry_now([rows[0].pk], now + HOURS) == 3  # its batch-mates come along
    assert deliver_notifications(now + HOURS) == {"sent": 3}
    [call] = line.accepted
    assert len(call.to) == 3 and call.retry_key == str(rows[0].retry_key)
    assert retry_now([rows[0].pk], now + HOURS) == 0  # only failed rows


def test_secrets_never_reach_the_log(line, line_channel, meeting, now, caplog):
    caplog.set_level(logging.DEBUG)
    students = followers(line_channel, 2)
    enqueue("class_open", students, now=now, meeting=meeting)
    line.fail_next_with("timeout")
    deliver_notifications(now)
    line.fail_next_with("401")
    deliver_notifications(now + HOURS)
    assert caplog.records
    logged = caplog.text + repr([r.__dict__ for r in caplog.records])
    assert LINE_TOKEN not in logged and LINE_SECRET not in logged
    assert Notification.objects.filter(last_error__contains=LINE_TOKEN).count() == 0


def test_every_retry_key_sent_is_a_uuid_stored_on_the_rows(line, line_channel, meeting, now):
    students = followers(line_channel, 4)
    enqueue("class_open", students[:2], now=now, meeting=meeting)
    enqueue("class_open", students[2:3], now=now, meeting=meeting)
    deliver_notifications(now)
    keys = {r.headers["x-line-retry-key"] for r in line.requests}
    assert all(uuid.UUID(k) for k in keys)
    assert {str(k) for k in Notification.objects.values_list("line_batch_key", flat=True)} == keys
