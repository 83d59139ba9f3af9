"""The spoolers' part of the master (an ``Extension``, see master/port.py).

- At start: takes each spool directory (a POSIX lock on ``DIR/.lock``: one master per
  directory, spool/dirlock.py), and returns to the queue every job left claimed by a process
  of a previous run (counted as an attempt: its handler may have run), before any spooler
  starts.
- ``spool-begin`` (a spooler process is about to run a job): the process gets no more
  signals until ``spool-end``, and the job's ``harakiri`` clock starts here.
- A spooler process that exits (or is killed by harakiri) with a job claimed: the job goes
  back to the queue as a failed attempt (retry with backoff, or dead letter), or untouched
  if its handler had not started.
- ``spool-wake``: a job was written; the spooler's processes are told at once.
- ``status()["spoolers"]``: per spooler, the queue's counts (from directory listings, no
  file opened, cached: spool/counts.py) and the counters of this master's life.

While the master lives, the process's tree config (treeconfig.py) and ``$SIGSUP_CONFIG``
are its own; ``close()`` gives back what they were before (``ConfigLoan``).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sigsup import treeconfig as conf
from sigsup.master.port import ChildMessage, Command, Extension, MasterPort
from sigsup.protocol.frames import ProtocolError, pack_json
from sigsup.routing.states import MasterState, ProcState
from sigsup.spool.counts import QueueCounts, SpoolCounters
from sigsup.spool.dirlock import DirLocks
from sigsup.spool.job import Entry
from sigsup.spool.policy import RetryPolicy
from sigsup.spool.store import FAILED, JobStore

if TYPE_CHECKING:
    from sigsup.config import Config
    from sigsup.routing.proc import Proc

RUNNER = "sigsup.spool.runner:run"
RECLAIM_EVERY = 5.0       # seconds between looks for claims of vanished processes


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


class ConfigLoan:
    """The process's tree config, and ``$SIGSUP_CONFIG`` once the master starts, set to a
    master's for its life; ``give_back`` restores what each replaced, unless something
    (another master of the process: tests build several) has replaced it since."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.config_before = conf.current_or_none_held()
        self.env: str | None = None          # what export() set, None before
        self.env_before: str | None = None
        self.lent = True
        conf.set_config(config)              # preload code and (through fork) children see it

    def export(self) -> None:
        """For what children run in turn (a script started by a worker)."""
        self.env_before = os.environ.get(conf.ENV)
        self.env = str(self.config.path)
        os.environ[conf.ENV] = self.env

    def give_back(self) -> None:
        if not self.lent:
            return
        self.lent = False
        if conf.current_or_none_held() is self.config:
            conf.set_config(self.config_before)
        if self.env is not None and os.environ.get(conf.ENV) == self.env:
            if self.env_before is None:
                os.environ.pop(conf.ENV, None)
            else:
                os.environ[conf.ENV] = self.env_before


