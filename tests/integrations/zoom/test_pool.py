"""The pool of Zoom host accounts: turns, the daily limit of 100 per host, Basic hosts only for short classes."""

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection

from integrations.http import ProviderError
from integrations.zoom import pool
from integrations.zoom.models import ZoomAccount
from integrations.zoom.provider import ZoomProvider
from meetings.rooms import provision_rooms
from tests import factories


@pytest.fixture
def clock(now):
    with time_machine.travel(now, tick=False):
        yield now


def classes(teacher, now, n, minutes=60):
    return [
        factories.MeetingFactory(
            teacher=teacher,
            start_time=now + dt.timedelta(minutes=30 + i),
            end_time=now + dt.timedelta(minutes=30 + i + minutes),
        )
        for i in range(n)
    ]


def hosts_used(zoom):
    return [r.path.split("/")[3] for r in zoom.calls("/meetings", method="POST")]


def test_provisioning_takes_the_accounts_in_turn_and_skips_an_exhausted_one(zoom, zoom_accounts, teacher, clock):
    ann, ben, cat = zoom_accounts
    ZoomAccount.objects.filter(pk=ben.pk).update(exhausted_until=pool.next_utc_midnight(clock))
    meetings = classes(teacher, clock, 4)
    assert provision_rooms(clock)["provisioned"] == 4
    assert hosts_used(zoom) == ["host-ann", "host-cat", "host-ann", "host-cat"]
    assert [m.room_data["account"] for m in type(meetings[0]).objects.order_by("start_time")] == [
        "Ann",
        "Cat",
        "Ann",
        "Cat",
    ]
    counts = dict(ZoomAccount.objects.values_list("name", "requests_today"))
    assert counts == {"Ann": 2, "Ben": 0, "Cat": 2}


def test_the_101st_create_of_the_day_goes_to_another_host(zoom, zoom_accounts, teacher, clock):
    ann, ben, cat = zoom_accounts
    today = clock.date()
    ZoomAccount.objects.filter(pk=ann.pk).update(requests_today=99, requests_date=today)
    ZoomAccount.objects.filter(pk__in=[ben.pk, cat.pk]).update(enabled=False)
    first, second = classes(teacher, clock, 2)
    ZoomProvider().create_room(first, now=clock)  # Ann's 100th
    with pytest.raises(ProviderError, match="no Zoom host account"):
        ZoomProvider().create_room(second, now=clock)  # Ann's 101st: not even sent
    assert hosts_used(zoom) == ["host-ann"]
    ZoomAccount.objects.filter(pk=ben.pk).update(enabled=True)
    room = ZoomProvider().create_room(second, now=clock)
    assert room.data["account"] == "Ben" and hosts_used(zoom) == ["host-ann", "host-ben"]


def test_zoom_saying_the_daily_limit_is_reached_sets_the_host_aside_until_midnight(zoom, zoom_accounts, teacher, clock):
    ann, ben, cat = zoom_accounts
    zoom.set_requests_today("host-ann", 100)  # used up elsewhere: our counter does not know
    [meeting] = classes(teacher, clock, 1)
    room = ZoomProvider().create_room(meeting, now=clock)
    assert room.data["account"] == "Ben"
    assert hosts_used(zoom) == ["host-ann", "host-ben"]
    assert len(zoom.calls("/users/host-ann/meetings")) == 1  # the daily-limit 429 was not retried
    ann.refresh_from_db()
    assert ann.exhausted_until == dt.datetime(2026, 7, 2, tzinfo=dt.UTC)
    assert ann.state_at(clock) == "daily limit reached" and "daily rate limit" in ann.last_error
    assert ann.state_at(dt.datetime(2026, 7, 2, tzinfo=dt.UTC)) == "available"


