"""The shared slots every benchmark tree maps, and the raiser's loops, for sigsup and uWSGI.

One file-backed ``mmap`` holds unsigned 64-bit slots. The driver creates the file; the raiser
(a sigsup mule or a uWSGI mule) and every handler map it. This module imports neither sigsup
nor uwsgi: the raising function is passed in, so sigsup's and uWSGI's raisers run the same
loops and the figures compare like with like.

    GO                  the driver sets it to 1 once every process is ready
    LAT_CUR             the latency sample the raiser is about to raise
    BLOCK               while 1, the handlers of the "queued" scenario wait
    CNT_BASE + (signum * MAXR + receiver) * 2       handler runs, then the CLOCK_MONOTONIC
                                                    time the last run finished
    LAT_BASE + i        CLOCK_MONOTONIC time at which the handler of latency sample i started

A receiver is ``worker k`` -> k, ``mule k`` -> MULE0 + k, a spooler -> SPOOLER.
"""

from __future__ import annotations

import mmap
import os
import time
from collections.abc import Callable
from typing import Any

MONO = time.CLOCK_MONOTONIC
_clock = time.clock_gettime_ns

GO = 0
LAT_CUR = 1
BLOCK = 2            # scale.py: handlers of the "queued" scenario wait while it is 1
MAXR = 64            # receivers per signal: workers 1..40, mules 41.., a spooler 63
MULE0 = 40
SPOOLER = 63
CNT_BASE = 16
LAT_BASE = CNT_BASE + 256 * MAXR * 2
LAT_MAX = 50_000
SLOTS = LAT_BASE + LAT_MAX
SIZE = SLOTS * 8


def create(path: str) -> None:
    """Make the zeroed shared file (the driver, before it starts the tree)."""
    with open(path, "wb") as f:
        f.truncate(SIZE)


