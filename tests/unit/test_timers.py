"""Timers on absolute deadlines of the monotonic clock: no drift, missed periods counted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sigsup.sources.timers import Iterations, Periodic


def test_first_deadline_is_one_period_after_the_anchor() -> None:
    t = Periodic(2.0, anchor=100.0)
    assert t.deadline == 102.0
    assert t.take_due(101.999) == 0
    assert t.take_due(102.0) == 1
    assert t.deadline == 104.0


def test_late_fires_do_not_move_later_deadlines() -> None:
    """Fired 0.3 s late each time: the deadlines stay anchor + k * period (no drift)."""
    t = Periodic(1.0, anchor=0.0)
    for k in range(1, 3601):
        assert t.take_due(k + 0.3) == 1
        assert t.deadline == k + 1
    assert t.deadline == 3601.0


def test_no_drift_over_hours_of_sub_second_periods() -> None:
    """100 ms for 10 hours: the 360,000th deadline is exactly where it should be, even
    though 0.1 is not exact in binary (k * period, never a running sum)."""
    t = Periodic(0.1, anchor=5000.0)
    n = 0
    while n < 360_000:
        n += t.take_due(t.deadline + 0.004)
    assert t.deadline == pytest.approx(5000.0 + 360_001 * 0.1, abs=1e-9)
    total = 0.0
    for _ in range(360_000):
        total += 0.1
    assert abs(total - 36_000.0) > abs(t.deadline - 5000.0 - 36_000.1)   # a sum would drift


def test_a_blocked_master_fires_once_and_counts_the_missed_periods() -> None:
    t = Periodic(0.5, anchor=10.0)
    assert t.take_due(10.5) == 1
    # blocked from 10.5 to 13.2: deadlines 11.0, 11.5, ..., 13.0 passed (5 of them)
    assert t.take_due(13.2) == 5
    assert t.deadline == 13.5       # the next one is the first after now: no burst


def test_exact_edges() -> None:
    t = Periodic(0.01, anchor=0.0)
    assert t.take_due(0.03) == 3     # 0.01, 0.02, 0.03 (0.03 is a deadline, float-exactly)
    assert t.deadline > 0.03


def test_a_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Periodic(0.0, anchor=0.0)


@given(period=st.floats(0.01, 100.0), anchor=st.floats(0.0, 1e6),
       steps=st.lists(st.floats(0.0, 50.0), min_size=1, max_size=40))
def test_due_counts_add_up_to_the_deadlines_passed(period: float, anchor: float,
                                                  steps: list[float]) -> None:
    t = Periodic(period, anchor)
    now = anchor
    fired = 0
    for step in steps:
        now += step
        n = t.take_due(now)
        assert n >= 0
        fired += n
        assert t.deadline > now                          # never a deadline left behind
        assert anchor + (t.k - 1) * period <= now or t.k == 1
    assert fired == t.k - 1


def test_iterations() -> None:
    forever = Iterations(0)
    assert forever.left is None
    assert not any(forever.record() for _ in range(1000))
    three = Iterations(3)
    assert three.left == 3
    assert [three.record(), three.record(), three.record()] == [False, False, True]
    assert three.left == 0
    with pytest.raises(ValueError):
        Iterations(-1)
