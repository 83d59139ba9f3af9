"""The process and master state machines (sigsup/routing/states.py), table-driven.

Histories are data: a description and the states a slot (or the master) moves through,
from where it starts (a slot: STOPPED; the master: STARTING). The legal ones must pass
``Proc.state``'s check move by move; the illegal ones pass up to their last move, which
must raise IllegalTransition and leave the state where it was. Then a real master on the
fake OS seam (tests/unit/fakes.py) is driven through scripted stories, and the sequence of
states each of its slots went through must be the expected history.
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator

import pytest
from trees import POLICY

from sigsup.master.loop import Master
from sigsup.routing.proc import Proc
from sigsup.routing.states import (
    MASTER_TRANSITIONS,
    TRANSITIONS,
    IllegalTransition,
    MasterState,
    ProcState,
)
from sigsup.routing.targets import WORKERS

from .fakes import LoopHarness, harness_factory, wake

STOPPED = ProcState.STOPPED
STARTING = ProcState.STARTING
RUNNING = ProcState.RUNNING
STOPPING = ProcState.STOPPING
BACKOFF = ProcState.BACKOFF
FAILED = ProcState.FAILED
CHEAPED = ProcState.CHEAPED

M_STARTING = MasterState.STARTING
M_RUNNING = MasterState.RUNNING
M_STOPPING = MasterState.STOPPING
M_STOPPED = MasterState.STOPPED


def slot() -> Proc:
    return Proc("worker1", "worker", 1, (WORKERS,))


def master_like() -> Master:
    """A bare Master (nothing built, nothing opened) with the real state property."""
    m = Master.__new__(Master)
    m._state = MasterState.STARTING
    return m


# -- the slot's machine as data ------------------------------------------------------------

LEGAL = [
    ("spawn, ready, crash -> backoff, respawn, ready",
     [STARTING, RUNNING, BACKOFF, STARTING, RUNNING]),
    ("spawn, dies before READY -> backoff, respawn, ready",
     [STARTING, BACKOFF, STARTING, RUNNING]),
    ("fork fails -> backoff, respawn",
     [BACKOFF, STARTING, RUNNING]),
    ("fork fails past the failure limit -> failed, retried after the cool-down",
     [FAILED, STARTING, RUNNING]),
    ("deaths past the failure limit -> failed, cool-down, respawn",
     [STARTING, BACKOFF, STARTING, BACKOFF, STARTING, FAILED, STARTING, RUNNING]),
    ("a running slot dies past the failure limit -> failed",
     [STARTING, RUNNING, FAILED, STARTING]),
    ("harakiri: killed while running -> backoff",
     [STARTING, RUNNING, BACKOFF, STARTING, RUNNING]),
    ("cheaped at start, woken by a backlog, stopped when idle -> cheaped",
     [CHEAPED, STARTING, RUNNING, STOPPING, CHEAPED]),
    ("cheaper stops an idle worker, woken again",
     [STARTING, RUNNING, STOPPING, CHEAPED, STARTING, RUNNING]),
    ("a cheaped slot that cannot fork -> backoff",
     [CHEAPED, BACKOFF, STARTING]),
    ("shutdown: running -> stopping -> stopped",
     [STARTING, RUNNING, STOPPING, STOPPED]),
    ("shutdown before READY",
     [STARTING, STOPPING, STOPPED]),
    ("shutdown while in backoff / failed / cheaped: stopped at once",
     [STARTING, BACKOFF, STOPPED, FAILED, STOPPED, CHEAPED, STOPPED]),
    # the table lets an exit of a live slot land in any resting state, even where the
    # master does not take that path today (it goes through STOPPING)
    ("an exit ends a live slot in any resting state",
     [STARTING, RUNNING, STOPPED, STARTING, STOPPED, STARTING, CHEAPED, STARTING, RUNNING,
      CHEAPED]),
    ("asked to stop, then dies too often -> failed",
     [STARTING, RUNNING, STOPPING, FAILED]),
    ("asked to stop, exits uncleanly -> backoff",
     [STARTING, RUNNING, STOPPING, BACKOFF]),
    ("a stopped slot is started again",
     [STARTING, RUNNING, STOPPING, STOPPED, STARTING, RUNNING]),
    ("backoff turned failed, failed back to backoff, cheaped from backoff",
     [BACKOFF, FAILED, BACKOFF, CHEAPED, FAILED, CHEAPED, STARTING]),
    ("the same state again is no move",
     [STARTING, STARTING, RUNNING, RUNNING, STOPPING, STOPPING, STOPPED, STOPPED]),
]

# each: the legal moves first, then the one that must be refused
ILLEGAL = [
    ("STOPPED -> RUNNING: READY without a spawn", [RUNNING]),
    ("STOPPED -> STOPPING: nothing to stop", [STOPPING]),
    ("RUNNING -> STARTING: respawned without an exit", [STARTING, RUNNING, STARTING]),
    ("STOPPING -> RUNNING: a stopping slot takes no work again",
     [STARTING, RUNNING, STOPPING, RUNNING]),
    ("STOPPING -> STARTING: respawned before it exited", [STARTING, STOPPING, STARTING]),
    ("BACKOFF -> RUNNING: READY from a slot with no process", [STARTING, BACKOFF, RUNNING]),
    ("BACKOFF -> STOPPING", [BACKOFF, STOPPING]),
    ("FAILED -> RUNNING", [FAILED, RUNNING]),
    ("FAILED -> STOPPING", [STARTING, FAILED, STOPPING]),
    ("CHEAPED -> RUNNING: woken without a spawn", [CHEAPED, RUNNING]),
    ("CHEAPED -> STOPPING", [CHEAPED, STOPPING]),
]


@pytest.mark.parametrize(("story", "history"), LEGAL, ids=[c[0] for c in LEGAL])
def test_legal_history(story: str, history: list[ProcState]) -> None:
    p = slot()
    assert p.state is STOPPED
    for state in history:
        p.state = state
        assert p.state is state
    assert p.state is history[-1]


@pytest.mark.parametrize(("story", "history"), ILLEGAL, ids=[c[0] for c in ILLEGAL])
def test_illegal_history(story: str, history: list[ProcState]) -> None:
    p = slot()
    *legal, bad = history
    for state in legal:
        p.state = state
    before = p.state
    with pytest.raises(IllegalTransition, match=rf"worker1: {before.value} -> {bad.value} "
                                                r"is not a legal move"):
        p.state = bad
    assert p.state is before, "a refused move changed the state"


def test_legal_histories_take_every_move_of_the_table() -> None:
    """The stories above are the whole machine: each move TRANSITIONS allows is in one."""
    taken = set()
    for _story, history in LEGAL:
        for old, new in itertools.pairwise([STOPPED, *history]):
            if old is not new:
                taken.add((old, new))
    allowed = {(old, new) for old, news in TRANSITIONS.items() for new in news if new is not old}
    assert allowed - taken == set(), "moves no story takes"
    assert taken <= allowed


def test_the_setter_allows_exactly_the_table() -> None:
    """Every (from, to) pair: allowed iff it is in TRANSITIONS (or no move at all)."""
    assert set(TRANSITIONS) == set(ProcState)
    for old, new in itertools.product(ProcState, repeat=2):
        p = slot()
        p._state = old                       # put it there without a move
        if new is old or new in TRANSITIONS[old]:
            p.state = new
            assert p.state is new
        else:
            with pytest.raises(IllegalTransition):
                p.state = new
            assert p.state is old


# -- the master's machine as data -----------------------------------------------------------

MASTER_LEGAL = [
    ("start, stop, every child gone", [M_RUNNING, M_STOPPING, M_STOPPED]),
    ("start-up fails before it runs", [M_STOPPED]),
    ("a second stop request is no move", [M_RUNNING, M_STOPPING, M_STOPPING, M_STOPPED]),
]

MASTER_ILLEGAL = [
    ("STOPPED -> RUNNING: a stopped master does not come back",
     [M_RUNNING, M_STOPPING, M_STOPPED, M_RUNNING]),
    ("STOPPED -> STOPPING", [M_STOPPED, M_STOPPING]),
    ("STOPPING -> RUNNING: a stop is not taken back", [M_RUNNING, M_STOPPING, M_RUNNING]),
    ("RUNNING -> STARTING", [M_RUNNING, M_STARTING]),
    ("RUNNING -> STOPPED: it stops through STOPPING", [M_RUNNING, M_STOPPED]),
    ("STARTING -> STOPPING: nothing runs yet to wait for", [M_STOPPING]),
]


@pytest.mark.parametrize(("story", "history"), MASTER_LEGAL, ids=[c[0] for c in MASTER_LEGAL])
def test_master_legal_history(story: str, history: list[MasterState]) -> None:
    m = master_like()
    for state in history:
        m.state = state
        assert m.state is state


@pytest.mark.parametrize(("story", "history"), MASTER_ILLEGAL,
                         ids=[c[0] for c in MASTER_ILLEGAL])
def test_master_illegal_history(story: str, history: list[MasterState]) -> None:
    m = master_like()
    *legal, bad = history
    for state in legal:
        m.state = state
    before = m.state
    with pytest.raises(IllegalTransition, match=rf"master: {before.value} -> {bad.value} "):
        m.state = bad
    assert m.state is before


def test_master_table_covers_every_state() -> None:
    assert set(MASTER_TRANSITIONS) == set(MasterState)
    assert MASTER_TRANSITIONS[M_STOPPED] == frozenset()


def test_the_real_master_checks_its_moves_like_the_table() -> None:
    """From a state with no way out, the real setter refuses and keeps the state."""
    prop = Master.__dict__["state"]
    obj = Master.__new__(Master)
    obj._state = M_STOPPED
    with pytest.raises(IllegalTransition, match="master: stopped -> running"):
        prop.fset(obj, M_RUNNING)
    assert prop.fget(obj) is M_STOPPED


# -- a real master on the fake OS ------------------------------------------------------------



ONE = """
[workers]
count = 1

