"""Start-up probe for uWSGI: the master's import and every child's post-fork hook append
``KIND PID CLOCK_MONOTONIC_NS`` to ``$BENCH_STAMPS`` (one write, O_APPEND)."""

from __future__ import annotations

import os
import time

import uwsgi  # type: ignore[import-not-found]


def _stamp(kind: str) -> None:
    t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    fd = os.open(os.environ["BENCH_STAMPS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{kind} {os.getpid()} {t}\n".encode())
    os.close(fd)


_stamp("master")


def _post_fork() -> None:
    if uwsgi.worker_id() > 0:
        _stamp("worker")
    elif uwsgi.mule_id() > 0:
        _stamp("mule")
    else:
        _stamp("other")


uwsgi.post_fork_hook = _post_fork


def application(environ, start_response):  # noqa: ANN001, ANN201 - never called
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
