"""Races on PostgreSQL with real connections: the token refresh (one refresher at a time) and two delivery workers
over a Zalo class."""

import datetime as dt

import pytest
from django.db import connection

from integrations.zalo import tokens
from integrations.zalo.models import ZaloChannel, ZaloMessage
from notifications.delivery import deliver_notifications
from notifications.models import Notification
from tests.concurrency import race
from tests.integrations.zalo.conftest import enqueue, vietnamese_students


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_refreshing_at_once_make_one_refresh_call_and_both_use_the_new_token(zalo, zalo_channel, now):
    ZaloChannel.objects.filter(pk=zalo_channel.pk).update(token_expires_at=now)  # stale for everyone
    held = zalo.hold()  # the first refresh waits at Zalo until the second worker queues on the row lock

    def release_once_a_worker_waits_on_the_lock():
        for _ in range(1000):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                if cursor.fetchone()[0]:
                    break
            held.wait(0.01)
        zalo.release()

    results = race(
        lambda: tokens.access_token(zalo_channel.pk, now),
        lambda: tokens.access_token(zalo_channel.pk, now),
        release_once_a_worker_waits_on_the_lock,
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    assert zalo.refreshes == 1
    channel = ZaloChannel.objects.get(pk=zalo_channel.pk)
    assert results[0] == results[1] == channel.access_token != "zalo-access-token-first-0123456789"
    assert channel.refresh_token == zalo.refresh_token


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_and_a_mid_run_expiry_still_send_each_message_once(zalo, zalo_channel, meeting, now, settings):
    settings.NOTIFICATION_MAX_ATTEMPTS = 50
    students = vietnamese_students(60, now=now)
    enqueue("join_link", students, now=now, meeting=meeting, url_for=lambda s: f"https://x.example/j/{s.pk}/")
    zalo.expire_after(15)
    moment, rounds = now, 0
    while Notification.objects.filter(state="pending").exists():
        results = race(*[lambda m=moment: deliver_notifications(m, batch_size=10)] * 2)
        assert not [r for r in results if isinstance(r, Exception)], results
        moment, rounds = moment + dt.timedelta(hours=2), rounds + 1
        assert rounds < 10
    assert set(Notification.objects.values_list("state", flat=True)) == {"sent"}
    assert len(zalo.copies()) == 60 and set(zalo.copies().values()) == {1}
    assert zalo.refreshes == 1
    assert ZaloMessage.objects.filter(state="accepted").count() == 60
