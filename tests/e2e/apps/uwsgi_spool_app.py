"""Plain uWSGI spooler code for tests/e2e/test_uwsgi_compat.py: ``uwsgi.spooler`` that asks
for a retry once, and ``@spool(pass_arguments=True)`` with ``at`` and cancel-by-delete."""

from __future__ import annotations

import os
import time
from pathlib import Path

import uwsgi
from spool_jobs import rec
from uwsgidecorators import spool

HERE = Path(os.environ["E2E_OUT"]).parent


def spooler(env: dict) -> int:
    name = env[b"name"].decode()
    flag = HERE / f"retried-{name}"
    rec(ev="spooler", keys=sorted(k.decode() if isinstance(k, bytes) else k for k in env),
        name=name, other=env[b"other"].decode(), body=env["body"].decode(),
        attempt=1 if not flag.exists() else 2, spooler_pid=os.getpid())
    if not flag.exists():
        flag.touch()
        return uwsgi.SPOOL_RETRY
    return uwsgi.SPOOL_OK


uwsgi.spooler = spooler


@spool(pass_arguments=True)
def later(a: int, b: str, c: str = "") -> None:
    rec(ev="later", a=a, b=b, c=c)


@spool
def plain(args: dict) -> None:
    rec(ev="plain", args={k: v.decode() for k, v in args.items()})


def queue(num: int) -> None:
    """Signal 40, in a worker: spool every kind of job; cancel one by deleting its file."""
    path = uwsgi.spool({b"name": b"job1", "other": "str-value", b"body": b"the body"})
    at = time.time() + 1.5
    kept = later.spool(7, "seven", c="see", at=at)
    cancelled = later.spool(8, "eight", at=at)
    os.unlink(cancelled)
    p2 = plain.spool({b"x": b"1"}, y=b"2")
    rec(ev="queued", path=path.decode(), kept=kept.decode(), cancelled=cancelled.decode(),
        plain=p2.decode(), at=at, types=[type(p).__name__ for p in (path, kept, p2)],
        jobs=len(uwsgi.spooler_jobs()))


uwsgi.register_signal(40, "", queue)
