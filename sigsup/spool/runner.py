"""The loop of a spooler process: run due jobs one at a time, and handle the signals aimed
at the ``spooler`` targets in between.

The master starts it as the process's runner (``Proc.runner``). One turn:

1. handle every frame already received (signals, table updates, wake-ups), without waiting;
2. pick the next due job (highest priority, then oldest) from a cached view of ``jobs/``,
   listed again when the master says a job was written, or when the directory changed
   (checked at most every 0.2 s);
3. claim it (a rename into ``running/``), tell the master (which stops sending this process
   signals until the job ends, and holds the job's harakiri clock), run it, record the
   outcome (delete, retry later, dead-letter), tell the master;
4. with nothing due, wait on the channel until the earliest ``at``, at most 0.5 s (a wake-up
   frame or a signal ends the wait at once).

SIGTERM while a job runs lets the job finish, then the process exits.
"""

from __future__ import annotations

import heapq
import os
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

from sigsup import context
from sigsup.errors import CommandFailed
from sigsup.importing import HandlerImportError, resolve
from sigsup.protocol.frames import JSON, READY, pack, pack_json
from sigsup.spool.errors import SpoolError
from sigsup.spool.job import SPOOL_IGNORE, SPOOL_OK, SPOOL_RETRY, Entry, Job, short_error
from sigsup.spool.policy import RetryPolicy
from sigsup.spool.store import FAILED, QUEUED, RUNNING, JobStore
from sigsup.treeconfig import current_config

if TYPE_CHECKING:
    from sigsup.child.loop import ChildLoop

IDLE_POLL = 0.5        # longest sleep without looking at the directory
RESCAN_MIN = 0.2       # a changed directory is listed again at most this often (no wake-up)


class Picker:
    """A cached, ordered view of ``jobs/``: a heap of due jobs by (-priority, id) and a heap
    of future ones by due time."""

    def __init__(self, store: JobStore, clock: Any = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self.ready: list[tuple[tuple[int, str], Entry]] = []
        self.later: list[tuple[float, str, Entry]] = []
        self.dirty = True
        self.scanned_at = -1e9
        self.sig: tuple[int, int] | None = None

    def _dir_sig(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.store.dirs[QUEUED])
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_ino)

    def refresh(self, wall: float) -> None:
        """List ``jobs/`` again if the master said a job was written, or if the directory
        changed and the last listing is RESCAN_MIN old."""
        now = self.clock()
        if not self.dirty:
            if now - self.scanned_at < RESCAN_MIN:
                return
            if self._dir_sig() == self.sig:
                self.scanned_at = now
                return
        self.sig = self._dir_sig()
        self.scanned_at = now
        self.dirty = False
        self.ready, self.later = [], []
        for e in self.store.entries(QUEUED):
            self.add(e, wall)

    def add(self, e: Entry, wall: float) -> None:
        if e.due <= wall:
            heapq.heappush(self.ready, (e.order, e))
        else:
            heapq.heappush(self.later, (e.due, e.id, e))

    def pop(self, wall: float) -> Entry | None:
        while self.later and self.later[0][0] <= wall:
            e = heapq.heappop(self.later)[2]
            heapq.heappush(self.ready, (e.order, e))
        if self.ready:
            return heapq.heappop(self.ready)[1]
        return None

    def sleep_for(self, wall: float) -> float:
        t = IDLE_POLL
        if self.later:
            t = min(t, self.later[0][0] - wall)
        return max(0.005, t)


class Fallback:
    """The handler of a spooler with no ``handler`` configured, set by another module of
    this process before fork (``uwsgi.spooler = fn``, sigsup/compat): ``fn(job)`` returns
    what a handler returns (``context.process().state(Fallback)``)."""

    def __init__(self) -> None:
        self.fn: Any = None


