"""The signal table: 256 entries owned by the master, each with its counters."""

from __future__ import annotations

from dataclasses import dataclass, field

from sigsup.routing.targets import Target

SIGNALS = 256
ON_FULL = ("reject", "coalesce")


def check_signum(num: object) -> int:
    """A signal number 0..255, or ValueError saying why not (no wrapping, unlike uWSGI)."""
    if isinstance(num, bool) or not isinstance(num, int):
        raise ValueError(f"a signal number is an integer 0..255, not {num!r}")
    if not 0 <= num < SIGNALS:
        raise ValueError(f"signal {num} is out of range: signal numbers are 0..255")
    return num


@dataclass(slots=True)
class Counters:
    raised: int = 0      # raises accepted or refused for this number
    delivered: int = 0   # sent to a process that ran it (taken back if it never started)
    handled: int = 0     # handler returned
    failed: int = 0      # handler raised, process died under it, harakiri
    dropped: int = 0     # refused for a recipient: queue full, no recipient
    coalesced: int = 0   # absorbed into an identical pending signal
    last_raised: float | None = None  # wall clock

    def as_dict(self) -> dict[str, object]:
        return {
            "raised": self.raised, "delivered": self.delivered, "handled": self.handled,
            "failed": self.failed, "dropped": self.dropped, "coalesced": self.coalesced,
            "last_raised": self.last_raised,
        }


@dataclass(slots=True)
class Entry:
    """One table entry. ``handler`` is None for a number nobody registered (counters only)."""

    num: int
    handler: str | None
    target: Target | None
    on_full: str = "reject"
    source: str = "config"
    counters: Counters = field(default_factory=Counters)

    @property
    def registered(self) -> bool:
        return self.handler is not None

    def as_dict(self) -> dict[str, object]:
        return {
            "num": self.num,
            "target": str(self.target) if self.target is not None else None,
            "handler": self.handler,
            "on_full": self.on_full,
            "source": self.source,
            **self.counters.as_dict(),
        }


class SignalTable:
    """256 slots. Every slot has an Entry so counters exist for unregistered numbers too."""

    def __init__(self) -> None:
        self.entries: list[Entry] = [Entry(n, None, None, source="none") for n in range(SIGNALS)]

    def __getitem__(self, num: int) -> Entry:
        return self.entries[num]

    def register(self, num: int, handler: str, target: Target, on_full: str = "reject",
                 source: str = "runtime") -> Entry:
        check_signum(num)
        if on_full not in ON_FULL:
            raise ValueError(f"on_full must be one of {', '.join(ON_FULL)}, not {on_full!r}")
        old = self.entries[num]
        entry = Entry(num, handler, target, on_full, source, old.counters)
        self.entries[num] = entry
        return entry

    def unregister(self, num: int) -> bool:
        check_signum(num)
        old = self.entries[num]
        if not old.registered:
            return False
        self.entries[num] = Entry(num, None, None, source="none", counters=old.counters)
        return True

    def handlers(self) -> dict[int, str]:
        """The number -> import path map that children keep a copy of."""
        return {e.num: e.handler for e in self.entries if e.handler is not None}

    def registered(self) -> list[Entry]:
        return [e for e in self.entries if e.registered]

    def seen(self) -> list[Entry]:
        """Registered entries and unregistered numbers that were raised at least once."""
        return [e for e in self.entries if e.registered or e.counters.raised]
