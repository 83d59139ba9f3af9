"""Locks shared by every process of a tree (uWSGI's ``uwsgi.lock``), spoolers included.

A lock is an exclusive ``flock`` on ``NAME.lock`` in the tree's lock directory, next to the
control socket (``SOCKET.locks/``, 0700). The kernel releases it when its holder exits,
even by SIGKILL, so a crashed process never leaves a lock held. Locks are not re-entrant:
taking a lock this thread already holds raises RuntimeError (uWSGI deadlocks). Threads of
one process queue for a lock before the process does.

Outside a tree (a script, a test) the directory comes from ``$SIGSUP_SOCKET`` or
``$SIGSUP_CONFIG``, so a script may share the tree's locks.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sigsup import context
from sigsup.errors import NotInSigsup

__all__ = ["is_locked", "lock", "locked", "unlock"]

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
F = TypeVar("F", bound=Callable[..., Any])


class _Held:
    __slots__ = ("fd", "owner")

    def __init__(self, fd: int, owner: int) -> None:
        self.fd = fd
        self.owner = owner


class _Locks:
    """This process's locks (``context.process().state(_Locks)``)."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.thread_locks: dict[str, threading.Lock] = {}
        self.held: dict[str, _Held] = {}
        self.pid = os.getpid()
        os.register_at_fork(after_in_child=self.reset_after_fork)

    def reset_after_fork(self) -> None:
        # a forked child holds no lock of its parent's threads (the flock is the parent's)
        if self.pid != os.getpid():
            self.pid = os.getpid()
            self.guard = threading.Lock()
            self.thread_locks = {}
            self.held = {}


def _table() -> _Locks:
    return context.process().state(_Locks)


def lock_dir() -> Path:
    """The directory of this tree's lock files (created 0700)."""
    from sigsup import treeconfig as conf
    cfg = conf.current_or_none_held()
    if cfg is None and os.environ.get(conf.ENV):
        cfg = conf.load(os.environ[conf.ENV])
    if cfg is not None:
        sock = Path(cfg.supervisor.socket)
    elif os.environ.get("SIGSUP_SOCKET"):
        sock = Path(os.environ["SIGSUP_SOCKET"])
    else:
        raise NotInSigsup("sigsup.lock: no tree known here (run inside a sigsup tree, or set "
                          "$SIGSUP_CONFIG or $SIGSUP_SOCKET)")
    d = sock.with_name(sock.name + ".locks")
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


def _check(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"a lock name is 1..100 letters, digits, '_', '.' or '-', not {name!r}")
    return name


def lock(name: str = "default", timeout: float | None = None) -> bool:
    """Take lock ``name``, waiting for it (at most ``timeout`` seconds; None: forever).
    Returns True, or False if ``timeout`` passed first."""
    _check(name)
    me = threading.get_ident()
    locks = _table()
    with locks.guard:
        held = locks.held.get(name)
        if held is not None and held.owner == me:
            raise RuntimeError(f"lock {name!r} is already held by this thread (locks are not "
                               "re-entrant)")
        tl = locks.thread_locks.setdefault(name, threading.Lock())
    deadline = None if timeout is None else time.monotonic() + timeout
    if not tl.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
        return False
    try:
        fd = os.open(lock_dir() / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except BaseException:
        tl.release()
        raise
    try:
        if deadline is None:
            _flock(fd, fcntl.LOCK_EX)
        else:
            delay = 0.001
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                        raise
                if time.monotonic() >= deadline:
                    os.close(fd)
                    tl.release()
                    return False
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 0.05)
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        tl.release()
        raise
    with locks.guard:
        locks.held[name] = _Held(fd, me)
    return True


def _flock(fd: int, op: int) -> None:
    while True:
        try:
            fcntl.flock(fd, op)
            return
        except InterruptedError:
            continue


def unlock(name: str = "default") -> None:
    """Release lock ``name``; RuntimeError if this process does not hold it."""
    _check(name)
    locks = _table()
    with locks.guard:
        held = locks.held.pop(name, None)
        tl = locks.thread_locks.get(name)
    if held is None or tl is None:
        raise RuntimeError(f"lock {name!r} is not held by this process")
    try:
        fcntl.flock(held.fd, fcntl.LOCK_UN)
    finally:
        os.close(held.fd)
        tl.release()


def is_locked(name: str = "default") -> bool:
    """True if some process (this one included) holds lock ``name`` now."""
    _check(name)
    locks = _table()
    with locks.guard:
        if name in locks.held:
            return True
    fd = os.open(lock_dir() / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@contextlib.contextmanager
def locked(name: str = "default", timeout: float | None = None) -> Iterator[None]:
    """``with sigsup.locked("cache"):`` -- hold lock ``name`` for the block. With a
    ``timeout``, TimeoutError if the lock could not be taken in time."""
    if not lock(name, timeout):
        raise TimeoutError(f"lock {name!r} not acquired within {timeout} s")
    try:
        yield
    finally:
        unlock(name)
