"""uWSGI's side of the comparison, measured in the same run as sigsup's.

uWSGI (the optional ``bench`` extra: ``pip install -e '.[bench]'``, or ``pip install uwsgi``,
which builds it from source with gcc in about 15-40 s) runs as a subprocess in its own
session, on a unix socket in a temporary directory, with the small apps of
``benchmarks/uwsgi_apps/``: handlers registered in the master, a raiser in mule 1, plain
mule 2, a spooler. The raiser runs the same loops as sigsup's (``benchmarks/shm.py``).
Whatever happens, the whole process group is SIGKILLed at the end.

    throughput(reps, n)     per target (worker, workers, mule2, spooler): a bare ``blast``
                            of n raises (uWSGI drops what does not fit its sockets: counted)
                            and a ``window`` raiser never more than 32 ahead of the handlers
    latency(n)              raise -> handler start, n raises 1 ms apart: worker, mule2, and a
                            file monitor (``os.utime`` -> handler)
    timers(seconds)         a 1 s ``add_timer`` (uWSGI 2.0 has no sub-second timer)
    startup(launches)       master + 4 workers + 2 mules: launch -> every process ran its
                            first line of user code; RSS/PSS of each process

``available()`` says whether uWSGI can be run here, and why not.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import common, shm

ROOT = common.ROOT
APPS = Path(__file__).resolve().parent / "uwsgi_apps"
SIG = {"worker": 17, "workers": 19, "mule2": 22, "spooler": 23}
LAT = {"worker": 30, "mule2": 31, "fmon": 32}
TIMER = 40
RECEIVERS = {"worker": [1, 2], "workers": [1, 2], "mule2": [shm.MULE0 + 2],
             "spooler": [shm.SPOOLER]}
PER_RAISE = {"worker": 1, "workers": 2, "mule2": 1, "spooler": 1}


class UwsgiError(RuntimeError):
    pass


def executable() -> str | None:
    return shutil.which("uwsgi")


def available() -> tuple[bool, str]:
    """(True, version) when a uwsgi binary with the Python plugin runs here."""
    exe = executable()
    if exe is None:
        return False, ("uwsgi is not installed: `pip install -e '.[bench]'` (or `pip install "
                       "uwsgi`; it builds from source and needs gcc and the Python headers)")
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"uwsgi does not run: {exc}"
    if out.returncode != 0:
        return False, f"uwsgi --version failed: {out.stderr.strip()[:200]}"
    return True, out.stdout.strip()


# -- one uWSGI instance ----------------------------------------------------------------------


class Instance:
    """A uWSGI tree in its own session; ``close()`` SIGKILLs its process group."""

    def __init__(self, args: list[str], env: dict[str, str], tmp: Path) -> None:
        self.tmp = tmp
        self.log_path = tmp / "uwsgi.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.t_launch = time.monotonic_ns()
        self.proc = subprocess.Popen([executable() or "uwsgi", *args], cwd=tmp, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def children(self) -> list[int]:
        return common.children_of(self.proc.pid)

    def wait_children(self, n: int, timeout: float = 20.0) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise UwsgiError(f"uwsgi exited with {self.proc.returncode}:\n{self.log_tail()}")
            kids = self.children()
            if len(kids) >= n:
                return kids
            time.sleep(0.01)
        raise UwsgiError(f"uwsgi did not start {n} children in {timeout} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-n:]
        return ""

    def close(self) -> None:
        common.kill_group_tree(self.proc)
        self._log.close()


def _base_args(tmp: Path, workers: int, module: str, mules: list[str | None],
               spooler: bool) -> list[str]:
    args = ["--master", "--workers", str(workers), "--socket", str(tmp / "u.sock"),
            "--pythonpath", str(ROOT), "--module", module, "--auto-procname",
            "--disable-logging", "--die-on-term", "--vacuum"]
    for m in mules:
        args.append(f"--mule={m}" if m else "--mule")
    if spooler:
        (tmp / "spool").mkdir()
        args += ["--spooler", str(tmp / "spool")]
    return args


def run_plan(scenarios: list[dict[str, Any]], *, signals: dict[int, tuple[str, str]],
             monitors: dict[int, str] | None = None, timeout: float = 300.0,
             extra: list[str] | None = None) -> dict[str, Any]:
    """Start uWSGI (2 workers, raiser mule, plain mule 2, a spooler), run ``scenarios`` in
    the raiser, return its results and the count of 'QUEUE IS FULL' lines in the log."""
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-uwsgi-"))
    mem = str(tmp / "slots")
    shm.create(mem)
    plan = {"mem": mem, "out": str(tmp / "results.json"), "scenarios": scenarios,
            "signals": {str(k): list(v) for k, v in signals.items()},
            "monitors": {str(k): v for k, v in (monitors or {}).items()}}
    (tmp / "plan.json").write_text(json.dumps(plan))
    env = {**os.environ, "BENCH_PLAN": str(tmp / "plan.json")}
    args = _base_args(tmp, 2, "benchmarks.uwsgi_apps.sigapp:application",
                      [str(APPS / "raiser.py"), None], spooler=True) + (extra or [])
    mm, mv = shm.open_slots(mem)
    inst = Instance(args, env, tmp)
    try:
        inst.wait_children(5)    # 2 workers, 2 mules, a spooler
        time.sleep(0.3)          # every one of them in its loop
        mv[shm.GO] = 1
        out = Path(plan["out"])
        deadline = time.monotonic() + timeout
        while not out.exists():
            if inst.proc.poll() is not None:
                raise UwsgiError(f"uwsgi exited with {inst.proc.returncode}:\n{inst.log_tail()}")
            if time.monotonic() > deadline:
                raise UwsgiError(f"no results after {timeout} s:\n{inst.log_tail()}")
            time.sleep(0.02)
        doc = json.loads(out.read_text())
        log = inst.log_path.read_text(errors="replace")
        doc["queue_full_lines"] = log.count("QUEUE IS FULL")
        doc["could_not_deliver_lines"] = log.count("could not deliver")
        return doc
    finally:
        inst.close()
        del mv
        mm.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _signals() -> dict[int, tuple[str, str]]:
    sigs = {num: ("count", target) for target, num in SIG.items()}
    sigs.update({LAT["worker"]: ("stamp", "worker"), LAT["mule2"]: ("stamp", "mule2"),
                 LAT["fmon"]: ("stamp", "worker")})
    return sigs


def throughput(n: int, reps: int, targets: list[str], warmup: int = 2000,
               window: int = 32) -> list[dict[str, Any]]:
    """One instance: per rep and target, a blast of ``n`` and a windowed run of ``n``.
    Returns one figure dict per (rep, target, mode)."""
    scenarios: list[dict[str, Any]] = []
    for t in targets:
        scenarios.append({"kind": "throughput", "name": f"warmup-{t}", "signum": SIG[t],
                          "n": warmup, "receivers": RECEIVERS[t], "per_raise": PER_RAISE[t],
                          "mode": "window", "window": window, "quiet_s": 1.0})
    for rep in range(reps):
        for t in targets:
            for mode in ("blast", "window"):
                scenarios.append({"kind": "throughput", "name": f"{t}-{mode}", "rep": rep,
                                  "target": t, "signum": SIG[t], "n": n,
                                  "receivers": RECEIVERS[t], "per_raise": PER_RAISE[t],
                                  "mode": mode, "window": window, "quiet_s": 0.5})
    doc = run_plan(scenarios, signals=_signals())
    out = []
    for r in doc["results"]:
        if r["name"].startswith("warmup"):
            continue
        out.append(throughput_figure(r))
    return out


def throughput_figure(r: dict[str, Any]) -> dict[str, Any]:
    secs = (r["t_end"] - r["t0"]) / 1e9 if r["t_end"] else float("nan")
    n = r["n"]
    return {"name": r["name"], "target": r.get("target"), "mode": r["mode"],
            "raised": n, "handled": r["handled"], "lost": r["lost"],
            "handled_per_s": r["handled"] / secs if secs > 0 else float("nan"),
            "raises_per_s": n / secs if secs > 0 else float("nan"),
            "raise_loop_s": (r["t_raised"] - r["t0"]) / 1e9,
            "cpu_us_per_raise": {k: round(v / n * 1e6, 2) for k, v in r["cpu_s"].items()},
            "per_receiver": r["per_receiver"]}


def latency(n: int, interval_ns: int = 1_000_000) -> dict[str, dict[str, float]]:
    """raise -> handler start (µs) for worker, mule2 and a file monitor, in one instance."""
    tmp_file = Path(tempfile.mkdtemp(prefix="sigsup-uwsgi-fmon-")) / "watched"
    tmp_file.write_text("x")
    try:
        scenarios: list[dict[str, Any]] = []
        for probe in ("worker", "mule2", "fmon"):
            sc: dict[str, Any] = {"kind": "latency", "name": probe, "signum": LAT[probe],
                                  "n": n, "interval_ns": interval_ns}
            if probe == "fmon":
                sc.update({"fire": "utime", "path": str(tmp_file)})
            scenarios.append(sc)
        doc = run_plan(scenarios, signals=_signals(), monitors={LAT["fmon"]: str(tmp_file)})
    finally:
        shutil.rmtree(tmp_file.parent, ignore_errors=True)
    out = {}
    for r in doc["results"]:
        s = common.summarize_us(r["latency_ns"])
        s["missed"] = r["missed"]
        out[r["name"]] = s
    return out


# -- timers ----------------------------------------------------------------------------------


class TimerRun:
    """A 1 s ``add_timer`` in a running uWSGI (started now, read with ``finish()``), so the
    driver can run it beside sigsup's timers for the same minute."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="sigsup-uwsgi-timer-"))
        mem = str(self.tmp / "slots")
        shm.create(mem)
        self.stamps = self.tmp / "stamps.txt"
        plan = {"mem": mem, "out": "", "scenarios": [], "stamps": str(self.stamps),
                "signals": {str(TIMER): ["stamp_line", "worker"]}, "timers": {str(TIMER): 1}}
        (self.tmp / "plan.json").write_text(json.dumps(plan))
        env = {**os.environ, "BENCH_PLAN": str(self.tmp / "plan.json")}
        args = _base_args(self.tmp, 2, "benchmarks.uwsgi_apps.sigapp:application", [], False)
        self.inst = Instance(args, env, self.tmp)

    def finish(self) -> dict[int, list[int]]:
        try:
            if self.inst.proc.poll() is not None:
                raise UwsgiError(f"uwsgi exited with {self.inst.proc.returncode}:\n"
                                 f"{self.inst.log_tail()}")
            return common.read_stamp_lines(self.stamps)
        finally:
            self.inst.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def close(self) -> None:
        self.inst.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# -- start-up and memory ---------------------------------------------------------------------


