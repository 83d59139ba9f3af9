"""Load: 64 workers, 2 mules in a farm, all 256 signals registered, 1,000 timers.

The tree starts, every signal reaches the processes its target names, status answers
promptly, and under a steady mix of timer fires, raises, status requests and killed
workers the master's memory does not grow. CI runs a 20 s version; ``--soak`` (or
SIGSUP_SOAK=1) runs it for 10 minutes.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest
from harness import connect
from trees import signals

from sigsup.protocol.control import encode

from .helpers import rss_kb, soaking, sup
from .test_faults import _read_replies

WORKERS = 64
TIMERS = 1000
SOAK = soaking()
SOAK_SECONDS = 600 if SOAK else 20

TARGETS = ["worker", "worker{n}", "workers", "active-workers", "mule", "mules", "farm_f",
           "mule{m}"]
ONE_PROCESS = ("worker", "worker{n}", "mule", "farm_f", "mule{m}")


def target_of(num: int) -> str:
    return TARGETS[num % len(TARGETS)].format(n=num % WORKERS + 1, m=num % 2 + 1)


def tree() -> str:
    parts = [f"[workers]\ncount = {WORKERS}\n\n[mules]\ncount = 2\n\n[farms]\nf = [1, 2]\n"]
    parts.append(signals({num: target_of(num) for num in range(256)}, "loadapp:noop"))
    timer_sigs = [n for n in range(256) if TARGETS[n % len(TARGETS)] in ONE_PROCESS]
    for i in range(TIMERS):
        parts.append(f"[[timers]]\nsignal = {timer_sigs[i % len(timer_sigs)]}\n"
                     f"seconds = {1.0 + (i % 20) * 0.5}\n")
    return "\n".join(parts)


def expected(num: int, st: dict) -> set[str] | None:
    """The process names a raise of ``num`` must reach (None: any one of a pool)."""
    t = target_of(num)
    workers = {p["name"] for p in st["processes"] if p["kind"] == "worker"}
    if t in ("workers", "active-workers"):
        return workers
    if t == "mules":
        return {"mule1", "mule2"}
    if t.startswith(("worker", "mule")) and t[-1].isdigit():
        return {t}
    return None


@pytest.mark.timeout(SOAK_SECONDS + 240)
def test_64_workers_256_signals_1000_timers(master_factory):
    t0 = time.monotonic()
    m = master_factory(tree(), sup=sup(failure_limit=1000, respawn_delay=0.05,
                                       respawn_delay_max=0.2), timeout=60)
    started = time.monotonic() - t0
    st = m.status()
    assert len([p for p in st["processes"] if p["kind"] == "worker"]) == WORKERS
    assert len(st["signals"]) == 256
    assert len(st["events"]) == TIMERS
    assert started < 30, f"the tree took {started:.1f} s to start"

    # every signal once, waiting for its outcomes: each reaches what its target names
    with connect(m, 60) as s:
        s.sendall(b"".join(encode({"cmd": "raise", "signum": n, "wait": True})
                           for n in range(256)))
        replies = _read_replies(s, 256, 60)
    for r in replies:
        num = r["result"]["signum"]
        assert r["ok"], r
        got = {o["process"] for o in r["outcomes"]}
        assert all(o["status"] == "handled" for o in r["outcomes"]), r
        want = expected(num, st)
        if want is None:
            assert len(got) == 1, r
            pool = "mule" if target_of(num) in ("mule", "farm_f") else "worker"
            assert next(iter(got)).startswith(pool), r
        else:
            assert got == want, (num, target_of(num), sorted(got ^ want)[:5])

    # status answers promptly with 64 workers and 1,000 timers in it
    worst = 0.0
    for _ in range(5):
        t1 = time.monotonic()
        m.status(timeout=10)
        worst = max(worst, time.monotonic() - t1)
    assert worst < 1.0, f"status took {worst:.2f} s"

    soak_memory(m, SOAK_SECONDS)


def late_samples(st: dict) -> int:
    """Lateness samples the master keeps for its event sources (8 bytes each, at most
    1,024 per source: memory that grows by design until each source has fired that often)."""
    return sum((e.get("late_ms") or {}).get("samples", 0) for e in st["events"])


def soak_memory(m, seconds: float) -> None:
    """Run a steady load for ``seconds``; the master's RSS must not keep growing (beyond
    the lateness samples its timers keep, which are bounded and accounted for)."""
    rng = random.Random(64)
    samples: list[tuple[float, int, int]] = []
    t0 = time.monotonic()
    next_kill = t0 + 1.0
    warmup = min(5.0, seconds / 4)
    kills = raised = 0
    while (now := time.monotonic()) - t0 < seconds:
        st = m.status(timeout=10)
        assert st["master"]["state"] == "running"
        assert not st["groups_failed"], st["groups_failed"]
        nums = [rng.randrange(256) for _ in range(50)]
        with connect(m, 10) as s:
            s.sendall(b"".join(encode({"cmd": "raise", "signum": n}) for n in nums))
            replies = _read_replies(s, len(nums), 10)
        assert all(r["ok"] for r in replies), [r for r in replies if not r["ok"]][:3]
        raised += len(nums)
        if now >= next_kill:
            next_kill = now + 2.0
            victims = [p for p in st["processes"] if p["kind"] == "worker" and p["pid"]
                       and p["state"] == "running"]
            if victims:
                os.kill(rng.choice(victims)["pid"], signal.SIGKILL)
                kills += 1
        if now - t0 >= warmup:
            samples.append((now - t0, rss_kb(m.pid), late_samples(st)))
        time.sleep(0.2)
    assert samples and kills and raised
    quarter = max(1, len(samples) // 4)
    first = min(kb for _, kb, _ in samples[:quarter])
    last = max(kb for _, kb, _ in samples[-quarter:])
    by_design = (samples[-1][2] - samples[0][2]) * 9 // 1024    # KiB: 8 bytes and slack
    # a leak of even 1 KiB per raise, status or death would show as megabytes here
    assert last - first < 4 * 1024 + by_design, (
        f"the master's RSS grew from {first} KiB to {last} KiB over {seconds:.0f} s "
        f"({raised} raises, {kills} workers killed; {by_design} KiB of it lateness "
        f"samples): {[(round(t), kb) for t, kb, _ in samples[::max(1, len(samples) // 20)]]}")
    st = m.status()
    procs = [p for p in st["processes"] if p["kind"] in ("worker", "mule")]
    assert sum(p["respawns"] for p in procs) >= kills - WORKERS
