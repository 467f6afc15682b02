"""Delivering the outbox to LINE, against the local fake over real HTTP."""

import datetime as dt
import logging
import uuid
from collections import Counter

import pytest
from django.core import mail
from django.db.models import Count

from integrations.line import channel as line_channel_module
from integrations.line.channel import Batch, LineMessagingChannel, split
from integrations.line.linking import unlink_contact
from integrations.line.models import LineChannel, LineContact
from notifications.delivery import DELIVERY_LEASE, deliver_notifications, retry_now
from notifications.models import Notification
from tests.conftest import LINE_SECRET, LINE_TOKEN
from tests.notifications.line_helpers import enqueue, followers, line_user, set_line_user

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
    # The three calls run concurrently, so they arrive in any order.
    assert sorted((len(c.to) for c in calls), reverse=True) == [500, 500, 200]
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


def test_a_contact_who_unfollowed_after_the_message_was_written_is_skipped_with_the_reason(
    line, line_channel, meeting, now
):
    [alice] = followers(line_channel, 1)
    [row] = enqueue("class_open", [alice], now=now, meeting=meeting)
    LineContact.objects.filter(student=alice).update(following=False)
    assert deliver_notifications(now) == {"skipped": 1}
    row.refresh_from_db()
    assert row.state == "skipped" and row.last_error == "the contact unfollowed the LINE account"
    assert line.requests == []


def test_a_contact_unlinked_after_the_message_was_written_gets_nothing(line, line_channel, meeting, now):
    [alice] = followers(line_channel, 1)
    [row] = enqueue("class_open", [alice], now=now, meeting=meeting)
    contact = LineContact.objects.get(student=alice)
    unlink_contact(contact.pk, now=now, how="test")
    assert deliver_notifications(now) == {"skipped": 1}
    row.refresh_from_db()
    assert row.state == "skipped" and row.last_error == "the LINE contact is no longer linked to the student"
    assert line.requests == []


def test_a_student_whose_contact_unfollowed_before_the_message_gets_it_by_email(line, line_channel, meeting, now):
    [alice] = followers(line_channel, 1, following=False)
    alice.email = "alice@example.com"
    alice.save(update_fields=["email"])
    [row] = enqueue("class_open", [alice], now=now, meeting=meeting)
    assert row.channel == "email" and row.address == "alice@example.com"


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


# --- one bad recipient never fails the others (hardening item 15) -----------------------------------------------------


def class_notifications():
    return Notification.objects.filter(kind="class_open")


def copies_label(student):
    return class_notifications().get(student=student).payload["text"]


def group_by_batch(pairs):
    grouped = {}
    for key, address in pairs:
        grouped.setdefault(key, []).append(address)
    return grouped.items()


def assert_each_call_is_its_pinned_batch(line):
    """Every request LINE accepted carried the key pinned on exactly the rows it went to."""
    for call in line.accepted:
        pinned = set(class_notifications().filter(line_batch_key=call.retry_key).values_list("address", flat=True))
        assert pinned == set(call.to), call.retry_key


def test_one_id_line_refuses_among_500_fails_alone_and_the_499_others_get_it_once(line, line_channel, meeting, now):
    students = followers(line_channel, 500)
    refused = students[137]
    line.unknown.add(refused.line_user_id)  # well-formed, but LINE never issued it (or another provider did)
    enqueue("class_open", students, now=now, meeting=meeting)
    deliver_notifications(now)
    assert dict(Counter(class_notifications().values_list("state", flat=True))) == {"sent": 499, "failed": 1}
    copies = line.copies()
    assert set(copies) == {(s.line_user_id, copies_label(s)) for s in students if s != refused}
    assert set(copies.values()) == {1}
    row = class_notifications().get(student=refused)
    assert row.last_error == "LINE 400 on push: Failed to send messages" and row.attempts == 1
    assert set(class_notifications().values_list("attempts", flat=True)) == {1}  # all settled in this one pass
    assert len(line.requests) <= 2 * 9 + 1  # halving: two calls per level, nine levels for 500
    assert len({call.retry_key for call in line.accepted}) == len(line.accepted)
    assert_each_call_is_its_pinned_batch(line)
    assert Notification.objects.filter(kind="delivery_failed").count() == 1
    requests = len(line.requests)
    assert deliver_notifications(now + HOURS) == {} and len(line.requests) == requests  # twice: nothing more


def test_a_malformed_id_fails_before_sending_and_the_others_go_in_one_multicast(line, line_channel, meeting, now):
    students = followers(line_channel, 500)
    typo = students[3]
    set_line_user(typo, "U" + "F" * 32)  # upper case: not a LINE user id
    enqueue("class_open", students, now=now, meeting=meeting)
    deliver_notifications(now)
    row = class_notifications().get(student=typo)
    assert row.state == "failed" and row.line_batch_key is None
    assert row.last_error == "LINE: not a LINE user id (U and 32 lower-case hex characters); nothing was sent"
    [call] = line.requests
    assert len(line.accepted[0].to) == 499 and typo.line_user_id not in call.body.decode()
    assert class_notifications().filter(state="sent").count() == 499


def test_a_400_about_the_message_is_not_split(line, line_channel, meeting, now):
    """Every half would carry the same message: a 400 that names no recipient fails the whole batch at once."""
    students = followers(line_channel, 4)
    enqueue("class_open", students, now=now, meeting=meeting)
    line.fail_next(1, status=400, body={"message": "A message (messages[0]) in the request body is invalid"})
    deliver_notifications(now)
    assert len(line.requests) == 1
    assert set(class_notifications().values_list("last_error", flat=True)) == {
        "LINE 400 on multicast: A message (messages[0]) in the request body is invalid"
    }


