"""Pacing for the calls to an outside service: a rate cap per channel and a bounded pool of threads.

Used by every channel that sends many independent calls (LINE pushes, Zalo ZNS messages). Nothing here knows a
service: a channel names its limiter (``limiter_for("line:12:push", 1600)``) and runs its calls through
:func:`map_bounded`.

* :class:`RateLimiter` is a token bucket shared by the threads of a process: at most ``rate_per_second`` calls a
  second on average and ``burst`` at once. Services count per second per channel (LINE: 2,000 pushes a second per
  channel) and advise a limiter set below the limit, since calls arrive bunched (LINE docs, "Best practices for
  preventing HTTP status code 429 errors"). ``pause(seconds)`` holds every caller back after a 429, for as long as
  the service's ``Retry-After`` asks.
* :func:`map_bounded` runs ``fn`` over items in at most ``max_workers`` threads. Threads only make HTTP calls: the
  caller does every database read before and every write after (a Django connection is per thread, so a thread
  that touched the ORM would open a connection of its own; the pool closes any such connection anyway).

The limiter is per process. Several delivery processes sending for one channel each keep their own bucket: give each
``limit / processes`` (README, "Delivery at scale").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor


class RateLimiter:
    """A thread-safe token bucket: ``acquire()`` returns when a call may go."""

    def __init__(
        self,
        rate_per_second: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if rate_per_second <= 0:
            raise ValueError(f"rate_per_second must be positive, not {rate_per_second!r}")
        self.rate = float(rate_per_second)
        # A small burst by default (a tenth of a second's worth): a full second's worth at once could itself exceed a
        # service that counts over a sliding second.
        self.burst = max(1, int(burst if burst is not None else self.rate / 10))
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens = float(self.burst)
        self._updated = clock()
        self._paused_until = 0.0

    def _wait_needed(self, now: float) -> float:
        """Seconds until a token is free (0: take it now). Under the lock."""
        if now < self._paused_until:
            return self._paused_until - now
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1 - 1e-9:  # float error must not make a sleeper wait for a vanishing remainder
            return 0.0
        return (1 - self._tokens) / self.rate

    def try_acquire(self) -> float:
        """Take a token if one is free now and return 0; else return how long to wait (nothing taken)."""
        with self._lock:
            wait = self._wait_needed(self._clock())
            if wait == 0:
                self._tokens = max(0.0, self._tokens - 1)
            return wait

    def acquire(self, timeout: float | None = None) -> bool:
        """Block until a call may go (True), or give up after ``timeout`` seconds (False, nothing taken)."""
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            wait = self.try_acquire()
            if wait == 0:
                return True
            if deadline is not None:
                left = deadline - self._clock()
                if left < wait:
                    return False
            self._sleep(wait)

    def pause(self, seconds: float) -> None:
        """Every caller waits at least ``seconds`` from now (a 429's Retry-After); a shorter pause never shortens a
        longer one already set. The bucket restarts empty afterwards, so the calls resume at the rate, not at once."""
        with self._lock:
            now = self._clock()
            until = now + max(0.0, seconds)
            if until > self._paused_until:
                self._paused_until = until
                self._tokens, self._updated = 0.0, until

    def paused_for(self) -> float:
        """Seconds left of a pause (0 when none)."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())


_limiters: dict[str, RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(key: str, rate_per_second: float) -> RateLimiter:
    """The process's one limiter for ``key`` (a service's channel and endpoint); a changed rate replaces it."""
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None or limiter.rate != float(rate_per_second):
            limiter = _limiters[key] = RateLimiter(rate_per_second)
        return limiter


def set_limiter(key: str, limiter: RateLimiter) -> None:
    """Use ``limiter`` for ``key`` from now on (tests give a channel a bucket on their own clock)."""
    with _limiters_lock:
        _limiters[key] = limiter


def reset_limiters() -> None:
    """Forget every limiter (tests start from full buckets)."""
    with _limiters_lock:
        _limiters.clear()


def _close_thread_connections() -> None:
    # Imported here: pacing needs no Django to be set up unless a thread touched the ORM.
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        connection.close()


def map_bounded(fn: Callable, items: Iterable, *, max_workers: int) -> list:
    """``[fn(item) for item in items]`` in at most ``max_workers`` threads, in item order. An exception raised by
    ``fn`` is returned in place of its result (never lost, never raised here): the caller turns it into a
    retryable result for that item. Database connections a worker thread opened are closed before it ends."""
    items = list(items)
    if not items:
        return []

    def guarded(item):
        try:
            return fn(item)
        except Exception as exc:  # handed back to the caller, item by item
            return exc

    if max_workers <= 1 or len(items) == 1:
        return [guarded(item) for item in items]  # no thread: the caller's own connection, nothing to close

    def in_thread(item):
        try:
            return guarded(item)
        finally:
            _close_thread_connections()

    with ThreadPoolExecutor(max_workers=min(max_workers, len(items)), thread_name_prefix="pacing") as pool:
        return list(pool.map(in_thread, items))
