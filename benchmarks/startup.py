"""Start-up time and memory: sigsup, uWSGI and the Python floor, each launched afresh.

The tree is a master, 4 workers and 2 mules. The clock runs from just before the launch
(``python -m sigsup start -q CFG``; ``uwsgi ...``) to the moment the last process ran its
first line of user code: the master's import of the app (sigsup: a ``preload`` module) and,
in each child, the post-fork hook (sigsup ``@postfork``; uWSGI ``uwsgi.post_fork_hook``).
Memory is read from /proc/PID/smaps_rollup once every process ran (RSS, PSS, USS).
sigsup is byte-compiled first (``compileall``), as an installed package would be.

The floor: ``python -c pass``, and a ``python -c`` that forks 6 children which each stamp
once (launch -> every process ran; the 7 processes' memory).

    python -m benchmarks.startup [--launches N] [--no-uwsgi] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import common

ROOT = common.ROOT
WORKERS, MULES = 4, 2
APP = "benchmarks.apps.startup_app"

FLOOR_SCRIPT = r"""
import os, sys, time
def stamp(kind):
    t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{kind} {os.getpid()} {t}\n".encode())
    os.close(fd)
stamp("master")
for i in range(6):
    if os.fork() == 0:
        stamp("child")
        time.sleep(60)
        os._exit(0)
