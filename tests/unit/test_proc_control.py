"""Per-process control: restart, kill, retry and scale on the fake-OS loop, and the pure
name resolution behind them (sigsup/master/select.py).

Every slot move goes through ProcState's checked setter, so an illegal move in any of
these paths fails the test with IllegalTransition.
"""

from __future__ import annotations

import signal

import pytest
from trees import POLICY

from sigsup.master.select import SelectError, describe, posix_signal, select
from sigsup.routing.proc import Proc
from sigsup.routing.states import ProcState

from .fakes import LoopHarness, harness_factory

TREE = """
[workers]
count = 2

[mules]
count = 2

[farms]
reports = [2]

[signals.17]
handler = "handlers:on_change"
target = "worker"

[signals.18]
handler = "handlers:everyone"
target = "workers"

[signals.19]
handler = "handlers:first"
target = "worker1"

[signals.20]
handler = "handlers:report"
target = "farm_reports"
"""

# only pool and broadcast targets: the pool may shrink to one worker
POOLED = """
[workers]
count = 4

[mules]
count = 1

[signals.17]
handler = "handlers:on_change"
target = "worker"

[signals.18]
handler = "handlers:everyone"
target = "workers"
"""


@pytest.fixture
def make():
    with harness_factory(LoopHarness) as new:
        def factory(body: str = TREE, supervisor: str = POLICY, **kw) -> LoopHarness:
            return new(body, supervisor, **kw)
        yield factory


def ids_of(p) -> list[int]:
    return [r.id for r in p.queue]


# -- names (pure) --------------------------------------------------------------------------


def slots() -> list[Proc]:
    return [Proc("spooler:default#1", "spooler", 1, ("spoolers", "spooler:default"),
                 spooler="default"),
            *(Proc(f"worker{i}", "worker", i, ("workers",)) for i in range(1, 5)),
            Proc("mule1", "mule", 1, ("mules",)),
            Proc("mule2", "mule", 2, ("mules", "farm:reports")),
            Proc("monitor", "monitor", 1, ())]


@pytest.mark.parametrize("name, expect, group", [
    ("worker3", ["worker3"], False),
    (" mule2 ", ["mule2"], False),
    ("monitor", ["monitor"], False),
    ("spooler:default#1", ["spooler:default#1"], False),
    ("workers", ["worker1", "worker2", "worker3", "worker4"], True),
    ("mules", ["mule1", "mule2"], True),
    ("farm_reports", ["mule2"], True),
    ("farm:reports", ["mule2"], True),
    ("spooler_default", ["spooler:default#1"], True),
    ("spoolers", ["spooler:default#1"], True),
])
def test_select_names_and_groups(name, expect, group) -> None:
    sel = select(slots(), name)
    assert [p.name for p in sel.procs] == expect
    assert sel.group is group


@pytest.mark.parametrize("name, message", [
    ("worker9", "no process 'worker9': workers are worker1..worker4"),
    ("mule7", "no process 'mule7': mules are mule1, mule2"),
    ("farm_x", "no farm 'x': farms are reports"),
    ("farm_report", "no farm 'report' (did you mean farm_reports?): farms are reports"),
    ("spooler_mail", "no spooler 'mail': spoolers are default"),
    ("spooler:default#2", "no process 'spooler:default#2': spooler processes is "
                          "spooler:default#1"),
    ("wokers", "no process or group 'wokers' (did you mean 'workers'?): processes are "
               "spooler:default#1, worker1..worker4, mule1, mule2, monitor; groups are "
               "workers, mules, spoolers, farm_reports, spooler_default"),
    ("", "name a process or a group: processes are"),
])
def test_select_unknown_names_say_what_exists(name, message) -> None:
    with pytest.raises(SelectError) as exc:
        select(slots(), name)
    assert str(exc.value).startswith(message)


def test_select_a_group_the_tree_does_not_have() -> None:
    only_workers = [Proc("worker1", "worker", 1, ("workers",))]
    with pytest.raises(SelectError, match="no mules: the tree has none"):
        select(only_workers, "mules")
    with pytest.raises(SelectError, match="no process 'mule1': there are no mules"):
        select(only_workers, "mule1")
    assert describe([]) == "the tree has no processes"


