"""What the spoolers' status shows: each queue's counts and the counters of this master's life.

The counts come from directory listings (no file opened) and are cached: a spool directory
may be written by processes that do not tell the master, so they are listed again at most
every ``COUNT_MIN_AGE`` seconds, sooner (``COUNT_DIRTY_AGE``) after a change the master
knows of, and never more often than ``COUNT_COST_FACTOR`` times the last listing's cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sigsup.spool.store import FAILED, QUEUED, JobStore

COUNT_MIN_AGE = 2.0       # status counts are listed again at most this often (files may
                          # come from writers that do not tell the master)...
COUNT_DIRTY_AGE = 0.05    # ...or this often after a change the master knows of...
COUNT_COST_FACTOR = 50    # ...but never more often than every 50 listing times

EMPTY = {"queued": 0, "due": 0, "running": 0, "retrying": 0, "failed": 0}


class SpoolCounters:
    """One spooler's outcomes since this master started."""

    def __init__(self) -> None:
        self.done = 0
        self.retried = 0
        self.dead = 0
        self.ignored = 0
        self.died = 0
        self.last_error: str | None = None

    def job_ended(self, msg: dict[str, Any]) -> None:
        """A spooler process reported a job's end (``spool-end``)."""
        outcome, then = msg.get("outcome"), msg.get("then")
        if outcome == "ok":
            self.done += 1
        elif outcome == "ignored":
            self.ignored += 1
        elif then == QUEUED:
            self.retried += 1
        elif then == FAILED:
            self.dead += 1
        if msg.get("error"):
            self.last_error = str(msg["error"])

    def reclaimed(self, state: str) -> None:
        """A job whose process died mid-job went back to ``state`` (queued or failed)."""
        self.died += 1
        if state == QUEUED:
            self.retried += 1
        elif state == FAILED:
            self.dead += 1

    def as_dict(self) -> dict[str, Any]:
        return {"done": self.done, "retried": self.retried, "dead_lettered": self.dead,
                "ignored": self.ignored, "died_mid_job": self.died,
                "last_error": self.last_error}


class QueueCounts:
    """The cached listing counts of every spooler's directory."""

    def __init__(self, stores: dict[str, JobStore], clock: Callable[[], float]) -> None:
        self.stores = stores
        self.clock = clock
        self.cache: dict[str, tuple[float, dict[str, int], float]] = {}   # at, counts, cost
        self.changed: set[str] = set(stores)   # spoolers whose counts are stale

    def touch(self, name: str) -> None:
        """``name``'s queue changed (the master knows it): list it again soon."""
        self.changed.add(name)

    def get(self, name: str) -> dict[str, int]:
        now = self.clock()
        hit = self.cache.get(name)
        if hit is not None:
            age = COUNT_DIRTY_AGE if name in self.changed else COUNT_MIN_AGE
            if now - hit[0] < max(age, COUNT_COST_FACTOR * hit[2]):
                return hit[1]
        self.changed.discard(name)
        t0 = time.perf_counter()
        try:
            c = self.stores[name].counts()
        except OSError:
            c = dict(EMPTY)
        self.cache[name] = (now, c, time.perf_counter() - t0)
        return c

    def age(self, name: str, now: float) -> float:
        """Seconds since ``name`` was last listed (after ``get``)."""
        return max(0.0, now - self.cache[name][0])
