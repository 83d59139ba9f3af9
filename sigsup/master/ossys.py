"""The OS seam: everything the master asks of the kernel about processes.

The master's state machine calls only these methods, so unit tests swap in a fake that
records spawns and kills and hands back a socketpair in place of a child.
"""

from __future__ import annotations

import errno
import gc
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

ChildMain = Callable[[socket.socket, int], None]


@dataclass
class Spawned:
    pid: int
    sock: socket.socket      # the master's end of the child's channel
    output_fd: int           # read end of the child's stdout/stderr, -1 if not captured


class OsSys:
    """The real thing."""

    def __init__(self, capture_output: bool = True) -> None:
        self.capture_output = capture_output

    monotonic = staticmethod(time.monotonic)
    time = staticmethod(time.time)

    def spawn(self, child_main: ChildMain, close_in_child: Callable[[], None]) -> Spawned:
        """Fork a child that runs ``child_main(sock, output_fd)`` and never returns."""
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for s in (parent_sock, child_sock):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        r, w = os.pipe() if self.capture_output else (-1, -1)
        from sigsup.child.loop import prepare_fork
        prepare_fork()
        # Every object that exists now goes to the collector's permanent generation, in the
        # child and in the master. The child's collector then never walks what it inherits
        # (walking writes to every page holding an object, and copy-on-write copies each such
        # page into the child: about 2 MiB per child). The master's full collections stop
        # walking its start-up objects (about 2.5 ms each, which showed up as timer jitter).
        # Frozen objects are still freed by reference counting; only cyclic garbage that
        # exists at a fork is never collected, and the master forks rarely.
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # the child
            code = 70
            try:
                os.setpgid(0, 0)
                parent_sock.close()
                if r >= 0:
                    os.close(r)
                close_in_child()
                child_main(child_sock, w)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                import traceback
                traceback.print_exc()
            finally:
                try:
                    import sys
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass  # the child did it first, or already exited
        child_sock.close()
        if w >= 0:
            os.close(w)
            os.set_blocking(r, False)
        parent_sock.setblocking(False)
        return Spawned(pid, parent_sock, r)

    def kill_group(self, pid: int, sig: int) -> None:
        """Signal the child's process group (the child and anything it started)."""
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def reap(self) -> list[tuple[int, int]]:
        """Every exited child as (pid, wait status), without blocking."""
        out = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            if pid == 0:
                break
            out.append((pid, status))
        return out


def describe_exit(status: int) -> str:
    """'exit code 3' or 'signal SIGKILL' for a wait status."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"killed by signal {name}"
    if os.WIFEXITED(status):
        return f"exit code {os.WEXITSTATUS(status)}"
    return f"status {status}"
