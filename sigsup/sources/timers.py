"""Timers and rb_timers: periodic deadlines on the monotonic clock (pure, no I/O).

A timer added at monotonic time ``anchor`` with period ``p`` is due at ``anchor + k*p``
for k = 1, 2, 3... Each deadline is computed from the anchor, never from the time the
previous one fired, so lateness does not add up (uWSGI's rb_timer re-arms at now + p and
drifts). When the master was blocked past several deadlines, ``take_due`` consumes them
all at once: the caller fires once and counts the others as missed (no burst).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Periodic:
    period: float
    anchor: float     # monotonic time the timer was armed
    k: int = 1        # index of the next deadline (anchor + k * period)

    def __post_init__(self) -> None:
        if not self.period > 0:
            raise ValueError(f"a timer period must be positive, got {self.period!r}")

    @property
    def deadline(self) -> float:
        return self.anchor + self.k * self.period

    def take_due(self, now: float) -> int:
        """How many deadlines are at or before ``now`` (0 if none); they are consumed and
        the next deadline is the first one after ``now``."""
        if now < self.anchor + self.k * self.period:
            return 0
        last = int((now - self.anchor) // self.period)   # largest k with deadline <= now
        # float division can be one off either way at the edges: settle it exactly
        while self.anchor + (last + 1) * self.period <= now:
            last += 1
        while last > self.k and self.anchor + last * self.period > now:
            last -= 1
        n = last - self.k + 1
        self.k = last + 1
        return n


@dataclass
class Iterations:
    """``iterations = N`` fires N times, then the source removes itself; 0 is forever."""

    total: int
    done: int = 0

    def __post_init__(self) -> None:
        if self.total < 0:
            raise ValueError(f"iterations must be 0 (forever) or more, got {self.total}")

    def record(self) -> bool:
        """Count one fire; True when that was the last one."""
        self.done += 1
        return self.total > 0 and self.done >= self.total

    @property
    def left(self) -> int | None:
        """Fires left; None for a source that runs forever."""
        return None if self.total == 0 else max(0, self.total - self.done)