class SpoolExtension(Extension):
    name = "spoolers"

    def __init__(self, master: MasterPort) -> None:
        super().__init__(master)
        cfg = master.config
        self.loan = ConfigLoan(cfg)
        self.stores = {n: JobStore(sc.dir, n) for n, sc in cfg.spoolers.items()}
        self.policies = {n: RetryPolicy(sc.max_retries, sc.retry_backoff, sc.retry_backoff_max)
                         for n, sc in cfg.spoolers.items()}
        self.counters = {n: SpoolCounters() for n in cfg.spoolers}
        self.busy: dict[str, Busy] = {}        # process name -> the job it runs
        self.counts = QueueCounts(self.stores, master.os.monotonic)
        self.locks = DirLocks()
        self.next_reclaim = 0.0
        for p in master.procs:
            if p.kind == "spooler" and p.runner is None:
                p.runner = RUNNER

    # -- life ------------------------------------------------------------------------------

    def start(self) -> None:
        self.loan.export()
        for name, store in self.stores.items():
            try:
                store.ensure()
                self.locks.take(store.root)
            except OSError as exc:
                raise RuntimeError(f"spooler {name}: cannot use {store.root}: {exc}") from None
            moved = store.reclaim(lambda pid: False, lambda e: {
                "outcome": "died", "pid": e.pid,
                "error": "interrupted: the master stopped or died while the job ran"},
                self.policies[name])
            for e, state in moved:
                self.counters[name].reclaimed(state)
                self.m.log.warning(f"spooler {name}: job {e.id} was running when the master "
                                   f"stopped; {_fate(state, e)}")
            store.clean_tmp()
            c = store.counts()
            if c["queued"] or c["failed"]:
                self.m.log.info(f"spooler {name}: {c['queued']} jobs queued ({c['due']} due), "
                                f"{c['failed']} in failed/")
        self.next_reclaim = self.m.os.monotonic() + RECLAIM_EVERY

    def close(self) -> None:
        self.locks.release()
        self.loan.give_back()   # the process's config as it was (tests run several masters)

    # -- from spooler processes ------------------------------------------------------------

    def commands(self) -> dict[str, Command]:
        return {"spool-begin": self.cmd_begin, "spool-wake": self.cmd_wake,
                "tree-config": self.cmd_tree_config}

    def child_messages(self) -> dict[str, ChildMessage]:
        return {"spool-wake": self.msg_wake, "spool-end": self.msg_end}

    def _proc(self, name: str) -> Proc | None:
        for p in self.m.procs:
            if p.name == name:
                return p
        return None

    def cmd_begin(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        p = self._proc(origin)
        if p is None or p.kind != "spooler":
            return {"ok": False, "error": "spool-begin comes from spooler processes only"}
        if self.m.state is not MasterState.RUNNING:
            return {"ok": False, "error": f"the master is {self.m.state}"}
        harakiri = msg.get("harakiri") or 0.0
        self.busy[p.name] = Busy(p.name, p.pid, str(msg.get("job")), int(msg.get("attempt", 1)),
                                 self.m.os.monotonic(), self.m.os.time(),
                                 float(harakiri) if isinstance(harakiri, (int, float)) else 0.0)
        p.ready = False        # no signals for it until the job ends: others take them
        self.counts.touch(p.spooler or "")
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
        self.counts.touch(spooler)
        frame = pack_json({"t": "spool-wake"})
        for p in self.m.procs:
            if p.kind == "spooler" and p.spooler == spooler:
                self.m.send(p, frame)      # (none for a process without a channel)

    def msg_wake(self, p: Proc, msg: dict[str, Any]) -> None:
        if msg.get("spooler") in self.stores:
            self.wake(str(msg["spooler"]))

    def msg_end(self, p: Proc, msg: dict[str, Any]) -> None:
        if p.kind != "spooler":
            raise ProtocolError(f"unknown message {msg.get('t')!r}")
        self.busy.pop(p.name, None)
        name = p.spooler or ""
        self.counts.touch(name)
        c = self.counters.get(name)
        if c is not None:
            c.job_ended(msg)
        self.m.emit("job-end", process=p.name, spooler=name, job=msg.get("job"),
                    outcome=msg.get("outcome"), then=msg.get("then"))
        if p.state is ProcState.RUNNING and p.sock is not None and not p.ready:
            self.m.proc_ready(p)     # takes signals again; what waited is sent now

    # -- deaths, harakiri ------------------------------------------------------------------

    def _alive(self) -> Callable[[int], bool]:
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
            moved = store.reclaim(self._alive(), started, self.policies[name])
        except OSError as exc:
            self.m.log.error(f"spooler {name}: cannot return claimed jobs to the queue: {exc}")
            return
        for e, state in moved:
            if state == "released":
                self.m.log.info(f"spooler {name}: job {e.id} returned to the queue (its "
                                "process exited before running it)")
                continue
            self.counters[name].reclaimed(state)
            self.m.log.warning(f"spooler {name}: job {e.id} attempt {e.attempts} did not "
                               f"finish ({how}); {_fate(state, e)}")
        if moved:
            self.wake(name)

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

    def status(self) -> dict[str, Any]:
        now = self.m.os.monotonic()
        out: dict[str, Any] = {}
        for name, store in self.stores.items():
            sc = self.m.config.spoolers[name]
            counts = self.counts.get(name)
            out[name] = {
                "dir": str(store.root), "processes": sc.processes, "handler": sc.handler,
                **counts,
                "counts_age": round(self.counts.age(name, now), 3),
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
