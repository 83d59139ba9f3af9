"""sigsup dispatch benchmark: throughput and raise->handler latency beside the Python floor.

One run measures, ``--reps`` times (each rep: the floor, then a fresh master):

* the floor (benchmarks/floor.py): 1-byte socketpair ping-pong RTT between two processes,
  a 3-process selectors relay with batched reads (messages/s), and the same relay's
  raise->handler latency with one message about every 1 ms;
* throughput: ``--signals`` raises from mule 1 to target ``worker`` (2 workers),
  ``workers`` (2 workers, handler runs counted), ``mule2`` and ``spooler``, pipelined with
  ``sigsup.raising()`` (and, for worker and workers, one round trip at a time with
  ``sigsup.signal()``); clock from the first raise to the end of the last handler run;
  every rep checks handled == raised against the master's status JSON (``lost``);
* latency: ``--latency-samples`` raises about 1 ms apart with ``sigsup.signal()`` to
  ``worker`` and ``mule2``, and the same number of ``os.utime`` on a monitored file
  (debounce 0): CLOCK_MONOTONIC just before the raise, and at the handler's first line.

Prints a table (median, min..max over reps, the floor and the ratio) and writes
benchmarks/results/dispatch.json (``--json`` prints it too). ``python -m benchmarks`` runs it
beside uWSGI.

    python -m benchmarks.dispatch [--reps 3] [--quick] [--json]
    python -m benchmarks.dispatch --only worker-pipelined --signals 200000 --reps 1 \\
        --profile /tmp/prof        # py-spy record on the master, the workers and the mule
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import common, floor, shm
from benchmarks.apps import dispatch_app as app
from sigsup.protocol.control import request

ROOT = common.ROOT
RESULTS = common.RESULTS / "dispatch.json"
APP = "benchmarks.apps.dispatch_app"
WORKERS = 2

# uWSGI 2.0.31 on this kind of machine (shared/reference/uwsgi-figures.md), for the table
# when uWSGI is not measured in the same run (python -m benchmarks measures it)
UWSGI = {"worker-pipelined": 141_000, "workers-pipelined": 233_000, "mule2-pipelined": 150_000,
         "spooler-pipelined": 120_000, "lat.worker.p50": 28.3, "lat.worker.p90": 36.7,
         "lat.worker.p99": 52.3, "lat.worker.max": 284.0, "lat.mule2.p50": 19.9,
         "lat.mule2.p99": 80.7, "lat.fmon.p50": 30.1, "lat.fmon.p99": 56.1}

# target -> (signal number, receiver slots, handler runs per raise)
TARGETS: dict[str, tuple[int, list[int], int]] = {
    "worker": (17, [1, 2], 1),
    "workers": (19, [1, 2], WORKERS),
    "mule2": (22, [shm.MULE0 + 2], 1),
    "spooler": (23, [shm.SPOOLER], 1),
}
THROUGHPUT = ["worker-pipelined", "workers-pipelined", "mule2-pipelined", "spooler-pipelined",
              "worker-plain", "workers-plain"]
PLAIN_SIG = {"worker": 18, "workers": 20}   # the plain runs count on numbers of their own
LATENCY = {"worker": (30, "worker"), "mule2": (31, "mule2"), "fmon": (32, "worker")}
WARMUP_SIG = {"worker": 50, "workers": 51, "mule2": 52, "spooler": 53}


class BenchError(RuntimeError):
    pass


# -- one master ------------------------------------------------------------------------------


def write_config(tmp: Path, args: argparse.Namespace, watched: Path, workers: int = WORKERS) -> Path:
    lines = [
        "[supervisor]",
        'name = "bench"',
        f'socket = "{tmp / "m.sock"}"',
        f'pythonpath = ["{ROOT}"]',
        f"window = {args.window}",
        f"queue_size = {args.queue_size}",
        "shutdown_timeout = 2.0",
        "",
        "[workers]",
        f"count = {workers}",
        "",
        "[mules]",
        "count = 2",
        "",
        "[mules.main]",
        f'1 = "{APP}:raiser"',
        "",
        "[spoolers.default]",
        f'dir = "{tmp / "spool"}"',
        "processes = 1",
        f'handler = "{APP}:job"',
        "",
    ]
    sigs = [(num, target) for target, (num, _r, _k) in TARGETS.items()]
    sigs += [(WARMUP_SIG[t], t) for t in TARGETS] + [(n, t) for t, n in PLAIN_SIG.items()]
    for num, target in sigs:
        lines += [f"[signals.{num}]", f'handler = "{APP}:count"', f'target = "{target}"', ""]
    for num, target in LATENCY.values():
        lines += [f"[signals.{num}]", f'handler = "{APP}:stamp"', f'target = "{target}"', ""]
    lines += [f"[signals.{app.DUMP_SIG}]", f'handler = "{APP}:dump_profile"', 'target = "workers"', ""]
    lines += ["[[monitors]]", f"signal = {LATENCY['fmon'][0]}", f'path = "{watched}"',
              "debounce = 0", ""]
    path = tmp / "bench.toml"
    path.write_text("\n".join(lines))
    return path


def wanted(args: argparse.Namespace, name: str) -> bool:
    return not args.only or name in args.only


def plan(tmp: Path, args: argparse.Namespace, watched: Path) -> dict[str, Any]:
    scenarios: list[dict[str, Any]] = []
    names = [n for n in THROUGHPUT if wanted(args, n)]
    if args.quick and not args.only:
        names = [n for n in names if not n.endswith("-plain")]
    targets = dict.fromkeys(n.split("-")[0] for n in names)
    for t in targets:
        _num, rcv, k = TARGETS[t]
        scenarios.append({"kind": "throughput", "name": f"warmup-{t}", "signum": WARMUP_SIG[t],
                          "mode": "pipelined", "n": args.warmup, "receivers": rcv, "per_raise": k,
                          "raise_window": args.raise_window})
    for name in names:
        t, mode = name.split("-")
        num, rcv, k = TARGETS[t]
        if mode == "plain":
            num = PLAIN_SIG[t]
        scenarios.append({"kind": "throughput", "name": name, "target": t, "signum": num,
                          "mode": mode, "n": args.signals, "receivers": rcv, "per_raise": k,
                          "raise_window": args.raise_window})
    for probe, (num, _target) in LATENCY.items():
        if not wanted(args, f"latency-{probe}") and not wanted(args, "latency"):
            continue
        sc: dict[str, Any] = {"kind": "latency", "name": f"latency-{probe}", "probe": probe,
                              "signum": num, "n": args.latency_samples, "interval_ns": 1_000_000}
        if probe == "fmon":
            sc.update({"fire": "utime", "path": str(watched)})
        scenarios.append(sc)
    return {"mem": str(tmp / "slots"), "out": str(tmp / "results.json"), "scenarios": scenarios,
            "cprofile": str(Path(args.cprofile).resolve()) if args.cprofile else None}


def wait_ready(sock: Path, master: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """Poll the status command until every process of the tree runs (and every file
    monitor watches)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if master.poll() is not None:
            raise BenchError(f"the master exited with {master.returncode} during start-up")
        try:
            reply = request(sock, {"cmd": "status"}, timeout=2.0)
        except Exception as exc:   # not listening yet
            last = exc
        else:
            st = reply.get("status", {})
            procs = st.get("processes", [])
            watching = all(e.get("state") == "watching" for e in st.get("events", [])
                           if e.get("kind") == "monitor")
            if procs and all(p["state"] == "running" for p in procs) and watching:
                return st
            last = [(p["name"], p["state"]) for p in procs]
        time.sleep(0.02)
    raise BenchError(f"the tree was not ready after {timeout} s ({last})")