@pytest.mark.parametrize("text, num", [
    ("TERM", signal.SIGTERM), ("sigterm", signal.SIGTERM), ("SIGKILL", signal.SIGKILL),
    ("hup", signal.SIGHUP), ("USR1", signal.SIGUSR1), ("9", 9), (15, 15),
])
def test_posix_signal_by_name_or_number(text, num) -> None:
    assert posix_signal(text) == num


@pytest.mark.parametrize("text", ["FOO", "0", "-1", "999", "", True, 0])
def test_posix_signal_refuses_what_is_none(text) -> None:
    with pytest.raises(ValueError):
        posix_signal(text)


# -- restart -------------------------------------------------------------------------------


def test_restart_lets_the_handler_finish_and_keeps_every_signal_for_the_successor(make) -> None:
    h = make(supervisor=POLICY + "window = 2\n")
    h.ready()
    ids = [h.raise_(19)["result"]["id"] for _ in range(3)]
    w1 = h.child("worker1")
    assert w1.runs() == [(19, ids[0]), (19, ids[1])]       # two in flight, one queued
    p = h.proc("worker1")
    old = p.pid

    reply = h.cmd(cmd="restart", name="worker1")
    assert reply == {"ok": True, "name": "worker1", "group": False, "processes": [
        {"name": "worker1", "pid": old, "done": True, "result": "restarting"}]}
    assert h.fake.kills_of(old) == [signal.SIGTERM]
    assert p.state is ProcState.STOPPING and not p.ready
    later = h.raise_(19)["result"]                            # while it stops: queued
    assert later["recipients"] == ["worker1"]
    assert w1.runs() == []                                   # it gets no more work

    # the running handler finishes, then the process leaves cleanly (SIGTERM's way)
    w1.done(19, ids[0])
    h.step()
    h.exit("worker1", code=0)
    assert p.state is ProcState.STARTING and p.pid not in (0, old)   # at once: no backoff
    assert list(p.deaths) == [] and p.respawns == 0
    assert "for its restart: starting it again" in h.log()
    # what it was sent and had not started leads its queue; nothing failed
    assert ids_of(p) == [ids[1], ids[2], later["id"]]
    assert h.counters(19) == {"raised": 4, "delivered": 1, "handled": 1, "failed": 0,
                              "dropped": 0, "coalesced": 0}
    h.ready("worker1")
    new = h.child("worker1")
    got = new.runs()
    assert got == [(19, ids[1]), (19, ids[2])]
    for _, rid in got:
        new.done(19, rid)
    h.step()
    assert new.runs() == [(19, later["id"])]
    new.done(19, later["id"])
    h.step()
    c = h.counters(19)
    assert (c["handled"], c["failed"], c["delivered"], c["dropped"]) == (4, 0, 4, 0)
    assert p.handled == 4 and not p.queue and not p.inflight


def test_restart_sends_pool_signals_it_had_not_started_to_another_worker(make) -> None:
    h = make(supervisor=POLICY + "window = 2\n")
    h.ready()
    ids = [h.raise_(17)["result"]["id"] for _ in range(4)]   # w1: 1, 3; w2: 2, 4
    h.child("worker1").runs()
    w2 = h.child("worker2")
    w2.runs()
    h.cmd(cmd="restart", name="worker1")
    h.child("worker1").done(17, ids[0])                      # its running one finishes
    h.step()
    h.exit("worker1", code=0)
    w2.done(17, ids[1])
    h.step()
    assert w2.runs() == [(17, ids[2])]                       # 3 went to worker2, once
    c = h.counters(17)
    assert (c["handled"], c["failed"]) == (2, 0)             # 1 by worker1, 2 by worker2


def test_restart_of_a_group_restarts_every_member(make) -> None:
    h = make()
    h.ready()
    pids = {p.name: p.pid for p in h.master.procs}
    reply = h.cmd(cmd="restart", name="mules")
    assert reply["ok"] and reply["group"] and reply["name"] == "mules"
    assert [(e["name"], e["pid"], e["result"]) for e in reply["processes"]] == [
        ("mule1", pids["mule1"], "restarting"), ("mule2", pids["mule2"], "restarting")]
    assert h.fake.kills == [(pids["mule1"], signal.SIGTERM), (pids["mule2"], signal.SIGTERM)]
    # asking again while they stop changes nothing
    again = h.cmd(cmd="restart", name="mule1")
    assert again["processes"][0]["result"] == "restarting already"
    assert len(h.fake.kills) == 2
    for name in ("mule1", "mule2"):
        h.exit(name, code=0)
    assert all(h.proc(n).state is ProcState.STARTING for n in ("mule1", "mule2"))
    assert {h.proc(n).pid for n in ("mule1", "mule2")}.isdisjoint(pids.values())
    assert h.proc("worker1").pid == pids["worker1"]


