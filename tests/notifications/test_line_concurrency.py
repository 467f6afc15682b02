"""Concurrent LINE delivery keeps every exactly-once rule (integrations.line.channel, integrations.pacing): a
timeout retried with the same key gets 409 and counts as sent; a 429 pauses that channel's limiter only; a slow
channel does not hold up another; several workers with their own PostgreSQL connections send each message once."""

import datetime as dt
import threading

import pytest
from django.db.models import Count

from integrations.line.fake import LineFake
from integrations.pacing import RateLimiter, set_limiter
from notifications.delivery import deliver_notifications
from notifications.models import Notification
from tests import factories
from tests.concurrency import race
from tests.conftest import LINE_SECRET, LINE_TOKEN
from tests.notifications.line_helpers import enqueue, followers

HOURS = dt.timedelta(hours=2)


def join_links(students, now, meeting):
    return enqueue("join_link", students, now=now, meeting=meeting, url_for=lambda s: f"https://x.example/j/{s.pk}/")


def states():
    return dict(Notification.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))


class Clock:
    """A clock for a limiter that moves only when the limiter sleeps; it moves the fake's rate-limit clock too."""

    def __init__(self, fake=None):
        self.now, self.slept, self.fake = 1000.0, [], fake
        self.lock = threading.Lock()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        with self.lock:
            self.slept.append(seconds)
            self.now += seconds


def test_a_timeout_is_retried_with_the_same_key_and_409_means_sent(line, line_channel, meeting, now, settings):
    settings.LINE_MAX_CONCURRENCY = 8
    rows = join_links(followers(line_channel, 20), now, meeting)
    line.fail_next_with("timeout_after_accept", 1)  # accepted, but the answer comes after the read timeout
    first = deliver_notifications(now)
    assert first == {"sent": 19, "retrying": 1}
    pending = Notification.objects.get(state="pending")
    assert "no answer" in pending.last_error
    assert deliver_notifications(now + HOURS) == {"sent": 1}
    assert states() == {"sent": 20}
    key = str(pending.line_batch_key)
    assert [r.headers["x-line-retry-key"] for r in line.requests].count(key) == 2  # the same key both times
    assert len(line.accepted) == 20 and set(line.copies().values()) == {1}  # once each
    assert {str(r.retry_key) for r in rows} == {a.retry_key for a in line.accepted}  # one key per (lone) batch


def test_a_429_with_retry_after_pauses_that_channel_only(line, line_channel, meeting, now, settings):
    other = factories.LineChannelFactory(name="Other", slug="other", access_token="other-token")
    line.tokens.add("other-token")
    settings.LINE_MAX_CONCURRENCY = 8
    clock_a, clock_b = Clock(), Clock()
    line.clock = clock_a  # the fake's sliding second moves with channel A's limiter
    set_limiter(f"line:{line_channel.pk}:push", RateLimiter(1600, clock=clock_a, sleep=clock_a.sleep))
    set_limiter(f"line:{other.pk}:push", RateLimiter(1600, clock=clock_b, sleep=clock_b.sleep))
    join_links(followers(line_channel, 6), now, meeting)
    join_links(followers(other, 3, start=100), now, meeting)
    line.rate_limit = 3  # per channel and second: A's calls after its first three are refused (Retry-After: 1)...
    counts = deliver_notifications(now)
    assert counts == {"sent": 9}  # ...and sent in the same pass once A's limiter waited out Retry-After
    assert line.rate_limited >= 1
    assert sum(clock_a.slept) >= 1.0  # A paused for Retry-After (1 s)
    assert clock_b.slept == []  # B never waited
    assert set(line.copies().values()) == {1} and len(line.accepted) == 9


