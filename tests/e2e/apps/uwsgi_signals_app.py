"""Plain uWSGI code (signals, timers, locks, identity, hooks), imported by the master
(``preload``) in tests/e2e/test_uwsgi_compat.py. Records as in spool_jobs.py."""

from __future__ import annotations

import os
from pathlib import Path

import uwsgi
from spool_jobs import rec
from uwsgidecorators import postfork, timer

HERE = Path(os.environ["E2E_OUT"]).parent
TIMER_FLAG = HERE / "timer-added"


def first_hook() -> None:
    rec(ev="post_fork_hook", wid=uwsgi.worker_id(), mule=uwsgi.mule_id())


uwsgi.post_fork_hook = first_hook


# a function object registered in the master before fork: every worker has it
uwsgi.register_signal(32, "workers", lambda num: rec(ev="lambda", num=num,
                                                     wid=uwsgi.worker_id()))


@postfork
def per_worker() -> None:
    """As lazy-apps code does: each worker registers its own closure for signal 30, and
    the timer is added once, by whichever worker takes lock 1 first."""
    rec(ev="postfork", wid=uwsgi.worker_id(), mule=uwsgi.mule_id())
    if not uwsgi.worker_id():
        return
    me = uwsgi.worker_id()

    def tick(num: int) -> None:
        rec(ev="tick", num=num, wid=me, closure_of=me)

    uwsgi.register_signal(30, "workers", tick)
    uwsgi.lock(1)
    try:
        if not TIMER_FLAG.exists():
            uwsgi.add_timer(30, 0.3)
            TIMER_FLAG.write_text(str(me))
    finally:
        uwsgi.unlock(1)
    try:
        uwsgi.register_signal(31, "mule1", tick)
    except ValueError as exc:
        rec(ev="refused", wid=me, error=str(exc))


@timer(0.25, target="mule1")
def in_mule(num: int) -> None:
    rec(ev="mule-timer", num=num, mule=uwsgi.mule_id())


def identity(num: int) -> None:
    rec(ev="identity", wid=uwsgi.worker_id(), masterpid=uwsgi.masterpid(),
        numproc=uwsgi.numproc, greeting=uwsgi.opt.get("greeting", b"").decode(),
        processes=uwsgi.opt["processes"].decode(), started_on=uwsgi.started_on,
        hostname=uwsgi.hostname.decode(), registered=bool(uwsgi.signal_registered(33)),
        unregistered=bool(uwsgi.signal_registered(199)),
        locked_before=uwsgi.is_locked(2), locked_held=_held(2))


def _held(n: int) -> bool:
    uwsgi.lock(n)
    try:
        return uwsgi.is_locked(n)
    finally:
        uwsgi.unlock(n)


uwsgi.register_signal(33, "worker1", identity)