def test_restart_kills_a_process_that_does_not_leave_within_shutdown_timeout(make) -> None:
    h = make()
    h.ready()
    rid = h.raise_(19)["result"]["id"]
    p = h.proc("worker1")
    old = p.pid
    h.cmd(cmd="restart", name="worker1")
    assert h.master._timeout(h.clock.mono) <= 1.0
    h.advance(4.9)
    assert h.fake.kills_of(old) == [signal.SIGTERM]
    h.advance(0.2)                                            # shutdown_timeout = 5
    assert h.fake.kills_of(old) == [signal.SIGTERM, signal.SIGKILL]
    assert "did not exit within shutdown_timeout (5 s) of its restart" in h.log()
    wake_and_step(h)
    assert p.state is ProcState.STARTING and p.pid != old     # respawned at once all the same
    assert h.counters(19)["failed"] == 1 and h.counters(19)["handled"] == 0
    assert rid not in ids_of(p)                               # it was running: failed, not rerun


def wake_and_step(h: LoopHarness) -> None:
    from .fakes import wake
    wake(h.master)
    h.step()


def test_restart_of_a_slot_in_backoff_starts_it_now(make) -> None:
    h = make()
    h.exit("worker2", code=3)
    p = h.proc("worker2")
    assert p.state is ProcState.BACKOFF
    reply = h.cmd(cmd="restart", name="worker2")
    assert reply["ok"] and reply["processes"][0]["result"] == "started"
    assert p.state is ProcState.STARTING and p.pid == h.fake.spawned[-1]


def test_restart_is_refused_for_unknown_names_and_a_stopping_master(make) -> None:
    h = make()
    reply = h.cmd(cmd="restart", name="worker9")
    assert reply == {"ok": False, "error": "no process 'worker9': workers are worker1, worker2"}
    assert h.cmd(cmd="restart")["error"] == "bad request: missing field 'name'"
    h.master.request_stop("test")
    assert h.cmd(cmd="restart", name="worker1") == {"ok": False,
                                                    "error": "the master is stopping"}


# -- kill ----------------------------------------------------------------------------------


def test_kill_signals_the_process_group_of_each_named_process(make) -> None:
    h = make()
    h.ready()
    pids = [h.proc("worker1").pid, h.proc("worker2").pid]
    reply = h.cmd(cmd="kill", name="workers", signal="HUP")
    assert reply["ok"] and reply["signal"] == "SIGHUP" and reply["signalled"] == pids
    assert h.fake.kills == [(pid, signal.SIGHUP) for pid in pids]
    assert all(h.proc(n).state is ProcState.RUNNING for n in ("worker1", "worker2"))
    reply = h.cmd(cmd="kill", name="mule2", signal=int(signal.SIGUSR1))
    assert reply["signalled"] == [h.proc("mule2").pid]
    assert reply["processes"][0]["result"] == "sent SIGUSR1"


def test_kill_with_sigkill_is_a_death_respawned_with_backoff(make) -> None:
    h = make()
    h.ready()
    rid = h.raise_(19)["result"]["id"]
    p = h.proc("worker1")
    old = p.pid
    assert h.cmd(cmd="kill", name="worker1", signal="KILL")["signalled"] == [old]
    wake_and_step(h)                     # the fake kernel turned the SIGKILL into an exit
    assert p.state is ProcState.BACKOFF and len(p.deaths) == 1
    assert p.last_exit == "killed by signal SIGKILL"
    assert h.counters(19)["failed"] == 1 and rid
    h.advance(0.5)
    assert p.state is ProcState.STARTING and p.respawns == 1


def test_kill_refusals(make) -> None:
    h = make()
    h.exit("worker2", code=1)
    reply = h.cmd(cmd="kill", name="worker2", signal="TERM")
    assert reply["ok"] is False and reply["error"] == "worker2: it is not running (backoff)"
    assert reply["signalled"] == []
    reply = h.cmd(cmd="kill", name="workers", signal="TERM")   # a group: reported, no error
    assert reply["ok"] and reply["signalled"] == [h.proc("worker1").pid]
    assert reply["processes"][1] == {"name": "worker2", "pid": None, "done": False,
                                     "result": "it is not running (backoff)"}
    assert h.cmd(cmd="kill", name="worker1", signal="NOPE")["error"].startswith(
        "bad request: unknown signal 'NOPE'")
    assert h.cmd(cmd="kill", name="farm_nope")["error"] == "no farm 'nope': farms are reports"


