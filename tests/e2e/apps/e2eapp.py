"""Handlers and mule programs for the end-to-end tests.

Every handler call appends one JSON line to the file named by ``$E2E_OUT`` (inherited from
the master the test starts), in a single ``write`` on an ``O_APPEND`` descriptor, so lines
of concurrent processes never mix. A record says who ran it (kind, worker id, mule id,
process name, pid), which signal, and which raise (the raise id the child loop is running).

Files the tests use to steer handlers live next to ``$E2E_OUT``:
    release     a ``wait_release`` handler returns once it exists
    go          a ``flood_program`` mule starts raising once it exists
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import sigsup
from sigsup import client_runtime, context

_fd: dict[int, int] = {}


def _out_fd() -> int:
    pid = os.getpid()
    fd = _fd.get(pid)
    if fd is None:
        fd = os.open(os.environ["E2E_OUT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        _fd.clear()          # a descriptor inherited from before a fork is not ours to keep
        _fd[pid] = fd
    return fd


def _here() -> Path:
    return Path(os.environ["E2E_OUT"]).parent


def _raise_id() -> int | None:
    """The id of the raise this handler runs for: the ``rid`` local of the child loop's
    ``run`` frame up the stack (the loop does not hand it to handlers)."""
    f = sys._getframe(1)
    while f is not None:
        if f.f_code.co_name == "run" and "rid" in f.f_locals:
            return int(f.f_locals["rid"])
        f = f.f_back
    return None


def write(sig: int | None, tag: str = "run", **extra: object) -> None:
    rt = context.current_or_none()
    ident = rt.identity if rt is not None else None
    rec = {
        "sig": sig,
        "tag": tag,
        "kind": ident.kind if ident else None,
        "name": ident.name if ident else None,
        "wid": sigsup.worker_id(),
        "mid": sigsup.mule_id(),
        "pid": os.getpid(),
        "rid": _raise_id(),
        **extra,
    }
    os.write(_out_fd(), (json.dumps(rec) + "\n").encode())


# -- plain handlers ----------------------------------------------------------------------


def record(num: int) -> None:
    write(num)


def record_slowly(num: int) -> None:
    """A few milliseconds of work, then the record (a backlog builds up behind it)."""
    time.sleep(float(os.environ.get("E2E_SLOW", "0.003")))
    write(num)


def sleep_1s(num: int) -> None:
    write(num, "start")
    time.sleep(1.0)
    write(num, "done")


def sleep_30s(num: int) -> None:
    write(num, "start")
    time.sleep(30.0)
    write(num, "done")


def wait_release(num: int) -> None:
    """Busy until the test creates the ``release`` file (at most 60 s)."""
    write(num, "start")
    release = _here() / "release"
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    write(num, "done")


def boom(num: int) -> None:
    write(num, "start")
    raise RuntimeError(f"boom-e2e in signal {num}")


def say_hello(num: int) -> None:
    rt = client_runtime.current()
    print(f"hello-e2e from {rt.identity.name} pid {os.getpid()} signal {num}", flush=True)
    print(f"err-e2e from {rt.identity.name} pid {os.getpid()}", file=sys.stderr, flush=True)
    write(num)


# -- the table at run time ---------------------------------------------------------------


def do_register(num: int) -> None:
    """Signal 91 -> mule1 by import path, 92 -> mule2 by function object; a lambda fails."""
    sigsup.register_signal(91, "mule1", "e2eapp:record")
    sigsup.register_signal(92, "mule2", record)
    try:
        sigsup.register_signal(93, "worker", lambda n: None)
    except ValueError as exc:
        lambda_error = f"ValueError: {exc}"
    else:
        lambda_error = None
    write(num, "registered", r91=sigsup.signal_registered(91), r92=sigsup.signal_registered(92),
          r93=sigsup.signal_registered(93), lambda_error=lambda_error)


def do_unregister(num: int) -> None:
    removed = sigsup.unregister_signal(91)
    again = sigsup.unregister_signal(91)
    write(num, "unregistered", removed=removed, again=again, r91=sigsup.signal_registered(91))


def raise_twice(num: int) -> None:
    """sigsup.signal(41) twice: the first is queued behind a busy worker1, the second
    finds worker1's queue (queue_size = 1) full."""
    results = []
    for _ in range(2):
        try:
            r = sigsup.signal(41)
        except sigsup.SignalRefused as exc:
            results.append({"refused": str(exc), "result": exc.result})
        else:
            results.append({"type": type(r).__name__, "id": r.id, "signum": r.signum,
                            "recipients": r.recipients})
    try:
        sigsup.signal(256)
    except ValueError as exc:
        out_of_range = str(exc)
    else:
        out_of_range = None
    write(num, "raised", results=results, out_of_range=out_of_range)


# -- mule programs -----------------------------------------------------------------------


def flood_program() -> None:
    """Once ``go`` exists: raise $E2E_FLOOD_SIG $E2E_FLOOD_N times through sigsup.raising(),
    record the raise ids, then serve signals forever."""
    n = int(os.environ["E2E_FLOOD_N"])
    sig = int(os.environ["E2E_FLOOD_SIG"])
    go = _here() / "go"
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    t0 = time.monotonic()
    with sigsup.raising() as r:
        for _ in range(n):
            r.signal(sig)
    write(None, "flood-done", ids=[x.id for x in r.results],
          recipients=sum(x.recipients for x in r.results), seconds=time.monotonic() - t0)
    while True:
        sigsup.signal_wait(timeout=60)


def waiter() -> None:
    """Once ``go`` exists: record what each ``signal_wait()`` returns, forever."""
    go = _here() / "go"
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    while True:
        got = sigsup.signal_wait(timeout=60)
        if got is not None:
            write(got, "waited")


def crash_at_once() -> None:
    write(None, "crash")
    raise RuntimeError("crash-e2e: this mule program fails at once")


def wait_forever() -> None:
    while True:
        sigsup.signal_wait(timeout=60)


# -- a probe for "nothing was forked" ----------------------------------------------------

if os.environ.get("E2E_FORK_MARK"):
    def _mark_fork() -> None:
        with open(os.environ["E2E_FORK_MARK"], "a") as f:
            f.write(f"{os.getpid()}\n")

    os.register_at_fork(after_in_child=_mark_fork)


# -- payloads ----------------------------------------------------------------------------

def record_payload(sig: int) -> None:
    """One-argument handler: reads the payload with sigsup.signal_payload()."""
    write(sig, "payload", payload=sigsup.signal_payload())


def record_payload_arg(sig: int, payload: object) -> None:
    """Two-argument handler: gets the payload as its second argument."""
    write(sig, "payload", payload=payload, from_api=sigsup.signal_payload())


def raise_with_payload(sig: int) -> None:
    """Raises 61 from a worker with a payload naming this process."""
    res = sigsup.signal(61, payload={"from": sigsup.worker_id(), "n": [1, 2]})
    write(sig, "raised", recipients=list(res.names))
