"""The monitor process: file events in, ``{"t": "fs"}`` frames out.

watchdog's observer runs threads, and a process with threads must not fork, so file
monitoring lives in this child of the master (``Proc("monitor", ..., runner=
"sigsup.sources.filemon:serve")``), never in the master itself. The master respawns it
like any child; when it starts it says ``fs-hello`` and the master answers with every
monitor (``fs-set``); monitors added or removed later arrive as ``fs-add`` / ``fs-del``.

How a path is watched (so that none of uWSGI's silent failures happen):
    * a directory: the directory itself (``recursive`` adds every subdirectory, and new ones
      as they appear);
    * a file: its parent directory, keeping the events that name the file. A file replaced
      by a rename (write a temp file, rename it over the path) keeps firing, because the
      watch is on the directory, not on the inode that went away;
    * a path that does not exist (``wait_for_path``), or that disappeared: its nearest
      existing ancestor, until the path appears; then it is watched as above (its creation
      counts as a ``created`` event).
Event names: ``created``, ``modified`` (contents or attributes: ``touch`` counts),
``deleted``, ``moved`` (renamed away or renamed onto the path).

Threads only ever touch ``Monitor.pending`` (under a lock) and a wake-up pipe; every frame
to the master is written by the main thread. A hit inotify limit is reported to the master
with the sysctl to raise.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import selectors
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sigsup.protocol.frames import DONE, DONE_NO_HANDLER, JSON, READY, RUN, pack, pack_json

if TYPE_CHECKING:
    from watchdog.events import FileSystemEvent

    from sigsup.child.loop import ChildLoop

KINDS = {"created": "created", "modified": "modified", "attrib": "modified",
         "deleted": "deleted", "moved": "moved"}
RETRY_ERROR = 10.0   # seconds between attempts for a monitor that failed to arm


def limit_message(exc: OSError, path: str) -> str:
    """A clear message for an inotify limit, naming the sysctl to raise."""
    if exc.errno == errno.ENOSPC:
        key, example = "max_user_watches", 524288
        what = "watches"
    elif exc.errno == errno.EMFILE:
        key, example = "max_user_instances", 1024
        what = "instances"
    else:
        return f"cannot watch {path}: {exc.strerror or exc}"
    try:
        with open(f"/proc/sys/fs/inotify/{key}") as f:
            current = f.read().strip()
    except OSError:
        current = "?"
    return (f"cannot watch {path}: the inotify {what} limit is reached "
            f"(fs.inotify.{key} = {current}); raise it with "
            f"`sudo sysctl fs.inotify.{key}={example}` (and set it in /etc/sysctl.d/ to keep it)")


def nearest_existing(path: str) -> str:
    d = os.path.dirname(path)
    while d and not os.path.isdir(d):
        parent = os.path.dirname(d)
        if parent == d:
            break
        d = parent
    return d or "/"


@dataclass
class Watched:
    """One monitor as the monitor process keeps it."""

    id: int
    path: str
    recursive: bool
    events: frozenset[str]
    wait_for_path: bool
    mode: str = ""                 # dir, file, wait, error
    where: str = ""                # the directory actually watched
    handler: Any = None
    watch: Any = None
    error: str | None = None
    retry_at: float = 0.0
    reported: tuple[str, str | None] = ("", None)
    extra: dict[str, Any] = field(default_factory=dict)

    def relevant(self, p: str) -> bool:
        if self.mode == "file":
            return p == self.path
        if self.mode == "dir":
            return p == self.path or p.startswith(self.path + "/")
        return False

    def on_the_way(self, p: str) -> bool:
        """``p`` (an event in wait mode) is the path or one of its missing ancestors."""
        return p == self.path or self.path.startswith(p + "/")


class WatchGroup:
    """The monitors sharing one watch (a directory, recursive or not), and one watchdog
    handler for all of them. An event finds the monitors of the paths it names in a dict
    (a file monitor is indexed by its path), so its cost does not grow with the number of
    files watched in the directory; directory and wait-mode monitors, few, see every event."""

    def __init__(self, mon: Monitor, directory: str) -> None:
        self.mon = mon
        self.directory = directory
        self.watch: Any = None
        self.files: dict[str, dict[int, Watched]] = {}   # path -> file monitors of it
        self.others: dict[int, Watched] = {}             # dir and wait monitors
        self.size = 0

    def add(self, w: Watched) -> None:
        with self.mon.lock:
            if w.mode == "file":
                self.files.setdefault(w.path, {})[w.id] = w
                w.extra["indexed"] = w.path
            else:
                self.others[w.id] = w
                w.extra["indexed"] = None
            self.size += 1

    def remove(self, w: Watched) -> None:
        with self.mon.lock:
            path = w.extra.pop("indexed", None)
            if path is not None:
                same = self.files.get(path, {})
                same.pop(w.id, None)
                if not same:
                    self.files.pop(path, None)
            else:
                self.others.pop(w.id, None)
            self.size -= 1

    def dispatch(self, event: FileSystemEvent) -> None:
        """On watchdog's thread: the event to each monitor it may concern."""
        paths = [os.fsdecode(event.src_path)]
        dest = getattr(event, "dest_path", "")
        if dest:
            paths.append(os.fsdecode(dest))
        with self.mon.lock:
            targets = list(self.others.values())
            for p in paths:
                same = self.files.get(p)
                if same:
                    targets.extend(same.values())
            if event.is_directory and paths[0] == self.directory and self.files:
                # the watched directory itself went away: every file monitor re-arms
                targets.extend(w for same in self.files.values() for w in same.values())
        seen: set[int] = set()
        for w in targets:
            if w.id not in seen:
                seen.add(w.id)
                self.mon.on_event(w, event)


