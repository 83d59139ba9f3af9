"""sigsup dispatch benchmark: throughput and raise->handler latency beside the Python floor.

One run measures, ``--reps`` times (each rep: the floor, then a fresh master):

* the floor (benchmarks/floor.py): 1-byte socketpair ping-pong RTT between two processes,
  a 3-process selectors relay with batched reads (messages/s), and the same relay's
  raise->handler latency with one message about every 1 ms;
* throughput: ``--signals`` raises from a mule to target ``worker`` (2 workers) and
  ``workers`` (2 workers, handler runs counted), pipelined with ``sigsup.raising()`` and one
  round trip at a time with ``sigsup.signal()``; clock from the first raise to the end of the
  last handler run; every rep checks handled == raised from the master's status JSON;
* latency: ``--latency-samples`` raises of a ``worker`` signal about 1 ms apart with
  ``sigsup.signal()``; the mule stamps CLOCK_MONOTONIC just before each raise, the handler
  stamps its start.

Prints a table (median, min..max over reps, the floor and the ratio) and writes
benchmarks/results/dispatch.json (``--json`` prints it too).

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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import floor
from benchmarks.apps import dispatch_app as app
from sigsup.protocol.control import request

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "dispatch.json"
APP = "benchmarks.apps.dispatch_app"
WORKERS = 2

# uWSGI 2.0.31 on this kind of machine (shared/reference/uwsgi-figures.md), for the table
UWSGI = {"worker-pipelined": 141_000, "workers-pipelined": 233_000, "lat_p50": 28.3,
         "lat_p90": 36.7, "lat_p99": 52.3, "lat_max": 284.0}

# name -> (signal number, target, mode, recipients per raise)
THROUGHPUT = {
    "worker-pipelined": (17, "worker", "pipelined", 1),
    "worker-plain": (18, "worker", "plain", 1),
    "workers-pipelined": (19, "workers", "pipelined", WORKERS),
    "workers-plain": (20, "workers", "plain", WORKERS),
}
LATENCY_SIG = 21
WARMUP = {"warmup-worker": (30, "worker", "pipelined", 1),
          "warmup-workers": (31, "workers", "pipelined", WORKERS)}


class BenchError(RuntimeError):
    pass


# -- one master ------------------------------------------------------------------------------


def write_config(tmp: Path, window: int, queue_size: int) -> Path:
    sigs = {**WARMUP, **THROUGHPUT}
    lines = [
        "[supervisor]",
        'name = "bench"',
        f'socket = "{tmp / "m.sock"}"',
        f'pythonpath = ["{ROOT}"]',
        f"window = {window}",
        f"queue_size = {queue_size}",
        "shutdown_timeout = 2.0",
        "",
        "[workers]",
        f"count = {WORKERS}",
        "",
        "[mules]",
        "count = 1",
        "",
        "[mules.main]",
        f'1 = "{APP}:raiser"',
        "",
    ]
    for num, target, _mode, _k in sigs.values():
        lines += [f"[signals.{num}]", f'handler = "{APP}:count"', f'target = "{target}"', ""]
    lines += [f"[signals.{LATENCY_SIG}]", f'handler = "{APP}:stamp"', 'target = "worker"', ""]
    lines += [f"[signals.{app.DUMP_SIG}]", f'handler = "{APP}:dump_profile"', 'target = "workers"', ""]
    path = tmp / "bench.toml"
    path.write_text("\n".join(lines))
    return path


def plan(tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    scenarios: list[dict[str, Any]] = []
    for name, (num, _t, mode, k) in WARMUP.items():
        scenarios.append({"kind": "throughput", "name": name, "signum": num, "mode": mode,
                          "n": args.warmup, "recipients": k, "workers": WORKERS})
    for name, (num, _t, mode, k) in THROUGHPUT.items():
        if args.only and name not in args.only:
            continue
        scenarios.append({"kind": "throughput", "name": name, "signum": num, "mode": mode,
                          "n": args.signals, "recipients": k, "workers": WORKERS,
                          "raise_window": args.raise_window})
    if not args.only or "latency" in args.only:
        scenarios.append({"kind": "latency", "name": "latency", "signum": LATENCY_SIG,
                          "n": args.latency_samples, "interval_ns": 1_000_000})
    return {"mem": str(tmp / "slots"), "out": str(tmp / "results.json"), "scenarios": scenarios,
            "cprofile": str(Path(args.cprofile).resolve()) if args.cprofile else None}


def wait_ready(sock: Path, master: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """Poll the status command until every process of the tree runs."""
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
            if procs and all(p["state"] == "running" for p in procs):
                return st
            last = [(p["name"], p["state"]) for p in procs]
        time.sleep(0.02)
    raise BenchError(f"the tree was not ready after {timeout} s ({last})")


def _parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def kill_tree(master: subprocess.Popen[bytes], pids: list[int]) -> None:
    """SIGKILL the master's process group and the group of every child it reported (each child
    has its own group; they also die with the master through PR_SET_PDEATHSIG). Only pids
    that are still ours are signalled: a reaped pid may belong to someone else by now."""
    if master.poll() is None:   # not reaped, so its pid (and group) cannot have been reused
        for pid in pids:
            if _parent_of(pid) == master.pid:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(master.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        master.wait(5)


def start_profilers(out_dir: Path, rep: int, status: dict[str, Any]) -> list[subprocess.Popen[bytes]]:
    exe = shutil.which("py-spy")
    if exe is None:
        raise BenchError("--profile needs py-spy (pip install py-spy)")
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = [("master", status["master"]["pid"])]
    targets += [(p["name"], p["pid"]) for p in status["processes"] if p["pid"]]
    profs = []
    for name, pid in targets:
        base = out_dir / f"rep{rep}-{name}"
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


def run_master(args: argparse.Namespace, rep: int) -> dict[str, Any]:
    """Start a master, run the plan in its mule, check the counters, stop it."""
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-bench-"))
    pl = plan(tmp, args)
    (tmp / "plan.json").write_text(json.dumps(pl))
    app.create(pl["mem"])
    mm, slots = app.open_slots(pl["mem"])
    cfg = write_config(tmp, args.window, args.queue_size)
    sock = tmp / "m.sock"
    env = {**os.environ, "SIGSUP_BENCH_PLAN": str(tmp / "plan.json")}
    env.pop("SIGSUP_SOCKET", None)
    # the master imports sigsup from --sigsup-src (a copy to compare against) or this checkout;
    # benchmarks.* comes from this checkout through the config's pythonpath
    src = Path(args.sigsup_src).resolve() if args.sigsup_src else ROOT
    env["PYTHONPATH"] = os.pathsep.join([str(src), str(ROOT)] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
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
    master = subprocess.Popen(cmd,
                              cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    pids: list[int] = []
    profs: list[subprocess.Popen[bytes]] = []
    try:
        st = wait_ready(sock, master, 30.0)
        ready_s = time.monotonic() - t_launch
        pids = [p["pid"] for p in st["processes"] if p["pid"]]
        if args.profile:
            profs = start_profilers(Path(args.profile), rep, st)
        slots[app.GO] = 1
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
        check(results, status)
        with contextlib.suppress(Exception):
            request(sock, {"cmd": "stop"}, timeout=2.0)
            master.wait(5)
        return {"results": results, "ready_s": ready_s, "status_master": status["master"]}
    except BaseException:
        with contextlib.suppress(OSError):
            sys.stderr.write((tmp / "master.log").read_text()[-4000:])
        raise
    finally:
        stop_profilers(profs)
        kill_tree(master, pids)
        log.close()
        del slots
        mm.close()
        shutil.rmtree(tmp, ignore_errors=True)


def check(results: list[dict[str, Any]], status: dict[str, Any]) -> None:
    """Nothing lost: the master's counters agree with what the handlers counted."""
    entries = {e["num"]: e for e in status["signals"]}
    problems = []
    for r in results:
        e = entries.get(r["signum"])
        if e is None:
            problems.append(f"{r['name']}: signal {r['signum']} missing from status")
            continue
        if r["kind"] == "throughput":
            expected = r["n"] * r["recipients"]
            if r["timed_out"] or r["handled"] != expected:
                problems.append(f"{r['name']}: handlers counted {r['handled']} of {expected}")
        else:
            expected = r["n"]
            if r["missed"]:
                problems.append(f"{r['name']}: {r['missed']} samples without a handler stamp")
        if e["raised"] != r["n"]:
            problems.append(f"{r['name']}: status raised {e['raised']}, mule raised {r['n']}")
        if e["handled"] != expected or e["delivered"] != expected:
            problems.append(f"{r['name']}: status handled {e['handled']} delivered "
                            f"{e['delivered']}, expected {expected}")
        if e["failed"] or e["dropped"] or e["coalesced"] or r.get("refused"):
            problems.append(f"{r['name']}: failed {e['failed']} dropped {e['dropped']} "
                            f"coalesced {e['coalesced']} refused {r.get('refused')}")
    m = status["master"]
    if m["queued"] or m["protocol_errors"]:
        problems.append(f"master: queued {m['queued']}, protocol errors {m['protocol_errors']}")
    for p in status["processes"]:
        if p["respawns"] or p["failed"]:
            problems.append(f"{p['name']}: respawns {p['respawns']}, failed {p['failed']}")
    if problems:
        raise BenchError("counters disagree:\n  " + "\n  ".join(problems))