class Spooler:
    def __init__(self, loop: ChildLoop) -> None:
        self.loop = loop
        self.channel = loop.channel
        self.name = loop.identity.spooler or "default"
        cfg = current_config().spoolers[self.name]
        self.cfg = cfg
        self.store = JobStore(cfg.dir, self.name)
        self.store.ensure()
        self.policy = RetryPolicy(cfg.max_retries, cfg.retry_backoff, cfg.retry_backoff_max)
        self.picker = Picker(self.store)
        self.pid = os.getpid()
        self.handler: Any = None
        self.handler_error: str | None = None
        if cfg.handler:
            try:
                self.handler = resolve(cfg.handler)
            except HandlerImportError as exc:
                self.handler_error = f"spooler handler {cfg.handler}: {exc}"
                print(f"spooler {self.name}: {self.handler_error}", file=sys.stderr)

    # -- frames ----------------------------------------------------------------------------

    def on_frame(self, f: tuple) -> None:
        if f[0] == JSON and f[4].get("t") == "spool-wake":
            self.picker.dirty = True
            return
        self.loop.dispatch(f)

    def drain(self) -> None:
        """Handle every frame already here, without waiting."""
        while True:
            f = self.channel.next_frame(0)
            if f is None:
                return
            self.on_frame(f)

    # -- the loop --------------------------------------------------------------------------

    def serve(self) -> None:
        self.channel.send(pack(READY, 0, 0, self.pid))
        loop = self.loop
        while True:
            self.drain()
            if loop.stop_requested:
                raise SystemExit(0)
            wall = time.time()
            self.picker.refresh(wall)
            entry = self.picker.pop(wall)
            if entry is not None:
                self.run_one(entry)
                continue
            f = self.channel.next_frame(self.picker.sleep_for(wall))
            if f is not None:
                self.on_frame(f)

    def run_one(self, entry: Entry) -> None:
        loop = self.loop
        loop.in_handler += 1       # SIGTERM waits for the job (and its bookkeeping)
        try:
            if loop.stop_requested:
                return
            claimed = self.store.claim(entry, self.pid)
            if claimed is None:
                return             # another process of this spooler took it
            try:
                job = self.store.read(RUNNING, claimed)
            except (OSError, SpoolError) as exc:
                self.store.dead_letter(claimed, {"outcome": "unreadable", "error": str(exc),
                                                 "pid": self.pid})
                self._end(claimed, "unreadable", str(exc), FAILED)
                return
            job.spooler = self.name
            try:
                self.channel.call("spool-begin", spooler=self.name, job=job.id,
                                  attempt=job.attempt, name=claimed.name,
                                  harakiri=self.cfg.harakiri)
            except CommandFailed:      # the master is stopping: leave the job for later
                self.store.release(claimed)
                loop.stop_requested = True
                return
            # signals sent before the master knew this process was busy: run them first
            while self.channel.deferred:
                self.on_frame(self.channel.deferred.popleft())
            started = time.time()
            outcome, error = self.execute(job)
            record = {"outcome": outcome, "started": started, "error": error, "pid": self.pid,
                      "process": loop.identity.name}
            if outcome in ("ok", "ignored"):
                self.store.complete(claimed)
                if outcome == "ignored":
                    print(f"spooler {self.name}: job {job.id} ignored by its handler",
                          file=sys.stderr)
                self._end(claimed, outcome, None, None)
                return
            state, ne = self.store.attempt_failed(claimed, record, self.policy)
            if state == QUEUED:
                self.picker.add(ne, time.time())
                print(f"spooler {self.name}: job {job.id} attempt {job.attempt} failed "
                      f"({short_error(error)}); retrying in {max(0.0, ne.due - time.time()):.1f} s",
                      file=sys.stderr)
            else:
                print(f"spooler {self.name}: job {job.id} failed {job.attempt} times; moved to "
                      f"failed/ ({short_error(error)})", file=sys.stderr)
            self._end(claimed, outcome, error, state)
        finally:
            loop.in_handler -= 1

    def _end(self, claimed: Entry, outcome: str, error: str | None, state: str | None) -> None:
        self.channel.send(pack_json({
            "t": "spool-end", "spooler": self.name, "job": claimed.id, "outcome": outcome,
            "error": short_error(error), "then": state}))

    def execute(self, job: Job) -> tuple[str, str | None]:
        """Run the job's function; returns (outcome, error). Outcomes: ok, ignored, retry
        (SPOOL_RETRY), error (an exception, or a return value that means nothing)."""
        if job.task is not None:
            fn = context.process().tasks.get(job.task)
            if fn is None:
                return "error", (f"task {job.task!r} is not a @spool function known to this "
                                 "spooler (import its module in [supervisor] preload)")
            call = _task_call(fn, job)
        else:
            handler = self.handler
            if handler is None and self.handler_error is None:
                handler = context.process().state(Fallback).fn
            if handler is None:
                return "error", (self.handler_error
                                 or f"spooler {self.name!r} has no handler configured")

            def call() -> Any:
                return handler(job)
        try:
            ret = call()
        except Exception as exc:
            tb = _user_traceback(exc)
            print(f"spooler {self.name}: job {job.id} attempt {job.attempt} raised:\n{tb}",
                  file=sys.stderr, end="")
            return "error", tb
        if ret is None or ret == SPOOL_OK and not isinstance(ret, bool):
            return "ok", None
        if ret == SPOOL_RETRY and not isinstance(ret, bool):
            return "retry", "the handler returned SPOOL_RETRY"
        if ret == SPOOL_IGNORE and not isinstance(ret, bool):
            return "ignored", None
        if job.task is not None:
            return "ok", None      # a @spool function's own return value means nothing
        return "error", (f"the handler returned {ret!r}: expected None, SPOOL_OK, "
                         "SPOOL_RETRY or SPOOL_IGNORE")


def _user_traceback(exc: BaseException) -> str:
    """The traceback from the handler's frame down (this module's frames left out)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _task_call(fn: Any, job: Job) -> Any:
    def call() -> Any:
        kwargs = dict(job.args)
        if job.body:
            kwargs["body"] = job.body
        return fn(**kwargs)
    return call


def run(loop: ChildLoop) -> None:
    """The runner of a spooler process (``Proc.runner``)."""
    Spooler(loop).serve()
