"""Routing, pure: Proc objects, a fake clock, no sockets. Frames land in ``proc.out``."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigsup.protocol.frames import DONE_ERROR, DONE_NO_HANDLER, DONE_OK, RUN, FrameReader
from sigsup.routing.proc import Proc
from sigsup.routing.raises import Raise, Watch
from sigsup.routing.result import RaiseResult
from sigsup.routing.router import UNCLAIMED, Router
from sigsup.routing.states import ProcState
from sigsup.routing.table import SignalTable
from sigsup.routing.targets import MULES, WORKERS, TreeShape, farm_group, resolve_target

from .fakes import FakeClock, walk

# -- helpers -------------------------------------------------------------------------------


class World:
    """A router over ``workers`` workers and ``mules`` mules (farm ``a`` = mules in farm_a)."""

    def __init__(self, workers: int = 3, mules: int = 0, farm_a: tuple[int, ...] = (),
                 queue_size: int = 100, window: int = 2) -> None:
        self.clock = FakeClock(mono=100.0)
        self.table = SignalTable()
        self.shape = TreeShape(workers=workers, mules=mules, farms=("a",) if farm_a else ())
        self.workers = [Proc(f"worker{i}", "worker", i, (WORKERS,)) for i in range(1, workers + 1)]
        self.mules = [Proc(f"mule{i}", "mule", i,
                           (MULES, farm_group("a")) if i in farm_a else (MULES,))
                      for i in range(1, mules + 1)]
        self.procs = self.workers + self.mules
        self.router = Router(self.table, self.procs, queue_size=queue_size, window=window,
                             clock=self.clock.monotonic)
        self.readers: dict[str, FrameReader] = {p.name: FrameReader() for p in self.procs}

    def reg(self, num: int, target: str, on_full: str = "reject") -> None:
        self.table.register(num, f"handlers:h{num}", resolve_target(target, self.shape), on_full)

    def up(self, *procs: Proc) -> None:
        for p in procs:
            walk(p, ProcState.RUNNING)
            self.router.ready(p)

    def raise_(self, num: int, **kw) -> RaiseResult:
        return self.router.raise_signal(num, "test", **kw)

    def runs(self, p: Proc) -> list[tuple[int, int]]:
        """(signum, raise id) of the RUN frames written to ``p`` since the last call."""
        frames = self.readers[p.name].feed(bytes(p.out))
        p.out.clear()
        assert all(f[0] == RUN for f in frames)
        return [(f[1], f[3]) for f in frames]

    def finish(self, p: Proc, status: int = DONE_OK) -> Raise:
        """``p`` reports DONE for its oldest signal in flight."""
        r = p.inflight[0]
        self.router.done(p, r.signum, status, r.id)
        return r

    def counters(self, num: int) -> dict[str, object]:
        d = self.table[num].counters.as_dict()
        d.pop("last_raised")
        return d


def ids(items) -> list[int]:
    return [r.id for r in items]


# -- pools: first available ----------------------------------------------------------------


def test_pool_spreads_over_idle_processes_in_member_order() -> None:
    w = World(workers=3, window=4)
    w.reg(17, "worker")
    w.up(*w.workers)
    got = [w.raise_(17).recipients for _ in range(4)]
    assert got == [["worker1"], ["worker2"], ["worker3"], ["worker1"]]
    assert w.runs(w.workers[0]) == [(17, 1), (17, 4)]
    assert [len(p.inflight) for p in w.workers] == [2, 1, 1]


def test_pool_picks_least_recently_freed_among_idle() -> None:
    w = World(workers=3, window=4)
    w.reg(17, "worker")
    w.up(*w.workers)
    for _ in range(3):
        w.raise_(17)
    w1, w2, w3 = w.workers
    w.clock.mono = 105
    w.finish(w3)
    w.clock.mono = 106
    w.finish(w1)
    w.clock.mono = 107
    w.finish(w2)
    assert (w1.last_free, w2.last_free, w3.last_free) == (106, 107, 105)
    assert [w.raise_(17).recipients[0] for _ in range(3)] == ["worker3", "worker1", "worker2"]


def test_pool_prefers_fewest_in_flight_over_lru() -> None:
    w = World(workers=2, window=4)
    w.reg(17, "worker")
    w.up(*w.workers)
    w1, w2 = w.workers
    for _ in range(4):
        w.raise_(17)          # w1: 2, w2: 2
    w.clock.mono = 200
    w.finish(w2)              # w2: 1 in flight, never idle since
    assert w2.last_free == 0.0 and w1.last_free == 0.0
    w.clock.mono = 201
    w.finish(w1)
    w.finish(w1)              # w1: 0 in flight, freed at 201
    assert w.raise_(17).recipients == ["worker1"]   # 0 in flight beats 1
    assert w.raise_(17).recipients == ["worker2"]   # 1 vs 1: w2 freed longest ago (never)
    assert w.raise_(17).recipients == ["worker1"]   # 1 vs 2
    assert len(w1.inflight) == 2 and len(w2.inflight) == 2


def test_pool_skips_processes_that_are_not_ready() -> None:
    w = World(workers=3)
    w.reg(17, "worker")
    w.up(w.workers[2])
    assert w.raise_(17).recipients == ["worker3"]
    assert w.raise_(17).recipients == ["worker3"]
    assert not w.workers[0].inflight and not w.workers[1].inflight


def test_window_limits_in_flight_and_the_rest_wait_in_the_pool() -> None:
    w = World(workers=1, window=2)
    w.reg(17, "worker")
    w.up(*w.workers)
    res = [w.raise_(17) for _ in range(5)]
    assert [r.recipients for r in res] == [["worker1"]] * 2 + [["workers"]] * 3
    assert all(r.accepted for r in res)
    p = w.workers[0]
    assert len(p.inflight) == 2
    assert w.router.backlog(WORKERS) == 3
    assert w.router.queued_total() == 3
    assert w.runs(p) == [(17, 1), (17, 2)]


def test_pool_queue_is_fifo_and_drains_when_a_process_frees_up() -> None:
    w = World(workers=2, window=1)
    w.reg(17, "worker")
    w.reg(18, "worker")
    w.up(*w.workers)
    w1, w2 = w.workers
    for num in (17, 18, 17, 18, 17):
        w.raise_(num)
    assert ids(w.router.pools[WORKERS].queue) == [3, 4, 5]
    assert w.runs(w1) == [(17, 1)] and w.runs(w2) == [(18, 2)]
    w.finish(w2)
    assert w.runs(w2) == [(17, 3)]
    w.finish(w1)
    assert w.runs(w1) == [(18, 4)]
    w.finish(w1)
    assert w.runs(w1) == [(17, 5)]
    assert w.router.backlog(WORKERS) == 0
    assert w.router.pools[WORKERS].pending_count == {}


def test_pool_queue_drains_when_a_process_becomes_ready() -> None:
    w = World(workers=2, window=2)
    w.reg(17, "worker")
    assert [w.raise_(17).recipients for _ in range(3)] == [["workers"]] * 3
    w.up(w.workers[1])
    assert w.runs(w.workers[1]) == [(17, 1), (17, 2)]
    w.up(w.workers[0])
    assert w.runs(w.workers[0]) == [(17, 3)]


def test_own_queue_is_served_before_pools() -> None:
    w = World(workers=1, window=1)
    w.reg(17, "worker")
    w.reg(19, "worker1")
    w.up(*w.workers)
    p = w.workers[0]
    w.raise_(17)                                # sent
    assert w.raise_(17).recipients == ["workers"]   # id 2: pool queue
    assert w.raise_(19).recipients == ["worker1"]   # id 3: own queue
    w.runs(p)
    w.finish(p)
    assert w.runs(p) == [(19, 3)]               # own queue first, although the pool head is older
    w.finish(p)
    assert w.runs(p) == [(17, 2)]


def test_pump_takes_the_oldest_head_among_its_pools() -> None:
    w = World(workers=0, mules=1, farm_a=(1,), window=1)
    w.reg(20, "farm_a")
    w.reg(21, "mule")
    m = w.mules[0]
    w.up(m)
    w.raise_(21)                 # 1: sent
    w.raise_(20)                 # 2: farm pool
    w.raise_(21)                 # 3: mules pool
    w.raise_(20)                 # 4: farm pool
    w.runs(m)
    order = []
    for _ in range(3):
        w.finish(m)
        order += w.runs(m)
    assert order == [(20, 2), (21, 3), (20, 4)]


def test_farm_target_uses_only_the_farm_members() -> None:
    w = World(workers=0, mules=3, farm_a=(2, 3), window=1)
    w.reg(20, "farm1")
    w.up(*w.mules)
    assert [w.raise_(20).recipients for _ in range(3)] == [["mule2"], ["mule3"], ["farm:a"]]
    assert not w.mules[0].inflight


def test_spooler_pools() -> None:
    sp = [Proc(f"spooler:{n}#1", "spooler", 1, ("spoolers", f"spooler:{n}"), spooler=n)
          for n in ("a", "b")]
    table = SignalTable()
    shape = TreeShape(spoolers=("a", "b"))
    table.register(30, "m:f", resolve_target("spooler_b", shape))
    table.register(31, "m:f", resolve_target("spoolers", shape))
    r = Router(table, sp, clock=FakeClock().monotonic)
    for p in sp:
        walk(p, ProcState.RUNNING)
        r.ready(p)
    assert r.raise_signal(30).recipients == ["spooler:b#1"]
    assert r.raise_signal(31).recipients == ["spooler:a#1", "spooler:b#1"]


# -- process targets, broadcast, active ----------------------------------------------------


def test_process_target_waits_for_its_process() -> None:
    w = World(workers=2, window=1)
    w.reg(19, "worker2")
    w.up(*w.workers)
    w.raise_(19)
    assert w.raise_(19).recipients == ["worker2"]
    w1, w2 = w.workers
    assert not w1.inflight
    assert len(w2.inflight) == 1 and len(w2.queue) == 1
    w.finish(w2)
    assert w.runs(w2) == [(19, 1), (19, 2)]


def test_broadcast_reaches_every_slot_and_queues_for_the_not_ready() -> None:
    w = World(workers=3)
    w.reg(18, "workers")
    w1, w2, w3 = w.workers
    w.up(w1, w2)
    w3.state = ProcState.BACKOFF
    res = w.raise_(18)
    assert res.recipients == ["worker1", "worker2", "worker3"]
    assert res.raise_ is not None and res.raise_.pending == 3
    assert w.runs(w1) == [(18, 1)] and w.runs(w2) == [(18, 1)]
    assert not w3.inflight and ids(w3.queue) == [1]
    w.up(w3)
    assert w.runs(w3) == [(18, 1)]
    assert w.counters(18)["delivered"] == 3


def test_active_skips_slots_that_are_not_active() -> None:
    w = World(workers=4)
    w.reg(22, "active-workers")
    w1, w2, w3, w4 = w.workers
    w.up(w1)
    w2.state = ProcState.STARTING        # active, not ready yet: queued for it
    w3.state = ProcState.CHEAPED
    w4.state = ProcState.BACKOFF
    res = w.raise_(22)
    assert res.recipients == ["worker1", "worker2"]
    assert ids(w2.queue) == [1]
    assert not w3.queue and not w4.queue


def test_active_with_nothing_running_is_refused_and_counted() -> None:
    w = World(workers=2)
    w.reg(22, "active-workers")
    for p in w.workers:
        p.state = ProcState.CHEAPED
    res = w.raise_(22)
    assert not res.accepted
    assert res.refused == [("active-workers", "no running process")]
    assert w.counters(22)["dropped"] == 1
    assert w.counters(22)["raised"] == 1


# -- bounds: reject, coalesce, merge --------------------------------------------------------


def test_full_own_queue_rejects_with_a_reason_and_counts_dropped() -> None:
    w = World(workers=1, window=1, queue_size=2)
    w.reg(19, "worker1")
    w.up(*w.workers)
    results = [w.raise_(19) for _ in range(4)]
    assert [r.accepted for r in results] == [True, True, True, False]
    assert results[3].refused == [("worker1", "queue full (2 pending)")]
    assert results[3].recipients == []
    assert w.counters(19) == {"raised": 4, "delivered": 1, "handled": 0, "failed": 0,
                              "dropped": 1, "coalesced": 0}
    d = results[3].as_dict()
    assert d["accepted"] is False
    assert d["refused"] == [{"recipient": "worker1", "reason": "queue full (2 pending)"}]


def test_full_pool_queue_rejects() -> None:
    w = World(workers=1, window=1, queue_size=1)
    w.reg(17, "worker")
    w.up(*w.workers)
    w.raise_(17)
    w.raise_(17)
    res = w.raise_(17)
    assert res.refused == [("workers", "queue full (1 pending)")]
    assert w.counters(17)["dropped"] == 1


def test_broadcast_full_queue_refuses_only_that_recipient() -> None:
    w = World(workers=2, window=1, queue_size=1)
    w.reg(18, "workers")
    w.up(w.workers[0])            # worker2 not ready: everything queues for it
    res = w.raise_(18)            # worker1: sent; worker2: queued (1, full)
    assert res.recipients == ["worker1", "worker2"]
    res = w.raise_(18)            # worker1: queued (1); worker2: full
    assert res.accepted
    assert res.recipients == ["worker1"]
    assert res.refused == [("worker2", "queue full (1 pending)")]
    res = w.raise_(18)
    assert not res.accepted
    assert res.refused == [("worker1", "queue full (1 pending)"),
                           ("worker2", "queue full (1 pending)")]
    assert w.counters(18)["dropped"] == 3


def test_coalesce_absorbs_into_an_identical_pending_signal() -> None:
    w = World(workers=1, window=1, queue_size=2)
    w.reg(19, "worker1", on_full="coalesce")
    w.up(*w.workers)
    for _ in range(3):
        w.raise_(19)
    res = w.raise_(19)
    assert res.accepted
    assert res.coalesced == ["worker1"] and res.recipients == [] and res.refused == []
    assert res.as_dict()["coalesced"] == ["worker1"]
    assert len(w.workers[0].queue) == 2
    assert w.counters(19)["coalesced"] == 1
    assert w.counters(19)["dropped"] == 0


def test_coalesce_in_a_pool_queue() -> None:
    w = World(workers=1, window=1, queue_size=1)
    w.reg(17, "worker", on_full="coalesce")
    w.up(*w.workers)
    w.raise_(17)
    w.raise_(17)
    res = w.raise_(17)
    assert res.coalesced == ["workers"]
    assert w.router.backlog(WORKERS) == 1


def test_coalesce_refuses_when_no_identical_signal_is_pending() -> None:
    w = World(workers=1, window=1, queue_size=2)
    w.reg(18, "worker1")
    w.reg(19, "worker1", on_full="coalesce")
    w.up(*w.workers)
    for _ in range(3):
        w.raise_(18)              # 1 in flight, 2 queued: the queue is full of 18s
    res = w.raise_(19)
    assert not res.accepted
    assert res.refused == [("worker1", "queue full (2 pending)")]
    assert w.counters(19)["dropped"] == 1
    assert w.counters(19)["coalesced"] == 0


def test_coalesce_does_not_count_a_signal_in_flight_as_pending() -> None:
    w = World(workers=1, window=1, queue_size=1)
    w.reg(18, "worker1")
    w.reg(19, "worker1", on_full="coalesce")
    w.up(*w.workers)
    w.raise_(19)                  # in flight
    w.raise_(18)                  # fills the queue
    assert w.raise_(19).refused == [("worker1", "queue full (1 pending)")]


def test_merge_policy_coalesces_with_room_left() -> None:
    w = World(workers=1, window=1, queue_size=100)
    w.reg(19, "worker1")
    w.reg(17, "worker")
    w.up(*w.workers)
    assert w.raise_(19, policy="merge").recipients == ["worker1"]   # sent
    assert w.raise_(19, policy="merge").recipients == ["worker1"]   # queued: none pending yet
    res = w.raise_(19, policy="merge")
    assert res.coalesced == ["worker1"] and res.recipients == []
    assert len(w.workers[0].queue) == 1
    # a plain raise still queues
    assert w.raise_(19).recipients == ["worker1"]
    # and for a pool
    w.raise_(17, policy="merge")
    assert w.raise_(17, policy="merge").coalesced == ["workers"]
    assert w.counters(19)["coalesced"] == 1 and w.counters(17)["coalesced"] == 1


def test_merge_policy_for_an_unregistered_number_merges_into_the_kept_one() -> None:
    w = World(workers=1)
    assert w.raise_(50, policy="merge").recipients == [UNCLAIMED]
    res = w.raise_(50, policy="merge")
    assert res.coalesced == [UNCLAIMED] and res.recipients == []
    assert w.raise_(51, policy="merge").recipients == [UNCLAIMED]
    assert len(w.router.unclaimed.queue) == 2
    assert w.counters(50)["coalesced"] == 1


# -- unregistered numbers: signal_wait -----------------------------------------------------


def test_unregistered_signal_goes_to_a_waiter() -> None:
    w = World(workers=2)
    w.up(*w.workers)
    w1, w2 = w.workers
    w.router.wait(w2, -1)
    assert w2.waiting == -1
    res = w.raise_(50)
    assert res.recipients == ["worker2"]
    assert w.runs(w2) == [(50, 1)]
    assert w2.waiting is None
    assert w.router.unclaimed.queue == type(w.router.unclaimed.queue)()


def test_waiter_for_a_number_gets_only_that_number() -> None:
    w = World(workers=2)
    w.up(*w.workers)
    w1, w2 = w.workers
    w.router.wait(w1, 51)
    w.router.wait(w2, -1)
    assert w.raise_(50).recipients == ["worker2"]
    assert w.raise_(50).recipients == [UNCLAIMED]
    assert w.raise_(51).recipients == ["worker1"]


def test_unregistered_signal_is_kept_for_the_next_waiter() -> None:
    w = World(workers=2)
    w.up(*w.workers)
    w1, w2 = w.workers
    assert w.raise_(50).recipients == [UNCLAIMED]
    assert w.raise_(52).recipients == [UNCLAIMED]
    assert w.router.queued_total() == 2
    w.router.wait(w1, 52)                  # takes 52, leaves 50
    assert w.runs(w1) == [(52, 2)]
    assert w1.waiting is None
    w.router.wait(w2, -1)
    assert w.runs(w2) == [(50, 1)]
    assert w.router.unclaimed.pending_count == {}
    w.router.wait(w2, -1)                  # nothing left: now it waits
    assert w2.waiting == -1


def test_a_not_ready_process_waits_without_taking_a_kept_signal() -> None:
    w = World(workers=1)
    w.raise_(50)
    p = w.workers[0]
    w.router.wait(p, -1)
    assert p.waiting == -1 and not p.inflight
    assert len(w.router.unclaimed.queue) == 1


def test_unclaimed_queue_is_bounded() -> None:
    w = World(workers=1, queue_size=2)
    w.raise_(50)
    w.raise_(50)
    res = w.raise_(50)
    assert not res.accepted
    assert res.refused[0][0] == UNCLAIMED
    assert "no handler" in res.refused[0][1] and "signal_wait" in res.refused[0][1]
    assert w.counters(50)["dropped"] == 1


def test_done_no_handler_for_an_unregistered_signal_puts_it_back() -> None:
    w = World(workers=2)
    w.up(*w.workers)
    w1, w2 = w.workers
    w.raise_(50)                           # kept
    w.raise_(51)                           # kept
    w.router.wait(w1, -1)                  # gets 50
    w.finish(w1, DONE_NO_HANDLER)          # it had stopped waiting: 50 goes back, at the head
    assert ids(w.router.unclaimed.queue) == [1, 2]
    assert w.counters(50)["handled"] == 0 and w.counters(50)["failed"] == 0
    w.router.wait(w2, -1)
    assert w.runs(w2) == [(50, 1)]
    w.finish(w2)
    assert w.counters(50)["handled"] == 1


def test_done_no_handler_goes_to_a_process_already_waiting() -> None:
    """A signal bounced by one process while another already waits in signal_wait must reach
    the waiter, not sit in the unclaimed queue until some process calls wait again."""
    w = World(workers=2)
    w.up(*w.workers)
    w1, w2 = w.workers
    w.router.wait(w1, -1)
    w.raise_(50)                           # to w1
    w.router.wait(w2, -1)                  # w2 waits too, nothing kept for it
    assert w2.waiting == -1
    w.finish(w1, DONE_NO_HANDLER)          # w1 stopped waiting before it got 50
    assert w.runs(w2) == [(50, 1)]
    assert w2.waiting is None
    assert not w.router.unclaimed.queue


def test_done_no_handler_for_a_registered_signal_is_a_failure() -> None:
    w = World(workers=1)
    w.reg(17, "worker")
    w.up(*w.workers)
    res = w.raise_(17)
    got: list[Watch] = []
    res.raise_.watch = Watch(1, on_complete=got.append)
    w.finish(w.workers[0], DONE_NO_HANDLER)
    assert w.counters(17)["failed"] == 1
    assert got[0].results == [{"process": "worker1", "status": "failed", "detail": "no handler"}]


# -- completion ----------------------------------------------------------------------------


def test_done_counts_handled_and_failed_per_entry_and_process() -> None:
    w = World(workers=1, window=4)
    w.reg(17, "worker")
    w.up(*w.workers)
    p = w.workers[0]
    for _ in range(3):
        w.raise_(17)
    w.finish(p)
    w.finish(p, DONE_ERROR)
    w.finish(p)
    assert w.counters(17) == {"raised": 3, "delivered": 3, "handled": 2, "failed": 1,
                              "dropped": 0, "coalesced": 0}
    assert (p.handled, p.failed) == (2, 1)


def test_done_with_nothing_in_flight_or_an_unknown_id_is_an_error() -> None:
    w = World(workers=1)
    w.reg(17, "worker")
    w.up(*w.workers)
    p = w.workers[0]
    with pytest.raises(ValueError, match="nothing in flight"):
        w.router.done(p, 17, DONE_OK, 1)
    w.raise_(17)
    with pytest.raises(ValueError, match="reported done for raise 99, which it was not sent"):
        w.router.done(p, 17, DONE_OK, 99)
    assert ids(p.inflight) == [1] and len(p.sent_at) == 1


def test_done_for_a_handler_nested_in_signal_wait_closes_that_raise() -> None:
    """A handler calls signal_wait, which runs a later signal: its DONE comes first."""
    w = World(workers=1, window=3)
    w.reg(17, "worker")
    w.up(*w.workers)
    p = w.workers[0]
    w.clock.mono = 101
    w.raise_(17)
    w.clock.mono = 102
    w.raise_(17)
    w.clock.mono = 103
    w.raise_(17)
    w.router.done(p, 17, DONE_OK, 2)
    assert ids(p.inflight) == [1, 3]
    assert list(p.sent_at) == [101, 103]
    w.router.done(p, 17, DONE_OK, 1)
    w.router.done(p, 17, DONE_OK, 3)
    assert w.counters(17)["handled"] == 3


def test_done_updates_last_done_and_last_free() -> None:
    w = World(workers=1, window=2)
    w.reg(17, "worker")
    w.up(*w.workers)
    p = w.workers[0]
    w.raise_(17)
    w.raise_(17)
    w.clock.mono = 150
    w.finish(p)
    assert p.last_done == 150 and p.last_free == 0.0
    w.clock.mono = 160
    w.finish(p)
    assert p.last_done == 160 and p.last_free == 160


def test_raise_ids_increase_and_wrap_past_32_bits() -> None:
    w = World(workers=1)
    w.reg(17, "worker")
    w.up(*w.workers)
    w.router.next_id = 0xFFFFFFFF
    assert w.raise_(17).id == 0xFFFFFFFF
    assert w.raise_(17).id == 1


def test_raise_checks_the_number() -> None:
    w = World(workers=1)
    for bad in (256, -1, True):
        with pytest.raises(ValueError):
            w.raise_(bad)
    assert w.router.raised_total == 0


def test_raise_records_wall_time_and_totals() -> None:
    w = World(workers=1)
    w.reg(17, "worker")
    w.router.raise_signal(17, "cli", wall=1234.5)
    assert w.table[17].counters.last_raised == 1234.5
    assert w.router.raised_total == 1


# -- a process dies ------------------------------------------------------------------------


def test_process_lost_fails_the_running_one_and_returns_the_rest_to_the_pool_head() -> None:
    w = World(workers=2, window=3)
    w.reg(17, "worker")
    w1, w2 = w.workers
    w.up(w1)
    for _ in range(4):
        w.raise_(17)              # w1: 1, 2, 3; pool: 4
    assert ids(w.router.pools[WORKERS].queue) == [4]
    watches = {}
    for r in list(w1.inflight):
        r.watch = watches[r.id] = Watch(1)
    w.router.process_lost(w1, "worker1 died (killed by signal SIGKILL)")
    assert not w1.inflight and not w1.ready
    assert ids(w.router.pools[WORKERS].queue) == [2, 3, 4]
    assert watches[1].results == [{"process": "worker1", "status": "failed",
                                   "detail": "worker1 died (killed by signal SIGKILL)"}]
    assert watches[2].results == [] and watches[3].results == []
    assert w.counters(17) == {"raised": 4, "delivered": 1, "handled": 0, "failed": 1,
                              "dropped": 0, "coalesced": 0}
    assert w1.failed == 1
    w.runs(w1)
    w.up(w2)
    assert w.runs(w2) == [(17, 2), (17, 3), (17, 4)]


def test_process_lost_hands_pool_signals_to_an_idle_member_at_once() -> None:
    w = World(workers=2, window=2)
    w.reg(17, "worker")
    w1, w2 = w.workers
    w.up(w1)
    w.raise_(17)
    w.raise_(17)
    w.up(w2)
    w.router.process_lost(w1, "died")
    assert w.runs(w2) == [(17, 2)]


def test_process_lost_keeps_own_signals_for_the_successor_in_order() -> None:
    w = World(workers=2, window=3)
    w.reg(18, "workers")
    w.reg(19, "worker1")
    w1, w2 = w.workers
    w.up(w1, w2)
    w.raise_(19)                  # 1: w1
    w.raise_(18)                  # 2: w1, w2
    w.raise_(19)                  # 3: w1
    w.raise_(19)                  # 4: w1's queue
    assert ids(w1.inflight) == [1, 2, 3] and ids(w1.queue) == [4]
    w.router.process_lost(w1, "died")
    assert ids(w1.queue) == [2, 3, 4]
    assert w1.pending_count == {18: 1, 19: 2}
    assert w.counters(19)["failed"] == 1
    assert not w2.queue                       # own signals never move to another process
    w.runs(w1)
    w.up(w1)                                  # the successor
    assert w.runs(w1) == [(18, 2), (19, 3), (19, 4)]


def test_process_lost_returns_an_unclaimed_signal_for_the_next_waiter() -> None:
    w = World(workers=2, window=3)
    w.reg(17, "worker")
    w1, w2 = w.workers
    w.up(w1)
    w.raise_(17)                  # 1: running on w1
    w.router.wait(w1, -1)
    w.raise_(50)                  # 2: to the waiter w1
    w.raise_(51)                  # 3: kept
    w.router.process_lost(w1, "died")
    assert ids(w.router.unclaimed.queue) == [2, 3]
    w.up(w2)
    w.router.wait(w2, -1)
    assert w.runs(w2) == [(50, 2)]


def test_process_lost_hands_an_unclaimed_signal_to_a_process_already_waiting() -> None:
    w = World(workers=2, window=3)
    w1, w2 = w.workers
    w.up(w1, w2)
    w.router.wait(w1, -1)
    w.raise_(50)                  # 1: to the waiter w1
    w.router.wait(w2, 50)         # w2 blocks in signal_wait(50): nothing kept for it yet
    w.router.process_lost(w1, "died", running_failed=False)
    assert w.runs(w2) == [(50, 1)]
    assert w2.waiting is None and not w.router.unclaimed.queue


def test_process_lost_without_failing_the_running_one() -> None:
    """Harakiri already failed the running signal: what is left all goes back."""
    w = World(workers=1, window=3)
    w.reg(17, "worker")
    p = w.workers[0]
    w.up(p)
    for _ in range(3):
        w.raise_(17)
    w.router.fail_running(p, "harakiri after 5 s")
    assert w.counters(17)["failed"] == 1
    w.router.process_lost(p, "harakiri", running_failed=False)
    assert w.counters(17)["failed"] == 1
    assert ids(w.router.pools[WORKERS].queue) == [2, 3]
    w.runs(p)
    w.up(p)
    assert w.runs(p) == [(17, 2), (17, 3)]


def test_process_lost_running_failed_false_requeues_everything() -> None:
    w = World(workers=1, window=2)
    w.reg(19, "worker1")
    p = w.workers[0]
    w.up(p)
    w.raise_(19)
    w.raise_(19)
    w.router.process_lost(p, "gone", running_failed=False)
    assert ids(p.queue) == [1, 2]
    assert w.counters(19)["failed"] == 0 and w.counters(19)["delivered"] == 0


def test_process_lost_with_nothing_in_flight() -> None:
    w = World(workers=1)
    p = w.workers[0]
    w.up(p)
    w.router.wait(p, 3)
    w.router.process_lost(p, "died")
    assert not p.ready and p.waiting is None


def test_fail_running_with_nothing_in_flight_is_a_no_op() -> None:
    w = World(workers=1)
    w.router.fail_running(w.workers[0], "x")
    assert w.workers[0].failed == 0


def test_drop_queued_refuses_the_own_queue() -> None:
    w = World(workers=1, window=1)
    w.reg(19, "worker1")
    p = w.workers[0]
    res = w.raise_(19)
    res.raise_.watch = watch = Watch(1)
    w.raise_(19)
    assert w.router.drop_queued(p, "slot removed") == 2
    assert not p.queue and p.pending_count == {}
    assert w.counters(19)["dropped"] == 2
    assert watch.results == [{"process": "worker1", "status": "failed", "detail": "slot removed"}]


# -- watches -------------------------------------------------------------------------------


def test_watch_completes_once_every_recipient_reported() -> None:
    w = World(workers=3)
    w.reg(18, "workers")
    w1, w2, w3 = w.workers
    w.up(w1, w2)
    res = w.raise_(18)
    done: list[Watch] = []
    res.raise_.watch = Watch(len(res.recipients), on_complete=done.append)
    w.finish(w1)
    w.router.done(w2, 18, DONE_ERROR, res.id, "ValueError: boom")
    assert not done
    w.up(w3)
    w.finish(w3)
    assert len(done) == 1 and done[0].complete
    assert done[0].results == [
        {"process": "worker1", "status": "handled", "detail": None},
        {"process": "worker2", "status": "failed", "detail": "ValueError: boom"},
        {"process": "worker3", "status": "handled", "detail": None},
    ]


def test_watch_callback_fires_once() -> None:
    calls: list[Watch] = []
    watch = Watch(1, on_complete=calls.append)
    watch.record("worker1", "handled")
    watch.record("worker1", "handled")
    assert len(calls) == 1


# -- views ---------------------------------------------------------------------------------


def test_backlog_of_an_unknown_group_is_zero() -> None:
    assert World(workers=1).router.backlog("nope") == 0


def test_add_proc_joins_its_pools() -> None:
    w = World(workers=1)
    w.reg(17, "worker")
    extra = Proc("worker2", "worker", 2, (WORKERS,))
    w.router.add_proc(extra)
    helper = Proc("monitor", "monitor", 1, ("monitor",))
    w.router.add_proc(helper)
    assert w.router.pools[WORKERS].members == [w.workers[0], extra]
    assert "monitor" in w.router.pools
    walk(extra, ProcState.RUNNING)
    w.router.ready(extra)
    assert w.raise_(17).recipients == ["worker2"]


# -- randomized: nothing lost, nothing duplicated, counters add up -------------------------

SIGNALS = {
    17: "worker",
    18: "workers",
    19: "worker2",
    20: "farm_a",
    21: "mules",
    22: "active-workers",
    23: "mule",
}
UNREGISTERED = (50, 51)

ALL_NUMS = (*sorted(SIGNALS), *UNREGISTERED)
STATUSES = (DONE_OK, DONE_ERROR, DONE_NO_HANDLER)
KINDS = ("raise",) * 5 + ("done",) * 3 + ("die", "ready", "wait", "tick")
# (kind, a, b): a picks a process or a number, b a variant (see Scenario.apply)
action = st.tuples(st.sampled_from(KINDS), st.integers(0, 6), st.integers(0, 2))


class Scenario:
    def __init__(self, queue_size: int, window: int) -> None:
        self.w = World(workers=3, mules=2, farm_a=(2,), queue_size=queue_size, window=window)
        for num, target in SIGNALS.items():
            self.w.reg(num, target, on_full="coalesce" if num % 2 else "reject")
        self.w.up(*self.w.procs)
        self.raises: list[tuple[RaiseResult, Watch]] = []
        self.refused = Counter()
        self.coalesced = Counter()
        self.raised = Counter()

    @property
    def procs(self) -> list[Proc]:
        return self.w.procs

    def apply(self, act: tuple) -> None:
        w, router = self.w, self.w.router
        kind, a, b = act
        p = self.procs[a % len(self.procs)]
        if kind == "raise":
            num = ALL_NUMS[a % len(ALL_NUMS)]
            res = w.raise_(num, policy="merge" if b == 2 else None)
            self.raised[num] += 1
            self.refused[num] += len(res.refused)
            self.coalesced[num] += len(res.coalesced)
            watch = Watch(len(res.recipients))
            assert res.raise_ is not None
            res.raise_.watch = watch
            self.raises.append((res, watch))
        elif kind == "done":
            if p.inflight:
                w.finish(p, STATUSES[b])
        elif kind == "die":
            router.process_lost(p, "died", running_failed=b != 0)
            p.state = ProcState.BACKOFF
        elif kind == "ready":
            if not p.ready:
                w.up(p)
        elif kind == "wait":
            if p.ready:
                router.wait(p, (-1, 50, 51)[b])
        elif kind == "tick":
            w.clock.mono += 1

    def check(self) -> None:
        """Invariants that hold after every step."""
        router = self.w.router
        where: Counter = Counter()
        holders = [*self.procs, *router.pools.values(), router.unclaimed]
        for h in holders:
            counts = Counter(r.signum for r in h.queue)
            assert dict(counts) == h.pending_count, h.name
            for r in h.queue:
                where[r.id] += 1
        for p in self.procs:
            assert len(p.inflight) == len(p.sent_at)
            assert len(p.inflight) <= router.window or any(
                r.entry.target is None for r in p.inflight)
            for r in p.inflight:
                where[r.id] += 1
        for res, watch in self.raises:
            r = res.raise_
            # every accepted recipient is pending somewhere or has reported, exactly once
            assert r.pending == where[r.id]
            assert r.pending + len(watch.results) == watch.expected, (res, watch.results)
        for num in SIGNALS:
            c = self.w.table[num].counters
            in_flight = sum(1 for p in self.procs for r in p.inflight if r.signum == num)
            assert c.raised == self.raised[num]
            assert c.dropped == self.refused[num]
            assert c.coalesced == self.coalesced[num]
            assert c.delivered == c.handled + c.failed + in_flight

    def drain(self) -> None:
        """Bring every process up and finish everything: all recipients must report."""
        w, router = self.w, self.w.router
        for _ in range(10000):
            for p in self.procs:
                if not p.ready:
                    w.up(p)
                if router.unclaimed.queue and not p.inflight:
                    router.wait(p, -1)
            busy = [p for p in self.procs if p.inflight]
            if not busy and not router.queued_total():
                break
            for p in busy:
                w.finish(p)
        else:  # pragma: no cover
            raise AssertionError("did not drain")
        self.check()
        for res, watch in self.raises:
            assert watch.complete and len(watch.results) == watch.expected
            assert res.raise_.pending == 0
            if res.raise_.entry.target is not None and res.raise_.entry.target.scope != "pool":
                # one outcome per recipient process, none twice
                names = [o["process"] for o in watch.results]
                assert sorted(names) == sorted(res.recipients)
        for num in SIGNALS:
            c = self.w.table[num].counters
            expected = sum(w.expected for res, w in self.raises if res.signum == num)
            assert c.handled + c.failed == expected
            assert c.delivered == c.handled + c.failed


@settings(max_examples=400, deadline=None, derandomize=True)
@given(actions=st.lists(action, min_size=5, max_size=120), queue_size=st.integers(1, 4),
       window=st.integers(1, 3))
def test_random_sequences_lose_and_duplicate_nothing(actions, queue_size, window) -> None:
    s = Scenario(queue_size, window)
    for act in actions:
        s.apply(act)
        s.check()
    s.drain()
