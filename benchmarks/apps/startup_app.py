"""Start-up probe for sigsup (``preload``): the master's import and every child's post-fork
hook append ``KIND PID CLOCK_MONOTONIC_NS`` to ``$SIGSUP_BENCH_STAMPS`` (one write, O_APPEND).
Its first line is the first line of user code in the master; the hook's, in each child."""

from __future__ import annotations

import os
import time


def _stamp(kind: str) -> None:
    t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    fd = os.open(os.environ["SIGSUP_BENCH_STAMPS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{kind} {os.getpid()} {t}\n".encode())
    os.close(fd)


_stamp("master")

from sigsup.decorators import postfork  # noqa: E402 - after the master's stamp


@postfork
def _child() -> None:
    import sigsup
    _stamp("worker" if sigsup.worker_id() else "mule" if sigsup.mule_id() else "other")


def noop(num: int) -> None:
    """A handler, so the config has a signal."""