def startup_once(workers: int = 4, mules: int = 2, timeout: float = 20.0) -> dict[str, Any]:
    """Launch -> every process stamped (master import, then each child's post_fork_hook);
    then RSS/PSS of each process from /proc/PID/smaps_rollup."""
    tmp = Path(tempfile.mkdtemp(prefix="sigsup-uwsgi-start-"))
    stamps = tmp / "stamps.txt"
    env = {**os.environ, "BENCH_STAMPS": str(stamps)}
    args = _base_args(tmp, workers, "benchmarks.uwsgi_apps.startapp:application",
                      [None] * mules, False)
    inst = Instance(args, env, tmp)
    try:
        want = 1 + workers + mules
        deadline = time.monotonic() + timeout
        lines: list[tuple[str, int, int]] = []
        while time.monotonic() < deadline:
            lines = common.read_kind_stamps(stamps)
            if len(lines) >= want:
                break
            if inst.proc.poll() is not None:
                raise UwsgiError(f"uwsgi exited with {inst.proc.returncode}:\n{inst.log_tail()}")
            time.sleep(0.002)
        else:
            raise UwsgiError(f"only {len(lines)} of {want} processes started:\n{inst.log_tail()}")
        return common.startup_figures(inst.t_launch, lines, inst.proc.pid)
    finally:
        inst.close()
        shutil.rmtree(tmp, ignore_errors=True)

