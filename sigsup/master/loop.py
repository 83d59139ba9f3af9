"""The master: one process, one thread, one selectors loop.

``Master.step()`` is one turn of the loop: wait for the next event or deadline, handle what
is ready (POSIX signals through the wakeup fd, frames from children, child output, control
clients), then run what is due (respawns, harakiri, the cheaper, shutdown) and write the
frames routing produced. Tests drive it one step at a time with a fake OS seam.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from sigsup import context
from sigsup.child.loop import child_main
from sigsup.config import Config
from sigsup.context import Identity
from sigsup.master.commands import Commands
from sigsup.master.control import ControlConn, ControlServer
from sigsup.master.extension import call_all
from sigsup.master.log import Log
from sigsup.master.ossys import OsSys, describe_exit
from sigsup.master.proc import Proc
from sigsup.master.states import ALIVE, ProcState
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
)
from sigsup.routing.router import Router
from sigsup.routing.table import SignalTable
from sigsup.routing.targets import WORKERS

WAKE, CHANNEL, OUTPUT, LISTEN, CLIENT = range(5)
EXTENSION = 5   # an extension's own descriptor: selector data (EXTENSION, callback())
HANDLED_SIGNALS = (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
# bytes asked of one channel recv: a buffer over malloc's mmap threshold (128 KiB) costs an
# mmap, an mremap and an munmap on every read, however few bytes arrive
CHANNEL_READ = 65536
_pack = HEADER.pack   # frames' pack() without its masking: sequence numbers and ids are u32


class Master:
    def __init__(self, config: Config, *, ossys: OsSys | None = None, log: Log | None = None) -> None:
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
        self.commands = Commands(self)
        self.state = "starting"
        self.started_at = self.os.time()
        self.started_mono = self.os.monotonic()
        self.stop_deadline = 0.0
        self.kill_deadline = 0.0
        self.exit_code = 0
        self._wake_r = -1
        self._wake_w = -1
        self.listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.errors = 0   # protocol errors from children, failed commands
        self._want_write: set[Proc] = set()
        self.extensions: list[Any] = []   # see master/extension.py
        from sigsup.master.features import build_extensions
        self.extensions.extend(build_extensions(self))

    # -- start-up --------------------------------------------------------------------------

    def install_runtime(self) -> None:
        """Make ``import sigsup`` in this process talk to this master (preload modules may
        register signals, raise, add timers at import time), and put pythonpath first."""
        for p in reversed(self.sup.pythonpath):
            if str(p) not in sys.path:
                sys.path.insert(0, str(p))
        context.install(MasterRuntime(self))

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
        self.state = "running"
        call_all(self.extensions, "start", self)
        now = self.os.monotonic()
        cheaper = self.config.workers.cheaper
        running_workers = 0
        for p in self.procs:
            if p.kind == "worker" and cheaper is not None:
                if running_workers >= max(cheaper, 1 if cheaper == 0 else cheaper):
                    p.state = ProcState.CHEAPED
                    continue
                running_workers += 1
            self.spawn(p, now)

    def add_proc(self, p: Proc) -> None:
        """Add a process slot that the config's tree does not list (a helper process)."""
        self.procs.append(p)
        self.router.add_proc(p)

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
        self.selector.register(p.sock, selectors.EVENT_READ, (CHANNEL, p))
        if p.output_fd >= 0:
            self.selector.register(p.output_fd, selectors.EVENT_READ, (OUTPUT, p))
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
            while self.state != "stopped":
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
                self._read_channel(obj)
            elif kind == OUTPUT:
                self._read_output(obj)
            elif kind == WAKE:
                self._read_wakeup()
            elif kind == CLIENT:
                self._client_event(obj, _mask)
            elif kind == LISTEN:
                for conn in self.control.accept(self.os.monotonic(), self._drop_client):
                    self.selector.register(conn.sock, selectors.EVENT_READ, (CLIENT, conn))
            elif kind == EXTENSION:
                obj()
        if self.control.backlog:   # pipelined requests: a batch per client per turn
            for conn in self.control.runnable():
                self.control.serve(conn)
                self._watch_client(conn)
        dirty = self.router.dirty
        if dirty:   # RUN frames out before the extensions' ticks: a shorter raise -> handler
            for p in list(dirty):
                self._write(p)
        self._tick(self.os.monotonic())
        self._flush()

    def _timeout(self, now: float) -> float:
        """Seconds until the next thing that is due (at most 1 s): the loop never spins."""
        t = 1.0
        if self.router.dirty or (self.control.backlog and self.control.runnable()):
            return 0.0
        for p in self.procs:
            if p.state in (ProcState.BACKOFF, ProcState.FAILED):
                t = min(t, p.respawn_at - now)
        if self.sup.harakiri > 0:
            for p in self.procs:
                if p.inflight:
                    t = min(t, max(p.sent_at[0], p.last_done) + self.sup.harakiri - now)
        if self.state == "stopping":
            t = min(t, (self.kill_deadline or self.stop_deadline) - now)
        for d in call_all(self.extensions, "deadline", now):
            if d is not None:
                t = min(t, d - now)
        return max(0.0, t)

    # -- children's channels ---------------------------------------------------------------

    def _read_channel(self, p: Proc, drain: bool = False) -> None:
        sock = p.sock
        if sock is None:
            return
        while True:
            try:
                data = sock.recv(CHANNEL_READ)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._close_channel(p)
                return
            try:
                frames = p.reader.feed(data)
                for f in frames:
                    self._frame(p, f)
            except (ProtocolError, ValueError, KeyError, TypeError) as exc:
                self.errors += 1
                self.log.error(f"{p.name} [{p.pid}] broke the protocol ({exc}); killing it")
                self._close_channel(p)
                self.os.kill_group(p.pid, signal.SIGKILL)
                return
            if not drain and len(data) < CHANNEL_READ:
                return

    def _frame(self, p: Proc, f: tuple) -> None:
        ftype = f[0]
        if ftype == DONE:
            self.router.done(p, f[1], f[2], f[3])
            if self.listeners:
                self.emit("handled" if f[2] == 0 else "failed", process=p.name, signum=f[1], id=f[3])
        elif ftype == RAISE:
            self._child_raise(p, f[1], f[3])
        elif ftype == READY:
            if p.state is ProcState.STOPPING:
                return   # told to stop before it was ready: it gets no work
            p.state = ProcState.RUNNING
            self.router.ready(p)
            self.log.debug(f"{p.name} [{p.pid}] ready")
            self.emit("ready", process=p.name, pid=p.pid)
        elif ftype == JSON:
            self._child_json(p, f[4])
        else:
            raise ProtocolError(f"unexpected frame type {ftype}")

    def _child_raise(self, p: Proc, signum: int, seq: int) -> None:
        if self.state != "running":
            p.out += pack_json({"t": "raised", "seq": seq, "result": {
                "id": 0, "signum": signum, "accepted": False, "recipients": [], "coalesced": [],
                "refused": [{"recipient": "master", "reason": "the master is stopping"}]}})
        else:
            res = self.router.raise_signal(signum, p.name, self.os.time())
            if self.listeners:
                self.emit("raise", origin=p.name, **res.as_dict())   # as_dict has id, signum
            if res.refused or res.coalesced:
                p.out += pack_json({"t": "raised", "seq": seq, "result": res.as_dict()})
            else:
                p.out += _pack(ACK, signum, min(len(res.recipients), 0xFFFF), seq, res.id)
        dirty = self.router.dirty
        dirty.pop(p, None)   # to the end: its RUN frames go out before its ACK
        dirty[p] = None

    def _child_json(self, p: Proc, msg: dict[str, Any]) -> None:
        t = msg.get("t")
        if t == "done":
            self.router.done(p, int(msg["signum"]), int(msg.get("status", DONE_ERROR)),
                             int(msg["rid"]), str(msg.get("detail") or "handler raised"))
            self.emit("failed", process=p.name, signum=msg["signum"], id=msg["rid"],
                      detail=msg.get("detail"))
        elif t == "call":
            reply = self.commands.execute(msg, origin=p.name)
            reply["t"] = "reply"
            reply["rid"] = msg.get("rid")
            p.out += pack_json(reply)
            self.router.dirty.add(p)
        elif t == "wait":
            self.router.wait(p, int(msg.get("signum", -1)))
        elif t == "unwait":
            p.waiting = None
        elif not any(call_all(self.extensions, "child_message", p, msg)):
            raise ProtocolError(f"unknown message {t!r}")

    def _close_channel(self, p: Proc) -> None:
        if p.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(p.sock)
            p.sock.close()
            p.sock = None
        p.ready = False
        p.out.clear()
        self.router.dirty.discard(p)

    # -- children's output -----------------------------------------------------------------

    def _read_output(self, p: Proc) -> None:
        fd = p.output_fd
        if fd < 0:
            return
        while True:
            try:
                data = os.read(fd, 65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self._close_output(p)
                return
            self._emit_lines(p, data)
            if len(data) < 65536:
                return

    def _emit_lines(self, p: Proc, data: bytes, final: bool = False) -> None:
        buf = p.output_buf + data
        *lines, rest = buf.split(b"\n")
        if final and rest:
            lines.append(rest)
            rest = b""
        if len(rest) > 65536:   # a very long line without a newline: emit it in pieces
            lines.append(rest)
            rest = b""
        p.output_buf = rest
        for line in lines:
            self.log.line(p.name, p.pid, line.decode("utf-8", "replace").rstrip("\r"))

    def _close_output(self, p: Proc) -> None:
        if p.output_fd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(p.output_fd)
            os.close(p.output_fd)
            p.output_fd = -1
        if p.output_buf:
            self._emit_lines(p, b"", final=True)

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
                if self.state == "stopping" and signum != signal.SIGTERM:
                    self.log.warning("second interrupt: killing every child now")
                    self._kill_all()
                else:
                    name = signal.Signals(signum).name
                    self.request_stop(f"{name} received")
            elif signum == signal.SIGHUP:
                self.log.info("SIGHUP: reload is not supported yet; ignoring")

    def _reap(self) -> None:
        now = self.os.monotonic()
        for pid, status in self.os.reap():
            p = self.by_pid.pop(pid, None)
            if p is None:
                continue
            self._on_exit(p, describe_exit(status), now, clean=os.WIFEXITED(status)
                          and os.WEXITSTATUS(status) == 0)

    def _on_exit(self, p: Proc, how: str, now: float, clean: bool = False) -> None:
        self._read_channel(p, drain=True)   # DONE frames written before it died still count
        self._close_channel(p)
        self._read_output(p)
        self._close_output(p)
        pid = p.pid
        p.pid = 0
        p.last_exit = how
        if p.harakiri_hit:
            self.router.process_lost(p, "harakiri", running_failed=False)
        else:
            self.router.process_lost(p, f"{p.name} died ({how})")
        self.emit("exit", process=p.name, pid=pid, how=how)
        call_all(self.extensions, "proc_exit", p, how)
        if self.state == "stopping":
            p.state = ProcState.STOPPED
            self.log.info(f"{p.name} [{pid}] stopped ({how})")
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
        if self.state == "running":
            for p in self.procs:
                if p.state in (ProcState.BACKOFF, ProcState.FAILED) and p.respawn_at <= now:
                    p.respawns += 1
                    self.spawn(p, now)
            if self.sup.harakiri > 0:
                self._harakiri(now)
            if self.config.workers.cheaper is not None:
                self._cheaper(now)
            call_all(self.extensions, "tick", now)
        elif self.state == "stopping":
            # what a stopping process had been sent but not started comes back to a queue
            self.router.drop_all_queued("not run: the master stopped")
            alive = [p for p in self.procs if p.state in ALIVE and p.pid]
            if not alive:
                self.state = "stopped"
            elif self.kill_deadline and now >= self.kill_deadline:
                for p in alive:
                    self.log.error(f"{p.name} [{p.pid}] did not exit after SIGKILL")
                self.state = "stopped"
            elif now >= self.stop_deadline and not self.kill_deadline:
                self.log.warning(f"shutdown_timeout ({self.sup.shutdown_timeout:g} s) passed: "
                                 f"killing {', '.join(p.name for p in alive)}")
                self._kill_all()
        for conn in self.control.expired(now):
            self._drop_client(conn)

    def _harakiri(self, now: float) -> None:
        limit = self.sup.harakiri
        for p in self.procs:
            if not p.inflight or p.harakiri_hit or not p.pid:
                continue
            started = max(p.sent_at[0], p.last_done)
            if now - started > limit:
                r = p.inflight[0]
                self.log.error(f"HARAKIRI: {p.name} [{p.pid}] ran signal {r.signum} for "
                               f"{now - started:.1f} s (harakiri = {limit:g} s): killing it")
                self.router.fail_running(p, f"harakiri after {limit:g} s")
                p.harakiri_hit = True
                self.os.kill_group(p.pid, signal.SIGKILL)
                self.emit("harakiri", process=p.name, signum=r.signum, id=r.id)

    def _cheaper(self, now: float) -> None:
        workers = [p for p in self.procs if p.kind == "worker"]
        minimum = self.config.workers.cheaper or 0
        running = [p for p in workers if p.state in ALIVE]
        cheaped = [p for p in workers if p.state is ProcState.CHEAPED]
        # every running worker stuck on one signal for over a second: more hands are needed
        # (none ready yet, e.g. at start-up: nobody is stuck, so no one is woken for that)
        ready = [p for p in running if p.ready]
        busy = bool(ready) and all(p.inflight and now - max(p.sent_at[0], p.last_done) > 1.0
                                   for p in ready)
        wake = [p for p in cheaped if p.queue and any(
            r.entry.target is not None and r.entry.target.scope == "process" for r in p.queue)]
        starting = any(p.state is ProcState.STARTING for p in running)
        # one at a time: wait for the one just woken to take its share before waking another
        if cheaped and not starting and (self.router.backlog(WORKERS) or busy or not running):
            wake.append(cheaped[0])
        for p in dict.fromkeys(wake):
            self.log.info(f"{p.name}: starting again (signals waiting)")
            self.spawn(p, now)
        idle_limit = self.config.workers.cheaper_idle
        live = [p for p in workers if p.state is ProcState.RUNNING]
        extra = len([p for p in workers if p.state in ALIVE]) - minimum
        for p in reversed(live):
            if extra <= 0:
                break
            if (not p.inflight and not p.queue and p.waiting is None
                    and now - max(p.last_done, p.started_mono) > idle_limit):
                p.state = ProcState.STOPPING
                p.ready = False
                self.os.kill_group(p.pid, signal.SIGTERM)
                extra -= 1

    # -- stopping --------------------------------------------------------------------------

    def request_stop(self, why: str) -> None:
        if self.state != "running":
            return
        now = self.os.monotonic()
        queued = self.router.queued_total()
        self.log.info(f"stopping ({why}): waiting up to {self.sup.shutdown_timeout:g} s for "
                      f"running handlers" + (f"; {queued} queued signals will not run" if queued else ""))
        self.state = "stopping"
        self.router.drop_all_queued("not run: the master stopped")
        self.stop_deadline = now + self.sup.shutdown_timeout
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
        call_all(self.extensions, "close")
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
            self._close_channel(p)
            self._close_output(p)
        self.control.close()
        if self._wake_w >= 0:
            with contextlib.suppress(ValueError):
                signal.set_wakeup_fd(-1)
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1
        self.selector.close()
        if self.state == "stopped":
            self.log.info("stopped")

    # -- writing ---------------------------------------------------------------------------

    def _flush(self) -> None:
        dirty = self.router.dirty
        if dirty:
            for p in list(dirty):
                self._write(p)
        for conn in list(self.control.conns.values()):
            if conn.out:
                self.control.flush(conn, self.os.monotonic())
                self._watch_client(conn)
            if conn.closing and not conn.out:
                self._drop_client(conn)

    def _write(self, p: Proc) -> None:
        sock = p.sock
        if sock is None or not p.out:
            self.router.dirty.discard(p)
            return
        try:
            n = sock.send(p.out)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                self.log.error(f"writing to {p.name}: {exc}")
            p.out.clear()
            self.router.dirty.discard(p)
            return
        del p.out[:n]
        if p.out:
            self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, (CHANNEL, p))
            self._want_write.add(p)
        else:
            self.router.dirty.discard(p)
            if p in self._want_write:
                self._want_write.discard(p)
                self.selector.modify(sock, selectors.EVENT_READ, (CHANNEL, p))

    # -- control clients -------------------------------------------------------------------

    def _client_event(self, conn: ControlConn, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            self.control.readable(conn, self.os.monotonic())
        if mask & selectors.EVENT_WRITE:
            self.control.flush(conn, self.os.monotonic())
        self._watch_client(conn)

    def _watch_client(self, conn: ControlConn) -> None:
        if conn.sock.fileno() < 0 or conn.sock.fileno() not in self.control.conns:
            return
        # a closing connection is not read any more (EOF would wake the loop forever), nor
        # one with too many unread replies (control.OUT_HIGH: it reads first)
        want = (0 if conn.closing or self.control.held(conn) else selectors.EVENT_READ) | (
            selectors.EVENT_WRITE if conn.out else 0)
        if not want:
            return   # closing with nothing left to write: _flush drops it
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(conn.sock, want, (CLIENT, conn))

    def _drop_client(self, conn: ControlConn) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn.sock)
        self.control.drop(conn)

    def _on_request(self, conn: ControlConn, msg: dict[str, Any]) -> None:
        self.commands.handle_client(conn, msg)

    # -- events for listeners (status, sigsup events) --------------------------------------

    def emit(self, kind: str, **fields: Any) -> None:
        if not self.listeners:
            return
        event = {"event": kind, "ts": self.os.time(), **fields}
        for listener in list(self.listeners):
            listener(kind, event)

    def broadcast_json(self, msg: dict[str, Any]) -> None:
        data = pack_json(msg)
        for p in self.procs:
            if p.sock is not None:
                p.out += data
                self.router.dirty.add(p)


def _noop_handler(signum: int, frame: object) -> None:
    """POSIX signals only wake the loop (through the wakeup fd); the loop acts on them."""


class MasterRuntime:
    """``import sigsup`` inside the master, while it imports ``preload`` modules."""

    def __init__(self, master: Master) -> None:
        self.master = master
        self.identity = Identity("master", 0, "master", master.pid)

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        from sigsup.errors import CommandFailed
        reply = self.master.commands.execute({"cmd": cmd, **args}, origin="master")
        if not reply.get("ok"):
            raise CommandFailed(str(reply.get("error")))
        return reply

    def raise_signal(self, signum: int) -> dict[str, Any]:
        from sigsup.errors import SignalRefused
        res = self.master.router.raise_signal(signum, "master", self.master.os.time())
        if res.refused:
            raise SignalRefused(f"signal {signum} refused", res.as_dict())
        return res.as_dict()