# -- noise: CPU used on this machine by processes outside this benchmark ----------------------

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_sample() -> dict[str, float]:
    """Machine-wide busy and steal CPU seconds (/proc/stat), this process tree's CPU seconds
    (children count once reaped: the master reaps its children, we reap the master)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = v[:8]
    t = os.times()
    return {"busy": (user + nice + system + irq + softirq) / _TICK, "steal": steal / _TICK,
            "own": t.user + t.system + t.children_user + t.children_system,
            "wall": time.monotonic()}


def noise(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """Foreign CPU (busy minus ours) and steal, as a fraction of all cores over the rep."""
    cores = (os.cpu_count() or 1) * (b["wall"] - a["wall"])
    foreign = max(0.0, (b["busy"] - a["busy"]) - (b["own"] - a["own"]))
    return {"foreign_cpu_s": round(foreign, 3), "foreign_frac": round(foreign / cores, 4),
            "steal_frac": round((b["steal"] - a["steal"]) / cores, 4),
            "own_cpu_s": round(b["own"] - a["own"], 3), "wall_s": round(b["wall"] - a["wall"], 3)}


# -- figures ---------------------------------------------------------------------------------


def rep_figures(run: dict[str, Any], fl: dict[str, Any]) -> dict[str, Any]:
    fig: dict[str, Any] = {"floor": fl}
    for r in run["results"]:
        if r["name"].startswith("warmup"):
            continue
        if r["kind"] == "throughput":
            secs = (r["t_end"] - r["t0"]) / 1e9
            fig[r["name"]] = {
                "raises_per_s": r["n"] / secs, "runs_per_s": r["handled"] / secs,
                "seconds": secs, "raise_loop_s": (r["t_raised"] - r["t0"]) / 1e9,
                "raised": r["n"], "handled": r["handled"], "per_worker": r["per_worker"],
                # cores busy per process while it ran (CPU seconds / wall seconds), and CPU
                # µs per raise: less sensitive than signals/s to other load on the machine
                "cpu_cores": {k: round(v / secs, 3) for k, v in r["cpu_s"].items()},
                "cpu_us_per_raise": {k: round(v / r["n"] * 1e6, 2) for k, v in r["cpu_s"].items()},
                # time runnable but waiting for a CPU (other load, or our own processes
                # outnumbering the cores), as a fraction of the run
                "runq_wait": {k: round(v / secs, 3) for k, v in r["runq_wait_s"].items()},
                # share of each process's CPU spent in the kernel (system / (user + system))
                "kernel_share": {k: round(sy / (u + sy), 3) if u + sy else None
                                 for k, (u, sy) in r["user_sys_ticks"].items()}}
        else:
            lat = floor.summarize_us(r["latency_ns"])
            call = floor.summarize_us(r["call_ns"])
            fig["latency"] = {**{k: lat[k] for k in ("p50", "p90", "p99", "min", "max")},
                              "samples": lat["samples"], "missed": r["missed"],
                              "late": r["late"], "signal_call_p50": call["p50"],
                              "signal_call_p99": call["p99"]}
    fig["ready_s"] = run["ready_s"]
    return fig


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(reps: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def put(path: tuple[str, ...], values: list[float]) -> None:
        d = out
        for part in path[:-1]:
            d = d.setdefault(part, {})
        d[path[-1]] = spread(values)

    keys = {
        "floor": ("rtt_p50_us", "rtt_p90_us", "rtt_p99_us", "rtt_min_us", "relay_per_s",
                  "relay_lat_p50_us", "relay_lat_p90_us", "relay_lat_p99_us", "relay_lat_max_us"),
        "noise": ("foreign_frac", "steal_frac"),
        "latency": ("p50", "p90", "p99", "max", "signal_call_p50", "signal_call_p99"),
    }
    for name in THROUGHPUT:
        keys[name] = ("raises_per_s", "runs_per_s", "raise_loop_s")
    for section, fields in keys.items():
        if section not in reps[0]:
            continue
        for f in fields:
            put((section, f), [r[section][f] for r in reps])
        if section in THROUGHPUT:
            for proc in reps[0][section]["cpu_cores"]:
                put((section, "cpu_cores", proc), [r[section]["cpu_cores"][proc] for r in reps])
                put((section, "cpu_us_per_raise", proc),
                    [r[section]["cpu_us_per_raise"][proc] for r in reps])
                put((section, "runq_wait", proc), [r[section]["runq_wait"][proc] for r in reps])
                shares = [r[section]["kernel_share"][proc] for r in reps]
                if None not in shares:
                    put((section, "kernel_share", proc), shares)
    out["ready_s"] = spread([r["ready_s"] for r in reps])
    return out


def fmt_rate(s: dict[str, float]) -> str:
    return f"{s['median'] / 1000:,.1f}k ({s['min'] / 1000:,.1f}-{s['max'] / 1000:,.1f})"


def fmt_us(s: dict[str, float]) -> str:
    return f"{s['median']:,.1f} ({s['min']:,.1f}-{s['max']:,.1f})"


def table_rows(summary: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, sigsup median (min-max), floor, sigsup/floor, uWSGI) rows."""
    fl = summary["floor"]
    relay = fl["relay_per_s"]["median"]
    rows = [("floor: ping-pong RTT p50 / p99 (µs)",
             f"{fl['rtt_p50_us']['median']:.1f} ({fl['rtt_p50_us']['min']:.1f}-"
             f"{fl['rtt_p50_us']['max']:.1f}) / {fl['rtt_p99_us']['median']:.1f}", "", "", "44.6 / 56.6"),
            ("floor: 3-process relay, batched (msg/s)", fmt_rate(fl["relay_per_s"]), "", "", "478k"),
            ("floor: relay raise->handler p50 / p99 (µs)",
             f"{fl['relay_lat_p50_us']['median']:.1f} / {fl['relay_lat_p99_us']['median']:.1f}",
             "", "", "20.7 / 105")]
    for name in THROUGHPUT:
        if name not in summary:
            continue
        s = summary[name]
        unit = "handler runs/s" if name.startswith("workers") else "signals/s"
        s_main = s["runs_per_s"] if name.startswith("workers") else s["raises_per_s"]
        uw = UWSGI.get(name)
        rows.append((f"{name} ({unit})", fmt_rate(s_main), f"{relay / 1000:,.0f}k relay",
                     f"{s_main['median'] / relay:.2f}x", f"{uw / 1000:.0f}k" if uw else "-"))
    if "latency" in summary:
        lat = summary["latency"]
        rtt = {"p50": fl["rtt_p50_us"]["median"], "p90": fl["rtt_p90_us"]["median"],
               "p99": fl["rtt_p99_us"]["median"]}
        for q in ("p50", "p90", "p99", "max"):
            base = fl[f"relay_lat_{q}_us"]["median"]
            rows.append((f"latency raise->handler {q} (µs)", fmt_us(lat[q]),
                         f"{base:.1f} relay {q}", f"{lat[q]['median'] / base:.2f}x",
                         f"{UWSGI['lat_' + q]:.1f}"))
        rows.append(("sigsup.signal() call p50 / p99 (µs)",
                     f"{lat['signal_call_p50']['median']:.1f} / {lat['signal_call_p99']['median']:.1f}",
                     f"{rtt['p50']:.1f} RTT p50", f"{lat['signal_call_p50']['median'] / rtt['p50']:.2f}x", "-"))
    return rows


