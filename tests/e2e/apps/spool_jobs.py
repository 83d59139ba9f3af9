"""Spooler handlers for tests/e2e/test_spool.py.

Every call appends JSON lines to ``$E2E_OUT`` (one ``write`` on an ``O_APPEND`` descriptor,
so lines of concurrent processes never mix): ``{"ev": "start" | "end", "id", "attempt",
"args", ...}``. The job's ``do`` argument says what to do:

    ok            (default) return SPOOL_OK
    fail_until    raise ValueError while attempt <= n
    retry_until   return SPOOL_RETRY while attempt <= n
    always_fail   raise RuntimeError
    ignore        return SPOOL_IGNORE
    bad_return    return 42 (not a spool code)
    block         on the first attempt, wait (<= 60 s) until the file ``release`` exists
                  next to $E2E_OUT; later attempts return at once
    sleep         on the first attempt, sleep ``s`` seconds (for harakiri)
    quick         sleep 2 ms
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import sigsup

_fd: dict[int, int] = {}


def rec(**fields: Any) -> None:
    pid = os.getpid()
    fd = _fd.get(pid)
    if fd is None:
        fd = os.open(os.environ["E2E_OUT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _fd.clear()
        _fd[pid] = fd
    rt = sigsup.context.current_or_none()
    fields.setdefault("name", rt.identity.name if rt is not None else None)
    fields.update(pid=pid, t=time.time())
    os.write(fd, (json.dumps(fields) + "\n").encode())


def _here() -> Path:
    return Path(os.environ["E2E_OUT"]).parent


def _wait_file(name: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not (_here() / name).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{name} never appeared")
        time.sleep(0.005)


def run(job: sigsup.Job) -> int | None:
    do = job.args.get("do", "ok")
    rec(ev="start", id=job.id, attempt=job.attempt, args=job.args, spooler=job.spooler,
        body_len=len(job.body), body_sha=hashlib.sha256(job.body).hexdigest())
    n = job.args.get("n", 0)
    if do == "fail_until" and job.attempt <= n:
        raise ValueError(f"boom on attempt {job.attempt}")
    if do == "retry_until" and job.attempt <= n:
        return sigsup.SPOOL_RETRY
    if do == "always_fail":
        raise RuntimeError(f"always fails (attempt {job.attempt})")
    if do == "ignore":
        rec(ev="end", id=job.id, attempt=job.attempt, outcome="ignored")
        return sigsup.SPOOL_IGNORE
    if do == "bad_return":
        return 42
    if do == "block" and job.attempt == 1:
        _wait_file(job.args.get("file", "release"))
    if do == "sleep" and job.attempt == 1:
        time.sleep(float(job.args["s"]))
    if do == "quick":
        time.sleep(0.002)
    rec(ev="end", id=job.id, attempt=job.attempt)
    return sigsup.SPOOL_OK


def spool_from_worker(num: int) -> None:
    """A signal handler (in a worker): spool a job from inside the tree."""
    job_id = sigsup.spool("default", priority=1, body=b"from a worker", who="worker",
                          wid=sigsup.worker_id())
    rec(ev="spooled", id=job_id)


def on_signal(num: int) -> None:
    """A handler for the spooler targets: runs in a spooler process between jobs."""
    rec(ev="signal", num=num)
