"""The control clients as the loop sees them: accepted, read, written, dropped.

``ControlServer`` (master/control.py) owns the connections and the wire format; this keeps
the selector's view of each in step with what it has to do (read, write, or nothing while
it holds too many unread replies)."""

from __future__ import annotations

import contextlib
import selectors
from collections.abc import Callable
from typing import Any

from sigsup.master.control import ControlConn, ControlServer


class Clients:
    def __init__(self, control: ControlServer, selector: selectors.BaseSelector,
                 clock: Callable[[], float], tag: int) -> None:
        self.control = control
        self.selector = selector
        self.clock = clock
        self.tag = tag          # the selector data kind of a client (loop.CLIENT)

    def accept(self) -> None:
        for conn in self.control.accept(self.clock(), self.drop):
            self.selector.register(conn.sock, selectors.EVENT_READ, (self.tag, conn))

    def event(self, conn: ControlConn, mask: int) -> None:
        if mask & selectors.EVENT_READ:
            self.control.readable(conn, self.clock())
        if mask & selectors.EVENT_WRITE:
            self.control.flush(conn, self.clock())
        self.watch(conn)

    def serve_backlog(self) -> None:
        """Pipelined requests: a batch per client per turn."""
        for conn in self.control.runnable():
            self.control.serve(conn)
            self.watch(conn)

    def pending(self) -> bool:
        return bool(self.control.backlog and self.control.runnable())

    def watch(self, conn: ControlConn) -> None:
        if conn.sock.fileno() < 0 or conn.sock.fileno() not in self.control.conns:
            return
        # a closing connection is not read any more (EOF would wake the loop forever), nor
        # one with too many unread replies (control.OUT_HIGH: it reads first)
        want = (0 if conn.closing or self.control.held(conn) else selectors.EVENT_READ) | (
            selectors.EVENT_WRITE if conn.out else 0)
        if not want:
            return   # closing with nothing left to write: flush drops it
        with contextlib.suppress(KeyError, ValueError):
            self.selector.modify(conn.sock, want, (self.tag, conn))

    def drop(self, conn: ControlConn) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn.sock)
        self.control.drop(conn)

    def flush(self) -> None:
        """Write what each connection holds; drop those closing with nothing left."""
        for conn in list(self.control.conns.values()):
            if conn.out:
                self.control.flush(conn, self.clock())
                self.watch(conn)
            if conn.closing and not conn.out:
                self.drop(conn)

    def expire(self, now: float) -> None:
        for conn in self.control.expired(now):
            self.drop(conn)

    def alive(self, conn: ControlConn) -> bool:
        return not conn.closing and self.control.conns.get(conn.sock.fileno()) is conn

    def reply(self, conn: ControlConn, msg: dict[str, Any]) -> None:
        if self.control.conns.get(conn.sock.fileno()) is conn:
            conn.reply(msg)
            self.watch(conn)