[signals.17]
handler = "handlers:on_change"
target = "worker1"
"""

THREE = """
[workers]
count = 3
"""

CHEAPER = """
[workers]
count = 2
cheaper = 1
cheaper_idle = 10.0

[signals.17]
handler = "handlers:on_change"
target = "worker"
"""


def _recording(prop: property, moves: dict[str, list], key) -> property:
    def fset(self, new):
        old = prop.fget(self)
        prop.fset(self, new)             # the real check: an illegal move still raises
        if new is not old:
            moves.setdefault(key(self), []).append(new)
    return property(prop.fget, fset)


@pytest.fixture
def moves(monkeypatch) -> Iterator[dict[str, list]]:
    """Every state change of every slot (by name) and of the master ("master"), in order."""
    log: dict[str, list] = {}
    monkeypatch.setattr(Proc, "state", _recording(Proc.__dict__["state"], log,
                                                  lambda p: p.name))
    monkeypatch.setattr(Master, "state", _recording(Master.__dict__["state"], log,
                                                    lambda m: "master"))
    yield log


def do(h: LoopHarness, action: str) -> None:
    """One step of a story: ``ready NAME``, ``exit NAME [CODE]``, ``kill NAME`` (SIGKILL),
    ``respawn NAME`` (the clock to its respawn time), ``raise SIGNUM xN``, ``done NAME``
    (it finishes what it runs), ``idle SECONDS``, ``reap`` (the SIGCHLD after a kill),
    ``stop``, ``step``."""
    verb, *args = action.split()
    if verb == "ready":
        h.ready(args[0])
    elif verb == "exit":
        h.exit(args[0], code=int(args[1]) if len(args) > 1 else 1)
    elif verb == "kill":
        h.exit(args[0], sig=signal.SIGKILL)
    elif verb == "respawn":
        p = h.proc(args[0])
        assert p.state in (BACKOFF, FAILED), p
        h.clock.mono = max(h.clock.mono, p.respawn_at)
        h.step()
    elif verb == "raise":
        for _ in range(int(args[1].lstrip("x")) if len(args) > 1 else 1):
            assert h.raise_(int(args[0]))["ok"]
        h.step()
    elif verb == "done":
        child, p = h.child(args[0]), h.proc(args[0])
        for r in list(p.inflight):
            child.done(r.signum, r.id)
        h.step()
    elif verb == "idle":
        h.clock.advance(float(args[0]))
        h.step()
    elif verb == "reap":
        wake(h.master)
        h.step()
    elif verb == "stop":
        h.master.request_stop("test")
        h.step()
    elif verb == "step":
        h.step()
    else:
        raise AssertionError(f"unknown action {action!r}")


# (story, config, [supervisor] extra, fake OS options, actions, expected histories)
STORIES = [
    ("spawn, READY, kill -> backoff, respawn, READY", ONE, "", {},
     ["ready worker1", "kill worker1", "respawn worker1", "ready worker1"],
     {"master": [M_RUNNING], "worker1": [STARTING, RUNNING, BACKOFF, STARTING, RUNNING]}),
    ("deaths past failure_limit -> failed, retried after the cool-down", ONE, "", {},
     ["exit worker1", "respawn worker1", "exit worker1", "respawn worker1", "exit worker1",
      "respawn worker1", "ready worker1"],
     {"master": [M_RUNNING],
      "worker1": [STARTING, BACKOFF, STARTING, BACKOFF, STARTING, FAILED, STARTING, RUNNING]}),
    ("fork fails -> backoff, respawn", ONE, "", {"fail_spawns": 1},
     ["respawn worker1", "ready worker1"],
     {"master": [M_RUNNING], "worker1": [BACKOFF, STARTING, RUNNING]}),
    ("harakiri: a stuck handler's process is killed -> backoff", ONE, "harakiri = 1\n", {},
     ["ready worker1", "raise 17", "idle 1.5", "reap", "respawn worker1", "ready worker1"],
     {"master": [M_RUNNING], "worker1": [STARTING, RUNNING, BACKOFF, STARTING, RUNNING]}),
    ("cheaper: woken by a backlog, stopped when idle -> cheaped", CHEAPER, "", {},
     ["ready worker1", "raise 17 x9", "ready worker2", "done worker1", "done worker2",
      "idle 10.5", "exit worker2 0"],
     {"master": [M_RUNNING], "worker1": [STARTING, RUNNING],
      "worker2": [CHEAPED, STARTING, RUNNING, STOPPING, CHEAPED]}),
    ("stop: running and starting slots stop, one in backoff is stopped at once", THREE, "", {},
     ["ready worker1", "ready worker2", "exit worker2", "stop", "exit worker1 0",
      "exit worker3 0", "step"],
     {"master": [M_RUNNING, M_STOPPING, M_STOPPED],
      "worker1": [STARTING, RUNNING, STOPPING, STOPPED],
      "worker2": [STARTING, RUNNING, BACKOFF, STOPPED],
      "worker3": [STARTING, STOPPING, STOPPED]}),
    ("stop with a cheaped slot", CHEAPER, "", {},
     ["ready worker1", "stop", "exit worker1 0", "step"],
     {"master": [M_RUNNING, M_STOPPING, M_STOPPED],
      "worker1": [STARTING, RUNNING, STOPPING, STOPPED],
      "worker2": [CHEAPED, STOPPED]}),
]


@pytest.fixture
def new():
    with harness_factory() as make:
        yield make


@pytest.mark.parametrize(("story", "config", "supervisor", "fake_kw", "actions", "expected"),
                         STORIES, ids=[s[0] for s in STORIES])
def test_master_drives_each_slot_through_its_history(new, moves, story, config, supervisor,
                                                      fake_kw, actions, expected) -> None:
    h = new(config, POLICY + supervisor, **fake_kw)
    for action in actions:
        do(h, action)
    got = {k: list(v) for k, v in moves.items()}
    assert got == expected, f"{story}: after {actions}"
    for name, history in expected.items():
        now = h.master.state if name == "master" else h.proc(name).state
        assert now is history[-1], name