def test_a_long_retry_after_hands_the_channels_batches_back_to_the_sweep(line, line_channel, meeting, now, settings):
    settings.LINE_MAX_CONCURRENCY = 1
    join_links(followers(line_channel, 5), now, meeting)
    line.retry_after = 60
    line.fail_next_with("429", 1)
    counts = deliver_notifications(now)
    assert counts == {"retrying": 5}  # the first got the 429; the rest were not tried in this pass
    assert len(line.requests) == 1
    due = Notification.objects.values_list("next_attempt_at", flat=True)
    assert all(at >= now + dt.timedelta(seconds=60) for at in due)  # no sooner than Retry-After
    assert deliver_notifications(now + HOURS) == {"sent": 5}


def test_a_slow_channel_does_not_hold_up_another(line_channel, meeting, now, settings):
    """Channel A's first call is held at the fake until channel B's five are all accepted (or 10 s pass): with the
    channels one after the other, B would wait behind A and the wait would run out."""
    b_done = threading.Event()
    waited = []

    class SlowA(LineFake):
        def dispatch(self, request):
            if request.headers.get("authorization") == "Bearer slow-token" and not waited:
                waited.append(b_done.wait(10))
            reply = super().dispatch(request)
            with self.lock:
                if sum(1 for a in self.accepted if a.token == LINE_TOKEN) == 5:
                    b_done.set()
            return reply

    slow = factories.LineChannelFactory(name="Slow", slug="slow", access_token="slow-token")
    with SlowA(tokens={LINE_TOKEN, "slow-token"}, channel_secret=LINE_SECRET) as fake:
        settings.NOTIFICATION_CHANNEL, settings.LINE_API_BASE_URL = "live", fake.url
        settings.LINE_READ_TIMEOUT_MS = 15_000
        join_links(followers(slow, 5), now, meeting)
        join_links(followers(line_channel, 5, start=100), now, meeting)
        assert deliver_notifications(now) == {"sent": 10}
    assert waited == [True]  # B's five were accepted while A's first call was still held


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_three_workers_at_the_new_concurrency_send_each_message_once(line, line_channel, meeting, now, settings):
    """Three delivery workers (their own PostgreSQL connections), each with 16 threads, over 600 personal links and
    a class's multicast, with 20% of calls failing (timeouts after acceptance among them): each message once."""
    settings.NOTIFICATION_MAX_ATTEMPTS = 100
    settings.LINE_MAX_CONCURRENCY = 16
    students = followers(line_channel, 1100)
    enqueue("class_open", students[600:], now=now, meeting=meeting)
    join_links(students[:600], now, meeting)
    line.latency_ms, line.jitter_ms = 5, 5
    line.retry_after = 60
    line.chaos(0.2, seed=3)
    moment, rounds, sent_by = now, 0, []
    while Notification.objects.filter(state="pending").exists():
        results = race(*[lambda m=moment: deliver_notifications(m, batch_size=100)] * 3, timeout=60)
        assert not [r for r in results if isinstance(r, Exception)], results
        sent_by.append([r.get("sent", 0) for r in results])
        moment, rounds = moment + HOURS, rounds + 1
        assert rounds < 40, states()
    assert states() == {"sent": 1100}
    copies = line.copies()
    assert len(copies) == 1100 and set(copies.values()) == {1}
    assert sum(1 for worker in zip(*sent_by, strict=True) if sum(worker)) >= 2  # several workers really sent


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_delivery_commits_its_results(line, line_channel, meeting, now, settings):
    """With real commits: the pins are in the database before the calls, the results after, in bulk."""
    settings.LINE_MAX_CONCURRENCY = 8
    rows = join_links(followers(line_channel, 50), now, meeting)
    assert deliver_notifications(now) == {"sent": 50}
    stored = dict(Notification.objects.values_list("retry_key", "provider_message_id"))
    accepted = {a.retry_key: a.request_id for a in line.accepted}
    assert {str(k): v for k, v in stored.items()} == accepted  # each row has its own LINE request id
    assert all(str(r.line_batch_key or r.retry_key) in accepted for r in rows)
    assert set(Notification.objects.values_list("line_batch_key", flat=True)) == {r.retry_key for r in rows}
