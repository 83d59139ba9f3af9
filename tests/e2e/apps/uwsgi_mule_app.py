"""Plain uWSGI mule code for tests/e2e/test_uwsgi_compat.py: ``@mulefunc(1)`` fed by the
workers and flushed by a timer in mule 1; mule 2 programmed, looping on mule_get_msg;
mule 3 plain, with uwsgi.mule_msg_hook."""

from __future__ import annotations

import uwsgi
from spool_jobs import rec
from uwsgidecorators import mulefunc, timer

COLLECTED: list[int] = []       # mule 1's, filled by collect()


@mulefunc(1)
def collect(wid: int) -> None:
    COLLECTED.append(wid)


@timer(0.3, target="mule1")
def flush(num: int) -> None:
    if COLLECTED:
        rec(ev="flushed", wids=sorted(COLLECTED), mule=uwsgi.mule_id())
        COLLECTED.clear()


def feed(num: int) -> None:
    """Signal 50 on every worker."""
    rec(ev="fed", wid=uwsgi.worker_id(), sent=collect(uwsgi.worker_id()))


uwsgi.register_signal(50, "workers", feed)


def mule_main() -> None:
    """Mule 2's program."""
    while True:
        msg = uwsgi.mule_get_msg()
        rec(ev="mule2-got", msg=msg.decode(), type=type(msg).__name__, mule=uwsgi.mule_id())


def hook(msg: bytes) -> None:
    rec(ev="hook-got", msg=msg.decode(), mule=uwsgi.mule_id())


uwsgi.mule_msg_hook = hook


def send(num: int) -> None:
    """Signal 51, in worker 1."""
    rec(ev="sent", to2=uwsgi.mule_msg(b"hello two", 2), to3=uwsgi.mule_msg("hi three", 3),
        to9=uwsgi.mule_msg(b"nobody", 9))


uwsgi.register_signal(51, "worker1", send)
