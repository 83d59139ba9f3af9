"""The master's end of each child's socketpair: frames read and handed to the loop,
frames written from each process's outbox (``Proc.out``), the channel closed when the child
goes. This is the hot path: reads take up to ``READ`` bytes (many frames) at a time."""

from __future__ import annotations

import contextlib
import errno
import selectors
import signal
from collections.abc import Callable

from sigsup.master.log import Log
from sigsup.master.ossys import OsSys
from sigsup.protocol.frames import ProtocolError
from sigsup.routing.proc import Proc
from sigsup.routing.router import Outbox

# bytes asked of one channel recv: a buffer over malloc's mmap threshold (128 KiB) costs an
# mmap, an mremap and an munmap on every read, however few bytes arrive
READ = 65536


class Channels:
    def __init__(self, selector: selectors.BaseSelector, outbox: Outbox, log: Log, os: OsSys,
                 on_frame: Callable[[Proc, tuple], None], tag: int) -> None:
        self.selector = selector
        self.outbox = outbox        # the router's: processes with frames to write, in order
        self.log = log
        self.os = os
        self.on_frame = on_frame
        self.tag = tag              # the selector data kind of a channel (loop.CHANNEL)
        self.errors = 0             # children that broke the protocol (and were killed)
        self._want_write: set[Proc] = set()

    def watch(self, p: Proc) -> None:
        self.selector.register(p.sock, selectors.EVENT_READ, (self.tag, p))

    def read(self, p: Proc, drain: bool = False) -> None:
        sock = p.sock
        if sock is None:
            return
        on_frame = self.on_frame
        while True:
            try:
                data = sock.recv(READ)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self.close(p)
                return
            try:
                for f in p.reader.feed(data):
                    on_frame(p, f)
            except (ProtocolError, ValueError, KeyError, TypeError) as exc:
                self.errors += 1
                self.log.error(f"{p.name} [{p.pid}] broke the protocol ({exc}); killing it")
                self.close(p)
                self.os.kill_group(p.pid, signal.SIGKILL)
                return
            if not drain and len(data) < READ:
                return

    def write(self, p: Proc) -> None:
        sock = p.sock
        if sock is None or not p.out:
            self.outbox.discard(p)
            return
        try:
            n = sock.send(p.out)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.ECONNRESET):
                self.log.error(f"writing to {p.name}: {exc}")
            p.out.clear()
            self.outbox.discard(p)
            return
        del p.out[:n]
        if p.out:
            self.selector.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, (self.tag, p))
            self._want_write.add(p)
        else:
            self.outbox.discard(p)
            if p in self._want_write:
                self._want_write.discard(p)
                self.selector.modify(sock, selectors.EVENT_READ, (self.tag, p))

    def write_all(self) -> None:
        outbox = self.outbox
        if outbox:
            for p in list(outbox):
                self.write(p)

    def close(self, p: Proc) -> None:
        if p.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(p.sock)
            p.sock.close()
            p.sock = None
        p.ready = False
        p.out.clear()
        self.outbox.discard(p)
