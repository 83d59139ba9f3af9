"""``python -m benchmarks``: every benchmark in one run, sigsup beside uWSGI and the floor.

    python -m benchmarks            # full: ~4 min (5 reps, 20k signals, 65 s of timers...)
    python -m benchmarks --quick    # ~1-2 min: fewer reps, signals, samples and seconds
    python -m benchmarks --no-uwsgi --skip scale

Runs, alternating sigsup and uWSGI where both are measured so that both see the same load:

* dispatch (benchmarks/dispatch.py): sigsup throughput (20,000 raises from a mule to
  ``worker``, ``workers``, ``mule2``, ``spooler``), raise -> handler latency (``worker``,
  ``mule2``, file monitor), with the Python floor (benchmarks/floor.py) in every rep;
* uWSGI (benchmarks/uwsgi_bench.py): the same raises as a bare blast (drops counted) and
  with a raiser never more than 32 ahead, and the same latency probes;
* timers (benchmarks/timers.py): sigsup's 10 ms and 1 s timers, uWSGI's 1 s timer and the
  floor loop, side by side;
* start-up and memory (benchmarks/startup.py): master + 4 workers + 2 mules;
* scale (benchmarks/scale.py, sigsup only): workers, timers, monitored files, queued signals.

Prints one table (median with min-max over runs; sigsup / uWSGI / floor / ratio) and writes
benchmarks/results/all.json. uWSGI is the optional ``bench`` extra (``pip install -e
'.[bench]'``); without it the uWSGI column says why and everything else still runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import sys
import time
from typing import Any

from benchmarks import common, dispatch, scale, startup, timers, uwsgi_bench

RESULTS = common.RESULTS / "all.json"
PARTS = ["dispatch", "timers", "startup", "scale"]
TARGETS = ["worker", "workers", "mule2", "spooler"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a ~1-2 min run")
    ap.add_argument("--reps", type=int, default=None, help="sigsup dispatch reps and uWSGI "
                    "instances (quick 3, full 5)")
    ap.add_argument("--no-uwsgi", action="store_true", help="do not run uWSGI")
    ap.add_argument("--skip", nargs="+", choices=PARTS, default=[], help="parts not to run")
    ap.add_argument("--timer-seconds", type=float, default=None, help="quick 15, full 65")
    ap.add_argument("--launches", type=int, default=None, help="start-up launches (quick 3, full 9)")
    dispatch.add_args(ap)
    ap.add_argument("--no-save", action="store_true", help=f"do not write {RESULTS.name}")
    args = ap.parse_args(argv)
    args = dispatch.finish_args(args, ap)
    if args.reps is None:
        args.reps = 3 if args.quick else 5
    if args.timer_seconds is None:
        args.timer_seconds = 15.0 if args.quick else 65.0
    if args.launches is None:
        args.launches = 3 if args.quick else 9
    return args


# -- the parts -------------------------------------------------------------------------------


def run_dispatch(args: argparse.Namespace, with_uwsgi: bool) -> dict[str, Any]:
    """sigsup reps (each with the floor) alternating with uWSGI instances."""
    sig_reps: list[dict[str, float]] = []
    problems: list[str] = []
    uw_tp: list[dict[str, Any]] = []
    uw_lat: list[dict[str, dict[str, float]]] = []
    uw_errors: list[str] = []
    one = argparse.Namespace(**vars(args))
    one.reps = 1
    for rep in range(args.reps):
        m = dispatch.measure(one)
        sig_reps += m["reps"]
        problems += [f"rep {rep + 1}: {p}" for p in m["problems"]]
        log(f"sigsup dispatch rep {rep + 1}/{args.reps}")
        if with_uwsgi:
            try:
                uw_tp += uwsgi_bench.throughput(args.signals, 1, TARGETS,
                                                warmup=args.warmup)
                uw_lat.append(uwsgi_bench.latency(args.latency_samples))
            except uwsgi_bench.UwsgiError as exc:
                uw_errors.append(str(exc)[:2000])
                log(f"uWSGI failed: {str(exc)[:300]}")
            log(f"uWSGI instance {rep + 1}/{args.reps}")
    out: dict[str, Any] = {"sigsup": {"summary": dispatch.summarize(sig_reps), "reps": sig_reps,
                                      "problems": problems}}
    if with_uwsgi:
        out["uwsgi"] = {"throughput": summarize_uwsgi_tp(uw_tp), "throughput_runs": uw_tp,
                        "latency": summarize_uwsgi_lat(uw_lat), "latency_runs": uw_lat,
                        "errors": uw_errors}
    return out


def summarize_uwsgi_tp(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["name"] for r in runs):
        rs = [r for r in runs if r["name"] == name]
        out[name] = {"handled_per_s": common.spread([r["handled_per_s"] for r in rs]),
                     "lost": common.spread([r["lost"] for r in rs]),
                     "raised": rs[0]["raised"] * (2 if name.startswith("workers") else 1),
                     "cpu_us.all": common.spread([sum(r["cpu_us_per_raise"].values()) for r in rs]),
                     "cpu_us.master": common.spread([r["cpu_us_per_raise"]["master"] for r in rs])}
    return out


def summarize_uwsgi_lat(runs: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for probe in ("worker", "mule2", "fmon"):
        rs = [r[probe] for r in runs if probe in r]
        if rs:
            out[probe] = {q: common.spread([r[q] for r in rs]) for q in ("p50", "p90", "p99", "max", "missed")}
    return out


# -- the table -------------------------------------------------------------------------------


def _m(s: dict[str, float] | None) -> float:
    return s["median"] if s else float("nan")


def cell(s: dict[str, float] | None, fmt: str = "{:,.1f}", scale_by: float = 1.0) -> str:
    if not s or s.get("n", 1) == 0 or s["median"] != s["median"]:
        return "-"
    f = fmt.format
    if s["min"] == s["max"]:
        return f(s["median"] / scale_by)
    return f"{f(s['median'] / scale_by)} ({f(s['min'] / scale_by)}-{f(s['max'] / scale_by)})"


def ratio(a: float, b: float) -> str:
    if a != a or b != b or not b:
        return "-"
    return f"{a / b:.2f}x"


def build_rows(doc: dict[str, Any]) -> list[tuple[str, ...]]:
    """(figure, sigsup, uWSGI, floor, sigsup/uWSGI, target) rows."""
    rows: list[tuple[str, ...]] = []
    d = doc.get("dispatch", {})
    ss = d.get("sigsup", {}).get("summary", {})
    uw = d.get("uwsgi", {})
    utp, ulat = uw.get("throughput", {}), uw.get("latency", {})
    n_sig = doc["args"]["signals"]
    if ss:
        relay = ss.get("floor.relay_per_s")
        for t in TARGETS:
            hs = ss.get(f"tp.{t}-pipelined.handled_per_s")
            if hs is None:
                continue
            lost = ss.get(f"tp.{t}-pipelined.lost")
            win, bl = utp.get(f"{t}-window", {}), utp.get(f"{t}-blast", {})
            unit = "handler runs/s" if t == "workers" else "handled/s"
            target = "≥ uWSGI window, 0 lost" if t == "worker" else ""
            rows.append((f"throughput {t}: {n_sig:,} raised, {unit}",
                         f"{cell(hs, '{:,.1f}k', 1000)}",
                         f"window {cell(win.get('handled_per_s'), '{:,.1f}k', 1000)}",
                         cell(relay, "{:,.0f}k", 1000) + " relay",
                         ratio(_m(hs), _m(win.get("handled_per_s"))), target))
            rows.append((f"  lost ({t})", cell(lost, "{:,.0f}"),
                         f"blast {cell(bl.get('lost'), '{:,.0f}')} of {bl.get('raised', 0):,}"
                         if bl else "-", "0", "", ""))
            if bl:
                rows.append((f"  uWSGI blast {t}: handled/s", "", cell(bl.get("handled_per_s"),
                             "{:,.1f}k", 1000), "", "", ""))
            cpu = ss.get(f"tp.{t}-pipelined.cpu_us.all")
            rows.append((f"  CPU µs per raise, all processes ({t})", cell(cpu),
                         cell(win.get("cpu_us.all")), "", ratio(_m(cpu), _m(win.get("cpu_us.all"))), ""))
        for t in ("worker", "workers"):
            hs = ss.get(f"tp.{t}-plain.handled_per_s")
            if hs is not None:
                rows.append((f"throughput {t}, one sigsup.signal() at a time",
                             cell(hs, "{:,.1f}k", 1000), "-", "", "", ""))
        for probe in ("worker", "mule2", "fmon"):
            for q in ("p50", "p90", "p99", "max"):
                s = ss.get(f"lat.{probe}.{q}")
                if s is None:
                    continue
                u = ulat.get(probe, {}).get(q)
                fl = ss.get(f"floor.relay_lat_{q}_us") if probe != "fmon" else None
                what = "os.utime -> handler" if probe == "fmon" else "raise -> handler start"
                target = "≤ uWSGI" if q == "p50" and probe == "worker" else ""
                rows.append((f"latency {probe} {q} (µs), {what}", cell(s), cell(u),
                             (cell(fl) + " relay") if fl else "-", ratio(_m(s), _m(u)), target))
    tm = doc.get("timers")
    if tm:
        win = f"{tm['seconds']:g} s run, median (min-max) over 20 s windows"
        for name, label in (("1s", "1 s"), ("0.01s", "10 ms")):
            sw = tm["sigsup"][name]["windows"]
            uw_ = tm.get("uwsgi", {}).get(name, {}).get("windows")
            fw = tm["floor"]["timerfd"]["windows"].get(name)
            na = "n/a (no sub-second timers)" if name != "1s" else "-"
            for k, what in (("mean_ms", "mean |interval-period|"), ("p99_ms", "p99 |interval-period|")):
                target = "< 0.2 ms" if k == "p99_ms" else ""
                rows.append((f"timer {label}: {what} (ms), {win}", cell(sw[k], "{:.3f}"),
                             cell(uw_[k], "{:.3f}") if uw_ else na,
                             (cell(fw[k], "{:.3f}") + " timerfd") if fw else "-",
                             ratio(_m(sw[k]), _m(uw_[k])) if uw_ else "", target))
            sj = tm["sigsup"][name]["jitter"]
            uj = tm.get("uwsgi", {}).get(name, {}).get("jitter")
            fj = tm["floor"]["timerfd"]["jitter"].get(name)
            rows.append((f"timer {label}: whole run p99 / max |interval-period| (ms)",
                         f"{sj['p99_ms']:.3f} / {sj['max_ms']:.3f}",
                         f"{uj['p99_ms']:.3f} / {uj['max_ms']:.3f}" if uj else na,
                         f"{fj['p99_ms']:.3f} / {fj['max_ms']:.3f}" if fj else "-", "", ""))
            rows.append((f"timer {label}: drift of the last firing (ms)", f"{sj['drift_ms']:.3f}",
                         f"{uj['drift_ms']:.3f}" if uj else na,
                         f"{fj['drift_ms']:.3f}" if fj else "-", "", ""))
            ml = tm["sigsup"][name].get("master_ms")
            if ml:
                rows.append((f"timer {label}: master deadline -> raise p50 / p99 (ms)",
                             f"{ml['p50']:.3f} / {ml['p99']:.3f}", "-", "", "", ""))
    st = doc.get("startup")
    if st:
        sm = st["summary"]
        sg, ug, fg = sm.get("sigsup", {}), sm.get("uwsgi", {}), sm.get("floor", {})
        for key, label, target in (("launch_to_all_ms", "start-up: launch -> all 7 ran (ms)", "< 100 ms"),
                                   ("launch_to_master_ms", "start-up: launch -> master ran (ms)", ""),
                                   ("total_pss_mib", "memory: total PSS, 7 processes (MiB)", "< 1.5x uWSGI"),
                                   ("total_rss_mib", "memory: total RSS (MiB)", ""),
                                   ("total_uss_mib", "memory: total USS (MiB)", "")):
            rows.append((label, cell(sg.get(key)), cell(ug.get(key)), cell(fg.get(key)),
                         ratio(_m(sg.get(key)), _m(ug.get(key))), target))
        for proc in ("master", "worker1", "mule1"):
            cells = []
            for w, name in ((sg, proc), (ug, proc), (fg, "master" if proc == "master" else "child1")):
                v = w.get("per_process", {}).get(name)
                cells.append(f"{v['rss_mib']:.1f} / {v['pss_mib']:.1f}" if v else "-")
            rows.append((f"memory: {proc} RSS / PSS (MiB)", *cells, "", ""))
    return rows


def print_table(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    rows = doc["rows"]
    a = doc["args"]
    t = Table(title=f"sigsup vs uWSGI vs the Python floor ({'quick' if a['quick'] else 'full'}): "
              f"median (min-max) over {a['reps']} runs, same machine, same run",
              title_justify="left")
    for col in ("figure", "sigsup", "uWSGI", "floor", "sigsup / uWSGI", "target"):
        t.add_column(col, justify="left" if col in ("figure", "target") else "right")
    for r in rows:
        t.add_row(*(escape(c) for c in r))
    console = Console(width=max(shutil.get_terminal_size((170, 40)).columns, 170))
    console.print(t)
    if doc.get("uwsgi_note"):
        console.print(f"uWSGI: {doc['uwsgi_note']}", markup=False, highlight=False)
    nz = doc.get("noise")
    if nz:
        console.print(f"noise: CPU used by other processes during the run: {nz['foreign_frac']:.1%} "
                      f"of {os.cpu_count()} cores" + ("  [busy machine: wall-clock figures are noisy;"
                                                      " CPU µs per raise much less so]"
                                                      if nz["foreign_frac"] > 0.05 else ""))
    probs = doc.get("dispatch", {}).get("sigsup", {}).get("problems")
    if probs:
        console.print("[bold red]sigsup counters disagreed (a lost or failed signal):[/]")
        for p in probs:
            console.print(f"  {p}", markup=False)
    if doc.get("scale"):
        for line in scale.table_lines(doc["scale"]):
            console.print(line, highlight=False)


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, dispatch.on_term)
    t0 = time.monotonic()
    before = common.cpu_sample()
    with_uwsgi = not args.no_uwsgi
    note = "not requested (--no-uwsgi)"
    if with_uwsgi:
        with_uwsgi, note = uwsgi_bench.available()
        note = f"uWSGI {note}" if with_uwsgi else f"skipped: {note}"
        log(note)
    doc: dict[str, Any] = {
        "benchmark": "all", "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": dispatch.git_head(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "args": vars(args), "uwsgi_note": note,
    }
    if "dispatch" not in args.skip:
        doc["dispatch"] = run_dispatch(args, with_uwsgi)
    if "timers" not in args.skip:
        log(f"timers: {args.timer_seconds:g} s")
        doc["timers"] = timers.measure(args.timer_seconds, with_uwsgi)
    if "startup" not in args.skip:
        log(f"start-up: {args.launches} launches each")
        doc["startup"] = startup.measure(args.launches, with_uwsgi, args.sigsup_src)
    if "scale" not in args.skip:
        doc["scale"] = scale.measure(args.quick, log=log)
    doc["noise"] = common.noise(before, common.cpu_sample())
    doc["wall_s"] = round(time.monotonic() - t0, 1)
    doc["rows"] = build_rows(doc)
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print_table(doc)
    log(f"done in {doc['wall_s']:.0f} s" + ("" if args.no_save else f"; {RESULTS}"))
    return 1 if doc.get("dispatch", {}).get("sigsup", {}).get("problems") else 0


if __name__ == "__main__":
    sys.exit(main())