def print_table(summary: dict[str, Any], reps: int, args: argparse.Namespace) -> None:
    rows = table_rows(summary)
    title = (f"sigsup dispatch: median (min-max) of {reps} reps; {args.signals:,} signals per "
             f"throughput run, {args.latency_samples:,} latency samples 1 ms apart, window {args.window}")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:   # pragma: no cover - rich is a dependency of sigsup
        print(title)
        for r in rows:
            print(" | ".join(r))
        return
    t = Table(title=title, title_justify="left")
    for col in ("figure", "sigsup", "floor (same run)", "sigsup / floor", "uWSGI (reference)"):
        t.add_column(col, justify="left" if col == "figure" else "right")
    for r in rows:
        t.add_row(*r)
    console = Console(stderr=args.json, width=max(shutil.get_terminal_size((150, 40)).columns, 150))
    console.print(t)
    nz = summary["noise"]
    console.print(f"noise: CPU used by processes outside this benchmark, median "
                  f"{nz['foreign_frac']['median']:.1%} (max {nz['foreign_frac']['max']:.1%}) of "
                  f"{os.cpu_count()} cores; steal {nz['steal_frac']['median']:.1%}"
                  + ("  [busy machine: figures are noisy]" if nz["foreign_frac"]["max"] > 0.05 else ""))
    cpu = Table(title="CPU during each throughput run, median: µs per raise (cores busy); "
                "from /proc/PID/schedstat", title_justify="left")
    names = [n for n in THROUGHPUT if n in summary]
    if not names:
        return
    procs = list(summary[names[0]]["cpu_cores"])
    cpu.add_column("run")
    for p in procs:
        cpu.add_column(p, justify="right")
    cpu.add_column("all", justify="right")
    for n in names:
        per = summary[n]["cpu_us_per_raise"]
        cores = summary[n]["cpu_cores"]
        cpu.add_row(n, *(f"{per[p]['median']:.1f} ({cores[p]['median']:.2f})" for p in procs),
                    f"{sum(per[p]['median'] for p in procs):.1f} "
                    f"({sum(cores[p]['median'] for p in procs):.2f})")
    console.print(cpu)


