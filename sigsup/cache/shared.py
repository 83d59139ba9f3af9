"""The caches of this process: each one a table (cache/table.py) in a file mapped
``MAP_SHARED`` by every process of the tree, locked by an ``flock`` on that file.

The files live beside the control socket, in ``SOCKET.cache/NAME.cache`` (0700 directory,
0600 files; on ``$XDG_RUNTIME_DIR`` or /tmp, so normally memory). The data is in no
process: a worker that dies or restarts loses nothing; a new master starts with empty caches.

- The master, until it starts (``preload``, and ``sigsup check``, which never starts),
  keeps its caches in private buffers (``staging``): check never touches a running tree's
  caches, and ``CacheExtension.start`` publishes what preload stored, in fresh files,
  before anything forks. The files of an earlier run are removed then.
- Any process may create a cache on first use: the file is written whole under a temporary
  name and linked into place (``link`` fails if another process won: its file is used).
- ``flock`` locks belong to an open file description, which a fork shares: every process
  opens its own descriptor for locking (reopened after fork), and threads of one process
  queue on a ``threading.Lock`` first.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sigsup import context
from sigsup.config.caches import CACHE_NAME
from sigsup.config.schema import CacheConfig

from .table import Bounds, Table, format_buffer, size_for

__all__ = ["Caches", "Handle", "cache_dir", "caches", "check_name"]

SUFFIX = ".cache"


def check_name(name: str | None) -> str:
    if name is None:
        return "default"
    if not isinstance(name, str) or not CACHE_NAME.fullmatch(name):
        raise ValueError(f"a cache name is 1..100 letters, digits, '_', '.' or '-', "
                         f"not {name!r}")
    return name


def cache_dir(socket: Path) -> Path:
    return socket.with_name(socket.name + ".cache")


def bounds_of(cfg: CacheConfig) -> Bounds:
    return Bounds(cfg.items, cfg.max_bytes, cfg.max_item_bytes)


class Handle:
    """One cache as this process reaches it."""

    def __init__(self, name: str, table: Table, path: Path | None, mm: Any, fd: int,
                 declared: bool) -> None:
        self.name = name
        self.table = table
        self.path = path          # None: staged in the master, not yet in a file
        self.mm = mm
        self.fd = fd              # this process's descriptor for flock (-1 when staged)
        self.declared = declared
        self.tlock = threading.Lock()

    def acquire(self) -> Table:
        """Take the cache's lock (this thread, then this process); the table to work on.
        (``flock`` is retried on EINTR by Python itself.)"""
        self.tlock.acquire()
        if self.fd >= 0:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX)
            except BaseException:
                self.tlock.release()
                raise
        return self.table

    def release(self) -> None:
        try:
            if self.fd >= 0:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
        finally:
            self.tlock.release()

    @contextlib.contextmanager
    def locked(self) -> Iterator[Table]:
        t = self.acquire()
        try:
            yield t
        finally:
            self.release()

    def reopen_lock(self) -> None:
        """After fork: a descriptor of this process's own, and a fresh thread lock."""
        self.tlock = threading.Lock()
        if self.path is None:
            return
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)


class Caches:
    """This process's caches (``context.process().state(Caches)``)."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.handles: dict[str, Handle] = {}
        self.staging = False            # the master before it starts (see the module doc)
        self.clock: Callable[[], float] = time.monotonic
        self.announce: Callable[[str], None] = _to_stderr
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self.guard = threading.Lock()
        self.staging = False
        self.announce = _to_stderr
        for h in self.handles.values():
            h.reopen_lock()

    # -- finding a cache -----------------------------------------------------------------

    def get(self, name: str) -> Handle:
        h = self.handles.get(name)
        if h is not None:
            return h
        with self.guard:
            h = self.handles.get(name)
            if h is None:
                h = self._open(name)
                self.handles[name] = h
            return h

    def _open(self, name: str) -> Handle:
        from sigsup import treeconfig
        cfg = treeconfig.current_config()
        declared = cfg.caches.get(name)
        spec = declared or CacheConfig(name=name)
        if self.staging:
            buf = mmap.mmap(-1, size_for(bounds_of(spec)))   # zero pages until written
            format_buffer(buf, bounds_of(spec), os.getpid())
            if declared is None:
                self.announce(_undeclared(name, spec, cfg.path))
            return Handle(name, Table(buf, name), None, buf, -1, declared is not None)
        d = cache_dir(Path(cfg.supervisor.socket))
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = d / f"{name}{SUFFIX}"
        made = not path.exists() and publish(path, bounds_of(spec), None)
        if made and declared is None:
            self.announce(_undeclared(name, spec, cfg.path))
        return open_file(name, path, declared is not None)


def open_file(name: str, path: Path, declared: bool) -> Handle:
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        mm = mmap.mmap(fd, os.fstat(fd).st_size, mmap.MAP_SHARED,
                       mmap.PROT_READ | mmap.PROT_WRITE)
    except BaseException:
        os.close(fd)
        raise
    return Handle(name, Table(mm, name), path, mm, fd, declared)


def publish(path: Path, bounds: Bounds, staged: Table | None, now: float = 0.0, *,
            replace: bool = False) -> bool:
    """Write a whole cache file at ``path``: empty for ``bounds``, with the live entries
    of ``staged`` if given (copied entry by entry: the file's untouched pages stay
    unallocated). Without ``replace`` an existing file wins and False is returned."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        size = size_for(bounds)
        os.ftruncate(fd, size)
        mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        try:
            format_buffer(mm, bounds, os.getpid())
            if staged is not None:
                t = Table(mm, staged.name)
                for key, value, exp in staged.items_now(now):
                    t.put(key, value, exp, now, replace=True)
                del t
        finally:
            mm.close()
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
    finally:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def caches() -> Caches:
    return context.process().state(Caches)


def _undeclared(name: str, spec: CacheConfig, config: Path) -> str:
    return (f"cache {name!r} is not declared in {config}: it gets the default bounds "
            f"(items = {spec.items}, max_bytes = {spec.max_bytes}, max_item_bytes = "
            f"{spec.max_item_bytes}); add [caches.{name}] to change them")


def _to_stderr(line: str) -> None:
    print(f"sigsup: {line}", file=sys.stderr, flush=True)