def start_profilers(out_dir: Path, rep: int, status: dict[str, Any]) -> list[subprocess.Popen[bytes]]:
    exe = shutil.which("py-spy")
    if exe is None:
        raise BenchError("--profile needs py-spy (pip install py-spy)")
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = [("master", status["master"]["pid"])]
    targets += [(p["name"], p["pid"]) for p in status["processes"] if p["pid"]]
    profs = []
    for name, pid in targets:
        base = out_dir / f"rep{rep}-{name.replace(':', '_').replace('#', '_')}"
        profs.append(subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--rate", "1000", "--format", "raw",
             "--output", f"{base}.txt", "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=open(f"{base}.log", "wb")))  # noqa: SIM115
    time.sleep(1.0)   # py-spy attaches
    return profs


def stop_profilers(profs: list[subprocess.Popen[bytes]]) -> None:
    for p in profs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in profs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def master_env(args: argparse.Namespace, extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.pop("SIGSUP_SOCKET", None)
    # the master imports sigsup from --sigsup-src (a copy to compare against) or this checkout;
    # benchmarks.* comes from this checkout through the config's pythonpath
    src = Path(args.sigsup_src).resolve() if getattr(args, "sigsup_src", None) else ROOT
    env["PYTHONPATH"] = os.pathsep.join([str(src), str(ROOT)] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def run_master(args: argparse.Namespace, rep: int) -> dict[str, Any]:
    """Start a master, run the plan in its mule, check the counters, stop it."""
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-bench-"))
    watched = tmp / "watched"
    watched.write_text("x")
    pl = plan(tmp, args, watched)
    (tmp / "plan.json").write_text(json.dumps(pl))
    shm.create(pl["mem"])
    mm, slots = shm.open_slots(pl["mem"])
    cfg = write_config(tmp, args, watched)
    sock = tmp / "m.sock"
    env = master_env(args, {"SIGSUP_BENCH_PLAN": str(tmp / "plan.json")})
    log = open(tmp / "master.log", "wb")  # noqa: SIM115
    t_launch = time.monotonic()
    cmd = [sys.executable, "-m", "sigsup", "start", "-q", str(cfg)]
    if args.cprofile:
        Path(args.cprofile).mkdir(parents=True, exist_ok=True)
        env["SIGSUP_BENCH_CPROFILE"] = str(Path(args.cprofile).resolve() / "master.pstats")
        cmd[1:3] = ["-m", "benchmarks.apps.profiled_master"]
    if args.probe:
        Path(args.probe).mkdir(parents=True, exist_ok=True)
        env["SIGSUP_BENCH_PROBE"] = str(Path(args.probe).resolve() / f"rep{rep}-master.json")
        cmd[1:3] = ["-m", "benchmarks.apps.profiled_master"]
    master = subprocess.Popen(cmd, cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    pids: list[int] = []
    profs: list[subprocess.Popen[bytes]] = []
    try:
        st = wait_ready(sock, master, 30.0)
        ready_s = time.monotonic() - t_launch
        pids = [p["pid"] for p in st["processes"] if p["pid"]]
        if args.profile:
            profs = start_profilers(Path(args.profile), rep, st)
        slots[shm.GO] = 1
        out = Path(pl["out"])
        deadline = time.monotonic() + args.timeout
        while not out.exists():
            if master.poll() is not None:
                raise BenchError(f"the master exited with {master.returncode}")
            for p in st["processes"]:   # a child that died (the mule would not run again)
                try:
                    os.kill(p["pid"], 0)
                except ProcessLookupError:
                    raise BenchError(f"{p['name']} (pid {p['pid']}) died during the run") from None
            if time.monotonic() > deadline:
                raise BenchError(f"no results after {args.timeout} s")
            time.sleep(0.02)
        if profs:
            stop_profilers(profs)
            profs = []
        results = json.loads(out.read_text())["results"]
        status = request(sock, {"cmd": "status"}, timeout=10.0)["status"]
        problems = check(results, status)
        with contextlib.suppress(Exception):
            request(sock, {"cmd": "stop"}, timeout=2.0)
            master.wait(5)
        return {"results": results, "ready_s": ready_s, "status_master": status["master"],
                "problems": problems}
    except BaseException:
        with contextlib.suppress(OSError):
            sys.stderr.write((tmp / "master.log").read_text()[-4000:])
        raise
    finally:
        stop_profilers(profs)
        common.kill_group_tree(master, tuple(pids))
        log.close()
        del slots
        mm.close()
        shutil.rmtree(tmp, ignore_errors=True)


def check(results: list[dict[str, Any]], status: dict[str, Any]) -> list[str]:
    """Nothing lost: the master's counters agree with what the handlers counted."""
    entries = {e["num"]: e for e in status["signals"]}
    problems = []
    for r in results:
        e = entries.get(r["signum"])
        if e is None:
            problems.append(f"{r['name']}: signal {r['signum']} missing from status")
            continue
        if r["kind"] == "throughput":
            expected = r["n"] * r["per_raise"]
            if r["timed_out"] or r["handled"] != expected:
                problems.append(f"{r['name']}: handlers counted {r['handled']} of {expected}")
        else:
            expected = r["n"] - r["missed"] if r.get("fire") == "utime" else r["n"]
            if r["missed"]:
                problems.append(f"{r['name']}: {r['missed']} samples without a handler stamp")
        raised = e["raised"]
        if r.get("fire") != "utime" and raised != r["n"]:
            problems.append(f"{r['name']}: status raised {raised}, mule raised {r['n']}")
        if r.get("fire") != "utime" and (e["handled"] != expected or e["delivered"] != expected):
            problems.append(f"{r['name']}: status handled {e['handled']} delivered "
                            f"{e['delivered']}, expected {expected}")
        if e["failed"] or e["dropped"] or r.get("refused"):
            problems.append(f"{r['name']}: failed {e['failed']} dropped {e['dropped']} "
                            f"refused {r.get('refused')}")
    m = status["master"]
    if m["queued"] or m["protocol_errors"]:
        problems.append(f"master: queued {m['queued']}, protocol errors {m['protocol_errors']}")
    for p in status["processes"]:
        if p["respawns"] or p["failed"]:
            problems.append(f"{p['name']}: respawns {p['respawns']}, failed {p['failed']}")
    return problems


# -- figures ---------------------------------------------------------------------------------


def throughput_figure(r: dict[str, Any]) -> dict[str, Any]:
    """One throughput result, flat: rates, lost, CPU µs per raise of each process."""
    secs = (r["t_end"] - r["t0"]) / 1e9 if r["t_end"] > r["t0"] else float("nan")
    n = r["n"]
    fig = {"handled_per_s": r["handled"] / secs, "raises_per_s": n / secs, "seconds": secs,
           "raise_loop_s": (r["t_raised"] - r["t0"]) / 1e9, "lost": n * r["per_raise"] - r["handled"],
           "raised": n, "handled": r["handled"]}
    cpu = {k: v / n * 1e6 for k, v in r["cpu_s"].items()}
    for k, v in cpu.items():
        fig[f"cpu_us.{k}"] = v
        fig[f"cores.{k}"] = r["cpu_s"][k] / secs
        fig[f"runq_wait.{k}"] = r["runq_wait_s"][k] / secs
        u, sy = r["user_sys_ticks"][k]
        if u + sy:
            fig[f"kernel_share.{k}"] = sy / (u + sy)
    fig["cpu_us.all"] = sum(cpu.values())
    return fig


def rep_figures(run: dict[str, Any]) -> dict[str, float]:
    """Flat ``{key: value}`` of one rep: ``tp.NAME.FIELD``, ``lat.PROBE.FIELD``."""
    fig: dict[str, float] = {"ready_s": run["ready_s"], "problems": len(run["problems"])}
    for r in run["results"]:
        if r["name"].startswith("warmup"):
            continue
        if r["kind"] == "throughput":
            for k, v in throughput_figure(r).items():
                fig[f"tp.{r['name']}.{k}"] = v
        else:
            probe = r["probe"]
            lat = common.summarize_us(r["latency_ns"])
            for q in ("p50", "p90", "p99", "min", "max"):
                fig[f"lat.{probe}.{q}"] = lat[q]
            fig[f"lat.{probe}.missed"] = r["missed"]
            if r.get("fire") != "utime":
                call = common.summarize_us(r["call_ns"])
                fig[f"lat.{probe}.call_p50"] = call["p50"]
                fig[f"lat.{probe}.call_p99"] = call["p99"]
    return fig


def summarize(reps: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    keys = dict.fromkeys(k for r in reps for k in r)
    return {k: common.spread([r.get(k, float("nan")) for r in reps]) for k in keys}


def measure(args: argparse.Namespace, log: Any = None) -> dict[str, Any]:
    """``args.reps`` reps of (floor, master): per-rep flat figures and their spreads."""
    reps = []
    problems: list[str] = []
    t_start = time.monotonic()
    for rep in range(args.reps):
        before = common.cpu_sample()
        fig: dict[str, float] = {}
        if not args.no_floor:
            fl = floor.figures(1000 if args.quick else 2000, args.signals * 2,
                               args.latency_samples // 2)
            fig.update({f"floor.{k}": v for k, v in fl.items()})
        run = run_master(args, rep)
        problems += [f"rep {rep + 1}: {p}" for p in run["problems"]]
        fig.update(rep_figures(run))
        nz = common.noise(before, common.cpu_sample())
        fig["noise.foreign_frac"] = nz["foreign_frac"]
        fig["noise.steal_frac"] = nz["steal_frac"]
        reps.append(fig)
        if log is not None:
            log(f"sigsup dispatch rep {rep + 1}/{args.reps} done "
                f"({time.monotonic() - t_start:.1f} s)")
    return {"summary": summarize(reps), "reps": reps, "problems": problems}


# -- the standalone table --------------------------------------------------------------------


def fmt_rate(s: dict[str, float]) -> str:
    return f"{s['median'] / 1000:,.1f}k ({s['min'] / 1000:,.1f}-{s['max'] / 1000:,.1f})"


def fmt_us(s: dict[str, float]) -> str:
    return f"{s['median']:,.1f} ({s['min']:,.1f}-{s['max']:,.1f})"


def print_table(summary: dict[str, dict[str, float]], reps: int, args: argparse.Namespace) -> None:
    from rich.console import Console
    from rich.table import Table
    title = (f"sigsup dispatch: median (min-max) of {reps} reps; {args.signals:,} signals per "
             f"throughput run, {args.latency_samples:,} latency samples 1 ms apart, window {args.window}")
    t = Table(title=title, title_justify="left")
    for col in ("figure", "sigsup", "lost", "floor (same run)", "uWSGI (reference file)"):
        t.add_column(col, justify="left" if col == "figure" else "right")
    relay = summary.get("floor.relay_per_s", {}).get("median", float("nan"))
    for name in THROUGHPUT:
        s = summary.get(f"tp.{name}.handled_per_s")
        if s is None:
            continue
        uw = UWSGI.get(name)
        t.add_row(f"{name} (handled/s)", fmt_rate(s), f"{summary[f'tp.{name}.lost']['max']:.0f}",
                  f"{relay / 1000:,.0f}k relay", f"{uw / 1000:.0f}k" if uw else "-")
    for probe in LATENCY:
        for q in ("p50", "p90", "p99", "max"):
            s = summary.get(f"lat.{probe}.{q}")
            if s is None:
                continue
            base = summary.get(f"floor.relay_lat_{q}_us", {}).get("median", float("nan"))
            uw = UWSGI.get(f"lat.{probe}.{q}")
            t.add_row(f"latency {probe} {q} (µs)", fmt_us(s), "", f"{base:.1f} relay",
                      f"{uw:.1f}" if uw else "-")
    console = Console(stderr=args.json, width=max(shutil.get_terminal_size((150, 40)).columns, 150))
    console.print(t)
    if "noise.foreign_frac" in summary:
        nz = summary["noise.foreign_frac"]
        console.print(f"noise: CPU used by processes outside this benchmark, median "
                      f"{nz['median']:.1%} (max {nz['max']:.1%}) of {os.cpu_count()} cores")
    cpu = Table(title="CPU µs per raise (median), from /proc/PID/schedstat", title_justify="left")
    names = [n for n in THROUGHPUT if f"tp.{n}.cpu_us.all" in summary]
    if not names:
        return
    procs = sorted({k.split(".", 3)[3] for k in summary if k.startswith(f"tp.{names[0]}.cpu_us.")})
    cpu.add_column("run")
    for p in procs:
        cpu.add_column(p, justify="right")
    for n in names:
        cpu.add_row(n, *(f"{summary[f'tp.{n}.cpu_us.{p}']['median']:.1f}" for p in procs))
    console.print(cpu)


# -- main ------------------------------------------------------------------------------------


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--signals", type=int, default=None, help="raises per throughput run (20000)")
    ap.add_argument("--latency-samples", type=int, default=None, help="latency raises (2000)")
    ap.add_argument("--warmup", type=int, default=None, help="raises before measuring (2000)")
    ap.add_argument("--window", type=int, default=8, help="the master's per-process window")
    ap.add_argument("--queue-size", type=int, default=None,
                    help="the master's queue bound (default: max(10000, --signals), so that "
                    "a pipelined burst to `workers` is not refused)")
    ap.add_argument("--raise-window", type=int, default=256, help="sigsup.raising() window")
    ap.add_argument("--sigsup-src", metavar="DIR", help="run the master from the sigsup "
                    "package in DIR (e.g. a copy of an older tree) instead of this checkout")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds a rep may take")


def finish_args(args: argparse.Namespace, ap: argparse.ArgumentParser) -> argparse.Namespace:
    quick = args.quick
    if args.signals is None:
        args.signals = 10_000 if quick else 20_000
    if args.latency_samples is None:
        args.latency_samples = 1000 if quick else 2000
    if args.warmup is None:
        args.warmup = 1000 if quick else 2000
    if args.queue_size is None:
        args.queue_size = max(10_000, args.signals)
    if args.latency_samples > shm.LAT_MAX:
        ap.error(f"--latency-samples is at most {shm.LAT_MAX}")
    for k in ("only", "profile", "cprofile", "probe", "json"):
        if not hasattr(args, k):
            setattr(args, k, None)
    if not hasattr(args, "no_floor"):
        args.no_floor = False
    return args


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    ap.add_argument("--quick", action="store_true", help="fewer signals and samples, no plain runs")
    add_args(ap)
    ap.add_argument("--only", nargs="+", default=None,
                    choices=[*THROUGHPUT, "latency", *(f"latency-{p}" for p in LATENCY)])
    ap.add_argument("--no-floor", action="store_true", help="do not measure the floor")
    ap.add_argument("--profile", metavar="DIR", help="py-spy record every process into DIR")
    ap.add_argument("--cprofile", metavar="DIR", help="cProfile the master, the workers (from "
                    "their first handler run) and the mule; pstats files into DIR (last rep wins)")
    ap.add_argument("--probe", metavar="DIR", help="count the master's loop turns, reads, "
                    "frames and writes (benchmarks/apps/profiled_master.py) into DIR")
    ap.add_argument("--json", action="store_true", help="print the JSON document on stdout")
    ap.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS.name}")
    return finish_args(ap.parse_args(argv), ap)


def git_head() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)   # unwinds through every cleanup


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_term)
    t_start = time.monotonic()
    out = measure(args, log=lambda s: print(s, file=sys.stderr))
    doc = {
        "benchmark": "dispatch",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": git_head(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "args": {k: v for k, v in vars(args).items() if k not in ("json",)},
        "wall_s": round(time.monotonic() - t_start, 2),
        **out,
        "uwsgi_reference": UWSGI,
    }
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print_table(out["summary"], args.reps, args)
    for p in out["problems"]:
        print(f"PROBLEM: {p}", file=sys.stderr)
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        print()
    return 1 if out["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
