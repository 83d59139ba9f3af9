"""Handlers and the raiser mule for benchmarks/dispatch.py.

Everything is shared through one file-backed ``mmap`` (its path in ``SIGSUP_BENCH_PLAN``'s
plan), an array of unsigned 64-bit slots that the driver, the mule and the workers all map:

    GO                  the driver sets it to 1 once every process is ready
    LAT_CUR             the latency sample the raiser is about to raise
    CNT_BASE + (signum * MAXW + worker_id) * 2      handler runs, then the CLOCK_MONOTONIC
                                                    time the last run finished
    LAT_BASE + i        CLOCK_MONOTONIC time at which the handler of latency sample i started

Handlers do nothing but count and stamp, so the figures are sigsup's own cost.
"""

from __future__ import annotations

import json
import mmap
import os
import time
from typing import Any

import sigsup

MONO = time.CLOCK_MONOTONIC
_clock = time.clock_gettime_ns

GO = 0
LAT_CUR = 1
MAXW = 8
CNT_BASE = 16
LAT_BASE = CNT_BASE + 256 * MAXW * 2
LAT_MAX = 50_000
SLOTS = LAT_BASE + LAT_MAX
SIZE = SLOTS * 8

_mv: Any = None   # this process's view of the shared slots (reset in every forked child)
_wid = 0
_prof: Any = None  # cProfile.Profile when the plan asks for one
DUMP_SIG = 40


def create(path: str) -> None:
    """Make the zeroed shared file (the driver calls this before starting the master)."""
    with open(path, "wb") as f:
        f.truncate(SIZE)


