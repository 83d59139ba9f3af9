"""The spooler process's cached view of its queue (sigsup/spool/runner.py: Picker)."""

from __future__ import annotations

from pathlib import Path

from sigsup.spool.runner import IDLE_POLL, RESCAN_MIN, Picker
from sigsup.spool.store import JobStore


class Mono:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_order_and_due_times(tmp_path: Path) -> None:
    wall = 1_700_000_000.0
    store = JobStore(tmp_path, "s", clock=lambda: wall)
    low = store.put({}, priority=-1)
    mid = store.put({})
    high = store.put({}, priority=3)
    later = store.put({}, priority=9, at=wall + 2.5)
    mono = Mono()
    p = Picker(store, clock=mono)
    p.refresh(wall)
    assert p.sleep_for(wall) == IDLE_POLL             # the next due job is 2.5 s away
    got = [p.pop(wall).id for _ in range(3)]
    assert got == [high, mid, low] and p.pop(wall) is None
    assert p.sleep_for(wall + 2.0) == 0.5 and round(p.sleep_for(wall + 2.3), 3) == 0.2
    assert p.pop(wall + 2.5).id == later


def test_new_jobs_are_seen_on_wake_or_after_a_short_delay(tmp_path: Path) -> None:
    wall = 1_700_000_000.0
    store = JobStore(tmp_path, "s", clock=lambda: wall)
    mono = Mono()
    p = Picker(store, clock=mono)
    p.refresh(wall)
    assert p.pop(wall) is None
    first = store.put({})
    p.refresh(wall)                                   # too soon after the last listing
    assert p.pop(wall) is None
    mono.t += RESCAN_MIN
    p.refresh(wall)                                   # the directory changed: listed again
    assert p.pop(wall).id == first
    second = store.put({}, priority=5)
    p.dirty = True                                    # the master's wake frame
    p.refresh(wall)
    assert p.pop(wall).id == second


def test_a_stale_entry_is_just_skipped(tmp_path: Path) -> None:
    wall = 1_700_000_000.0
    store = JobStore(tmp_path, "s", clock=lambda: wall)
    store.put({})
    p = Picker(store, clock=Mono())
    p.refresh(wall)
    e = p.pop(wall)
    assert store.claim(e, 1) is not None
    assert store.claim(e, 2) is None                  # another process was first
