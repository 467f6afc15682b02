"""integrations.pacing: the token bucket (on an injected clock: no test sleeps), one limiter per key, and the
bounded pool (order kept, exceptions handed back, never more than max_workers at once)."""

from __future__ import annotations

import threading

import pytest

from integrations.pacing import RateLimiter, limiter_for, map_bounded, reset_limiters


class FakeClock:
    """A clock that only moves when somebody sleeps on it."""

    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(rate, burst=None):
    clock = FakeClock()
    return RateLimiter(rate, burst=burst, clock=clock, sleep=clock.sleep), clock


def test_the_burst_goes_at_once_then_calls_are_spaced_at_the_rate():
    bucket, clock = limiter(10, burst=3)
    for _ in range(3):
        bucket.acquire()
    assert clock.slept == []  # the burst
    for _ in range(10):
        bucket.acquire()
    assert clock.now - 100.0 == pytest.approx(1.0)  # ten more at 10/s: one second
    assert all(s == pytest.approx(0.1) for s in clock.slept)


def test_a_long_run_never_exceeds_the_rate_plus_the_burst():
    bucket, clock = limiter(200, burst=20)
    times = []
    for _ in range(2000):
        bucket.acquire()
        times.append(clock.now)
    # In any one-second window: at most rate + burst calls.
    start = 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        assert end - start + 1 <= 220
    assert times[-1] - times[0] == pytest.approx((2000 - 20) / 200, rel=0.01)


def test_the_default_burst_is_a_tenth_of_a_second():
    assert RateLimiter(1600).burst == 160
    assert RateLimiter(5).burst == 1


def test_pause_holds_every_caller_for_retry_after_then_resumes_at_the_rate():
    bucket, clock = limiter(10, burst=5)
    bucket.acquire()
    bucket.pause(30)
    assert bucket.paused_for() == pytest.approx(30)
    bucket.acquire()
    assert clock.now >= 130.0  # nobody went before Retry-After
    bucket.acquire()
    assert clock.now == pytest.approx(130.2)  # the bucket restarted empty: one each 0.1 s, not a burst
    bucket.pause(5)
    bucket.pause(1)  # a shorter pause does not shorten the longer one
    assert bucket.paused_for() == pytest.approx(5)


def test_acquire_with_a_timeout_gives_up_without_taking_a_token():
    bucket, clock = limiter(1, burst=1)
    assert bucket.acquire(timeout=0) is True
    bucket.pause(10)
    assert bucket.acquire(timeout=2) is False
    assert clock.now == pytest.approx(100.0)  # gave up at once: waiting would not have been enough
    assert bucket.try_acquire() == pytest.approx(10)


def test_a_bad_rate_is_refused():
    with pytest.raises(ValueError, match="rate_per_second"):
        RateLimiter(0)


def test_the_bucket_is_thread_safe():
    bucket, clock = limiter(1000, burst=1000)
    taken = []

    def take():
        for _ in range(100):
            taken.append(bucket.try_acquire() == 0)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sum(taken) == 1000  # exactly the burst, though 2,000 tried at once (the clock never moved)


def test_one_limiter_per_key():
    reset_limiters()
    first = limiter_for("line:1:push", 1600)
    assert limiter_for("line:1:push", 1600) is first
    assert limiter_for("line:2:push", 1600) is not first
    assert limiter_for("line:1:push", 800).rate == 800  # a changed setting takes effect
    reset_limiters()


def test_map_bounded_keeps_order_and_hands_back_exceptions():
    def fn(n):
        if n == 3:
            raise RuntimeError("boom")
        return n * 2

    results = map_bounded(fn, range(6), max_workers=4)
    assert results[:3] == [0, 2, 4] and results[4:] == [8, 10]
    assert isinstance(results[3], RuntimeError) and str(results[3]) == "boom"
    assert map_bounded(fn, [], max_workers=4) == []
    assert map_bounded(fn, [1, 3], max_workers=1)[0] == 2


def test_map_bounded_runs_at_most_max_workers_at_once_and_really_in_parallel():
    running, peak = 0, 0
    lock = threading.Lock()
    all_in = threading.Barrier(4, timeout=10)

    def fn(n):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        if n < 4:
            all_in.wait()  # the first four meet: four really run at once (a pool of one would time out here)
        with lock:
            running -= 1
        return n

    assert map_bounded(fn, range(40), max_workers=4) == list(range(40))
    assert peak == 4
