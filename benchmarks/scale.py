"""How sigsup's costs move with the size of the tree and of its tables (sigsup only).

Each point starts a fresh master. Per-event costs should grow no faster than O(log n):

* workers (2, 8, 32): pipelined throughput to ``worker`` (handled/s, master CPU µs per raise)
  and to ``workers`` (master CPU µs per handler run), and raise -> handler p50 to ``worker``;
* timers (1, 100, 1,000 timers of 1 s, all raising one signal to ``worker``, plus a 10 ms
  probe timer): master CPU µs per firing, and the probe's jitter p99;
* monitored files (1, 100, 10,000 files of one directory, one monitor each, debounce 0):
  ``os.utime`` on one of them -> handler start p50/p99, and master + monitor-process CPU per
  event;
* queued signals (100, 1,000, 10,000 raised to ``worker`` while both workers are blocked in a
  handler): µs per raise for the first and the last 10 % of the raises (the queue is deep for
  the last ones), then the drain rate and master CPU µs per signal once the workers go on.

    python -m benchmarks.scale [--quick] [--only workers timers files queued] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import common, dispatch, shm
from sigsup.protocol.control import request

ROOT = common.ROOT
APP = "benchmarks.apps.dispatch_app"
SCALE_APP = "benchmarks.apps.scale_app"
RESULTS = common.RESULTS / "scale.json"


class Tree:
    """A master from a config text, in its own session; ``close()`` kills it all."""

    def __init__(self, config: str, tmp: Path, env_extra: dict[str, str]) -> None:
        self.tmp = tmp
        self.sock = tmp / "m.sock"
        cfg = tmp / "scale.toml"
        cfg.write_text(config)
        self.log = open(tmp / "master.log", "wb")  # noqa: SIM115
        env = dispatch.master_env(argparse.Namespace(sigsup_src=None), env_extra)
        self.master = subprocess.Popen([sys.executable, "-m", "sigsup", "start", "-q", str(cfg)],
                                       cwd=tmp, env=env, stdout=self.log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        self.pids: list[int] = []

    def ready(self, timeout: float = 120.0) -> dict[str, Any]:
        st = dispatch.wait_ready(self.sock, self.master, timeout)
        self.pids = [p["pid"] for p in st["processes"] if p["pid"]]
        self.names = {"master": st["master"]["pid"],
                      **{p["name"]: p["pid"] for p in st["processes"] if p["pid"]}}
        return st

    def call(self, msg: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
        return request(self.sock, msg, timeout=timeout)

    def close(self) -> None:
        common.kill_group_tree(self.master, tuple(self.pids))
        self.log.close()

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.tmp / "master.log").read_text()[-3000:]
        return ""


def _supervisor(tmp: Path, workers: int, queue_size: int = 20000) -> list[str]:
    return ["[supervisor]", 'name = "scale"', f'socket = "{tmp / "m.sock"}"',
            f'pythonpath = ["{ROOT}"]', f"queue_size = {queue_size}", "shutdown_timeout = 2.0",
            "", "[workers]", f"count = {workers}", ""]


def _signal(num: int, handler: str, target: str) -> list[str]:
    return [f"[signals.{num}]", f'handler = "{handler}"', f'target = "{target}"', ""]


def _run_plan(tmp: Path, lines: list[str], scenarios: list[dict[str, Any]],
              timeout: float = 300.0) -> dict[str, Any]:
    """A tree with a raiser mule running ``scenarios`` (benchmarks/apps/dispatch_app.py)."""
    mem = str(tmp / "slots")
    shm.create(mem)
    plan = {"mem": mem, "out": str(tmp / "results.json"), "scenarios": scenarios}
    (tmp / "plan.json").write_text(json.dumps(plan))
    lines = lines + ["[mules]", "count = 1", "", "[mules.main]", f'1 = "{APP}:raiser"', ""]
    tree = Tree("\n".join(lines), tmp, {"SIGSUP_BENCH_PLAN": str(tmp / "plan.json")})
    mm, mv = shm.open_slots(mem)
    try:
        tree.ready()
        mv[shm.GO] = 1
        out = Path(plan["out"])
        deadline = time.monotonic() + timeout
        while not out.exists():
            if tree.master.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"no results (master {tree.master.returncode}):\n{tree.log_tail()}")
            time.sleep(0.02)
        return json.loads(out.read_text())
    finally:
        tree.close()
        del mv
        mm.close()


# -- workers -----------------------------------------------------------------------------------


def workers_point(w: int, n: int, lat_n: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-scale-"))
    try:
        lines = _supervisor(tmp, w, queue_size=max(20000, n))
        lines += _signal(17, f"{APP}:count", "worker") + _signal(19, f"{APP}:count", "workers")
        lines += _signal(50, f"{APP}:count", "worker") + _signal(30, f"{APP}:stamp", "worker")
        rcv = list(range(1, w + 1))
        nb = max(1000, n // w)   # broadcast: about n handler runs in all
        scenarios = [
            {"kind": "throughput", "name": "warmup", "signum": 50, "mode": "pipelined",
             "n": 2000, "receivers": rcv, "per_raise": 1},
            {"kind": "throughput", "name": "worker", "signum": 17, "mode": "pipelined", "n": n,
             "receivers": rcv, "per_raise": 1},
            {"kind": "throughput", "name": "workers", "signum": 19, "mode": "pipelined", "n": nb,
             "receivers": rcv, "per_raise": w},
            {"kind": "latency", "name": "latency", "probe": "worker", "signum": 30, "n": lat_n,
             "interval_ns": 1_000_000},
        ]
        res = _run_plan(tmp, lines, scenarios)["results"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    by = {r["name"]: r for r in res}
    tw, tb = dispatch.throughput_figure(by["worker"]), dispatch.throughput_figure(by["workers"])
    lat = common.summarize_us(by["latency"]["latency_ns"])
    return {"workers": w,
            "worker_handled_per_s": tw["handled_per_s"], "worker_lost": tw["lost"],
            "worker_master_cpu_us_per_raise": tw["cpu_us.master"],
            "worker_all_cpu_us_per_raise": tw["cpu_us.all"],
            "workers_runs_per_s": tb["handled_per_s"], "workers_lost": tb["lost"],
            "workers_master_cpu_us_per_run": tb["cpu_us.master"] / w,
            "latency_p50_us": lat["p50"], "latency_p99_us": lat["p99"]}


# -- timers ------------------------------------------------------------------------------------


def timers_point(n: int, seconds: float) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-scale-timers-"))
    stamps = tmp / "stamps.txt"
    lines = _supervisor(tmp, 2)
    lines += _signal(17, f"{SCALE_APP}:noop", "worker")
    lines += _signal(20, "benchmarks.apps.timers_app:stamp", "worker")
    tree = Tree("\n".join(lines), tmp, {"SIGSUP_BENCH_OUT": str(stamps)})
    try:
        tree.ready()
        add_s = 0.0
        for i in range(n):
            t_add = time.perf_counter()
            reply = tree.call({"cmd": "add_timer", "signum": 17, "seconds": 1.0})
            add_s += time.perf_counter() - t_add
            if not reply.get("ok"):
                raise RuntimeError(f"add_timer: {reply}")
            if n > 1 and i % max(1, n // 50) == 0:
                time.sleep(1.0 / 50)   # spread the phases over one period
        reply = tree.call({"cmd": "add_timer", "signum": 20, "seconds": 0.01})
        probe = reply["id"]
        time.sleep(1.2)   # every timer fired once
        ev0 = {e["id"]: e["fired"] for e in tree.call({"cmd": "list_events"})["events"]}
        cpu0 = shm.cpu_of(tree.names)
        t0 = time.monotonic()
        time.sleep(seconds)
        cpu1 = shm.cpu_of(tree.names)
        wall = time.monotonic() - t0
        ev1 = {e["id"]: e["fired"] for e in tree.call({"cmd": "list_events"})["events"]}
    finally:
        tree.close()
    st = sorted(common.read_stamp_lines(stamps).get(20, []))
    shutil.rmtree(tmp, ignore_errors=True)
    fired = sum(ev1[k] - ev0.get(k, 0) for k in ev1)
    d = shm.cpu_delta(cpu0, cpu1)
    master_cpu = d["cpu_s"]["master"]
    jit = common.jitter(st[-int(seconds * 100):], 0.01)
    return {"timers": n, "firings_per_s": fired / wall,
            "master_cpu_us_per_firing": master_cpu / fired * 1e6 if fired else float("nan"),
            "master_cores": master_cpu / wall,
            "probe_jitter_mean_ms": jit["mean_ms"], "probe_jitter_p99_ms": jit["p99_ms"],
            "add_ms_per_timer": add_s / max(n, 1) * 1000, "probe_id": probe}


# -- monitored files ---------------------------------------------------------------------------


def files_point(n: int, samples: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-scale-files-"))
    d = tmp / "watched"
    d.mkdir()
    for i in range(n):
        (d / f"f{i}").write_bytes(b"")
    mem = str(tmp / "slots")
    shm.create(mem)
    (tmp / "plan.json").write_text(json.dumps({"mem": mem}))
    lines = _supervisor(tmp, 2)
    lines += _signal(30, f"{APP}:stamp", "worker") + _signal(17, f"{SCALE_APP}:noop", "worker")
    target = d / f"f{n // 2}"
    for i in range(n):
        p = d / f"f{i}"
        lines += ["[[monitors]]", f"signal = {30 if p == target else 17}", f'path = "{p}"',
                  "debounce = 0", ""]
    tree = Tree("\n".join(lines), tmp, {"SIGSUP_BENCH_PLAN": str(tmp / "plan.json")})
    mm, mv = shm.open_slots(mem)
    try:
        t0 = time.monotonic()
        tree.ready(timeout=300.0)
        ready_s = time.monotonic() - t0
        names = {k: v for k, v in tree.names.items() if k in ("master", "monitor")}
        cpu0 = shm.cpu_of(names)
        r = shm.latency(lambda _s: os.utime(target), mv,
                        {"signum": 30, "n": samples, "interval_ns": 5_000_000})
        cpu1 = shm.cpu_of(names)
    finally:
        tree.close()
        del mv
        mm.close()
        shutil.rmtree(tmp, ignore_errors=True)
    lat = common.summarize_us(r["latency_ns"])
    cd = shm.cpu_delta(cpu0, cpu1)["cpu_s"]
    return {"files": n, "latency_p50_us": lat["p50"], "latency_p99_us": lat["p99"],
            "missed": r["missed"], "ready_s": ready_s,
            "master_cpu_us_per_event": cd.get("master", 0) / samples * 1e6,
            "monitor_cpu_us_per_event": cd.get("monitor", 0) / samples * 1e6}


# -- queued signals ----------------------------------------------------------------------------


def queued_point(n: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-scale-queued-"))
    try:
        lines = _supervisor(tmp, 2, queue_size=max(20000, 2 * n))
        lines += _signal(24, f"{SCALE_APP}:blocked_count", "worker")
        scenarios = [{"kind": "queued", "name": "queued", "signum": 24, "n": n,
                      "receivers": [1, 2], "per_raise": 1}]
        res = _run_plan(tmp, lines, scenarios)["results"][0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    drain_s = (res["t_end"] - res["t_release"]) / 1e9
    return {"queued": n, "raise_us_first": res["raise_us_first"],
            "raise_us_last": res["raise_us_last"], "drain_per_s": res["handled"] / drain_s,
            "lost": n - res["handled"],
            "master_cpu_us_per_signal_raise": res["cpu_raise_s"]["master"] / n * 1e6,
            "master_cpu_us_per_signal_drain": res["cpu_drain_s"]["master"] / n * 1e6}


# -- main ----------------------------------------------------------------------------------------


SIZES_FULL = {"workers": [2, 8, 32], "timers": [1, 100, 1000], "files": [1, 100, 10000],
              "queued": [100, 1000, 10000]}


def measure(quick: bool, only: list[str] | None = None, log: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    say = log or (lambda s: None)
    parts = only or list(SIZES_FULL)
    if "workers" in parts:
        out["workers"] = [workers_point(w, 5000 if quick else 20000, 300 if quick else 1000)
                          for w in SIZES_FULL["workers"]]
        say("scale: workers done")
    if "timers" in parts:
        out["timers"] = [timers_point(n, 3.0 if quick else 10.0) for n in SIZES_FULL["timers"]]
        say("scale: timers done")
    if "files" in parts:
        out["files"] = [files_point(n, 100 if quick else 400) for n in SIZES_FULL["files"]]
        say("scale: files done")
    if "queued" in parts:
        out["queued"] = [queued_point(n) for n in SIZES_FULL["queued"]]
        say("scale: queued done")
    return out


COLUMNS = {
    "workers": [("workers", "{:d}"), ("worker_handled_per_s", "{:,.0f}"),
                ("worker_master_cpu_us_per_raise", "{:.1f}"), ("workers_runs_per_s", "{:,.0f}"),
                ("workers_master_cpu_us_per_run", "{:.1f}"), ("latency_p50_us", "{:.0f}"),
                ("worker_lost", "{:d}"), ("workers_lost", "{:d}")],
    "timers": [("timers", "{:d}"), ("firings_per_s", "{:,.0f}"),
               ("master_cpu_us_per_firing", "{:.1f}"), ("master_cores", "{:.3f}"),
               ("probe_jitter_mean_ms", "{:.3f}"), ("probe_jitter_p99_ms", "{:.3f}"),
               ("add_ms_per_timer", "{:.2f}")],
    "files": [("files", "{:d}"), ("latency_p50_us", "{:.0f}"), ("latency_p99_us", "{:.0f}"),
              ("master_cpu_us_per_event", "{:.1f}"), ("monitor_cpu_us_per_event", "{:.1f}"),
              ("ready_s", "{:.2f}"), ("missed", "{:d}")],
    "queued": [("queued", "{:d}"), ("raise_us_first", "{:.1f}"), ("raise_us_last", "{:.1f}"),
               ("drain_per_s", "{:,.0f}"), ("master_cpu_us_per_signal_raise", "{:.1f}"),
               ("master_cpu_us_per_signal_drain", "{:.1f}"), ("lost", "{:d}")],
}


def table_lines(out: dict[str, Any]) -> list[str]:
    lines = []
    for part, cols in COLUMNS.items():
        if part not in out:
            continue
        lines.append(f"scale: {part}")
        lines.append("  " + " | ".join(c for c, _f in cols))
        for row in out[part]:
            cells = []
            for c, f in cols:
                v = row.get(c)
                try:
                    cells.append(f.format(int(v) if "d}" in f else v))
                except (TypeError, ValueError):
                    cells.append(str(v))
            lines.append("  " + " | ".join(cells))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="+", choices=list(SIZES_FULL))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = measure(args.quick, args.only, log=lambda s: print(s, file=sys.stderr))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))
    print("\n".join(table_lines(out)))
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
