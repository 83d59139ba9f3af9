"""The delays between reconnect attempts: pure, driven by the caller's clock."""

from __future__ import annotations

from dataclasses import dataclass

STABLE = 10.0   # seconds a connection must stay up for the delays to start again from the first


@dataclass
class Backoff:
    """``initial`` before the first attempt after a loss, doubled after each failed attempt,
    at most ``maximum``. A connection that stayed up ``STABLE`` seconds resets it; one that
    drops sooner does not, so a server that accepts and drops at once is not hammered."""

    initial: float
    maximum: float
    factor: float = 2.0
    failures: int = 0

    def next(self) -> float:
        """The delay before the next attempt; counts one more failure."""
        delay = min(self.maximum, self.initial * self.factor ** min(self.failures, 64))
        self.failures += 1
        return delay

    def lost(self, up_for: float) -> float:
        """A connection that was up ``up_for`` seconds was lost: the delay before retrying."""
        if up_for >= STABLE:
            self.failures = 0
        return self.next()