def open_slots(path: str) -> tuple[mmap.mmap, memoryview]:
    f = os.open(path, os.O_RDWR)
    try:
        mm = mmap.mmap(f, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(f)
    return mm, memoryview(mm).cast("Q")


def receiver(worker: int, mule: int, spooler: bool = False) -> int:
    if worker:
        return worker
    if mule:
        return MULE0 + mule
    return SPOOLER if spooler else 0


def count_slot(signum: int, rcv: int) -> int:
    return CNT_BASE + (signum * MAXR + rcv) * 2


def counts(mv: Any, signum: int, receivers: list[int]) -> tuple[list[int], int]:
    """Handler runs of each receiver, and the latest end stamp among them."""
    runs = [mv[count_slot(signum, r)] for r in receivers]
    last = max(mv[count_slot(signum, r) + 1] for r in receivers)
    return runs, last


# -- CPU of a process tree -------------------------------------------------------------------


def cpu_of(pids: dict[str, int]) -> dict[str, tuple[int, int, int, int]]:
    """(ns on a CPU, ns runnable but waiting for one, user ticks, system ticks) of each
    process so far (/proc/PID/schedstat counts ns; /proc/PID/stat 10 ms ticks)."""
    out = {}
    for name, pid in pids.items():
        try:
            with open(f"/proc/{pid}/schedstat") as f:
                run, wait = f.read().split()[:2]
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
            out[name] = (int(run), int(wait), int(fields[11]), int(fields[12]))
        except (OSError, ValueError, IndexError):
            out[name] = (0, 0, 0, 0)
    return out


def cpu_delta(a: dict[str, tuple[int, ...]], b: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    return {"cpu_s": {k: (b[k][0] - a[k][0]) / 1e9 for k in a},
            "runq_wait_s": {k: (b[k][1] - a[k][1]) / 1e9 for k in a},
            "user_sys_ticks": {k: (b[k][2] - a[k][2], b[k][3] - a[k][3]) for k in a}}


# -- the raiser's loops ----------------------------------------------------------------------


def wait_handled(mv: Any, signum: int, receivers: list[int], expected: int,
                 quiet_s: float = 3.0) -> tuple[list[int], int]:
    """Wait for ``expected`` handler runs in all; give up after ``quiet_s`` without progress
    (a lost or refused signal never runs). Returns the runs per receiver and the last stamp."""
    seen, stalled = -1, time.monotonic() + quiet_s
    while True:
        runs, last = counts(mv, signum, receivers)
        total = sum(runs)
        if total >= expected:
            return runs, last
        if total != seen:
            seen, stalled = total, time.monotonic() + quiet_s
        elif time.monotonic() > stalled:
            return runs, last
        time.sleep(0.001)


def blast(fire: Callable[[int], Any], signum: int, n: int) -> int:
    """``n`` raises as fast as ``fire`` returns; the count of exceptions (refusals)."""
    bad = 0
    for _ in range(n):
        try:
            fire(signum)
        except Exception:
            bad += 1
    return bad


def windowed(fire: Callable[[int], Any], mv: Any, signum: int, n: int, receivers: list[int],
             per_raise: int, window: int) -> None:
    """Raise ``n``, never more than ``window`` ahead of the slowest receiver's handled count
    (for a one-of target, ``window`` ahead of the runs of all receivers together)."""
    slots = [count_slot(signum, r) for r in receivers]
    base = [mv[s] for s in slots]
    raised = idle = 0
    while raised < n:
        if per_raise == 1:
            done = sum(mv[s] for s in slots) - sum(base)
        else:
            done = min(mv[s] - b for s, b in zip(slots, base, strict=True))
        room = window - (raised - done)
        if room <= 0:
            # the window is full: let the handlers run (a spooler runs at nice 19 in uWSGI,
            # and a spinning raiser would starve it on a 2-core machine)
            idle += 1
            if idle < 200:
                os.sched_yield()
            else:
                time.sleep(0.00002)
            continue
        idle = 0
        for _ in range(min(room, n - raised)):
            fire(signum)
        raised += min(room, n - raised)


def throughput(fire: Callable[[int], Any], mv: Any, sc: dict[str, Any], pids: dict[str, int],
               pipelined: Callable[[int, int], int] | None = None) -> dict[str, Any]:
    """One throughput scenario: ``sc`` has signum, n, receivers (slot ids), per_raise (1 for
    a one-of target, k for a broadcast to k), mode (blast / window / pipelined / plain)."""
    signum, n, receivers, k = sc["signum"], sc["n"], sc["receivers"], sc["per_raise"]
    for r in receivers:   # fresh counts for this scenario
        mv[count_slot(signum, r)] = 0
        mv[count_slot(signum, r) + 1] = 0
    cpu0 = cpu_of(pids)
    refused = 0
    t0 = _clock(MONO)
    mode = sc["mode"]
    if mode == "window":
        windowed(fire, mv, signum, n, receivers, k, sc.get("window", 32))
    elif mode == "pipelined" and pipelined is not None:
        refused = pipelined(signum, n)
    else:   # blast, plain: one call after the other
        refused = blast(fire, signum, n)
    t_raised = _clock(MONO)
    runs, last = wait_handled(mv, signum, receivers, n * k, sc.get("quiet_s", 3.0))
    cpu1 = cpu_of(pids)
    return {**sc, "t0": t0, "t_raised": t_raised, "t_end": last, "handled": sum(runs),
            **cpu_delta(cpu0, cpu1), "per_receiver": runs, "refused": refused,
            "lost": n * k - sum(runs), "timed_out": sum(runs) < n * k}


def queued(pipelined: Callable[[int, int], int], mv: Any, sc: dict[str, Any],
           pids: dict[str, int]) -> dict[str, Any]:
    """``n`` raises while every receiver is blocked in a handler (they queue in the master),
    in 10 chunks, each timed; then the handlers go on and the drain is timed."""
    signum, n, receivers = sc["signum"], sc["n"], sc["receivers"]
    for r in receivers:
        mv[count_slot(signum, r)] = 0
        mv[count_slot(signum, r) + 1] = 0
    mv[BLOCK] = 1
    chunk = max(1, n // 10)
    per_raise_ns = []
    refused = 0
    cpu0 = cpu_of(pids)
    done = 0
    while done < n:
        k = min(chunk, n - done)
        ta = _clock(MONO)
        refused += pipelined(signum, k)
        per_raise_ns.append((_clock(MONO) - ta) / k)
        done += k
    cpu1 = cpu_of(pids)
    t_release = _clock(MONO)
    mv[BLOCK] = 0
    runs, last = wait_handled(mv, signum, receivers, n)
    cpu2 = cpu_of(pids)
    return {**sc, "raise_us_first": per_raise_ns[0] / 1000, "raise_us_last": per_raise_ns[-1] / 1000,
            "t_release": t_release, "t_end": last, "handled": sum(runs), "refused": refused,
            "cpu_raise_s": cpu_delta(cpu0, cpu1)["cpu_s"], "cpu_drain_s": cpu_delta(cpu1, cpu2)["cpu_s"]}


def latency(fire: Callable[[int], Any], mv: Any, sc: dict[str, Any]) -> dict[str, Any]:
    """``n`` raises about ``interval_ns`` apart on an absolute schedule. The raiser stores the
    sample index, stamps CLOCK_MONOTONIC and calls ``fire``; the handler's first line stamps
    that sample's slot. Before each raise it waits (up to 100 ms) for the previous stamp, so
    no stamp can be matched to the wrong raise."""
    signum, n, interval = sc["signum"], sc["n"], sc["interval_ns"]
    sent = [0] * n
    returned = [0] * n
    late = 0
    for i in range(n):
        mv[LAT_BASE + i] = 0
    start = _clock(MONO) + 5_000_000
    for i in range(n):
        if i:
            give_up = time.monotonic() + 0.1
            while mv[LAT_BASE + i - 1] == 0 and time.monotonic() < give_up:
                time.sleep(0.0001)
            if mv[LAT_BASE + i - 1] == 0:
                late += 1
        mv[LAT_CUR] = i
        wait = start + i * interval - _clock(MONO)
        if wait > 0:
            time.sleep(wait / 1e9)
        t = _clock(MONO)
        fire(signum)
        returned[i] = _clock(MONO)
        sent[i] = t
    give_up = time.monotonic() + 1.0
    while mv[LAT_BASE + n - 1] == 0 and time.monotonic() < give_up:
        time.sleep(0.001)
    started = [mv[LAT_BASE + i] for i in range(n)]
    lat = [s - t for s, t in zip(started, sent, strict=True) if s]
    return {**sc, "latency_ns": lat, "call_ns": [r - t for r, t in zip(returned, sent, strict=True)],
            "missed": n - len(lat), "late": late}


def stamp_count(mv: Any, signum: int, rcv: int) -> None:
    """A counting handler's body: one more run for (signum, receiver), and its end time."""
    i = count_slot(signum, rcv)
    mv[i] += 1
    mv[i + 1] = _clock(MONO)


def stamp_latency(mv: Any, t: int) -> None:
    mv[LAT_BASE + mv[LAT_CUR]] = t
