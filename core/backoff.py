"""How long to wait before trying a failed step again: the one formula every retry in the project uses.

Exponential: ``base`` seconds after the first failure, doubling with each one, at most ``cap``. With ``jitter`` the
wait is "equal jitter" (half fixed, half random), so steps that failed together (a burst against a service that was
down) do not all come back in the same second; without it the wait is exact, for steps that are already spread out.
The wait is never shorter than ``at_least`` (a service's ``Retry-After``).

Its callers: the HTTP helper's retries inside one call (``integrations.http``), the outbox's retries of a message
(``notifications.delivery``), and a meeting's or an appointment's failed step (``meetings.outside_calls``,
``bookings.sweeps``).
"""

from __future__ import annotations

import random

# 2 ** 30 already exceeds any cap; a larger exponent only makes a bigger float.
MAX_DOUBLINGS = 30


def backoff(failures: int, *, base: float, cap: float, jitter: bool = True, at_least: float | None = None) -> float:
    """Seconds to wait after ``failures`` failures so far (0 for the first retry)."""
    ceiling = min(cap, base * 2 ** min(max(failures, 0), MAX_DOUBLINGS))
    wait = ceiling / 2 + random.uniform(0, ceiling / 2) if jitter else ceiling
    return max(wait, at_least or 0.0)