class Monitor:
    def __init__(self, loop: ChildLoop) -> None:
        from watchdog.observers import Observer
        # watchdog logs a harmless race when a watch is replaced; failures are ours to report
        logging.getLogger("watchdog").setLevel(logging.CRITICAL)
        self.loop = loop
        self.channel = loop.channel
        self.monitors: dict[int, Watched] = {}
        self.lock = threading.Lock()
        self.pending: dict[int, int] = {}     # monitor id -> events not yet sent
        self.rearm: set[int] = set()          # monitors whose path appeared or went away
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        self.observer = Observer()
        self.observer.daemon = True
        self.observer.start()
        # (directory, recursive) -> the monitors sharing that watch
        self.watches: dict[tuple[str, bool], WatchGroup] = {}
        self.errored: set[int] = set()        # monitors in "error" mode (retried on a timer)

    # -- events, on watchdog's threads -----------------------------------------------------

    def on_event(self, w: Watched, event: FileSystemEvent) -> None:
        kind = KINDS.get(event.event_type)
        if kind is None:
            return
        paths = [os.fsdecode(event.src_path)]
        dest = getattr(event, "dest_path", "")
        if dest:
            paths.append(os.fsdecode(dest))
        hit = False
        rearm = False
        if w.mode == "wait":
            # something appeared on the way to the path (arm() counts its creation), or the
            # watched ancestor itself went away
            rearm = any(p != w.where and w.on_the_way(p) for p in paths) or (
                event.is_directory and kind in ("deleted", "moved") and paths[0] == w.where)
        else:
            hit = any(w.relevant(p) for p in paths)
            if w.mode == "dir" and event.is_directory and kind in ("deleted", "moved") \
                    and paths[0] == w.path:
                rearm = True                   # the watched directory itself went away
            elif w.mode == "file" and event.is_directory and kind in ("deleted", "moved") \
                    and paths[0] == w.where:
                rearm = True                   # the file's directory went away
        if not hit and not rearm:
            return
        with self.lock:
            if hit and kind in w.events:
                self.pending[w.id] = self.pending.get(w.id, 0) + 1
            if rearm:
                self.rearm.add(w.id)
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self.wake_w, b"!")

    # -- arming, on the main thread --------------------------------------------------------

    def _watch(self, w: Watched, directory: str, recursive: bool) -> None:
        from watchdog.events import FileSystemEventHandler

        key = (directory, recursive)
        group = self.watches.get(key)
        if group is None:
            group = WatchGroup(self, directory)

            class Handler(FileSystemEventHandler):
                def dispatch(self, event: FileSystemEvent) -> None:
                    try:   # an exception would kill watchdog's dispatcher thread silently
                        group.dispatch(event)
                    except Exception:
                        traceback.print_exc()

            group.watch = self.observer.schedule(Handler(), directory, recursive=recursive)
            self.watches[key] = group
        group.add(w)
        w.handler, w.watch, w.where = group, group.watch, directory
        w.extra["key"] = key

    def _unwatch(self, w: Watched) -> None:
        key = w.extra.pop("key", None)
        if key is None or w.watch is None:
            return
        group = self.watches.get(key)
        if group is not None:
            group.remove(w)
            if group.size <= 0:
                self.watches.pop(key, None)
                with contextlib.suppress(Exception):
                    self.observer.unschedule(group.watch)
        w.handler = w.watch = None

    def arm(self, w: Watched) -> None:
        was_waiting = w.mode == "wait"
        self._unwatch(w)
        w.error = None
        try:
            if os.path.isdir(w.path):
                w.mode = "dir"
                self._watch(w, w.path, w.recursive)
            elif os.path.lexists(w.path):
                w.mode = "file"
                self._watch(w, os.path.dirname(w.path) or "/", False)
            else:
                w.mode = "wait"
                self._watch(w, nearest_existing(w.path), False)
                if os.path.lexists(w.path):   # it appeared while we were arming
                    self.arm(w)
                    return
        except OSError as exc:
            self._unwatch(w)
            w.mode = "error"
            w.error = limit_message(exc, w.path)
            w.retry_at = time.monotonic() + RETRY_ERROR
        if w.mode == "error":
            self.errored.add(w.id)
        else:
            self.errored.discard(w.id)
        if was_waiting and w.mode in ("dir", "file") and "created" in w.events:
            with self.lock:   # the path it waited for appeared
                self.pending[w.id] = self.pending.get(w.id, 0) + 1
        self.report(w)

    def report(self, w: Watched) -> None:
        state = {"dir": "watching", "file": "watching", "wait": "waiting for path",
                 "error": "error"}.get(w.mode, w.mode)
        if (state, w.error) != w.reported:
            w.reported = (state, w.error)
            self.send({"t": "fs-state", "monitor": w.id, "state": state, "error": w.error})

    def add(self, spec: dict[str, Any]) -> None:
        old = self.monitors.pop(int(spec["id"]), None)
        if old is not None:
            self._unwatch(old)
        w = Watched(int(spec["id"]), os.path.abspath(str(spec["path"])), bool(spec.get("recursive")),
                    frozenset(spec.get("events") or KINDS.values()), bool(spec.get("wait_for_path")))
        self.monitors[w.id] = w
        self.arm(w)

    def remove(self, mid: int) -> None:
        w = self.monitors.pop(mid, None)
        self.errored.discard(mid)
        if w is not None:
            self._unwatch(w)
        with self.lock:
            self.pending.pop(mid, None)
            self.rearm.discard(mid)

    # -- the main loop ---------------------------------------------------------------------

    def send(self, msg: dict[str, Any]) -> None:
        self.channel.send(pack_json(msg))

    def on_frame(self, f: tuple) -> None:
        if f[0] == RUN:   # never a target; answer so the master's books stay right
            self.channel.send(pack(DONE, f[1], DONE_NO_HANDLER, f[3]))
        elif f[0] == JSON:
            msg = f[4]
            t = msg.get("t")
            if t == "fs-set":
                for mid in list(self.monitors):
                    self.remove(mid)
                for spec in msg.get("monitors", []):
                    self.add(spec)
            elif t == "fs-add":
                self.add(msg["monitor"])
            elif t == "fs-del":
                self.remove(int(msg["id"]))
            else:
                self.loop.on_json(msg)

    def flush(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self.wake_r, 4096):
                pass
        with self.lock:
            rearm, self.rearm = self.rearm, set()
        for mid in rearm:
            w = self.monitors.get(mid)
            if w is not None:
                self.arm(w)
        with self.lock:
            pending, self.pending = self.pending, {}
        for mid, n in pending.items():
            if mid in self.monitors:
                self.send({"t": "fs", "monitor": mid, "n": n})

    def run(self) -> None:
        self.channel.send(pack(READY, 0, 0, os.getpid()))
        self.send({"t": "fs-hello"})
        sel = selectors.DefaultSelector()
        sock = self.channel.sock
        sel.register(sock, selectors.EVENT_READ)
        sel.register(self.wake_r, selectors.EVENT_READ)
        while True:
            while self.channel.deferred:
                self.on_frame(self.channel.deferred.popleft())
            timeout = None
            errored = [self.monitors[m] for m in self.errored if m in self.monitors]
            if errored:
                timeout = max(0.0, min(w.retry_at for w in errored) - time.monotonic())
            for key, _ in sel.select(timeout):
                if key.fileobj is sock:
                    for f in self.channel.receive(0.0) or []:
                        self.on_frame(f)
            self.flush()
            now = time.monotonic()
            for w in errored:
                if w.mode == "error" and now >= w.retry_at and w.id in self.monitors:
                    self.arm(w)


def serve(loop: ChildLoop) -> None:
    """The monitor process's main (``Proc(..., runner="sigsup.sources.filemon:serve")``)."""
    Monitor(loop).run()
