"""Pacing outside calls: a token bucket per channel and process, and a bounded map over calls.

The simplest correct form of the API the delivery work shares (``RateLimiter``, ``limiter_for``, ``map_bounded``);
``map_bounded`` runs the calls one after another here."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable


class RateLimiter:
    """At most ``rate_per_second`` acquisitions a second on average, with bursts of up to ``burst`` (default: one
    second's worth)."""

    def __init__(self, rate_per_second: float, *, burst: float | None = None, clock=time.monotonic, sleep=time.sleep):
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.rate = float(rate_per_second)
        self.capacity = float(burst if burst is not None else max(1.0, self.rate))
        self.clock = clock
        self.sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def _wait_needed(self) -> float:
        now = self.clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if now < self._paused_until:
            return self._paused_until - now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate

    def acquire(self) -> None:
        while True:
            with self._lock:
                wait = self._wait_needed()
            if wait <= 0:
                return
            self.sleep(wait)

    def pause(self, seconds: float) -> None:
        """Nobody acquires for ``seconds`` (the service said so: a 429's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + seconds)
            self._tokens = 0.0


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(key: str, rate_per_second: float) -> RateLimiter:
    """The process's one limiter for ``key`` (created at ``rate_per_second`` on first use)."""
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = _limiters[key] = RateLimiter(rate_per_second)
        return limiter


def map_bounded(fn: Callable, items: Iterable, *, max_workers: int) -> list:
    """``fn`` over ``items``, results in item order; an exception raised by ``fn`` is returned in its place."""
    results = []
    for item in items:
        try:
            results.append(fn(item))
        except Exception as exc:  # returned to the caller, who turns it into a result for its row
            results.append(exc)
    return results
