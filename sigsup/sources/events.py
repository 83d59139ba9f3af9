"""The event sources the scheduler holds: one record per timer, rb_timer, cron, monitor.

A record is state and counters only; the scheduler (``sources/scheduler.py``) decides when
it fires. ``status(...)`` is the record as ``sigsup status --json`` shows it:

    kind, id, signal, spec, next_fire (wall clock, null when nothing is scheduled),
    fired, coalesced, missed, refused, iterations_left (null: forever), last_fire, origin
    ... and a few fields of its kind.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from sigsup.schedule.cron import Schedule, zone_name
from sigsup.sources.timers import Iterations, Periodic

LATE_SAMPLES = 1024   # lateness samples kept per source, for the status percentiles


class Samples:
    """The last ``size`` floats, 8 bytes each in an array. A deque of floats costs 32 bytes
    a sample (an object and a slot): 33 MB for 1,000 timers' lateness, the master's memory
    growing for the first 1,024 fires of each (found by the reliability soak)."""

    __slots__ = ("buf", "size", "next")

    def __init__(self, size: int = LATE_SAMPLES) -> None:
        self.buf = array("d")
        self.size = size
        self.next = 0          # where the next sample goes once the buffer is full

    def append(self, v: float) -> None:
        if len(self.buf) < self.size:
            self.buf.append(v)
        else:
            self.buf[self.next] = v
            self.next = (self.next + 1) % self.size

    def __len__(self) -> int:
        return len(self.buf)

    def __iter__(self) -> Iterator[float]:
        return iter(self.buf)


@dataclass(eq=False)
class Source:
    id: int
    kind: str            # timer, rb_timer, cron, monitor
    signal: int
    iterations: Iterations
    origin: str          # "config", or "runtime (worker2)"
    fired: int = 0       # raises made
    coalesced: int = 0   # raises merged (for one or more recipients) into a pending one
    missed: int = 0      # scheduled fires that did not happen (blocked master, misfire)
    refused: int = 0     # raises the master refused for a recipient
    last_fire: float | None = None        # wall clock
    warned_at: float | None = None        # monotonic: the last "missed" warning (rate-limited)
    unwarned: int = 0                     # missed fires not yet in a warning
    late: Samples = field(default_factory=Samples)

    @property
    def label(self) -> str:
        """The origin of its raises: ``timer#3``."""
        return f"{self.kind}#{self.id}"

    def spec(self) -> str:
        raise NotImplementedError

    def base_status(self, next_fire: float | None) -> dict[str, Any]:
        return {
            "kind": self.kind, "id": self.id, "signal": self.signal, "spec": self.spec(),
            "next_fire": round(next_fire, 6) if next_fire is not None else None,
            "fired": self.fired, "coalesced": self.coalesced, "missed": self.missed,
            "refused": self.refused, "iterations_left": self.iterations.left,
            "last_fire": self.last_fire, "origin": self.origin,
        }

    def late_ms(self) -> dict[str, float] | None:
        """How late its raises were (p50, p99, max in ms) over the last samples."""
        if not self.late:
            return None
        s = sorted(self.late)
        def at(q: float) -> float:
            return round(s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] * 1000, 3)
        return {"p50": at(0.50), "p99": at(0.99), "max": round(s[-1] * 1000, 3),
                "samples": len(s)}


@dataclass(eq=False)
class TimerSource(Source):
    seconds: float = 1.0
    periodic: Periodic | None = None

    def spec(self) -> str:
        return f"every {self.seconds:g} s"

    def status(self, next_fire: float | None) -> dict[str, Any]:
        out = self.base_status(next_fire)
        out["seconds"] = self.seconds
        out["late_ms"] = self.late_ms()
        return out


@dataclass(eq=False)
class CronSource(Source):
    schedule: Schedule | None = None
    tz: tzinfo | None = None
    misfire_grace: float = 60.0
    next: float | None = None           # wall clock of the next scheduled instant
    key: str = ""                       # identity across master restarts (config crons)

    def spec(self) -> str:
        return str(self.schedule)

    def status(self, next_fire: float | None) -> dict[str, Any]:
        out = self.base_status(next_fire)
        out["timezone"] = zone_name(self.tz) if self.tz is not None else None
        out["misfire_grace"] = self.misfire_grace
        out["late_ms"] = self.late_ms()
        return out


@dataclass(eq=False)
class MonitorSource(Source):
    path: str = ""
    recursive: bool = False
    events: tuple[str, ...] = ()
    debounce: float = 0.1
    wait_for_path: bool = False
    state: str = "starting"            # starting, watching, waiting for path, error
    error: str | None = None
    seen: int = 0                      # file events received
    burst_start: float | None = None   # monotonic, first event of the burst not yet raised
    last_event: float = 0.0
    due: float | None = None           # monotonic: when the burst raises

    def spec(self) -> str:
        return self.path + (" (recursive)" if self.recursive else "")

    def wire(self) -> dict[str, Any]:
        """What the monitor process needs to watch it."""
        return {"id": self.id, "path": self.path, "recursive": self.recursive,
                "events": list(self.events), "wait_for_path": self.wait_for_path}

    def status(self, next_fire: float | None) -> dict[str, Any]:
        out = self.base_status(next_fire)
        out.update({"path": self.path, "recursive": self.recursive, "events": list(self.events),
                    "debounce": self.debounce, "wait_for_path": self.wait_for_path,
                    "state": self.state, "error": self.error, "file_events": self.seen})
        return out
