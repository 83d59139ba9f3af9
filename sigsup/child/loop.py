"""The loop every child runs: wait for a frame from the master, run it, report back.

A worker, a plain mule and a spooler process run ``ChildLoop.serve``; a programmed mule
runs its callable instead and handles signals only while it waits in ``signal_wait``
(or, later, ``mule_get_msg``).
"""

from __future__ import annotations

import ctypes
import inspect
import os
import signal
import socket
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from sigsup import context
from sigsup.child.channel import ChildChannel
from sigsup.context import Identity
from sigsup.importing import HandlerImportError, resolve
from sigsup.protocol.frames import (
    DONE,
    DONE_ERROR,
    DONE_NO_HANDLER,
    DONE_OK,
    JSON,
    READY,
    RUN,
    pack,
    pack_json,
    run_payload,
)

PR_SET_PDEATHSIG = 1


def takes_payload(fn: Callable[..., Any]) -> bool:
    """Whether a handler is called ``fn(signum, payload)``: it has two positional
    parameters and the second has no default (``def h(signum, payload)``); any other
    handler is called ``fn(signum)`` and reads ``sigsup.signal_payload()``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):   # a builtin without a signature
        return False
    positional = [p for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return False
    return len(positional) >= 2 and positional[1].default is inspect.Parameter.empty


class ForkPrep:
    """What ``prepare_fork`` loads once in the master, so that no child pays for it: libc
    for ``prctl``, and the optional ``setproctitle`` (which imports ``logging``: 5-15 ms and
    most of a MiB of private memory in each child that imported it on its own)."""

    def __init__(self) -> None:
        self.libc: Any = None    # ctypes.CDLL of libc; False when it cannot be loaded
        self.title: Any = None   # setproctitle.setproctitle; False when it is not installed

    def load(self) -> ForkPrep:
        if self.libc is None:
            try:
                self.libc = ctypes.CDLL(None, use_errno=True)
            except OSError:
                self.libc = False
        if self.title is None:
            try:
                import setproctitle  # type: ignore[import-not-found]
                self.title = setproctitle.setproctitle
            except ImportError:
                self.title = False
        return self


def prepare_fork() -> ForkPrep:
    """Done once in the master before it forks (``ForkPrep``); a no-op after the first."""
    return context.process().state(ForkPrep).load()


def die_with_parent(master_pid: int) -> None:
    """Ask the kernel to SIGKILL this process when the master dies (Linux), then check
    that the master did not die before we asked."""
    libc = prepare_fork().libc   # loaded already when the master prepared the fork
    try:
        if libc:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != master_pid:
        os._exit(1)


class ChildLoop:
    def __init__(self, channel: ChildChannel, handlers: dict[int, str]) -> None:
        self.channel = channel
        self.identity = channel.identity
        self.handlers = dict(handlers)
        # signum -> (path, handler, whether it takes the payload as a second argument)
        self.cache: dict[int, tuple[str, Callable[..., Any], bool]] = {}
        self.payload: Any = None   # of the handler running now: sigsup.signal_payload()
        self.in_handler = 0
        self.stop_requested = False
        self.last_received = -1

    # -- the context API -------------------------------------------------------------------

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        return self.channel.call(cmd, **args)

    def raise_signal(self, signum: int) -> dict[str, Any]:
        return self.channel.raise_signal(signum)

    # -- start and stop --------------------------------------------------------------------

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the master's to handle
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
        signal.signal(signal.SIGQUIT, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    def _on_term(self, signum: int, frame: object) -> None:
        if self.in_handler:
            self.stop_requested = True   # finish the handler, then leave
        else:
            raise SystemExit(0)

    # -- frames ----------------------------------------------------------------------------

    def serve(self) -> None:
        self.channel.send(pack(READY, 0, 0, os.getpid()))
        while True:
            f = self.channel.next_frame()
            if f is not None:
                self.dispatch(f)
            if self.stop_requested:
                raise SystemExit(0)

    def dispatch(self, f: tuple) -> int | None:
        """Handle one frame; returns the signal number of a RUN frame."""
        ftype = f[0]
        if ftype == RUN:
            self.run(f[1], f[3], waiting=None, payload=run_payload(f))
            return f[1]
        if ftype == JSON:
            self.on_json(f[4])
        return None

    def on_json(self, msg: dict[str, Any]) -> None:
        t = msg.get("t")
        if t == "table":
            for num, path in msg.get("set", {}).items():
                self.handlers[int(num)] = path
                self.cache.pop(int(num), None)
            for num in msg.get("del", []):
                self.handlers.pop(int(num), None)
                self.cache.pop(int(num), None)
        else:
            hook = context.process().json_hooks.get(t)   # features' frames (install_hooks)
            if hook is not None:
                hook(self, msg)

    def handler_for(self, signum: int) -> Callable[..., Any] | None:
        hit = self._handler(signum)
        return None if hit is None else hit[0]

    def _handler(self, signum: int) -> tuple[Callable[..., Any], bool] | None:
        path = self.handlers.get(signum)
        if path is None:
            return None
        hit = self.cache.get(signum)
        if hit is not None and hit[0] == path:
            return hit[1], hit[2]
        fn = resolve(path)
        two = takes_payload(fn)
        self.cache[signum] = (path, fn, two)
        return fn, two

    def run(self, signum: int, rid: int, waiting: int | None, payload: Any = None) -> bool:
        """Run the handler of one RUN frame and report DONE. True when it counts as received
        by a ``signal_wait(waiting)`` caller. ``payload``: the raise's, if it carried one
        (``sigsup.signal_payload()`` while the handler runs)."""
        try:
            hit = self._handler(signum)
        except HandlerImportError as exc:
            self._done_failed(signum, rid, f"handler not importable: {exc}")
            print(f"signal {signum}: {exc}", file=sys.stderr)
            return False
        if hit is None:
            if waiting is not None and waiting in (-1, signum):
                self.last_received = signum
                self.payload = payload   # for the signal_wait caller to read
                self.channel.send(pack(DONE, signum, DONE_OK, rid))
                return True
            self.channel.send(pack(DONE, signum, DONE_NO_HANDLER, rid))
            return False
        fn, two = hit
        self.in_handler += 1
        outer, self.payload = self.payload, payload
        try:
            if two:
                fn(signum, payload)
            else:
                fn(signum)
        except Exception as exc:
            print(f"signal {signum}: handler {self.handlers.get(signum)} raised:", file=sys.stderr)
            tb = exc.__traceback__
            # from the handler's own frame down: sigsup's calling frame tells the user nothing
            traceback.print_exception(type(exc), exc, tb.tb_next if tb is not None else None)
            self._done_failed(signum, rid, f"{type(exc).__name__}: {exc}")
        else:
            self.channel.send(pack(DONE, signum, DONE_OK, rid))
        finally:
            self.in_handler -= 1
            self.payload = outer
        self.last_received = signum
        return waiting is not None and waiting in (-1, signum)

    def _done_failed(self, signum: int, rid: int, detail: str) -> None:
        self.channel.send(pack_json({"t": "done", "signum": signum, "rid": rid,
                                     "status": DONE_ERROR, "detail": detail[:2000]}))

    # -- signal_wait -----------------------------------------------------------------------

    def signal_wait(self, signum: int | None = None, timeout: float | None = None) -> int | None:
        """Block until a signal (any, or ``signum``) arrives; run its handler if it has one."""
        want = -1 if signum is None else signum
        deadline = None if timeout is None else time.monotonic() + timeout
        self.channel.send(pack_json({"t": "wait", "signum": want}))
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                f = self.channel.next_frame(left)
                if f is None:
                    return None
                if f[0] == RUN:
                    if self.run(f[1], f[3], waiting=want, payload=run_payload(f)):
                        return f[1]
                else:
                    self.dispatch(f)
        finally:
            self.channel.send(pack_json({"t": "unwait"}))


def child_main(sock: socket.socket, output_fd: int, *, identity: Identity,
               handlers: dict[int, str], program: str | None = None,
               runner: str | None = None, title: str | None = None) -> None:
    """Everything a forked child does; it never returns to the master's code."""
    die_with_parent(identity.master_pid)
    signal.set_wakeup_fd(-1)
    if output_fd >= 0:
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(output_fd)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
            except (AttributeError, ValueError):
                pass
    set_title = prepare_fork().title
    if title and set_title:
        set_title(title)
    sock.setblocking(True)
    loop = ChildLoop(ChildChannel(sock, identity), handlers)
    loop.install_signals()
    context.install(loop)
    postfork = context.process().postfork
    for hook in list(postfork) if identity.kind in ("worker", "mule", "spooler") else ():
        try:
            hook()
        except Exception:
            print(f"postfork hook {getattr(hook, '__qualname__', hook)} raised:", file=sys.stderr)
            traceback.print_exc()
    if program is not None:
        fn = resolve(program)
        loop.channel.send(pack(READY, 0, 0, os.getpid()))
        fn()
        return
    if runner is not None:
        resolve(runner)(loop)
        return
    loop.serve()
