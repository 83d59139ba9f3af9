"""One master per spool directory: a POSIX lock on ``DIR/.lock``, held for the master's life.

The lock is per process (``lockf``: not inherited through fork), so the master's children
do not hold it; the file says which pid holds it, for the error another master reports.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

WAIT = 3.0      # seconds a starting master waits for the lock (a previous one may be exiting)


class DirLocks:
    """The spool directories' locks this master holds."""

    def __init__(self) -> None:
        self.fds: list[int] = []

    def take(self, root: Path) -> None:
        """Lock ``root/.lock`` (waiting up to ``WAIT`` seconds); RuntimeError when another
        master holds it."""
        fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + WAIT
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)   # per process: not inherited
                break
            except OSError:
                if time.monotonic() >= deadline:
                    other = os.pread(fd, 32, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise RuntimeError(f"spool directory {root} is used by another "
                                       f"master (pid {other or '?'})") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fds.append(fd)

    def release(self) -> None:
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds.clear()
