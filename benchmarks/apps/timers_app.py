"""The handler for benchmarks/timers.py: stamp the time each signal's handler starts.

One line per call, ``SIGNUM CLOCK_MONOTONIC_NS``, in a single ``write`` on an ``O_APPEND``
descriptor of the file ``$SIGSUP_BENCH_OUT`` names (lines of the two workers never mix).
"""

from __future__ import annotations

import os
import time

_fd: dict[int, int] = {}


def stamp(num: int) -> None:
    t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    pid = os.getpid()
    fd = _fd.get(pid)
    if fd is None:
        fd = os.open(os.environ["SIGSUP_BENCH_OUT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _fd.clear()
        _fd[pid] = fd
    os.write(fd, f"{num} {t}\n".encode())
