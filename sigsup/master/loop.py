"""The master: one process, one thread, one selectors loop.

``Master.step()`` is one turn of the loop: wait for the next event or deadline, handle what
is ready (POSIX signals through the wakeup fd, frames from children, child output, control
clients), then run what is due (respawns, harakiri, the cheaper, shutdown, scheduled calls)
and write the frames routing produced. Tests drive it one step at a time with a fake OS seam.

``Master`` is the one implementation of ``MasterPort`` (master/port.py): features and
commands are given that interface and nothing else. Frames from children are dispatched by
two explicit tables (``_on_frame`` by frame type, ``_on_message`` by a JSON frame's "t").
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from sigsup import context
from sigsup.child.loop import child_main
from sigsup.config import Config
from sigsup.context import Identity
from sigsup.master import policies, reconfig
from sigsup.master.calls import Calls
from sigsup.master.channels import Channels
from sigsup.master.clients import Clients
from sigsup.master.commands import Commands
from sigsup.master.control import ControlConn, ControlServer
from sigsup.master.log import Log
from sigsup.master.ossys import OsSys, describe_exit
from sigsup.master.output import Output
from sigsup.master.port import (
    ChildMessage,
    Extension,
    Feature,
    Listener,
    MasterPort,
    Refused,
    Scheduled,
    overrides,
)
from sigsup.master.runtime import MasterRuntime
from sigsup.master.select import signal_name
from sigsup.master.tree import build_procs, record_death, respawn_delay
from sigsup.protocol.frames import (
    ACK,
    DONE,
    DONE_ERROR,
    HEADER,
    JSON,
    RAISE,
    READY,
    ProtocolError,
    pack_json,
    payload_problem,
)
from sigsup.routing.proc import Proc
from sigsup.routing.result import RaiseResult
from sigsup.routing.router import Router
from sigsup.routing.states import (
    ACCEPTS_RAISES,
    ALIVE,
    MASTER_TRANSITIONS,
    MasterState,
    ProcState,
    check_move,
)
from sigsup.routing.table import SignalTable
from sigsup.routing.targets import PROCESS, WORKERS
from sigsup.words import count

# what a selector key's data says a descriptor is: (kind, object)
WAKE, CHANNEL, OUTPUT, LISTEN, CLIENT, WATCHED = range(6)   # WATCHED: (WATCHED, callback())
# what the master does when a process it asked to stop (per-process control) exits
RESTART, REMOVE = "restart", "remove"
HANDLED_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
_pack = HEADER.pack   # frames' pack() without its masking: sequence numbers and ids are u32


class Master(MasterPort):
    def __init__(self, config: Config, *, ossys: OsSys | None = None, log: Log | None = None,
                 features: Sequence[Feature] = ()) -> None:
        self.config = config
        self.sup = config.supervisor
        self.os = ossys or OsSys()
        self.log = log or Log()
        self.pid = os.getpid()
        self.name = self.sup.name
        self.table = SignalTable()
        for sc in config.signals.values():
            self.table.register(sc.num, sc.handler, sc.target, sc.on_full, source="config")
        self.procs: list[Proc] = build_procs(config)
        self.router = Router(self.table, self.procs, queue_size=self.sup.queue_size,
                             window=self.sup.window, clock=self.os.monotonic)
        self.by_pid: dict[int, Proc] = {}
        self.selector = selectors.DefaultSelector()
        self.control = ControlServer(self.sup.socket, self._on_request, log=self.log.warning)
        self.clients = Clients(self.control, self.selector, self.os.monotonic, CLIENT)
        self.output = Output(self.selector, self.log, OUTPUT)
        self.channels = Channels(self.selector, self.router.dirty, self.log, self.os, self._frame,
                                 CHANNEL)
        self._state = MasterState.STARTING
        self.started_at = self.os.time()
        self.started_mono = self.os.monotonic()
        self.stop_deadline = 0.0
        self.kill_deadline = 0.0
        self.exit_code = 0
        self._wake_r = -1
        self._wake_w = -1
        self.listeners: list[Listener] = []
        self._calls = Calls()                    # call_at
        # slots told to stop by a control command: RESTART (respawn at once) or REMOVE
        # (the pool shrank); p.stop_deadline is when SIGKILL follows
        self._after_exit: dict[Proc, str] = {}
        self.extensions: list[Extension] = [make(self) for make in features]
        names = [e.name for e in self.extensions]
        if len(set(names)) != len(names) or "" in names:
            raise ValueError(f"features need distinct, non-empty names: {names}")
        # the per-turn hooks, only of the features that have them
        self._deadlines = [e.deadline for e in self.extensions if overrides(e, "deadline")]
        self._ticks = [e.tick for e in self.extensions if overrides(e, "tick")]
        self.commands = Commands(self, self.extensions)
        # a frame from a child, by type; a JSON frame by its "t" (the master's and features')
        self._on_frame: dict[int, Callable[[Proc, tuple], None]] = {
            DONE: self._frame_done, RAISE: self._frame_raise, READY: self._frame_ready,
            JSON: self._frame_json}
        self._on_message: dict[str, ChildMessage] = {
            "done": self._msg_done, "call": self._msg_call, "wait": self._msg_wait,
            "unwait": self._msg_unwait}
        for ext in self.extensions:
            for t, fn in ext.child_messages().items():
                if t in self._on_message:
                    raise ValueError(f"child message {t!r} of {ext.name} is taken")
                self._on_message[t] = fn

    # -- the master's own state ------------------------------------------------------------

    @property
    def errors(self) -> int:
        """Children that broke the protocol (each was killed)."""
        return self.channels.errors

    @property
    def state(self) -> MasterState:
        return self._state

    @state.setter
    def state(self, new: MasterState) -> None:
        check_move("master", self._state, new, MASTER_TRANSITIONS)
        self._state = new

    # -- start-up --------------------------------------------------------------------------

    def install_runtime(self) -> None:
        """Make ``import sigsup`` in this process talk to this master (preload modules may
        register signals, raise, add timers at import time), and put pythonpath first."""
        for p in reversed(self.sup.pythonpath):
            if str(p) not in sys.path:
                sys.path.insert(0, str(p))
        context.install(MasterRuntime(self, self.commands))

    def preload(self) -> None:
        """Import what ``preload`` names, in the master, before anything forks."""
        self.install_runtime()
        for module in self.sup.preload:
            importlib.import_module(module)

    def start(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        for fd in (self._wake_r, self._wake_w):
            os.set_blocking(fd, False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, (WAKE, None))
        signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, _noop_handler)
        listener = self.control.open()
        self.selector.register(listener, selectors.EVENT_READ, (LISTEN, None))
        os.environ["SIGSUP_SOCKET"] = str(self.sup.socket)
        self.log.info(f"sigsup master for {self.name!r} (pid {self.pid}) on {self.sup.socket}; "
                      f"{len(self.procs)} processes, {len(self.table.registered())} signals")
        self.state = MasterState.RUNNING
        if context.current_or_none() is None:
            self.install_runtime()
        context.process().run_pending()   # what decorators met before a master existed
        for ext in self.extensions:
            ext.start()
        now = self.os.monotonic()
        cheaper = self.config.workers.cheaper
        running_workers = 0
        for p in self.procs:
            if p.kind == "worker" and cheaper is not None:
                if running_workers >= max(cheaper, 1 if cheaper == 0 else cheaper):
                    p.state = ProcState.CHEAPED
                    continue
                running_workers += 1
            if not p.pid:   # a feature's start() may have added and started one already
                self.spawn(p, now)

    def add_proc(self, p: Proc) -> None:
        self.procs.append(p)
        self.router.add_proc(p)
        if self._state is MasterState.RUNNING:
            self.spawn(p, self.os.monotonic())

    def spawn(self, p: Proc, now: float) -> None:
        identity = Identity(p.kind, p.index, p.name, self.pid,
                            farms=tuple(g[5:] for g in p.groups if g.startswith("farm:")),
                            spooler=p.spooler)
        handlers = self.table.handlers()
        title = f"sigsup: {p.display} [{self.name}]"

        def main(sock: socket.socket, output_fd: int) -> None:
            child_main(sock, output_fd, identity=identity, handlers=handlers,
                       program=p.program, runner=p.runner, title=title)

        try:
            spawned = self.os.spawn(main, self._close_in_child)
        except OSError as exc:
            self.log.error(f"cannot start {p.name}: {exc}")
            self._after_death(p, now, f"fork failed: {exc}")
            return
        p.pid = spawned.pid
        p.sock = spawned.sock
        p.output_fd = spawned.output_fd
        p.reader = type(p.reader)()
        p.ready = False
        p.waiting = None
        p.state = ProcState.STARTING
        p.started_at = self.os.time()
        p.started_mono = now
        p.harakiri_hit = False
        self.by_pid[p.pid] = p
        self.channels.watch(p)
        self.output.watch(p)
        self.log.info(f"{p.name} [{p.pid}] started")
        self.emit("spawn", process=p.name, pid=p.pid)

    def _close_in_child(self) -> None:
        """In a freshly forked child: close every descriptor that is the master's own."""
        signal.set_wakeup_fd(-1)
        fds = [self._wake_r, self._wake_w]
        if self.control.listener is not None:
            fds.append(self.control.listener.fileno())
        fds.extend(c.sock.fileno() for c in self.control.conns.values())
        for q in self.procs:
            if q.sock is not None:
                fds.append(q.sock.fileno())
            if q.output_fd >= 0:
                fds.append(q.output_fd)
        # and whatever else the loop watches (extensions' descriptors, a timerfd...)
        fds.extend(key.fd for key in self.selector.get_map().values())
        with contextlib.suppress(Exception):
            fds.append(self.selector.fileno())  # type: ignore[attr-defined]
        for fd in set(fds):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    # -- the loop --------------------------------------------------------------------------

    def run(self) -> int:
        try:
            self.start()
            while self._state is not MasterState.STOPPED:
                self.step()
        finally:
            self.close()
        return self.exit_code

    def step(self, timeout: float | None = None) -> None:
        now = self.os.monotonic()
        wait = self._timeout(now) if timeout is None else timeout
        try:
            events = self.selector.select(wait)
        except InterruptedError:
            events = []
        for key, _mask in events:
            kind, obj = key.data
            if kind == CHANNEL:
                self.channels.read(obj)
            elif kind == OUTPUT:
                self.output.read(obj)
            elif kind == WAKE:
                self._read_wakeup()
            elif kind == CLIENT:
                self.clients.event(obj, _mask)
            elif kind == LISTEN:
                self.clients.accept()
            elif kind == WATCHED:
                obj()
        if self.control.backlog:
            self.clients.serve_backlog()
        # RUN frames out before the extensions' ticks: a shorter raise -> handler
        self.channels.write_all()
        self._tick(self.os.monotonic())
        self._flush()

    def _timeout(self, now: float) -> float:
        """Seconds until the next thing that is due (at most 1 s): the loop never spins."""
        t = 1.0
        if self.router.dirty or self.clients.pending():
            return 0.0
        for p in self.procs:
            if p.state in (ProcState.BACKOFF, ProcState.FAILED):
                t = min(t, p.respawn_at - now)
        if self.sup.harakiri > 0:
            for p in self.procs:
                if p.inflight:
                    t = min(t, policies.running_since(p) + self.sup.harakiri - now)
        if self._state is MasterState.STOPPING:
            t = min(t, (self.kill_deadline or self.stop_deadline) - now)
        for p in self._after_exit:
            if p.stop_deadline:
                t = min(t, p.stop_deadline - now)
        for deadline in self._deadlines:
            d = deadline(now)
            if d is not None:
                t = min(t, d - now)
        when = self._calls.next_at() if self._calls else None
        if when is not None:
            t = min(t, when - now)
        return max(0.0, t)

    # -- children's channels ---------------------------------------------------------------

    def _frame(self, p: Proc, f: tuple) -> None:
        handler = self._on_frame.get(f[0])
        if handler is None:
            raise ProtocolError(f"unexpected frame type {f[0]}")
        handler(p, f)

    def _frame_done(self, p: Proc, f: tuple) -> None:
        self.router.done(p, f[1], f[2], f[3])
        if self.listeners:
            self.emit("handled" if f[2] == 0 else "failed", process=p.name, signum=f[1], id=f[3])

    def _frame_raise(self, p: Proc, f: tuple) -> None:
        signum, seq = f[1], f[3]
        res = self.raise_signal(signum, p.name)
        if res.refused or res.coalesced:
            p.out += pack_json({"t": "raised", "seq": seq, "result": res.as_dict()})
        else:
            p.out += _pack(ACK, signum, min(len(res.recipients), 0xFFFF), seq, res.id)
        dirty = self.router.dirty
        dirty.pop(p, None)   # to the end: its RUN frames go out before its ACK
        dirty[p] = None

    def _frame_ready(self, p: Proc, f: tuple) -> None:
        if p.state is ProcState.STOPPING:
            return   # told to stop before it was ready: it gets no work
        p.state = ProcState.RUNNING
        self.router.ready(p)
        self.log.debug(f"{p.name} [{p.pid}] ready")
        self.emit("ready", process=p.name, pid=p.pid)

    def _frame_json(self, p: Proc, f: tuple) -> None:
        msg = f[4]
        handler = self._on_message.get(msg.get("t"))
        if handler is None:
            raise ProtocolError(f"unknown message {msg.get('t')!r}")
        handler(p, msg)

    def _msg_done(self, p: Proc, msg: dict[str, Any]) -> None:
        self.router.done(p, int(msg["signum"]), int(msg.get("status", DONE_ERROR)),
                         int(msg["rid"]), str(msg.get("detail") or "handler raised"))
        self.emit("failed", process=p.name, signum=msg["signum"], id=msg["rid"],
                  detail=msg.get("detail"))

    def _msg_call(self, p: Proc, msg: dict[str, Any]) -> None:
        reply = self.commands.execute(msg, origin=p.name)
        reply["t"] = "reply"
        reply["rid"] = msg.get("rid")
        self.send_json(p, reply)

    def _msg_wait(self, p: Proc, msg: dict[str, Any]) -> None:
        self.router.wait(p, int(msg.get("signum", -1)))

    def _msg_unwait(self, p: Proc, msg: dict[str, Any]) -> None:
        p.waiting = None

    # -- raising (the one path of every raise) ---------------------------------------------

    def raise_signal(self, signum: int, origin: str, policy: str | None = None,
                     payload: object = None) -> RaiseResult:
        problem = None if payload is None else payload_problem(payload)
        if self._state not in ACCEPTS_RAISES:
            res = RaiseResult.refused_by(signum, "master", f"the master is {self._state}")
        elif problem is not None:
            res = RaiseResult.refused_by(signum, "master", problem)
        else:
            res = self.router.raise_signal(signum, origin, self.os.time(), policy, payload)
        if self.listeners:
            extra = {} if payload is None or problem else {"payload": payload}
            self.emit("raise", origin=origin, **res.as_dict(), **extra)   # id, signum...
        return res

    # -- POSIX signals and exits -----------------------------------------------------------

    def _read_wakeup(self) -> None:
        try:
            data = os.read(self._wake_r, 4096)
        except (BlockingIOError, InterruptedError):
            return
        for signum in data:
            if signum == signal.SIGCHLD:
                self._reap()
            elif signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
                if self._state is MasterState.STOPPING and signum != signal.SIGTERM:
                    self.log.warning("second interrupt: killing every child now")
                    self._kill_all()
                else:
                    name = signal.Signals(signum).name
                    self.request_stop(f"{name} received")
            elif signum == signal.SIGHUP:   # sigsup reload (sigsup/reload/master.py)
                reply = self.commands.execute({"cmd": "reload"}, origin="SIGHUP")
                if not reply.get("ok") and not reply.get("logged"):
                    self.log.error(f"SIGHUP: no reload: {reply.get('error')}")

    def _reap(self) -> None:
        now = self.os.monotonic()
        for pid, status in self.os.reap():
            p = self.by_pid.pop(pid, None)
            if p is None:
                continue
            self._on_exit(p, describe_exit(status), now, clean=os.WIFEXITED(status)
                          and os.WEXITSTATUS(status) == 0)

    def _on_exit(self, p: Proc, how: str, now: float, clean: bool = False) -> None:
        self.channels.read(p, drain=True)   # DONE frames written before it died still count
        self.channels.close(p)
        self.output.read(p)
        self.output.close(p)
        pid = p.pid
        p.pid = 0
        p.last_exit = how
        after = self._after_exit.pop(p, None)
        p.stop_deadline = 0.0
        if p.harakiri_hit:
            self.router.process_lost(p, "harakiri", running_failed=False)
        elif after is not None and clean:
            # told to stop, it finished its running handler and left: what it still had in
            # flight it never started, and goes back (to its own queue or its pool)
            self.router.process_lost(p, f"{p.name} stopped ({how})", running_failed=False)
        else:
            self.router.process_lost(p, f"{p.name} died ({how})")
        self.emit("exit", process=p.name, pid=pid, how=how)
        for ext in self.extensions:
            ext.proc_exit(p, how)
        if self._state is MasterState.STOPPING:
            p.state = ProcState.STOPPED
            self.log.info(f"{p.name} [{pid}] stopped ({how})")
            return
        if after == RESTART:
            p.state = ProcState.STOPPED
            self.log.info(f"{p.name} [{pid}] exited ({how}) for its restart: starting it again")
            self.spawn(p, now)
            return
        if after == REMOVE:
            p.state = ProcState.STOPPED
            self.log.info(f"{p.name} [{pid}] stopped ({how})")
            self._remove_slot(p)
            return
        if p.state is ProcState.STOPPING and p.kind == "worker" and not p.harakiri_hit:
            p.state = ProcState.CHEAPED
            self.log.info(f"{p.name} [{pid}] cheaped ({how})")
            return
        what = "returned" if clean and p.program else "exited"
        self._after_death(p, now, f"{p.name} [{pid}] {what} ({how})")

    def _after_death(self, p: Proc, now: float, what: str) -> None:
        n = record_death(p.deaths, now, self.sup.failure_window)
        if n >= self.sup.failure_limit:
            p.state = ProcState.FAILED
            p.respawn_at = now + self.sup.failure_cooldown
            self.log.error(f"{what}; {n} deaths in {self.sup.failure_window:g} s: {p.name} marked "
                           f"failed, retrying in {self.sup.failure_cooldown:g} s")
            self.emit("failed-group", process=p.name)
        else:
            delay = respawn_delay(n, self.sup.respawn_delay, self.sup.respawn_delay_max)
            p.state = ProcState.BACKOFF
            p.respawn_at = now + delay
            self.log.warning(f"{what}; respawning in {delay:.1f} s")

    # -- what is due -----------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        if self._calls:
            self._calls.run_due(now)
        if self._state is MasterState.RUNNING:
            for p in self.procs:
                if p.state in (ProcState.BACKOFF, ProcState.FAILED) and p.respawn_at <= now:
                    p.respawns += 1
                    self.spawn(p, now)
            if self.sup.harakiri > 0:
                self._harakiri(now)
            if self._after_exit:
                self._stop_overdue(now)
            if self.config.workers.cheaper is not None:
                self._cheaper(now)
            for tick in self._ticks:
                tick(now)
        elif self._state is MasterState.STOPPING:
            # what a stopping process had been sent but not started comes back to a queue
            self.router.drop_all_queued("not run: the master stopped")
            alive = [p for p in self.procs if p.state in ALIVE and p.pid]
            if not alive:
                self.state = MasterState.STOPPED
            elif self.kill_deadline and now >= self.kill_deadline:
                for p in alive:
                    self.log.error(f"{p.name} [{p.pid}] did not exit after SIGKILL")
                self.state = MasterState.STOPPED
            elif now >= self.stop_deadline and not self.kill_deadline:
                self.log.warning(f"shutdown_timeout ({self.sup.shutdown_timeout:g} s) passed: "
                                 f"killing {', '.join(p.name for p in alive)}")
                self._kill_all()
        self.clients.expire(now)

    def _harakiri(self, now: float) -> None:
        limit = self.sup.harakiri
        for p, ran in policies.overran(self.procs, limit, now):
            r = p.inflight[0]
            self.log.error(f"HARAKIRI: {p.name} [{p.pid}] ran signal {r.signum} for "
                           f"{ran:.1f} s (harakiri = {limit:g} s): killing it")
            self.router.fail_running(p, f"harakiri after {limit:g} s")
            p.harakiri_hit = True
            self.os.kill_group(p.pid, signal.SIGKILL)
            self.emit("harakiri", process=p.name, signum=r.signum, id=r.id)

    def _cheaper(self, now: float) -> None:
        workers = [p for p in self.procs if p.kind == "worker"]
        for p in policies.cheaper_wake(workers, self.router.backlog(WORKERS), now):
            self.log.info(f"{p.name}: starting again (signals waiting)")
            self.spawn(p, now)
        cfg = self.config.workers
        for p in policies.cheaper_stop(workers, cfg.cheaper or 0, cfg.cheaper_idle, now):
            p.state = ProcState.STOPPING
            p.ready = False
            self.os.kill_group(p.pid, signal.SIGTERM)

    # -- per-process control: sigsup restart, kill, retry, scale (master/proccmds.py) ------

    def _need_running(self) -> None:
        if self._state is not MasterState.RUNNING:
            raise Refused(f"the master is {self._state}")

    def _stop_for(self, p: Proc, after: str, now: float) -> None:
        """Ask ``p``'s process to leave (SIGTERM: a running handler finishes first) and
        remember what to do once it has; it gets no more work meanwhile, and SIGKILL
        follows if it is still there after shutdown_timeout."""
        self._after_exit[p] = after
        if not p.stop_deadline:
            p.stop_deadline = now + self.sup.shutdown_timeout
        if p.state is ProcState.STOPPING:
            return   # told already (the cheaper): a second SIGTERM could cut its exit short
        p.state = ProcState.STOPPING
        p.ready = False
        self.os.kill_group(p.pid, signal.SIGTERM)

    def _start_now(self, p: Proc, now: float) -> None:
        """Start a slot that waits (backoff, failed) at once; its deaths are forgotten."""
        p.deaths.clear()
        p.respawns += 1
        self.spawn(p, now)

    def _stop_overdue(self, now: float) -> None:
        for p, after in self._after_exit.items():
            if p.pid and p.stop_deadline and now >= p.stop_deadline:
                self.log.warning(f"{p.name} [{p.pid}] did not exit within shutdown_timeout "
                                 f"({self.sup.shutdown_timeout:g} s) of its {after}: killing it")
                p.stop_deadline = 0.0
                self.os.kill_group(p.pid, signal.SIGKILL)

    def restart_proc(self, p: Proc) -> str:
        self._need_running()
        after = self._after_exit.get(p)
        if after == REMOVE:
            raise Refused("it is being removed (the worker pool shrinks)")
        if after == RESTART:
            return "restarting already"
        now = self.os.monotonic()
        if p.pid and p.state in ALIVE:
            self.log.info(f"{p.name} [{p.pid}] restarting: SIGTERM, and a new process once "
                          "it exited")
            self._stop_for(p, RESTART, now)
            return "restarting"
        if p.state in (ProcState.BACKOFF, ProcState.FAILED):
            self.log.info(f"{p.name}: restart: starting it now (it was {p.state})")
            self._start_now(p, now)
            return "started"
        raise Refused(f"it is not running ({p.state})")

    def signal_proc(self, p: Proc, sig: int) -> int:
        if not (p.pid and p.state in ALIVE):
            raise Refused(f"it is not running ({p.state})")
        pid = p.pid
        self.log.info(f"{p.name} [{pid}]: {signal_name(sig)} sent to its process group")
        self.os.kill_group(pid, sig)
        return pid

    def retry_proc(self, p: Proc) -> int:
        self._need_running()
        if p.state is not ProcState.FAILED:
            raise Refused(f"it is not failed ({p.activity()})")
        now = self.os.monotonic()
        self.log.info(f"{p.name}: retried now ({max(0.0, p.respawn_at - now):.0f} s of its "
                      "cool-down were left)")
        self._start_now(p, now)
        return p.pid

    def scale_workers(self, count: int) -> dict[str, Any]:
        self._need_running()
        if count < 0:
            raise Refused(f"a worker count is 0 or more, not {count}")
        cheaper = self.config.workers.cheaper
        if cheaper is not None and count < cheaper:
            raise Refused(f"workers.cheaper is {cheaper}: keep at least {cheaper} workers")
        for e in self.table.registered():
            t = e.target
            if t is None or t.group != WORKERS:
                continue
            if count == 0:
                raise Refused(f"signal {e.num} targets {t.raw}: the pool cannot go to 0 "
                              "workers while the table sends it signals (unregister them first)")
            if t.scope == PROCESS and t.index > count:
                raise Refused(f"signal {e.num} targets {t.raw}: keep at least {t.index} "
                              "workers (or unregister it first)")
        workers = [p for p in self.procs if p.kind == "worker"]
        before = sum(1 for p in workers if self._after_exit.get(p) != REMOVE)
        by_index = {p.index: p for p in workers}
        now = self.os.monotonic()
        started: list[str] = []
        stopping: list[str] = []
        removed: list[str] = []
        kept: list[str] = []
        for i in range(1, count + 1):
            p = by_index.get(i)
            if p is None:
                p = Proc(f"worker{i}", "worker", i, (WORKERS,))
                self._insert_worker(p)
                self.spawn(p, now)
                started.append(p.name)
            elif self._after_exit.get(p) == REMOVE:
                self._after_exit[p] = RESTART   # wanted again: a new one once it exited
                kept.append(p.name)
        for p in reversed(workers):
            if p.index <= count or self._after_exit.get(p) == REMOVE:
                continue
            if p.pid and p.state in ALIVE:
                self._stop_for(p, REMOVE, now)
                stopping.append(p.name)
            else:
                p.state = ProcState.STOPPED
                self._remove_slot(p)
                removed.append(p.name)
        # targets (sigsup.register_signal) are checked against the new count from now on
        self.config = dataclasses.replace(
            self.config, workers=dataclasses.replace(self.config.workers, count=count))
        self.log.info(f"workers: {before} -> {count}"
                      + (f"; started {', '.join(started)}" if started else "")
                      + (f"; stopping {', '.join(stopping)} (removed once they exited)"
                         if stopping else "")
                      + (f"; removed {', '.join(removed)}" if removed else "")
                      + (f"; kept {', '.join(kept)}" if kept else ""))
        return {"from": before, "to": count, "started": started, "stopping": stopping,
                "removed": removed, "kept": kept}

    def _insert_worker(self, p: Proc) -> None:
        """A new worker slot, in its place: after the spoolers and the lower workers."""
        at = 0
        for k, q in enumerate(self.procs):
            if q.kind == "spooler" or (q.kind == "worker" and q.index < p.index):
                at = k + 1
        self.procs.insert(at, p)
        self.router.add_proc(p)
        self.router.groups[WORKERS].sort(key=lambda q: q.index)   # workerN is the Nth

    def _remove_slot(self, p: Proc) -> None:
        self.procs.remove(p)
        dropped = self.router.remove_proc(
            p, f"not run: {p.name} was removed (the worker pool shrank)")
        self.log.info(f"{p.name} removed from the tree")
        if dropped:
            self.log.warning(f"{p.name} removed: {count(dropped, 'queued signal')} dropped "
                             "(its broadcast copies and signals for it alone; what waits "
                             "for the pool is kept)")

    def apply_config(self, config: Config) -> dict[str, Any]:
        self._need_running()
        return reconfig.apply(self, config)

    # -- stopping --------------------------------------------------------------------------

    def request_stop(self, why: str) -> None:
        if self._state is not MasterState.RUNNING:
            return
        now = self.os.monotonic()
        queued = self.router.queued_total()
        self.log.info(f"stopping ({why}): waiting up to {self.sup.shutdown_timeout:g} s for "
                      f"running handlers" + (f"; {queued} queued signals will not run" if queued else ""))
        self.state = MasterState.STOPPING
        self.router.drop_all_queued("not run: the master stopped")
        self.stop_deadline = now + self.sup.shutdown_timeout
        for p in self._after_exit:   # restarts and removals give way to the shutdown
            p.stop_deadline = 0.0
        self._after_exit.clear()
        for p in self.procs:
            if p.state in ALIVE and p.pid:
                p.state = ProcState.STOPPING
                self.os.kill_group(p.pid, signal.SIGTERM)
            else:
                p.state = ProcState.STOPPED
        self.emit("stopping", reason=why)

    def _kill_all(self) -> None:
        for p in self.procs:
            if p.state in ALIVE and p.pid:
                self.os.kill_group(p.pid, signal.SIGKILL)
        self.kill_deadline = self.os.monotonic() + 3.0

    def close(self) -> None:
        for ext in self.extensions:
            ext.close()
        for p in self.procs:
            if p.pid and p.state in ALIVE:
                self.os.kill_group(p.pid, signal.SIGKILL)
        # reap what is left so nothing is a zombie, for at most a moment
        deadline = time.monotonic() + 2.0
        while self.by_pid and time.monotonic() < deadline:
            for pid, _status in self.os.reap():
                self.by_pid.pop(pid, None)
            if self.by_pid:
                time.sleep(0.01)
        for p in self.procs:
            self.channels.close(p)
            self.output.close(p)
        self.control.close()
        if self._wake_w >= 0:
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(-1)
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1
        self.selector.close()
        if self._state is MasterState.STOPPED:
            self.log.info("stopped")

    # -- writing ---------------------------------------------------------------------------

    def _flush(self) -> None:
        self.channels.write_all()
        self.clients.flush()

    def _on_request(self, conn: ControlConn, msg: dict[str, Any]) -> None:
        self.commands.handle_client(conn, msg)

    # -- events for listeners (status, sigsup events) --------------------------------------

    def emit(self, kind: str, **fields: Any) -> None:
        if not self.listeners:
            return
        event = {"event": kind, "ts": self.os.time(), **fields}
        for listener in list(self.listeners):
            listener(kind, event)

    def listen(self, listener: Listener) -> None:
        if listener not in self.listeners:
            self.listeners.append(listener)
        self.router.on_event = self._router_event   # deliveries too, while someone listens

    def unlisten(self, listener: Listener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)
        if not self.listeners:
            self.router.on_event = None

    def _router_event(self, kind: str, fields: dict[str, Any]) -> None:
        self.emit(kind, **fields)

    # -- the rest of MasterPort: frames out, descriptors, scheduled calls, clients ---------

    def send(self, p: Proc, data: bytes) -> None:
        if p.sock is not None:
            p.out += data
            self.router.dirty[p] = None

    def send_json(self, p: Proc, msg: dict[str, Any]) -> None:
        self.send(p, pack_json(msg))

    def broadcast_json(self, msg: dict[str, Any]) -> None:
        data = pack_json(msg)
        for p in self.procs:
            self.send(p, data)

    def proc_ready(self, p: Proc) -> None:
        self.router.ready(p)

    def watch_fd(self, fd: int, callback: Callable[[], None]) -> None:
        self.selector.register(fd, selectors.EVENT_READ, (WATCHED, callback))

    def unwatch_fd(self, fd: int) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(fd)

    def call_at(self, when: float, fn: Callable[[], None]) -> Scheduled:
        return self._calls.at(when, fn)

    def client_alive(self, conn: ControlConn) -> bool:
        return self.clients.alive(conn)

    def client_reply(self, conn: ControlConn, msg: dict[str, Any]) -> None:
        self.clients.reply(conn, msg)

    def extension(self, name: str) -> Extension | None:
        return next((e for e in self.extensions if e.name == name), None)

    def extensions_status(self) -> dict[str, Any]:
        parts = {}
        for ext in self.extensions:
            part = ext.status()
            if part is not None:
                parts[ext.name] = part
        return parts


def _noop_handler(signum: int, frame: object) -> None:
    """POSIX signals only wake the loop (through the wakeup fd); the loop acts on them."""
