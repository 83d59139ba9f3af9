"""The pure parts the master loop is built from: children's output split into lines, the
supervision decisions (harakiri, cheaper) and the scheduled-call heap."""

from __future__ import annotations

from sigsup.master.calls import Calls
from sigsup.master.output import LONGEST, split_lines
from sigsup.master.policies import cheaper_stop, cheaper_wake, overran
from sigsup.routing.proc import Proc
from sigsup.routing.states import ProcState

from .fakes import walk


def test_split_lines_keeps_the_unfinished_line_for_later() -> None:
    assert split_lines(b"", b"a\nb\nc") == ([b"a", b"b"], b"c")
    assert split_lines(b"c", b"d\n") == ([b"cd"], b"")


def test_split_lines_final_gives_the_rest_and_long_lines_come_out_in_pieces() -> None:
    assert split_lines(b"x", b"", final=True) == ([b"x"], b"")
    long = b"y" * (LONGEST + 1)
    assert split_lines(b"", long) == ([long], b"")


def _worker(i: int, state: ProcState, *, now: float = 0.0) -> Proc:
    p = Proc(f"worker{i}", "worker", i, ("workers",))
    walk(p, state)
    p.pid = 100 + i if state in (ProcState.STARTING, ProcState.RUNNING) else 0
    p.ready = state is ProcState.RUNNING
    p.started_mono = now
    return p


def test_overran_names_only_live_slots_past_the_limit() -> None:
    slow, fast = _worker(1, ProcState.RUNNING), _worker(2, ProcState.RUNNING)
    for p, sent in ((slow, 0.0), (fast, 9.0)):
        p.inflight.append(object())   # type: ignore[arg-type]
        p.sent_at.append(sent)
    assert overran([slow, fast], 5.0, 10.0) == [(slow, 10.0)]
    slow.harakiri_hit = True          # already killed: not twice
    assert overran([slow, fast], 5.0, 10.0) == []


def test_cheaper_wakes_one_slot_on_backlog_and_none_while_one_starts() -> None:
    running = _worker(1, ProcState.RUNNING)
    a, b = _worker(2, ProcState.CHEAPED), _worker(3, ProcState.CHEAPED)
    assert cheaper_wake([running, a, b], backlog=0, now=10.0) == []
    assert cheaper_wake([running, a, b], backlog=5, now=10.0) == [a]
    starting = _worker(4, ProcState.STARTING)
    assert cheaper_wake([running, starting, a, b], backlog=5, now=10.0) == []


def test_cheaper_stops_idle_workers_newest_first_down_to_the_minimum() -> None:
    ws = [_worker(i, ProcState.RUNNING) for i in (1, 2, 3)]
    assert cheaper_stop(ws, minimum=1, idle_limit=30.0, now=10.0) == []      # not idle long
    assert cheaper_stop(ws, minimum=1, idle_limit=30.0, now=60.0) == [ws[2], ws[1]]
    ws[2].queue.append(object())      # type: ignore[arg-type]   # work waits: it stays,
    assert cheaper_stop(ws, minimum=1, idle_limit=30.0, now=60.0) == [ws[1], ws[0]]  # they go


def test_calls_run_in_time_order_and_a_cancelled_one_never() -> None:
    calls, ran = Calls(), []
    calls.at(2.0, lambda: ran.append("b"))
    calls.at(1.0, lambda: ran.append("a"))
    calls.at(1.5, lambda: ran.append("x")).cancel()
    assert calls.next_at() == 1.0
    calls.run_due(1.7)
    assert ran == ["a"] and calls.next_at() == 2.0
    calls.run_due(2.0)
    assert ran == ["a", "b"] and not calls
