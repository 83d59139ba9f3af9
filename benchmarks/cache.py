"""The cache benchmark: get/set per second of sigsup's shared cache, beside the
master-channel prototype it was chosen over, uWSGI's cache and a dict, in one run.

    python -m benchmarks.cache              # 200,000 ops per figure; results/cache.json
    python -m benchmarks.cache --n 20000 --no-uwsgi

Every side runs the same loops (benchmarks/cache_loops.py: update, get of a present key,
get of an absent key, over 1,000 keys of 100-byte values) in 1 and then 2 processes at
once (programmed mules of a sigsup tree, mules of a uWSGI instance), all against one
cache; the dict is one process's own. Each tree runs in its own session on a temporary
directory and is SIGKILLed, its process groups too, whatever happens.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import cache_loops, common, uwsgi_bench

ROOT = common.ROOT
UWSGI_MULE = Path(__file__).resolve().parent / "uwsgi_apps" / "cache_mule.py"


def _sigsup_config(tmp: Path, procs: int) -> Path:
    cfg = tmp / "bench.toml"
    mains = "".join(f'{i} = "benchmarks.apps.cache_app:bench_mule"\n'
                    for i in range(1, procs + 1))
    cfg.write_text(f'[supervisor]\nname = "cachebench"\nsocket = "{tmp}/m.sock"\n'
                   f'pythonpath = ["{ROOT}"]\n\n[workers]\ncount = 0\n\n[mules]\n'
                   f"count = {procs}\n\n[mules.main]\n{mains}\n"
                   "[caches.default]\nitems = 1000\nmax_item_bytes = 65536\n")
    return cfg


def _collect(proc: subprocess.Popen[Any], out: Path, procs: int, count_children: int,
             timeout: float) -> list[dict[str, float]]:
    deadline = time.monotonic() + timeout
    while len(common.children_of(proc.pid)) < count_children:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the tree did not start ({proc.returncode}):\n"
                               + (out / "log").read_text(errors="replace")[-2000:])
        time.sleep(0.01)
    time.sleep(0.5)                       # every mule waiting for "go"
    (out / "go").touch()
    files = [out / f"mule{i}.json" for i in range(1, procs + 1)]
    while not all(f.exists() for f in files):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("no results:\n" + (out / "log").read_text(errors="replace")[-2000:])
        time.sleep(0.02)
    return [json.loads(f.read_text()) for f in files]


def run_sigsup(n: int, procs: int, mode: str) -> list[dict[str, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-cache-"))
    cfg = _sigsup_config(tmp, procs)
    env = {**os.environ, "BENCH_OUT": str(tmp), "BENCH_N": str(n), "BENCH_MODE": mode,
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = ([sys.executable, "-m", "benchmarks.apps.cache_channel", str(cfg)] if mode == "channel"
           else [sys.executable, "-m", "sigsup", "start", "-q", str(cfg)])
    with open(tmp / "log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    kids: list[int] = []
    try:
        res = _collect(proc, tmp, procs, procs, 120)
        kids = common.children_of(proc.pid)
        return res
    finally:
        kids = kids or common.children_of(proc.pid)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        common.kill_group_tree(proc, tuple(kids))
        for pid in kids:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        shutil.rmtree(tmp, ignore_errors=True)


def run_uwsgi(n: int, procs: int) -> list[dict[str, float]]:
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-uwsgi-cache-"))
    env = {**os.environ, "BENCH_OUT": str(tmp), "BENCH_N": str(n),
           "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    args = ["--master", "--workers", "1", "--socket", str(tmp / "u.sock"),
            "--pythonpath", str(ROOT), "--cache2", "name=default,items=1000,blocksize=65536",
            "--disable-logging", "--die-on-term"] + [f"--mule={UWSGI_MULE}"] * procs
    with open(tmp / "log", "wb") as log:
        proc = subprocess.Popen([uwsgi_bench.executable() or "uwsgi", *args], cwd=tmp, env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        return _collect(proc, tmp, procs, 1 + procs, 120)
    finally:
        common.kill_group_tree(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def run_floor(n: int) -> list[dict[str, float]]:
    d: dict[bytes, bytes] = {}
    return [cache_loops.run(d.get, d.__setitem__, n)]


def _fmt(results: list[dict[str, float]] | None, key: str) -> str:
    if not results:
        return "-"
    per = [r[key] for r in results]
    total = sum(per)
    return f"{total / 1000:,.0f}k" if len(per) == 1 else f"{total / 1000:,.0f}k ({'+'.join(f'{x / 1000:.0f}' for x in per)})"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="operations per figure and process")
    ap.add_argument("--no-uwsgi", action="store_true")
    ap.add_argument("--no-save", action="store_true")
    a = ap.parse_args(argv)
    ok, why = (False, "--no-uwsgi") if a.no_uwsgi else uwsgi_bench.available()
    rows: dict[str, dict[int, list[dict[str, float]] | None]] = {}
    cpu0 = common.cpu_sample()
    rows["dict (one process, floor)"] = {1: run_floor(a.n), 2: None}
    for procs in (1, 2):
        rows.setdefault("sigsup shared memory (kept)", {})[procs] = run_sigsup(a.n, procs, "shm")
        rows.setdefault("sigsup via the master (prototype)", {})[procs] = run_sigsup(
            max(a.n // 10, 1000), procs, "channel")
        rows.setdefault("uWSGI cache2", {})[procs] = run_uwsgi(a.n, procs) if ok else None
    noise = common.noise(cpu0, common.cpu_sample())
    head = f"{'ops/s (total; per process)':38} {'procs':>5} {'set':>18} {'get hit':>18} {'get miss':>18}"
    print(head)
    print("-" * len(head))
    for name, by in rows.items():
        for procs, res in by.items():
            if res is None and procs == 2 and name.startswith("dict"):
                continue
            print(f"{name:38} {procs:>5} {_fmt(res, 'set'):>18} {_fmt(res, 'hit'):>18} "
                  f"{_fmt(res, 'miss'):>18}")
    if not ok:
        print(f"uWSGI skipped: {why}")
    print(f"machine noise: {noise}")
    if not a.no_save:
        common.RESULTS.mkdir(exist_ok=True)
        (common.RESULTS / "cache.json").write_text(json.dumps(
            {"n": a.n, "uwsgi": why, "noise": noise,
             "rows": {k: {str(p): r for p, r in v.items()} for k, v in rows.items()}},
            indent=2))


if __name__ == "__main__":
    main()
