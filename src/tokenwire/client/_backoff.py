"""When to try a dropped stream again: exponential backoff with full jitter, and a limit."""

from __future__ import annotations

import random


class Backoff:
    """Counts the reconnection attempts since the last event arrived.

    The n-th attempt waits a random time between 0 and ``min(cap, base * 2**(n-1))`` ("full
    jitter", so many clients dropped at once do not come back at once), and never less than the
    server's SSE ``retry:``. ``reset`` when an event arrives: only consecutive failures count.
    """

    def __init__(self, max_retries: int, base: float, cap: float) -> None:
        self.max_retries = max_retries
        self.base = base
        self.cap = cap
        self.attempts = 0

    def reset(self) -> None:
        self.attempts = 0

    def next_delay(self, minimum: float = 0.0) -> float | None:
        """The wait before the next attempt, or None when no attempt is left."""
        if self.attempts >= self.max_retries:
            return None
        self.attempts += 1
        ceiling = min(self.cap, self.base * 2.0 ** min(self.attempts - 1, 64))
        return max(minimum, random.uniform(0.0, ceiling))
