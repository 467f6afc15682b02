"""Two delivery workers with their own PostgreSQL connections over the same due rows: each message once."""

import datetime as dt
import threading

import pytest
from django.db import connection, transaction

from notifications.delivery import claim, deliver_notifications
from notifications.models import Notification
from tests.concurrency import race
from tests.notifications.line_helpers import enqueue, followers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_deliver_each_message_once_even_with_failures(line, line_channel, meeting, now, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 100
    students = followers(line_channel, 1240)
    enqueue("class_open", students[:1200], now=now, meeting=meeting)  # three multicast batches
    enqueue("join_link", students[1200:], now=now, meeting=meeting, url_for=lambda s: f"https://x.example/j/{s.pk}/")
    line.chaos(0.3, seed=11)
    moment, rounds, claimed = now, 0, []
    while Notification.objects.filter(state="pending").exists():
        results = race(*[lambda m=moment: deliver_notifications(m, batch_size=50)] * 2)
        assert not [r for r in results if isinstance(r, Exception)], results
        claimed.append([sum(r.values()) for r in results])
        moment, rounds = moment + dt.timedelta(hours=2), rounds + 1
        assert rounds < 40
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
    copies = line.copies()
    assert len(copies) == 1240 and set(copies.values()) == {1}
    assert any(a and b for a, b in claimed), claimed  # both workers really delivered something


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_claim_the_same_row(line, line_channel, meeting, now):
    """Without failures, every row is claimed by exactly one worker: every call the fake sees is accepted (a row
    claimed twice would be sent twice with its key, and the second call answered 409)."""
    students = followers(line_channel, 1240)
    enqueue("class_open", students[:1200], now=now, meeting=meeting)
    enqueue("join_link", students[1200:], now=now, meeting=meeting, url_for=lambda s: f"https://x.example/j/{s.pk}/")
    results = race(*[lambda: deliver_notifications(now, batch_size=20)] * 2)
    assert [r["sent"] for r in results if not isinstance(r, Exception)] and sum(r["sent"] for r in results) == 1240
    assert len(line.requests) == len(line.accepted)
    assert sum(len(call.to) for call in line.accepted) == 1240
    assert set(line.copies().values()) == {1}
    assert deliver_notifications(now) == {}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_claims_at_once_take_disjoint_rows(line_channel, meeting, now, settings):
    settings.NOTIFICATION_CHANNEL = "live"
    enqueue("class_open", followers(line_channel, 1000), now=now, meeting=meeting)
    results = race(*[lambda: [row.pk for row in claim(now, 1000)]] * 2)
    first, second = results
    assert not set(first) & set(second) and len(first) + len(second) == 1000
    assert set(Notification.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_partly_held_by_another_worker_is_left_whole_for_later(line_channel, meeting, now, settings):
    settings.NOTIFICATION_CHANNEL = "live"
    rows = enqueue("class_open", followers(line_channel, 4), now=now, meeting=meeting)
    key = rows[0].retry_key
    Notification.objects.filter(pk__in=[r.pk for r in rows[:3]]).update(line_batch_key=key)
    locked, done = threading.Event(), threading.Event()

    def hold_one_row():
        with transaction.atomic():
            list(Notification.objects.filter(pk=rows[2].pk).select_for_update(no_key=True))
            locked.set()
            done.wait(10)
        connection.close()

    holder = threading.Thread(target=hold_one_row)
    holder.start()
    assert locked.wait(10)
    try:
        taken = [row.pk for row in claim(now, 100)]
    finally:
        done.set()
        holder.join(10)
    assert taken == [rows[3].pk]  # not rows 0-1 without their batch-mate
    assert [row.pk for row in claim(now, 100)] == [r.pk for r in rows[:3]]