# -- retry ---------------------------------------------------------------------------------


def fail(h: LoopHarness, name: str) -> Proc:
    p = h.proc(name)
    for _ in range(3):                   # failure_limit = 3 in the window
        h.exit(name)
        if p.state is ProcState.BACKOFF:
            h.clock.mono = p.respawn_at
            h.step()
    assert p.state is ProcState.FAILED
    return p


def test_retry_starts_a_failed_slot_now(make) -> None:
    h = make()
    p = fail(h, "worker2")
    respawns = p.respawns
    reply = h.cmd(cmd="retry", name="worker2")
    assert reply["ok"] and reply["processes"][0]["result"] == "started"
    assert reply["processes"][0]["pid"] == p.pid == h.fake.spawned[-1]
    assert p.state is ProcState.STARTING and p.respawns == respawns + 1
    assert list(p.deaths) == []          # a fresh start: one death now is a backoff again
    h.ready("worker2")
    h.exit("worker2")
    assert p.state is ProcState.BACKOFF


def test_retry_of_a_slot_not_failed(make) -> None:
    h = make()
    h.ready()
    fail(h, "mule1")
    reply = h.cmd(cmd="retry", name="worker1")
    assert reply["ok"] is False and reply["error"] == "worker1: it is not failed (idle)"
    reply = h.cmd(cmd="retry", name="mules")                  # a group: no error
    assert reply["ok"]
    assert [(e["name"], e["done"], e["result"]) for e in reply["processes"]] == [
        ("mule1", True, "started"), ("mule2", False, "it is not failed (idle)")]


# -- scale ---------------------------------------------------------------------------------


def test_scale_up_adds_the_next_workers_and_starts_them(make) -> None:
    h = make()
    h.ready()
    reply = h.cmd(cmd="scale", group="workers", count=4)
    assert reply == {"ok": True, "group": "workers", "from": 2, "to": 4,
                     "started": ["worker3", "worker4"], "stopping": [], "removed": [],
                     "kept": []}
    assert [p.name for p in h.master.procs] == ["worker1", "worker2", "worker3", "worker4",
                                                "mule1", "mule2"]
    assert [p.name for p in h.master.router.groups["workers"]] == [
        "worker1", "worker2", "worker3", "worker4"]
    assert h.proc("worker4").state is ProcState.STARTING
    assert h.master.config.workers.count == 4
    # broadcasts reach the new slots; a target naming one is accepted now
    res = h.raise_(18)["result"]
    assert res["recipients"] == ["worker1", "worker2", "worker3", "worker4"]
    reg = h.cmd(cmd="register", signum=30, handler="handlers:x", target="worker4")
    assert reg["ok"], reg
    h.ready("worker3", "worker4")
    assert (18, res["id"]) in h.child("worker4").runs()


def test_scale_down_stops_the_highest_gracefully_and_drops_their_broadcast_copies(make) -> None:
    h = make(POOLED, supervisor=POLICY + "window = 1\n")
    h.ready()
    w4 = h.proc("worker4")
    pid4 = w4.pid
    busy = h.raise_(18)["result"]["id"]           # every worker runs one broadcast ...
    queued = h.raise_(18)["result"]["id"]         # ... and has the next one queued
    assert ids_of(w4) == [queued]
    reply = h.cmd(cmd="scale", group="workers", count=2)
    assert reply["ok"] and (reply["from"], reply["to"]) == (4, 2)
    assert reply["stopping"] == ["worker4", "worker3"] and reply["removed"] == []
    assert h.fake.kills_of(pid4) == [signal.SIGTERM] and w4.state is ProcState.STOPPING
    assert h.cmd(cmd="register", signum=30, handler="handlers:x",
                 target="worker3")["error"].startswith("bad request: target: no worker 3")

    for name in ("worker3", "worker4"):
        h.child(name).done(18, busy)
        h.step()
        h.exit(name, code=0)
    names = [p.name for p in h.master.procs]
    assert names == ["worker1", "worker2", "mule1"]
    assert [p.name for p in h.master.router.groups["workers"]] == ["worker1", "worker2"]
    pool = h.master.router.pools["workers"]
    # worker3's and worker4's queued copies of the broadcast are not run twice elsewhere:
    # counted dropped and said, while worker1 and worker2 run their own copies
    assert not pool.queue
    assert h.counters(18)["dropped"] == 2
    assert "worker4 removed: 1 queued signal dropped" in h.log()
    for name in ("worker1", "worker2"):
        c = h.child(name)
        c.runs()
        c.done(18, busy)
    h.step()
    runs = {n: h.child(n).runs() for n in ("worker1", "worker2")}
    assert runs == {"worker1": [(18, queued)], "worker2": [(18, queued)]}
    assert h.counters(18)["failed"] == 0


