"""Children's stdout and stderr in the master: one pipe per child, read when readable and
logged a line at a time under the child's name and pid (master/log.py)."""

from __future__ import annotations

import contextlib
import os
import selectors

from sigsup.master.log import Log
from sigsup.routing.proc import Proc

READ = 65536          # bytes asked of one read
LONGEST = 65536       # a line longer than this without a newline is logged in pieces


def split_lines(pending: bytes, data: bytes, final: bool = False) -> tuple[list[bytes], bytes]:
    """The complete lines of ``pending + data`` and what is left of an unfinished one
    (nothing when ``final``, or when it grew past ``LONGEST``)."""
    *lines, rest = (pending + data).split(b"\n")
    if (final and rest) or len(rest) > LONGEST:
        lines.append(rest)
        rest = b""
    return lines, rest


class Output:
    def __init__(self, selector: selectors.BaseSelector, log: Log, tag: int) -> None:
        self.selector = selector
        self.log = log
        self.tag = tag         # the selector data kind of an output pipe (loop.OUTPUT)

    def watch(self, p: Proc) -> None:
        if p.output_fd >= 0:
            self.selector.register(p.output_fd, selectors.EVENT_READ, (self.tag, p))

    def read(self, p: Proc) -> None:
        fd = p.output_fd
        if fd < 0:
            return
        while True:
            try:
                data = os.read(fd, READ)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if not data:
                self.close(p)
                return
            self._log(p, data)
            if len(data) < READ:
                return

    def _log(self, p: Proc, data: bytes, final: bool = False) -> None:
        lines, p.output_buf = split_lines(p.output_buf, data, final)
        for line in lines:
            self.log.line(p.name, p.pid, line.decode("utf-8", "replace").rstrip("\r"))

    def close(self, p: Proc) -> None:
        if p.output_fd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(p.output_fd)
            os.close(p.output_fd)
            p.output_fd = -1
        if p.output_buf:
            self._log(p, b"", final=True)
