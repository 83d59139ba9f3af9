"""How a failed job is retried: how many times, and how long it waits before each retry."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first run; the n-th retry waits
    ``min(backoff * 2**(n-1), backoff_max)`` scaled by a random factor in [0.5, 1]."""

    max_retries: int = 5
    backoff: float = 2.0
    backoff_max: float = 300.0

    def delay(self, failed_attempt: int, rng: Callable[[], float] = random.random) -> float:
        base = min(self.backoff * (2.0 ** min(max(failed_attempt - 1, 0), 60)), self.backoff_max)
        return base * (0.5 + 0.5 * rng())

    def exhausted(self, failed_attempt: int) -> bool:
        return failed_attempt > self.max_retries