time.sleep(60)
"""


def _wait_stamps(path: Path, want: int, proc: subprocess.Popen[bytes],
                 timeout: float) -> list[tuple[str, int, int]]:
    deadline = time.monotonic() + timeout
    lines: list[tuple[str, int, int]] = []
    while time.monotonic() < deadline:
        lines = common.read_kind_stamps(path)
        if len(lines) >= want:
            return lines
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} after {len(lines)} of {want} stamps")
        time.sleep(0.001)
    raise RuntimeError(f"only {len(lines)} of {want} processes started in {timeout} s")


def sigsup_once(sigsup_src: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-start-"))
    stamps = tmp / "stamps.txt"
    cfg = tmp / "start.toml"
    cfg.write_text("\n".join([
        "[supervisor]", 'name = "startup"', f'socket = "{tmp / "m.sock"}"',
        f'pythonpath = ["{ROOT}"]', f'preload = ["{APP}"]', "shutdown_timeout = 1.0", "",
        "[workers]", f"count = {WORKERS}", "", "[mules]", f"count = {MULES}", "",
        "[signals.17]", f'handler = "{APP}:noop"', 'target = "worker"', ""]))
    env = {**os.environ, "SIGSUP_BENCH_STAMPS": str(stamps)}
    env.pop("SIGSUP_SOCKET", None)
    src = str(Path(sigsup_src).resolve()) if sigsup_src else str(ROOT)
    env["PYTHONPATH"] = os.pathsep.join([src, str(ROOT)])
    log = open(tmp / "master.log", "wb")  # noqa: SIM115
    t_launch = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    proc = subprocess.Popen([sys.executable, "-m", "sigsup", "start", "-q", str(cfg)], cwd=tmp,
                            env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    lines: list[tuple[str, int, int]] = []
    try:
        lines = _wait_stamps(stamps, 1 + WORKERS + MULES, proc, timeout)
        return common.startup_figures(t_launch, lines, proc.pid)
    except RuntimeError as exc:
        raise RuntimeError(f"sigsup start: {exc}\n{(tmp / 'master.log').read_text()[-3000:]}") from None
    finally:
        common.kill_group_tree(proc, tuple(p for _k, p, _t in lines))
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def floor_once(timeout: float = 10.0) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-start-floor-"))
    stamps = tmp / "stamps.txt"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    pass_ms = (time.perf_counter() - t0) * 1000
    t_launch = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    proc = subprocess.Popen([sys.executable, "-c", FLOOR_SCRIPT, str(stamps)],
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        lines = _wait_stamps(stamps, 7, proc, timeout)
        out = common.startup_figures(t_launch, lines, proc.pid)
        out["python_c_pass_ms"] = pass_ms
        return out
    finally:
        common.kill_group_tree(proc)
        shutil.rmtree(tmp, ignore_errors=True)


def compile_sources(sigsup_src: str | None = None) -> None:
    """Byte-compile sigsup and the benchmark apps first, as an installed package is: this
    environment may set PYTHONDONTWRITEBYTECODE, and without ``__pycache__`` every launch
    compiles ~100 modules from source (about 60 ms more on this machine)."""
    import compileall
    base = Path(sigsup_src).resolve() if sigsup_src else ROOT
    for d in (base / "sigsup", ROOT / "benchmarks"):
        compileall.compile_dir(str(d), quiet=1)


def measure(launches: int, with_uwsgi: bool = True, sigsup_src: str | None = None) -> dict[str, Any]:
    """``launches`` launches of each, alternating (sigsup, uWSGI, floor, sigsup, ...)."""
    from benchmarks import uwsgi_bench
    compile_sources(sigsup_src)
    runs: dict[str, list[dict[str, Any]]] = {"sigsup": [], "uwsgi": [], "floor": []}
    note = "not requested"
    if with_uwsgi:
        ok, note = uwsgi_bench.available()
        with_uwsgi = ok
    for _ in range(launches):
        runs["sigsup"].append(sigsup_once(sigsup_src))
        if with_uwsgi:
            runs["uwsgi"].append(uwsgi_bench.startup_once(WORKERS, MULES))
        runs["floor"].append(floor_once())
    out: dict[str, Any] = {"launches": launches, "uwsgi_note": note, "runs": runs, "summary": {}}
    for who, rs in runs.items():
        if not rs:
            continue
        s: dict[str, Any] = {
            "launch_to_all_ms": common.spread([r["launch_to_all_ms"] for r in rs]),
            "launch_to_master_ms": common.spread([r["launch_to_master_ms"] for r in rs]),
            "total_rss_mib": common.spread([r["memory"]["total"]["rss_mib"] for r in rs]),
            "total_pss_mib": common.spread([r["memory"]["total"]["pss_mib"] for r in rs]),
            "total_uss_mib": common.spread([r["memory"]["total"]["uss_mib"] for r in rs]),
        }
        per: dict[str, dict[str, float]] = {}
        for name in rs[0]["memory"]["processes"]:
            per[name] = {k: common.spread([r["memory"]["processes"][name][k] for r in rs
                                           if name in r["memory"]["processes"]])["median"]
                         for k in ("rss_mib", "pss_mib", "uss_mib")}
        s["per_process"] = per
        if who == "floor":
            s["python_c_pass_ms"] = common.spread([r["python_c_pass_ms"] for r in rs])
        out["summary"][who] = s
    return out


def print_table(out: dict[str, Any]) -> None:
    sm = out["summary"]
    who = [w for w in ("sigsup", "uwsgi", "floor") if w in sm]
    print(f"start-up, master + {WORKERS} workers + {MULES} mules: median (min-max) of "
          f"{out['launches']} launches")
    for key, label in (("launch_to_all_ms", "launch -> all ran (ms)"),
                       ("launch_to_master_ms", "launch -> master ran (ms)"),
                       ("total_rss_mib", "total RSS (MiB)"), ("total_pss_mib", "total PSS (MiB)"),
                       ("total_uss_mib", "total USS (MiB)")):
        cells = [f"{sm[w][key]['median']:.1f} ({sm[w][key]['min']:.1f}-{sm[w][key]['max']:.1f})"
                 for w in who]
        print(f"  {label:<28}" + "".join(f"{w}: {c:<24}" for w, c in zip(who, cells, strict=True)))
    for w in who:
        per = sm[w]["per_process"]
        print(f"  {w} per process RSS/PSS/USS (MiB): " + "; ".join(
            f"{n} {v['rss_mib']:.1f}/{v['pss_mib']:.1f}/{v['uss_mib']:.1f}" for n, v in per.items()))
    if "uwsgi" not in sm:
        print(f"  uWSGI: skipped ({out['uwsgi_note']})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--launches", type=int, default=9)
    ap.add_argument("--no-uwsgi", action="store_true")
    ap.add_argument("--sigsup-src", metavar="DIR", help="sigsup package from DIR (A/B runs)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = measure(args.launches, not args.no_uwsgi, args.sigsup_src)
    common.RESULTS.mkdir(parents=True, exist_ok=True)
    (common.RESULTS / "startup.json").write_text(json.dumps(out, indent=2))
    print_table(out)
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