def open_slots(path: str) -> tuple[mmap.mmap, memoryview]:
    f = os.open(path, os.O_RDWR)
    try:
        mm = mmap.mmap(f, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(f)
    return mm, memoryview(mm).cast("Q")


def _plan() -> dict[str, Any]:
    with open(os.environ["SIGSUP_BENCH_PLAN"]) as f:
        return json.load(f)


def _attach() -> Any:
    global _mv, _wid, _prof
    plan = _plan()
    _mm, _mv = open_slots(plan["mem"])
    _wid = sigsup.worker_id()
    if plan.get("cprofile") and _prof is None:
        # profile this worker from its first handler run on (the loop around the handler
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


# -- handlers (run in the workers) -----------------------------------------------------------


def count(num: int) -> None:
    """Count a run and stamp its end: throughput scenarios."""
    mv = _mv if _mv is not None else _attach()
    i = CNT_BASE + (num * MAXW + _wid) * 2
    mv[i] += 1
    mv[i + 1] = _clock(MONO)


def stamp(num: int) -> None:
    """Stamp the start of the run of the latency sample in flight."""
    t = _clock(MONO)
    mv = _mv if _mv is not None else _attach()
    mv[LAT_BASE + mv[LAT_CUR]] = t


def dump_profile(num: int) -> None:
    """Write this worker's profile (``--cprofile``), then stop profiling."""
    global _prof
    if _prof is not None:
        _prof.disable()
        _prof.dump_stats(os.path.join(_plan()["cprofile"], f"worker{_wid}.pstats"))
        _prof = None


# -- the raiser (a programmed mule) ----------------------------------------------------------


def _counts(mv: Any, signum: int, workers: int) -> tuple[list[int], int]:
    runs = [mv[CNT_BASE + (signum * MAXW + w) * 2] for w in range(1, workers + 1)]
    last = max(mv[CNT_BASE + (signum * MAXW + w) * 2 + 1] for w in range(1, workers + 1))
    return runs, last


_pids: dict[str, int] = {}


def _cpu() -> dict[str, tuple[int, int, int, int]]:
    """(ns on a CPU, ns runnable but waiting for one, user ticks, system ticks) so far, of
    the master and every child (/proc/PID/schedstat counts nanoseconds; /proc/PID/stat
    counts 10 ms ticks, good enough for the user/system split)."""
    out = {}
    for name, pid in _pids.items():
        try:
            with open(f"/proc/{pid}/schedstat") as f:
                run, wait = f.read().split()[:2]
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            out[name] = (int(run), int(wait), int(fields[11]), int(fields[12]))
        except (OSError, ValueError, IndexError):
            out[name] = (0, 0, 0, 0)
    return out


def throughput(mv: Any, sc: dict[str, Any]) -> dict[str, Any]:
    signum, n, k, workers = sc["signum"], sc["n"], sc["recipients"], sc["workers"]
    cpu0 = _cpu()
    expected = n * k
    refused = 0
    signal = sigsup.signal
    t0 = _clock(MONO)
    if sc["mode"] == "pipelined":
        try:
            with sigsup.raising(sc.get("raise_window", 256)) as r:
                rs = r.signal
                for _ in range(n):
                    rs(signum)
        except sigsup.SignalRefused:
            pass
        refused = len(r.refused)
    else:
        for _ in range(n):
            try:
                signal(signum)
            except sigsup.SignalRefused:
                refused += 1
    t_raised = _clock(MONO)
    # wait for the last handler run; give up after 3 s without progress (a refused raise
    # never runs: the driver reports the shortfall)
    seen, stalled = -1, time.monotonic() + 3.0
    while True:
        runs, last = _counts(mv, signum, workers)
        total = sum(runs)
        if total >= expected:
            break
        if total != seen:
            seen, stalled = total, time.monotonic() + 3.0
        elif time.monotonic() > stalled:
            break
        time.sleep(0.001)
    cpu1 = _cpu()
    return {**sc, "t0": t0, "t_raised": t_raised, "t_end": last, "handled": sum(runs),
            "cpu_s": {name: (cpu1[name][0] - cpu0[name][0]) / 1e9 for name in cpu0},
            "runq_wait_s": {name: (cpu1[name][1] - cpu0[name][1]) / 1e9 for name in cpu0},
            "user_sys_ticks": {name: (cpu1[name][2] - cpu0[name][2], cpu1[name][3] - cpu0[name][3])
                               for name in cpu0},
            "per_worker": runs, "refused": refused, "timed_out": sum(runs) < expected}


def latency(mv: Any, sc: dict[str, Any]) -> dict[str, Any]:
    signum, n, interval = sc["signum"], sc["n"], sc["interval_ns"]
    signal = sigsup.signal
    sent = [0] * n
    returned = [0] * n
    missed = 0
    for i in range(n):
        mv[LAT_BASE + i] = 0
    start = _clock(MONO) + 5_000_000
    for i in range(n):
        if i:
            # the previous handler has started (it normally has, a millisecond ago)
            give_up = time.monotonic() + 0.1
            while mv[LAT_BASE + i - 1] == 0 and time.monotonic() < give_up:
                time.sleep(0.0001)
            if mv[LAT_BASE + i - 1] == 0:
                missed += 1
        mv[LAT_CUR] = i
        wait = start + i * interval - _clock(MONO)
        if wait > 0:
            time.sleep(wait / 1e9)
        t = _clock(MONO)
        signal(signum)
        returned[i] = _clock(MONO)
        sent[i] = t
    give_up = time.monotonic() + 1.0
    while mv[LAT_BASE + n - 1] == 0 and time.monotonic() < give_up:
        time.sleep(0.001)
    started = [mv[LAT_BASE + i] for i in range(n)]
    lat = [s - t for s, t in zip(started, sent, strict=True) if s]
    return {**sc, "latency_ns": lat, "call_ns": [r - t for r, t in zip(returned, sent, strict=True)],
            "missed": n - len(lat), "late": missed}


SCENARIOS = {"throughput": throughput, "latency": latency}


def raiser() -> None:
    """The mule's program: wait for GO, run the plan's scenarios, write the results, idle."""
    plan = _plan()
    out = plan["out"]
    if os.path.exists(out + ".started"):   # a respawn: never run the plan twice
        _idle()
    open(out + ".started", "w").close()
    _mm, mv = open_slots(plan["mem"])
    while mv[GO] == 0:
        time.sleep(0.005)
    st = sigsup.context.current().call("status")["status"]
    _pids["master"] = st["master"]["pid"]
    _pids.update({p["name"]: p["pid"] for p in st["processes"] if p["pid"]})
    results = []
    prof = None
    if plan.get("cprofile"):
        import cProfile
        prof = cProfile.Profile()
        prof.enable()
    for sc in plan["scenarios"]:
        results.append(SCENARIOS[sc["kind"]](mv, sc))
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
