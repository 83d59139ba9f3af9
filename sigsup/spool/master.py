"""The spoolers' part of the master (an extension, see master/extension.py).

- At start: takes each spool directory (a POSIX lock on ``DIR/.lock``: one master per
  directory), and returns to the queue every job left claimed by a process of a previous
  run (counted as an attempt: its handler may have run), before any spooler starts.
- ``spool-begin`` (a spooler process is about to run a job): the process gets no more
  signals until ``spool-end``, and the job's ``harakiri`` clock starts here.
- A spooler process that exits (or is killed by harakiri) with a job claimed: the job goes
  back to the queue as a failed attempt (retry with backoff, or dead letter), or untouched
  if its handler had not started.
- ``spool-wake``: a job was written; the spooler's processes are told at once.
- ``status()["spoolers"]``: per spooler, the queue's counts (from directory listings, no
  file opened, cached: recomputed at most once a second, and less often when listing is
  slow) and the counters of this master's life.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sigsup.master.states import ProcState
from sigsup.protocol.frames import pack_json
from sigsup.spool import conf
from sigsup.spool.store import FAILED, QUEUED, Entry, JobStore, RetryPolicy

if TYPE_CHECKING:
    from sigsup.master.loop import Master
    from sigsup.master.proc import Proc

RUNNER = "sigsup.spool.runner:run"
RECLAIM_EVERY = 5.0       # seconds between looks for claims of vanished processes
COUNT_MIN_AGE = 2.0       # status counts are listed again at most this often (files may
                          # come from writers that do not tell the master)...
COUNT_DIRTY_AGE = 0.05    # ...or this often after a change the master knows of...
COUNT_COST_FACTOR = 50    # ...but never more often than every 50 listing times


_live: list[SpoolExtension] = []     # masters of this process, oldest first (one, but tests)
_before: list[Any] = [None, None]    # the config and $SIGSUP_CONFIG before the first


@dataclass
class Busy:
    process: str
    pid: int
    job: str
    attempt: int
    started_mono: float
    started_wall: float
    harakiri: float
    killed: bool = False


class SpoolCounters:
    def __init__(self) -> None:
        self.done = 0
        self.retried = 0
        self.dead = 0
        self.ignored = 0
        self.died = 0
        self.last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"done": self.done, "retried": self.retried, "dead_lettered": self.dead,
                "ignored": self.ignored, "died_mid_job": self.died,
                "last_error": self.last_error}


class SpoolExtension:
    name = "spoolers"

    def __init__(self, master: Master) -> None:
        self.m = master
        cfg = master.config
        if not _live:                          # what to give back when the last one closes
            _before[:] = [conf.current_or_none_held(), os.environ.get(conf.ENV)]
        _live.append(self)
        conf.set_config(cfg)                   # preload code and (through fork) children see it
        self.stores = {n: JobStore(sc.dir, n) for n, sc in cfg.spoolers.items()}
        self.policies = {n: RetryPolicy(sc.max_retries, sc.retry_backoff, sc.retry_backoff_max)
                         for n, sc in cfg.spoolers.items()}
        self.counters = {n: SpoolCounters() for n in cfg.spoolers}
        self.busy: dict[str, Busy] = {}        # process name -> the job it runs
        self.counts: dict[str, tuple[float, dict[str, int], float]] = {}
        self.changed: set[str] = set(cfg.spoolers)   # spoolers whose counts are stale
        self.lock_fds: list[int] = []
        self.next_reclaim = 0.0
        for p in master.procs:
            if p.kind == "spooler" and p.runner is None:
                p.runner = RUNNER

    # -- life ------------------------------------------------------------------------------

    def start(self, master: Master) -> None:
        os.environ[conf.ENV] = str(self.m.config.path)   # for what children run in turn
        for name, store in self.stores.items():
            try:
                store.ensure()
                self._take_dir(store)
            except OSError as exc:
                raise RuntimeError(f"spooler {name}: cannot use {store.root}: {exc}") from None
            moved = store.reclaim(lambda pid: False, lambda e: {
                "outcome": "died", "pid": e.pid,
                "error": "interrupted: the master stopped or died while the job ran"},
                self.policies[name])
            for e, state in moved:
                self._count_reclaimed(name, state)
                self.m.log.warning(f"spooler {name}: job {e.id} was running when the master "
                                   f"stopped; {_fate(state, e)}")
            store.clean_tmp()
            c = store.counts()
            if c["queued"] or c["failed"]:
                self.m.log.info(f"spooler {name}: {c['queued']} jobs queued ({c['due']} due), "
                                f"{c['failed']} in failed/")
        self.next_reclaim = self.m.os.monotonic() + RECLAIM_EVERY

    def _take_dir(self, store: JobStore) -> None:
        path = store.root / ".lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + 3.0
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # per process: not inherited
                break
            except OSError:
                if time.monotonic() >= deadline:
                    other = os.pread(fd, 32, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise RuntimeError(f"spool directory {store.root} is used by another "
                                       f"master (pid {other or '?'})") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.lock_fds.append(fd)

    def close(self) -> None:
        for fd in self.lock_fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.lock_fds.clear()
        # give the process's config back (tests run several masters in one process)
        if self in _live:
            _live.remove(self)
            if _live:
                held, env = _live[-1].m.config, str(_live[-1].m.config.path)
            else:
                held, env = _before
            conf.set_config(held)
            if env is None:
                os.environ.pop(conf.ENV, None)
            else:
                os.environ[conf.ENV] = env

    # -- from spooler processes ------------------------------------------------------------

    def commands(self) -> dict[str, Any]:
        return {"spool-begin": self.cmd_begin, "spool-wake": self.cmd_wake,
                "tree-config": self.cmd_tree_config}

    def _proc(self, name: str) -> Proc | None:
        for p in self.m.procs:
            if p.name == name:
                return p
        return None

    def cmd_begin(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        p = self._proc(origin)
        if p is None or p.kind != "spooler":
            return {"ok": False, "error": "spool-begin comes from spooler processes only"}
        if self.m.state != "running":
            return {"ok": False, "error": f"the master is {self.m.state}"}
        harakiri = msg.get("harakiri") or 0.0
        self.busy[p.name] = Busy(p.name, p.pid, str(msg.get("job")), int(msg.get("attempt", 1)),
                                 self.m.os.monotonic(), self.m.os.time(),
                                 float(harakiri) if isinstance(harakiri, (int, float)) else 0.0)
        p.ready = False        # no signals for it until the job ends: others take them
        self.changed.add(p.spooler or "")
        self.m.emit("job-start", process=p.name, spooler=p.spooler, job=msg.get("job"))
        return {"ok": True}

    def cmd_wake(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        name = msg.get("spooler")
        if not isinstance(name, str) or name not in self.stores:
            return {"ok": False, "error": f"no spooler named {name!r}"}
        self.wake(name)
        return {"ok": True}

    def cmd_tree_config(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        return {"ok": True, "config": str(self.m.config.path)}

    def wake(self, spooler: str) -> None:
        self.changed.add(spooler)
        frame = pack_json({"t": "spool-wake"})
        for p in self.m.procs:
            if p.kind == "spooler" and p.spooler == spooler and p.sock is not None:
                p.out += frame
                self.m.router.dirty.add(p)

    def child_message(self, p: Proc, msg: dict[str, Any]) -> bool:
        t = msg.get("t")
        if t == "spool-wake":
            if msg.get("spooler") in self.stores:
                self.wake(str(msg["spooler"]))
            return True
        if t != "spool-end" or p.kind != "spooler":
            return False
        self.busy.pop(p.name, None)
        name = p.spooler or ""
        self.changed.add(name)
        c = self.counters.get(name)
        if c is not None:
            outcome, then = msg.get("outcome"), msg.get("then")
            if outcome == "ok":
                c.done += 1
            elif outcome == "ignored":
                c.ignored += 1
            elif then == QUEUED:
                c.retried += 1
            elif then == FAILED:
                c.dead += 1
            if msg.get("error"):
                c.last_error = str(msg["error"])
        self.m.emit("job-end", process=p.name, spooler=name, job=msg.get("job"),
                    outcome=msg.get("outcome"), then=msg.get("then"))
        if p.state is ProcState.RUNNING and p.sock is not None and not p.ready:
            self.m.router.ready(p)     # takes signals again; what waited is sent now
        return True

    # -- deaths, harakiri ------------------------------------------------------------------

    def _live(self, spooler: str) -> Any:
        pids = {p.pid for p in self.m.procs if p.kind == "spooler" and p.pid}
        return lambda pid: pid in pids

    def proc_exit(self, p: Proc, how: str) -> None:
        if p.kind != "spooler" or p.spooler not in self.stores:
            return
        busy = self.busy.pop(p.name, None)
        self._reclaim(p.spooler, busy, how)

    def _reclaim(self, name: str, busy: Busy | None, how: str) -> None:
        store = self.stores[name]

        def started(e: Entry) -> dict[str, Any] | None:
            if busy is None or e.pid != busy.pid or e.id != busy.job:
                return None        # claimed, but its handler never started
            if busy.killed:
                error = f"harakiri: the job ran past {busy.harakiri:g} s"
                outcome = "harakiri"
            else:
                error = f"the spooler process died while the job ran ({how})"
                outcome = "died"
            return {"outcome": outcome, "error": error, "started": busy.started_wall,
                    "pid": busy.pid, "process": busy.process}

        try:
            moved = store.reclaim(self._live(name), started, self.policies[name])
        except OSError as exc:
            self.m.log.error(f"spooler {name}: cannot return claimed jobs to the queue: {exc}")
            return
        for e, state in moved:
            if state == "released":
                self.m.log.info(f"spooler {name}: job {e.id} returned to the queue (its "
                                "process exited before running it)")
                continue
            self._count_reclaimed(name, state)
            self.m.log.warning(f"spooler {name}: job {e.id} attempt {e.attempts} did not "
                               f"finish ({how}); {_fate(state, e)}")
        if moved:
            self.wake(name)

    def _count_reclaimed(self, name: str, state: str) -> None:
        c = self.counters[name]
        c.died += 1
        if state == QUEUED:
            c.retried += 1
        elif state == FAILED:
            c.dead += 1

    def deadline(self, now: float) -> float | None:
        out = None
        for b in self.busy.values():
            if b.harakiri > 0 and not b.killed:
                d = b.started_mono + b.harakiri
                out = d if out is None else min(out, d)
        return out

    def tick(self, now: float) -> None:
        for b in self.busy.values():
            if b.harakiri > 0 and not b.killed and now - b.started_mono > b.harakiri:
                b.killed = True
                self.m.log.error(f"HARAKIRI: {b.process} [{b.pid}] ran job {b.job} for "
                                 f"{now - b.started_mono:.1f} s (harakiri = {b.harakiri:g} s): "
                                 "killing it")
                self.m.os.kill_group(b.pid, signal.SIGKILL)
                self.m.emit("harakiri", process=b.process, job=b.job)
        if now >= self.next_reclaim:
            self.next_reclaim = now + RECLAIM_EVERY
            for name in self.stores:
                self._reclaim(name, None, "its process is gone")

    # -- status ----------------------------------------------------------------------------

    def _counts(self, name: str) -> dict[str, int]:
        now = self.m.os.monotonic()
        hit = self.counts.get(name)
        if hit is not None:
            age = COUNT_DIRTY_AGE if name in self.changed else COUNT_MIN_AGE
            if now - hit[0] < max(age, COUNT_COST_FACTOR * hit[2]):
                return hit[1]
        self.changed.discard(name)
        t0 = time.perf_counter()
        try:
            c = self.stores[name].counts()
        except OSError:
            c = {"queued": 0, "due": 0, "running": 0, "retrying": 0, "failed": 0}
        self.counts[name] = (now, c, time.perf_counter() - t0)
        return c

    def status(self) -> dict[str, Any]:
        now = self.m.os.monotonic()
        out: dict[str, Any] = {}
        for name, store in self.stores.items():
            sc = self.m.config.spoolers[name]
            counts = self._counts(name)
            out[name] = {
                "dir": str(store.root), "processes": sc.processes, "handler": sc.handler,
                **counts,
                "counts_age": round(max(0.0, now - self.counts[name][0]), 3),
                "busy": [{"process": b.process, "pid": b.pid, "job": b.job,
                          "attempt": b.attempt, "for": round(now - b.started_mono, 3)}
                         for b in self.busy.values() if b.process.startswith(f"spooler:{name}#")],
                **self.counters[name].as_dict(),
            }
        return out


def _fate(state: str, e: Entry) -> str:
    if state == FAILED:
        return "moved to failed/ (no retries left)"
    return f"retrying in {max(0.0, e.due - time.time()):.1f} s"
