"""Helpers every benchmark shares: percentiles, spreads, noise, /proc readers, killing trees."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
MONO = time.CLOCK_MONOTONIC


def now_ns() -> int:
    """A timestamp comparable across processes (CLOCK_MONOTONIC)."""
    return time.clock_gettime_ns(MONO)


# -- statistics ------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[k]


def summarize_us(samples_ns: list[int]) -> dict[str, float]:
    s = sorted(x / 1000 for x in samples_ns)
    return {"p50": percentile(s, 50), "p90": percentile(s, 90), "p99": percentile(s, 99),
            "min": s[0] if s else float("nan"), "max": s[-1] if s else float("nan"),
            "samples": len(s)}


def spread(values: list[float]) -> dict[str, float]:
    """median, min and max of the values that are numbers (NaN and None left out)."""
    v = [x for x in values if x is not None and x == x]
    if not v:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0}
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}


def jitter(stamps_ns: list[int], period_s: float) -> dict[str, float]:
    """Timer firings: |interval - period| mean and p99 (ms), the mean interval (ms), and the
    drift of the last firing from the ideal schedule anchored on the first (ms)."""
    if len(stamps_ns) < 3:
        return {"firings": len(stamps_ns), "mean_ms": float("nan"), "p99_ms": float("nan"),
                "max_ms": float("nan"), "interval_ms": float("nan"), "drift_ms": float("nan")}
    p = period_s * 1e9
    iv = [b - a for a, b in zip(stamps_ns, stamps_ns[1:], strict=False)]
    dev = sorted(abs(x - p) / 1e6 for x in iv)
    k = round((stamps_ns[-1] - stamps_ns[0]) / p)
    return {"firings": len(stamps_ns), "mean_ms": sum(dev) / len(dev),
            "p99_ms": percentile(dev, 99), "max_ms": dev[-1],
            "interval_ms": sum(iv) / len(iv) / 1e6,
            "drift_ms": (stamps_ns[-1] - (stamps_ns[0] + k * p)) / 1e6}


def jitter_windows(stamps_ns: list[int], period_s: float, window_s: float = 20.0) -> dict[str, Any]:
    """``jitter`` of each ``window_s`` window of the firings, and the spread (median, min,
    max) of the windows' mean and p99 (how the uWSGI reference figures were taken)."""
    if not stamps_ns:
        return {"windows": 0, "mean_ms": spread([]), "p99_ms": spread([])}
    t0 = stamps_ns[0]
    w = int(window_s * 1e9)
    groups: dict[int, list[int]] = {}
    for t in stamps_ns:
        groups.setdefault((t - t0) // w, []).append(t)
    per = [jitter(g, period_s) for g in groups.values() if len(g) >= 3]
    return {"windows": len(per), "mean_ms": spread([j["mean_ms"] for j in per]),
            "p99_ms": spread([j["p99_ms"] for j in per])}


# -- noise: CPU used on this machine by processes outside the benchmark ----------------------

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_sample() -> dict[str, float]:
    """Machine-wide busy and steal CPU seconds (/proc/stat), this process tree's CPU seconds
    (children count once reaped)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
    t = os.times()
    return {"busy": (user + nice + system + irq + softirq) / _TICK, "steal": steal / _TICK,
            "own": t.user + t.system + t.children_user + t.children_system,
            "wall": time.monotonic()}


def noise(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """Foreign CPU (busy minus ours) and steal, as a fraction of all cores over the span."""
    cores = (os.cpu_count() or 1) * max(1e-9, b["wall"] - a["wall"])
    foreign = max(0.0, (b["busy"] - a["busy"]) - (b["own"] - a["own"]))
    return {"foreign_cpu_s": round(foreign, 3), "foreign_frac": round(foreign / cores, 4),
            "steal_frac": round((b["steal"] - a["steal"]) / cores, 4),
            "own_cpu_s": round(b["own"] - a["own"], 3), "wall_s": round(b["wall"] - a["wall"], 3)}


# -- /proc -----------------------------------------------------------------------------------


def parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def children_of(ppid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and parent_of(int(d)) == ppid:
            out.append(int(d))
    return sorted(out)


def smaps_rollup(pid: int) -> dict[str, float]:
    """RSS, PSS and USS (private clean + dirty) of a process in MiB."""
    vals: dict[str, int] = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                vals[parts[0][:-1]] = int(parts[1])
    uss = vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0)
    return {"rss_mib": vals.get("Rss", 0) / 1024, "pss_mib": vals.get("Pss", 0) / 1024,
            "uss_mib": uss / 1024}


def memory_of(procs: dict[str, int]) -> dict[str, Any]:
    """smaps_rollup of each named process and the totals."""
    per: dict[str, dict[str, float]] = {}
    for name, pid in procs.items():
        with contextlib.suppress(OSError):
            per[name] = smaps_rollup(pid)
    total = {k: sum(v[k] for v in per.values()) for k in ("rss_mib", "pss_mib", "uss_mib")}
    return {"processes": per, "total": total, "count": len(per)}


def startup_figures(t_launch: int, lines: list[tuple[str, int, int]], master_pid: int) -> dict[str, Any]:
    """Launch -> last stamp and -> the master's stamp (ms), and the memory of every stamped
    process (children named by kind and order: worker1, mule2...)."""
    t_all = max(t for _k, _p, t in lines)
    t_master = min(t for k, _p, t in lines if k == "master")
    time.sleep(0.3)   # settled
    procs = {"master": master_pid}
    kids = sorted((x for x in lines if x[0] != "master"), key=lambda x: (x[0], x[2]))
    counters: dict[str, int] = {}
    for kind, pid, _t in kids:
        counters[kind] = counters.get(kind, 0) + 1
        procs[f"{kind}{counters[kind]}"] = pid
    return {"launch_to_all_ms": (t_all - t_launch) / 1e6,
            "launch_to_master_ms": (t_master - t_launch) / 1e6,
            "memory": memory_of(procs)}


# -- stamp files -----------------------------------------------------------------------------


def read_stamp_lines(path: Path) -> dict[int, list[int]]:
    """``SIGNUM NS`` lines -> {signum: [ns, ...]} (in file order)."""
    out: dict[int, list[int]] = {}
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                out.setdefault(int(parts[0]), []).append(int(parts[1]))
    return out


def read_kind_stamps(path: Path) -> list[tuple[str, int, int]]:
    """``KIND PID NS`` lines."""
    out = []
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


# -- stopping what we started ----------------------------------------------------------------


def group_members(pgid: int) -> list[int]:
    """Processes whose process group is ``pgid``."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            out.append(int(d))
    return out


def kill_group_tree(proc: subprocess.Popen[Any], extra_groups: tuple[int, ...] = ()) -> None:
    """SIGKILL the process group of ``proc`` (started with ``start_new_session=True``) and
    the groups in ``extra_groups`` that are still its children. A group id cannot be handed
    to a new process while the group has members, so killing it is safe even once ``proc``
    itself is gone (only then: members are looked up first)."""
    if proc.poll() is None:
        for pid in extra_groups:
            if parent_of(pid) == proc.pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    elif group_members(proc.pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