def test_a_timeout_after_a_split_is_settled_by_the_pinned_key_without_a_duplicate(
    line, line_channel, meeting, now, monkeypatch
):
    students = followers(line_channel, 4)
    line.unknown.add(students[3].line_user_id)
    rows = enqueue("class_open", students, now=now, meeting=meeting)
    real_call, calls = LineMessagingChannel.call, []

    def call(self, batch, now):
        calls.append(batch.key)
        if len(calls) == 2:  # the first half, right after the split: LINE takes it but the answer is lost
            line.fail_next_with("timeout_after_accept")
        return real_call(self, batch, now)

    monkeypatch.setattr(LineMessagingChannel, "call", call)
    deliver_notifications(now)
    first_half = Notification.objects.filter(pk__in=[rows[0].pk, rows[1].pk])
    assert set(first_half.values_list("state", flat=True)) == {"pending"}
    [key] = set(first_half.values_list("line_batch_key", flat=True))
    assert str(key) == calls[1] and key != rows[0].retry_key  # a new batch, pinned with a new key
    assert deliver_notifications(first_half[0].next_attempt_at) == {"sent": 2}
    assert line.requests[-1].headers["x-line-retry-key"] == str(key)  # resent with its pinned key: 409
    assert set(line.copies().values()) == {1} and len(line.copies()) == 3
    assert dict(Counter(class_notifications().values_list("state", flat=True))) == {"sent": 3, "failed": 1}


class WorkerDied(BaseException):
    """The process is killed: nothing after this point runs (not even the sweep's own error handling)."""


def test_a_worker_dying_between_the_split_and_the_send_leaves_pinned_halves_sent_once_later(
    line, line_channel, meeting, now, monkeypatch
):
    students = followers(line_channel, 6)
    line.unknown.add(students[0].line_user_id)
    enqueue("class_open", students, now=now, meeting=meeting)
    real_call, calls = LineMessagingChannel.call, []

    def call(self, batch, now):
        calls.append(batch.key)
        if len(calls) == 2:
            raise WorkerDied
        return real_call(self, batch, now)

    monkeypatch.setattr(LineMessagingChannel, "call", call)
    with pytest.raises(WorkerDied):
        deliver_notifications(now)
    pinned = {
        str(key): sorted(addresses)
        for key, addresses in group_by_batch(class_notifications().values_list("line_batch_key", "address"))
    }
    assert len(pinned) == 2 and sorted(len(a) for a in pinned.values()) == [3, 3]
    monkeypatch.setattr(LineMessagingChannel, "call", real_call)
    lease_ends = now + DELIVERY_LEASE
    assert deliver_notifications(lease_ends - dt.timedelta(seconds=1)) == {}  # leased: other workers keep off
    deliver_notifications(lease_ends)  # the lease ran out: the halves go, each with its pinned key
    good = [s.line_user_id for s in students[1:]]
    assert sorted(u for c in line.accepted for u in c.to) == sorted(good) and set(line.copies().values()) == {1}
    # After the restart each half went first with the key pinned at the split: the clean half was accepted under it,
    # the half with the refused id was split again (new keys) and its good rows sent.
    restarted = [r.headers["x-line-retry-key"] for r in line.requests[1:3]]
    assert sorted(restarted) == sorted(pinned)
    clean = next(key for key, addresses in pinned.items() if students[0].line_user_id not in addresses)
    assert [sorted(c.to) for c in line.accepted if c.retry_key == clean] == [pinned[clean]]
    assert dict(Counter(class_notifications().values_list("state", flat=True))) == {"sent": 5, "failed": 1}
    assert_each_call_is_its_pinned_batch(line)


def test_splits_beyond_a_passs_budget_wait_for_the_next_pass(line, line_channel, meeting, now, monkeypatch, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 10
    monkeypatch.setattr(line_channel_module, "SPLIT_CALLS_PER_PASS", 2)
    students = followers(line_channel, 16)
    for bad in (students[2], students[9], students[15]):
        line.unknown.add(bad.line_user_id)
    enqueue("class_open", students, now=now, meeting=meeting)
    moment, passes = now, 0
    while class_notifications().filter(state="pending").exists():
        deliver_notifications(moment)
        moment, passes = moment + HOURS, passes + 1
        assert passes < 10
    assert passes > 1
    assert dict(Counter(class_notifications().values_list("state", flat=True))) == {"sent": 13, "failed": 3}
    assert len(line.copies()) == 13 and set(line.copies().values()) == {1}
    assert_each_call_is_its_pinned_batch(line)


def test_a_split_pins_two_fresh_halves_or_nothing_when_the_batch_changed(line_channel, meeting, now, settings):
    settings.NOTIFICATION_CHANNEL = "live"
    rows = enqueue("class_open", followers(line_channel, 5), now=now, meeting=meeting)
    key = rows[0].retry_key
    Notification.objects.update(line_batch_key=key)
    batch = Batch(line_channel, str(key), list(reversed(Notification.objects.all())))
    first, second = split(batch)
    assert [r.pk for r in first.rows] == [r.pk for r in rows[:2]] and [r.pk for r in second.rows] == [
        r.pk for r in rows[2:]
    ]
    assert len({str(key), first.key, second.key}) == 3  # two fresh keys
    for half in (first, second):
        assert set(Notification.objects.filter(line_batch_key=half.key).values_list("pk", flat=True)) == {
            r.pk for r in half.rows
        }
    Notification.objects.filter(pk=rows[4].pk).update(state="sent")  # someone else settled one row meanwhile
    assert split(second) is None
    assert set(
        Notification.objects.filter(pk__in=[r.pk for r in rows[2:]]).values_list("line_batch_key", flat=True)
    ) == {uuid.UUID(second.key)}
