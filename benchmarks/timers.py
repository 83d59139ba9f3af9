"""Timer jitter and file-event latency: sigsup, uWSGI and a plain Python floor, side by side.

For ``--seconds`` (default 65; ``--quick`` 15), all at the same time so they see the same load:

* a sigsup master (2 workers) with a 10 ms and a 1 s timer, added at run time through the
  control socket; each handler stamps CLOCK_MONOTONIC when it starts. Figures:
    - jitter: |interval - period| between consecutive handler starts (mean, p99, max) and the
      drift of the last firing from the ideal schedule anchored on the first;
    - lateness: deadline -> the master raising it (the status keeps the last 1,024 samples of
      each timer) and deadline -> the handler starting (the anchor read with ``list_events``);
  and a file monitor (debounce 0) on a file this script rewrites every 47 ms: write -> handler;
* uWSGI (when it is installed) with ``add_timer(sig, 1)``: the same jitter figures (uWSGI 2.0
  has no sub-second timer);
* the floor: a plain selectors loop in a child process keeping the same two timers on absolute
  deadlines, woken by a timerfd (what the master does).

Jitter is also reported per 20 s window (``windows``: the median, min and max of each
window's mean and p99), as the uWSGI reference figures were: with a 1 s timer a window's p99
is its worst firing, so one hiccup of a shared machine decides a whole-run p99.

Prints a table, writes benchmarks/results/timers.json.

    python -m benchmarks.timers [--quick] [--seconds S] [--no-uwsgi] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.common import percentile
from sigsup.protocol.control import request

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "timers.json"
APP = "benchmarks.apps.timers_app"
FAST, SLOW, FILE = 20, 21, 22
PERIODS = {FAST: 0.01, SLOW: 1.0}
NS = 1_000_000_000
WRITE_EVERY = 0.047   # the monitored file's writes: not a divisor of 1 s, so they do not
                      # land on the 1 s timer's firings every time

# uWSGI 2.0.31 on this kind of machine (shared/reference/uwsgi-figures.md): a 1 s timer,
# |t - ideal| mean / p99 in ms (timerfd, C), and file-monitor raise -> handler p50 in µs
UWSGI = {"timer_1s_mean_ms": 0.030, "timer_1s_p99_ms": 0.137, "fmon_p50_us": 30.1}


class BenchError(RuntimeError):
    pass


def summarize_ms(values_s: list[float]) -> dict[str, float]:
    s = sorted(v * 1000 for v in values_s)
    if not s:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan"), "mean": float("nan"),
                "samples": 0}
    return {"p50": percentile(s, 50), "p99": percentile(s, 99), "max": s[-1],
            "mean": sum(s) / len(s), "samples": len(s)}


# -- the floor ---------------------------------------------------------------------------


def _floor_loop(seconds: float, use_timerfd: bool) -> dict[str, list[Any]]:
    """A plain selectors loop keeping a 10 ms and a 1 s timer on absolute deadlines: with
    the select timeout alone (epoll: whole milliseconds), or with a timerfd (what the
    master uses on Linux)."""
    sel = selectors.DefaultSelector()
    tfd = None
    if use_timerfd:
        from sigsup.sources.timerfd import TimerFd
        tfd = TimerFd()
        sel.register(tfd.fd, selectors.EVENT_READ)
    start = time.monotonic()
    k = {p: 1 for p in PERIODS.values()}
    late: dict[float, list[float]] = {p: [] for p in PERIODS.values()}
    fires: dict[float, list[int]] = {p: [] for p in PERIODS.values()}
    end = start + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        nxt = min(start + k[p] * p for p in k)
        if tfd is not None:
            tfd.arm(nxt)
        if sel.select(max(0.0, nxt - now)) and tfd is not None:
            tfd.clear()
        now = time.monotonic()
        for p in k:
            d = start + k[p] * p
            if now >= d:
                late[p].append(now - d)
                fires[p].append(time.clock_gettime_ns(time.CLOCK_MONOTONIC))
                k[p] = int((now - start) // p) + 1
    if tfd is not None:
        tfd.close()
    return {str(p): v for p, v in late.items()} | {f"fires-{p}": v for p, v in fires.items()}


def floor_start(seconds: float) -> tuple[int, int]:
    """Start the plain loop (timerfd) in a child process, measured like the master: one
    process, nothing else in it. ``floor_finish`` collects it."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            out = {"timerfd": _floor_loop(seconds, True)}
            os.write(w, json.dumps(out).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def floor_finish(handle: tuple[int, int]) -> dict[str, Any]:
    pid, r = handle
    chunks = []
    while True:
        b = os.read(r, 1 << 20)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    os.waitpid(pid, 0)
    data = json.loads(b"".join(chunks))
    out: dict[str, Any] = {}
    for kind, d in data.items():
        out[kind] = {p: summarize_ms(v) for p, v in d.items() if not p.startswith("fires-")}
        out[kind]["jitter"] = {f"{float(p[6:]):g}s": common.jitter(v, float(p[6:]))
                               for p, v in d.items() if p.startswith("fires-")}
        out[kind]["windows"] = {f"{float(p[6:]):g}s": common.jitter_windows(v, float(p[6:]))
                                for p, v in d.items() if p.startswith("fires-")}
    return out


def floor_run(seconds: float) -> dict[str, Any]:
    return floor_finish(floor_start(seconds))


# -- the master --------------------------------------------------------------------------


def write_config(tmp: Path, watched: Path) -> Path:
    text = f"""
[supervisor]
name = "timers-bench"
socket = "{tmp / 'm.sock'}"
pythonpath = ["{ROOT}"]
shutdown_timeout = 2.0

[workers]
count = 2

[signals.{FAST}]
handler = "{APP}:stamp"
target = "worker"

[signals.{SLOW}]
handler = "{APP}:stamp"
target = "worker"

[signals.{FILE}]
handler = "{APP}:stamp"
target = "worker"

[[monitors]]
signal = {FILE}
path = "{watched}"
debounce = 0
"""
    path = tmp / "timers.toml"
    path.write_text(text)
    return path


def wait_ready(sock: Path, master: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if master.poll() is not None:
            raise BenchError(f"the master exited with {master.returncode} during start-up")
        try:
            st = request(sock, {"cmd": "status"}, timeout=2.0)["status"]
        except Exception as exc:
            last = exc
        else:
            procs = st.get("processes", [])
            watching = all(e.get("state") == "watching" for e in st.get("events", [])
                           if e["kind"] == "monitor")
            if procs and all(p["state"] == "running" for p in procs) and watching:
                return st
            last = [(p["name"], p["state"]) for p in procs]
        time.sleep(0.02)
    raise BenchError(f"the tree was not ready after {timeout} s ({last})")


def read_stamps(path: Path) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {FAST: [], SLOW: [], FILE: []}
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            sig, t = line.split()
            out.setdefault(int(sig), []).append(int(t))
    return out


def run_master(seconds: float, sigsup_src: str | None = None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-timers-"))
    watched = tmp / "watched.txt"
    watched.write_text("0")
    out = tmp / "stamps.txt"
    cfg = write_config(tmp, watched)
    sock = tmp / "m.sock"
    env = {**os.environ, "SIGSUP_BENCH_OUT": str(out)}
    env.pop("SIGSUP_SOCKET", None)
    src = [str(Path(sigsup_src).resolve())] if sigsup_src else []   # A/B: another sigsup
    env["PYTHONPATH"] = os.pathsep.join(src + [str(ROOT)] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    log = open(tmp / "master.log", "wb")  # noqa: SIM115
    master = subprocess.Popen([sys.executable, "-m", "sigsup", "start", "-q", str(cfg)],
                              cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    pids: list[int] = []
    try:
        st = wait_ready(sock, master, 30.0)
        pids = [p["pid"] for p in st["processes"] if p["pid"]]
        ids = {}
        for sig, period in PERIODS.items():   # the 10 ms timer first
            reply = request(sock, {"cmd": "add_timer", "signum": sig, "seconds": period})
            if not reply.get("ok"):
                raise BenchError(f"add_timer failed: {reply}")
            ids[sig] = reply["id"]
            # 1 s is a multiple of 10 ms: added 5 ms later, the 1 s timer fires half-way
            # between two 10 ms firings instead of in the same loop turn as one of them (uWSGI,
            # with only its 1 s timer, meets no such neighbour)
            time.sleep(0.005)
        writes: list[int] = []
        t_end = time.monotonic() + seconds
        next_write = time.monotonic() + WRITE_EVERY
        while time.monotonic() < t_end:
            if master.poll() is not None:
                raise BenchError(f"the master exited with {master.returncode}")
            now = time.monotonic()
            if now >= next_write:
                writes.append(time.clock_gettime_ns(time.CLOCK_MONOTONIC))
                with open(watched, "w") as f:
                    f.write(str(len(writes)))
                next_write += WRITE_EVERY
            time.sleep(max(0.0, min(next_write, t_end) - time.monotonic()))
        listed = {e["id"]: e for e in request(sock, {"cmd": "list_events", "detail": True})["events"]}
        for sid in ids.values():
            request(sock, {"cmd": "remove_event", "id": sid})
        time.sleep(0.3)    # the last handlers finish
        status = request(sock, {"cmd": "status"})["status"]
    except BaseException:
        with contextlib.suppress(OSError):
            sys.stderr.write((tmp / "master.log").read_text()[-4000:])
        raise
    finally:
        common.kill_group_tree(master, tuple(pids))
        log.close()
    stamps = read_stamps(out)
    shutil.rmtree(tmp, ignore_errors=True)
    return {"ids": ids, "listed": listed, "stamps": stamps, "writes": writes,
            "status_events": status.get("events", []), "signals": status.get("signals", [])}


def figures(run: dict[str, Any]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for sig, period in PERIODS.items():
        ev = run["listed"].get(run["ids"][sig])
        if ev is None:
            raise BenchError(f"timer for signal {sig} vanished")
        anchor_ns = int(round(ev["anchor"] * NS))
        p_ns = int(round(period * NS))
        late = []
        for t in run["stamps"][sig]:
            k = (t - anchor_ns) // p_ns            # the deadline this run belongs to
            late.append((t - (anchor_ns + k * p_ns)) / NS)
        res[f"{period:g}s"] = {
            "period_s": period,
            "fired": ev["fired"], "missed": ev["missed"], "coalesced": ev["coalesced"],
            "handled": len(run["stamps"][sig]),
            "master_ms": ev.get("late_ms"),
            "handler_ms": summarize_ms(late),
            # |interval - period| between handler starts, and the last one's drift
            "jitter": common.jitter(sorted(run["stamps"][sig]), period),
            "windows": common.jitter_windows(sorted(run["stamps"][sig]), period),
        }
    writes = run["writes"]
    runs = sorted(run["stamps"][FILE])
    lat = []
    j = 0
    for w in writes:
        while j < len(runs) and runs[j] < w:
            j += 1
        if j < len(runs):
            lat.append((runs[j] - w) / NS)
    res["file"] = {"writes": len(writes), "handled": len(runs),
                   "latency_ms": summarize_ms(lat)}
    return res


def fmt(d: dict[str, float] | None, key: str) -> str:
    if not d or d.get(key) is None or d.get("samples", 1) == 0:
        return "-"
    return f"{d[key]:.3f}"


def print_table(out: dict[str, Any]) -> None:
    print(f"sigsup timers: {out['seconds']:g} s run, floor and uWSGI beside it ({out.get('machine', '')})")
    print("lateness of each firing against its deadline (ms):")
    print(f"{'':24}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'samples':>9}")
    for name in ("0.01s", "1s"):
        f = out["sigsup"][name]
        p = str(f["period_s"])
        for label, d in (("master", f["master_ms"]), ("handler", f["handler_ms"]),
                         ("floor timerfd", out["floor"]["timerfd"][p])):
            row = f"{name:>5} {label:<18}"
            print(f"{row}{fmt(d, 'p50'):>10}{fmt(d, 'p99'):>10}{fmt(d, 'max'):>10}"
                  f"{(d or {}).get('samples', 0):>9}")
        print(f"{'':14}fired {f['fired']}, handled {f['handled']}, missed {f['missed']}, "
              f"coalesced {f['coalesced']}")
    print("jitter |interval - period| between handler starts (ms), drift of the last firing:")
    print(f"{'':24}{'mean':>10}{'p99':>10}{'max':>10}{'drift':>10}{'firings':>9}")
    rows = []
    for name in ("0.01s", "1s"):
        rows.append((f"{name} sigsup", out["sigsup"][name]["jitter"]))
        if name in out.get("uwsgi", {}):
            rows.append((f"{name} uWSGI", out["uwsgi"][name]["jitter"]))
        rows.append((f"{name} floor timerfd", out["floor"]["timerfd"]["jitter"].get(name)))
    for label, j in rows:
        if not j:
            continue
        print(f"{label:<24}{j['mean_ms']:>10.3f}{j['p99_ms']:>10.3f}{j['max_ms']:>10.3f}"
              f"{j['drift_ms']:>10.3f}{j['firings']:>9}")
    if "uwsgi" not in out:
        print(f"uWSGI: skipped ({out.get('uwsgi_note')})")
    fi = out["sigsup"]["file"]
    d = fi["latency_ms"]
    print(f"{'file write -> handler':<24}{fmt(d, 'p50'):>10}{fmt(d, 'p99'):>10}{fmt(d, 'max'):>10}"
          f"{d['samples']:>9}")


def measure(seconds: float, with_uwsgi: bool = True) -> dict[str, Any]:
    """sigsup's timers, uWSGI's 1 s timer and the floor loops, all during the same
    ``seconds`` (side by side, so they see the same load)."""
    from benchmarks import uwsgi_bench
    fl = floor_start(seconds)
    uw: Any = None
    uw_note = "not requested"
    try:
        if with_uwsgi:
            ok, uw_note = uwsgi_bench.available()
            if ok:
                uw = uwsgi_bench.TimerRun()
        run = run_master(seconds)
        uw_stamps = uw.finish() if uw is not None else None
        uw = None
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(fl[0], signal.SIGKILL)
        raise
    finally:
        if uw is not None:
            uw.close()
    floor = floor_finish(fl)
    fig = figures(run)
    out: dict[str, Any] = {"seconds": seconds, "sigsup": fig, "floor": floor,
                           "uwsgi_note": uw_note}
    if uw_stamps is not None:
        st = sorted(uw_stamps.get(uwsgi_bench.TIMER, []))
        out["uwsgi"] = {"1s": {"jitter": common.jitter(st, 1.0),
                               "windows": common.jitter_windows(st, 1.0), "handled": len(st)}}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="15 s instead of 65 s")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--no-uwsgi", action="store_true", help="do not run uWSGI's timer beside")
    ap.add_argument("--json", action="store_true", help="print the JSON too")
    args = ap.parse_args(argv)
    seconds = args.seconds or (15.0 if args.quick else 65.0)
    out = measure(seconds, not args.no_uwsgi)
    out.update({"benchmark": "timers", "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "machine": f"{platform.python_implementation()} {platform.python_version()}, "
                           f"{os.cpu_count()} CPUs, {platform.system()} {platform.release()}"})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2))
    print_table(out)
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