def test_the_counter_starts_again_at_midnight_utc(zoom, zoom_accounts, teacher):
    ann = zoom_accounts[0]
    late = dt.datetime(2026, 7, 1, 23, 59, tzinfo=dt.UTC)
    ZoomAccount.objects.filter(pk=ann.pk).update(requests_today=100, requests_date=late.date())
    ZoomAccount.objects.exclude(pk=ann.pk).update(enabled=False)
    assert pool.reserve(late, minutes=60) is None
    midnight = dt.datetime(2026, 7, 2, tzinfo=dt.UTC)
    assert pool.reserve(midnight, minutes=60) == ann
    ann.refresh_from_db()
    assert (ann.requests_today, ann.requests_date) == (1, midnight.date())


def test_basic_hosts_take_only_classes_of_at_most_40_minutes(zoom, zoom_accounts, teacher, clock):
    ZoomAccount.objects.filter(name="Ann").update(plan=ZoomAccount.Plan.BASIC)
    ZoomAccount.objects.filter(name="Ben").update(enabled=False)
    short, long, another = classes(teacher, clock, 1, minutes=40) + classes(teacher, clock, 2, minutes=41)
    assert ZoomProvider().create_room(long, now=clock).data["account"] == "Cat"
    ZoomAccount.objects.filter(name="Cat").update(rate_limited_until=clock + dt.timedelta(seconds=30))
    assert ZoomProvider().create_room(short, now=clock).data["account"] == "Ann"
    with pytest.raises(ProviderError):  # Cat is rate-limited, Ann is Basic, Ben is disabled
        ZoomProvider().create_room(another, now=clock)


def test_an_account_whose_credentials_are_refused_is_set_aside(zoom, zoom_accounts, teacher, clock):
    ZoomAccount.objects.filter(name="Ann").update(client_secret="revoked")
    [meeting] = classes(teacher, clock, 1)
    assert ZoomProvider().create_room(meeting, now=clock).data["account"] == "Ben"
    ann = ZoomAccount.objects.get(name="Ann")
    assert ann.auth_failed_at == clock and ann.state_at(clock) == "credentials refused"
    assert "revoked" not in ann.last_error  # never the secret


def test_a_rate_limit_429_pauses_the_account_for_its_retry_after(zoom, zoom_accounts, teacher, clock):
    zoom.fail_next(1, status=429, body={"code": 429, "message": "Too many requests"}, headers={"Retry-After": "45"})
    [meeting] = classes(teacher, clock, 1)
    assert ZoomProvider().create_room(meeting, now=clock).data["account"] == "Ben"
    assert ZoomAccount.objects.get(name="Ann").rate_limited_until == clock + dt.timedelta(seconds=45)


def test_zoom_being_down_is_not_blamed_on_an_account(zoom, zoom_accounts, teacher, clock):
    zoom.fail_next(3, status=502)
    [meeting] = classes(teacher, clock, 1)
    with pytest.raises(ProviderError) as caught:
        ZoomProvider().create_room(meeting, now=clock)
    assert caught.value.status == 502 and not caught.value.permanent
    assert not ZoomAccount.objects.exclude(last_error="").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_take_more_than_the_daily_limit(settings):
    """Eight threads, each with its own connection, reserve at the same moment from two hosts allowed 3 each."""
    settings.ZOOM_DAILY_REQUEST_LIMIT = 3
    now = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
    factories.ZoomAccountFactory(name="Ann", suffix="ann", requests_today=2, requests_date=now.date())
    factories.ZoomAccountFactory(name="Ben", suffix="ben")
    barrier, results, errors = threading.Barrier(8), [], []

    def worker():
        try:
            barrier.wait(timeout=10)
            account = pool.reserve(now, minutes=60)
            results.append(account.name if account else None)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert sorted(r for r in results if r) == ["Ann", "Ben", "Ben", "Ben"]  # Ann had 1 left, Ben 3
    assert results.count(None) == 4
    assert dict(ZoomAccount.objects.values_list("name", "requests_today")) == {"Ann": 3, "Ben": 3}