# -- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    ap.add_argument("--quick", action="store_true", help="a ~20 s run: fewer signals and samples")
    ap.add_argument("--signals", type=int, default=None, help="raises per throughput run (20000)")
    ap.add_argument("--latency-samples", type=int, default=None, help="latency raises (2000)")
    ap.add_argument("--warmup", type=int, default=None, help="raises before measuring (2000)")
    ap.add_argument("--window", type=int, default=8, help="the master's per-process window")
    ap.add_argument("--queue-size", type=int, default=None,
                    help="the master's queue bound (default: max(10000, --signals), so that "
                    "a pipelined burst to `workers` is not refused)")
    ap.add_argument("--raise-window", type=int, default=256, help="sigsup.raising() window")
    ap.add_argument("--only", nargs="+", choices=[*THROUGHPUT, "latency"], default=None)
    ap.add_argument("--profile", metavar="DIR", help="py-spy record every process into DIR")
    ap.add_argument("--cprofile", metavar="DIR", help="cProfile the master, the workers (from "
                    "their first handler run) and the mule; pstats files into DIR (last rep wins)")
    ap.add_argument("--probe", metavar="DIR", help="count the master's loop turns, reads, "
                    "frames and writes (benchmarks/apps/profiled_master.py) into DIR")
    ap.add_argument("--sigsup-src", metavar="DIR", help="run the master from the sigsup "
                    "package in DIR (e.g. a copy of an older tree) instead of this checkout")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds a rep may take")
    ap.add_argument("--json", action="store_true", help="print the JSON document on stdout")
    ap.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS.name}")
    args = ap.parse_args(argv)
    quick = args.quick
    if args.signals is None:
        args.signals = 10_000 if quick else 20_000
    if args.latency_samples is None:
        args.latency_samples = 1000 if quick else 2000
    if args.warmup is None:
        args.warmup = 1000 if quick else 2000
    if args.queue_size is None:
        args.queue_size = max(10_000, args.signals)
    if args.latency_samples > app.LAT_MAX:
        ap.error(f"--latency-samples is at most {app.LAT_MAX}")
    return args


def git_head() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def _on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)   # unwinds through run_master's cleanup


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_term)
    t_start = time.monotonic()
    reps = []
    for rep in range(args.reps):
        before = cpu_sample()
        fl = floor.figures(1000 if args.quick else 2000, args.signals * 2,
                           args.latency_samples // 2)
        run = run_master(args, rep)
        fig = rep_figures(run, fl)
        fig["noise"] = noise(before, cpu_sample())
        reps.append(fig)
        print(f"rep {rep + 1}/{args.reps} done ({time.monotonic() - t_start:.1f} s)", file=sys.stderr)
    summary = summarize(reps)
    doc = {
        "benchmark": "dispatch",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": git_head(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "args": {k: v for k, v in vars(args).items() if k not in ("json",)},
        "wall_s": round(time.monotonic() - t_start, 2),
        "summary": summary,
        "reps": reps,
        "uwsgi_reference": UWSGI,
    }
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print_table(summary, args.reps, args)
    if args.json:
        json.dump(doc, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
