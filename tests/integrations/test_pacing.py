"""integrations.pacing in its simplest form: a token bucket on a fake clock, and an ordered map."""

from integrations.pacing import RateLimiter, map_bounded


def test_the_bucket_allows_its_rate_and_waits_out_a_pause():
    moment = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        moment[0] += seconds

    limiter = RateLimiter(2, clock=lambda: moment[0], sleep=sleep)
    for _ in range(4):
        limiter.acquire()
    assert moment[0] == 1.0  # two at once (the burst), then one every half second
    limiter.pause(5)
    limiter.acquire()
    assert moment[0] >= 6.0


def test_map_bounded_keeps_order_and_returns_exceptions_in_place():
    def fn(n):
        if n == 2:
            raise ValueError(n)
        return n * 10

    results = map_bounded(fn, [1, 2, 3], max_workers=4)
    assert results[0] == 10 and isinstance(results[1], ValueError) and results[2] == 30
