"""Handlers, the spooler's job handler and the raiser mule for benchmarks/dispatch.py.

Everything is shared through the slots of ``benchmarks/shm.py`` (one file-backed ``mmap``
whose path is in the plan, ``$SIGSUP_BENCH_PLAN``). The raiser runs the same loops as
uWSGI's raiser (benchmarks/uwsgi_apps/raiser.py); handlers only count and stamp, so the
figures are sigsup's own cost.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import sigsup
from benchmarks import shm

MONO = time.CLOCK_MONOTONIC
_clock = time.clock_gettime_ns

DUMP_SIG = 40

_mv: Any = None   # this process's view of the shared slots (reset in every forked child)
_rcv = 0
_prof: Any = None  # cProfile.Profile when the plan asks for one


def _plan() -> dict[str, Any]:
    with open(os.environ["SIGSUP_BENCH_PLAN"]) as f:
        return json.load(f)


def _attach() -> Any:
    global _mv, _rcv, _prof
    plan = _plan()
    _mm, _mv = shm.open_slots(plan["mem"])
    ident = sigsup.client_runtime.current().identity
    _rcv = shm.receiver(sigsup.worker_id(), sigsup.mule_id(), spooler=ident.kind == "spooler")
    if plan.get("cprofile") and _prof is None:
        # profile this process from its first handler run on (the loop around the handler
        # included) until the dump signal
        import cProfile
        _prof = cProfile.Profile()
        _prof.enable()
    return _mv


def _after_fork() -> None:
    global _mv, _prof
    _mv = None
    _prof = None


os.register_at_fork(after_in_child=_after_fork)


# -- handlers (run in workers, mule 2, the spooler) ------------------------------------------


def count(num: int) -> None:
    """Count a run and stamp its end: throughput scenarios."""
    mv = _mv if _mv is not None else _attach()
    i = shm.CNT_BASE + (num * shm.MAXR + _rcv) * 2
    mv[i] += 1
    mv[i + 1] = _clock(MONO)


def stamp(num: int) -> None:
    """Stamp the start of the run of the latency sample in flight."""
    t = _clock(MONO)
    mv = _mv if _mv is not None else _attach()
    mv[shm.LAT_BASE + mv[shm.LAT_CUR]] = t


def job(job: Any) -> None:
    """The spooler's job handler (no job is spooled: the spooler only handles signals)."""


def dump_profile(num: int) -> None:
    """Write this process's profile (``--cprofile``), then stop profiling."""
    global _prof
    if _prof is not None:
        _prof.disable()
        _prof.dump_stats(os.path.join(_plan()["cprofile"], f"recv{_rcv}.pstats"))
        _prof = None


# -- the raiser (programmed mule 1) ----------------------------------------------------------


def _pipelined(window: int) -> Any:
    def run(signum: int, n: int) -> int:
        r = sigsup.raising(window)
        try:
            with r:
                rs = r.signal
                for _ in range(n):
                    rs(signum)
        except sigsup.SignalRefused:
            pass
        return len(r.refused)
    return run


def _plain(signum: int) -> None:
    sigsup.signal(signum)


def raiser() -> None:
    """The mule's program: wait for GO, run the plan's scenarios, write the results, idle."""
    plan = _plan()
    out = plan["out"]
    if os.path.exists(out + ".started"):   # a respawn: never run the plan twice
        _idle()
    open(out + ".started", "w").close()
    _mm, mv = shm.open_slots(plan["mem"])
    while mv[shm.GO] == 0:
        time.sleep(0.005)
    st = sigsup.client_runtime.current().call("status")["status"]
    pids = {"master": st["master"]["pid"]}
    pids.update({p["name"]: p["pid"] for p in st["processes"] if p["pid"]})
    results = []
    prof = None
    if plan.get("cprofile"):
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    for sc in plan["scenarios"]:
        if sc["kind"] == "throughput":
            results.append(shm.throughput(_plain, mv, sc, pids,
                                          pipelined=_pipelined(sc.get("raise_window", 256))))
        elif sc["kind"] == "queued":
            results.append(shm.queued(_pipelined(sc.get("raise_window", 256)), mv, sc, pids))
        elif sc.get("fire") == "utime":
            path = sc["path"]
            results.append(shm.latency(lambda _s, p=path: os.utime(p), mv, sc))
        else:
            results.append(shm.latency(_plain, mv, sc))
    if prof is not None:
        prof.disable()
        prof.dump_stats(os.path.join(plan["cprofile"], "mule.pstats"))
        sigsup.signal(DUMP_SIG)
        time.sleep(0.5)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"results": results, "mule_pid": os.getpid()}, f)
    os.replace(tmp, out)
    _idle()


def _idle() -> None:
    while True:
        time.sleep(3600)
