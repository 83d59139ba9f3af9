"""The app uWSGI's master imports (``--module``): handlers, file monitor and timers.

The plan (JSON, path in ``$BENCH_PLAN``) names the shared slots file and the signals. Handlers
are registered here, in the master before it forks, which is where uWSGI wants them (mules
and spoolers only know handlers registered before they forked). Every handler only counts or
stamps, so the figures are uWSGI's own cost.
"""

from __future__ import annotations

import json
import os
import time

import uwsgi  # type: ignore[import-not-found]

from benchmarks import shm

MONO = time.CLOCK_MONOTONIC
_clock = time.clock_gettime_ns

with open(os.environ["BENCH_PLAN"]) as _f:
    PLAN = json.load(_f)

_mm, MV = shm.open_slots(PLAN["mem"])   # mapped before fork: every process shares it
_rcv = -1
_stamp_fd = -1


def _receiver() -> int:
    global _rcv
    if _rcv < 0:
        _rcv = shm.receiver(uwsgi.worker_id(), uwsgi.mule_id(), spooler=uwsgi.i_am_the_spooler())
    return _rcv


def count(num: int) -> None:
    i = shm.count_slot(num, _rcv if _rcv >= 0 else _receiver())
    MV[i] += 1
    MV[i + 1] = _clock(MONO)


def stamp(num: int) -> None:
    t = _clock(MONO)
    MV[shm.LAT_BASE + MV[shm.LAT_CUR]] = t


def stamp_line(num: int) -> None:
    """Timers: one ``SIGNUM CLOCK_MONOTONIC_NS`` line per run, O_APPEND, one write."""
    global _stamp_fd
    t = _clock(MONO)
    if _stamp_fd < 0:
        _stamp_fd = os.open(PLAN["stamps"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_stamp_fd, f"{num} {t}\n".encode())


HANDLERS = {"count": count, "stamp": stamp, "stamp_line": stamp_line}

for num, (handler, target) in PLAN["signals"].items():
    uwsgi.register_signal(int(num), target, HANDLERS[handler])
for num, path in PLAN.get("monitors", {}).items():
    uwsgi.add_file_monitor(int(num), path)
for num, seconds in PLAN.get("timers", {}).items():
    uwsgi.add_timer(int(num), int(seconds))


def application(environ, start_response):  # noqa: ANN001, ANN201 - never called
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