def test_scale_down_removes_a_slot_with_no_process_at_once(make) -> None:
    h = make(POOLED)
    h.exit("worker4", code=1)
    assert h.proc("worker4").state is ProcState.BACKOFF
    reply = h.cmd(cmd="scale", group="workers", count=3)
    assert reply["removed"] == ["worker4"] and reply["stopping"] == []
    assert "worker4" not in [p.name for p in h.master.procs]
    h.advance(5)                                   # its backoff is over: nothing respawns
    assert "worker4" not in [p.name for p in h.master.procs]
    with pytest.raises(StopIteration):
        h.proc("worker4")


def test_scale_back_up_while_shrinking_keeps_the_stopping_slot(make) -> None:
    h = make(POOLED)
    h.ready()
    pid4 = h.proc("worker4").pid
    h.cmd(cmd="scale", group="workers", count=3)
    reply = h.cmd(cmd="scale", group="workers", count=5)
    assert reply["from"] == 3 and reply["kept"] == ["worker4"] and reply["started"] == ["worker5"]
    h.exit("worker4", code=0)
    w4 = h.proc("worker4")
    assert w4.state is ProcState.STARTING and w4.pid != pid4
    assert [p.name for p in h.master.router.groups["workers"]] == [
        "worker1", "worker2", "worker3", "worker4", "worker5"]


def test_scale_refusals(make) -> None:
    h = make()
    h.ready()
    r = h.cmd(cmd="scale", group="workers", count=0)
    assert r == {"ok": False, "error": "cannot scale workers to 0: signal 17 targets worker: "
                 "the pool cannot go to 0 workers while the table sends it signals "
                 "(unregister them first)"}
    h2 = make("[workers]\ncount = 3\n[signals.19]\nhandler = \"h:x\"\ntarget = \"worker3\"\n")
    r = h2.cmd(cmd="scale", group="workers", count=2)
    assert r["error"] == ("cannot scale workers to 2: signal 19 targets worker3: keep at least "
                          "3 workers (or unregister it first)")
    assert h.cmd(cmd="scale", group="mules", count=3)["error"].startswith(
        "only the worker pool can be scaled")
    assert h.cmd(cmd="scale", group="workers", count=-1)["error"] == (
        "cannot scale workers to -1: a worker count is 0 or more, not -1")
    assert h.cmd(cmd="scale", group="workers", count="2")["error"] == (
        "bad request: field 'count' must be an integer, not '2'")
    assert [p.name for p in h.master.procs] == ["worker1", "worker2", "mule1", "mule2"]


def test_scale_to_no_worker_drops_what_waits_and_says_so(make) -> None:
    h = make("[workers]\ncount = 1\n[mules]\ncount = 1\n")
    assert h.cmd(cmd="register", signum=30, handler="h:x", target="worker")["ok"]
    rid = h.raise_(30)["result"]["id"]            # worker1 is not ready: it waits in the pool
    assert h.master.router.backlog("workers") == 1
    assert h.cmd(cmd="unregister", signum=30)["ok"]
    reply = h.cmd(cmd="scale", group="workers", count=0)
    assert reply["stopping"] == ["worker1"]
    h.exit("worker1", code=0)
    assert [p.name for p in h.master.procs] == ["mule1"]
    assert h.master.router.backlog("workers") == 0 and rid
    assert h.counters(30)["dropped"] == 1
    assert "worker1 removed: 1 queued signal dropped" in h.log()
    # and it can grow again
    assert h.cmd(cmd="scale", group="workers", count=1)["started"] == ["worker1"]
