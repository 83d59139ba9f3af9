"""The monitor process's logic in-process: real watchdog and real files, no fork.

``Monitor`` is driven by hand: the test adds monitors, changes files, and calls ``flush``
(what the monitor process's loop does when watchdog wakes it) until the frames it would
send the master arrive on the other end of a socketpair.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from sigsup.child.channel import ChildChannel
from sigsup.context import Identity
from sigsup.protocol.frames import JSON, FrameReader
from sigsup.sources.filemon import Monitor


class FakeLoop:
    def __init__(self, sock: socket.socket) -> None:
        self.channel = ChildChannel(sock, Identity("monitor", 1, "monitor", os.getpid()))

    def on_json(self, msg: dict[str, Any]) -> None:
        pass


class Harness:
    def __init__(self) -> None:
        self.mine, theirs = socket.socketpair()
        self.mine.setblocking(False)
        self.mon = Monitor(FakeLoop(theirs))
        self.reader = FrameReader()
        self.frames: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        while True:
            try:
                data = self.mine.recv(1 << 16)
            except BlockingIOError:
                break
            self.frames += [f[4] for f in self.reader.feed(data) if f[0] == JSON]
        return self.frames

    def add(self, mid: int, path: Path, **kw: Any) -> None:
        self.mon.add({"id": mid, "path": str(path), **kw})

    def fs(self, mid: int) -> int:
        return sum(f.get("n", 0) for f in self.read() if f["t"] == "fs" and f["monitor"] == mid)

    def state(self, mid: int) -> str | None:
        states = [f["state"] for f in self.read() if f["t"] == "fs-state" and f["monitor"] == mid]
        return states[-1] if states else None

    def until(self, cond: Any, what: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; frames: {self.read()}")
            self.mon.flush()
            time.sleep(0.005)

    def settle(self, mid: int, seconds: float = 0.3, timeout: float = 5.0) -> int:
        """Wait until ``mid`` got nothing new for ``seconds`` (a busy machine can split one
        write's events into two debounced bursts); returns its count then."""
        deadline = time.monotonic() + timeout
        n, since = self.fs(mid), time.monotonic()
        while time.monotonic() - since < seconds:
            if time.monotonic() > deadline:
                raise AssertionError(f"monitor {mid} never settled; frames: {self.read()}")
            self.mon.flush()
            time.sleep(0.01)
            if self.fs(mid) != n:
                n, since = self.fs(mid), time.monotonic()
        return n

    def quiet(self, mid: int, seconds: float = 0.3) -> None:
        """Nothing more arrives for ``mid`` (a negative check: bounded, after a barrier)."""
        n = self.fs(mid)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.mon.flush()
            time.sleep(0.01)
        assert self.fs(mid) == n

    def close(self) -> None:
        self.mon.observer.stop()
        self.mon.observer.join(2)
        self.mine.close()
        os.close(self.mon.wake_r)
        os.close(self.mon.wake_w)


@pytest.fixture
def h():
    harness = Harness()
    yield harness
    harness.close()


def test_file_modified_and_replaced_by_rename(h: Harness, tmp_path: Path) -> None:
    f = tmp_path / "conf.ini"
    f.write_text("a")
    h.add(1, f)
    assert h.state(1) == "watching"
    f.write_text("b")
    h.until(lambda: h.fs(1) >= 1, "a modify event")
    n = h.fs(1)
    tmp = tmp_path / ".conf.ini.tmp"
    tmp.write_text("c")
    os.replace(tmp, f)                       # atomic replace: the watch survives it
    h.until(lambda: h.fs(1) > n, "the rename onto the path")
    n = h.fs(1)
    f.write_text("d")
    h.until(lambda: h.fs(1) > n, "a modify after the replace")
    h.settle(1)
    (tmp_path / "unrelated").write_text("x")  # same directory, another file
    h.quiet(1)


def test_touch_counts_as_modified(h: Harness, tmp_path: Path) -> None:
    f = tmp_path / "reload"
    f.write_text("")
    h.add(1, f, events=["modified"])
    os.utime(f, (1, 1))
    h.until(lambda: h.fs(1) >= 1, "an attribute change")


def test_event_filter(h: Harness, tmp_path: Path) -> None:
    h.add(1, tmp_path, events=["deleted"])
    (tmp_path / "a").write_text("x")
    h.quiet(1, 0.2)
    (tmp_path / "a").unlink()
    h.until(lambda: h.fs(1) >= 1, "the delete")


def test_recursive_watches_new_subdirectories(h: Harness, tmp_path: Path) -> None:
    h.add(1, tmp_path, recursive=True)
    (tmp_path / "sub").mkdir()
    h.until(lambda: h.fs(1) >= 1, "the new directory")
    n = h.fs(1)
    (tmp_path / "sub" / "f").write_text("x")
    h.until(lambda: h.fs(1) > n, "a file in the new directory")


def test_not_recursive_ignores_subdirectories(h: Harness, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    h.add(1, tmp_path)
    (tmp_path / "sub" / "f").write_text("x")
    h.quiet(1, 0.3)


def test_waits_for_a_missing_path_then_watches_it(h: Harness, tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "conf"
    h.add(1, target, wait_for_path=True)
    assert h.state(1) == "waiting for path"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b").mkdir()
    h.until(lambda: h.mon.monitors[1].where == str(tmp_path / "a" / "b"), "the next ancestor")
    assert h.fs(1) == 0
    target.write_text("1")
    h.until(lambda: h.fs(1) >= 1 and h.state(1) == "watching", "the path appearing")
    n = h.fs(1)
    target.write_text("2")
    h.until(lambda: h.fs(1) > n, "a change of the path")


def test_a_deleted_directory_is_waited_for_and_watched_again(h: Harness, tmp_path: Path) -> None:
    d = tmp_path / "data"
    d.mkdir()
    h.add(1, d)
    d.rmdir()
    h.until(lambda: h.state(1) == "waiting for path", "waiting again")
    d.mkdir()
    h.until(lambda: h.state(1) == "watching", "watching again")
    n = h.fs(1)
    (d / "f").write_text("x")
    h.until(lambda: h.fs(1) > n, "an event in the new directory")


def test_two_monitors_on_one_directory_and_removing_one(h: Harness, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("")
    b.write_text("")
    h.add(1, a)
    h.add(2, b)
    assert len(h.mon.watches) == 1           # one watch on the directory, shared
    h.mon.remove(1)
    b.write_text("x")
    h.until(lambda: h.fs(2) >= 1, "the other monitor still firing")
    a.write_text("x")
    h.quiet(1, 0.2)


def test_an_inotify_limit_is_reported_with_the_sysctl(h: Harness, tmp_path: Path,
                                                       monkeypatch) -> None:
    import errno

    def full(*args: Any, **kw: Any) -> Any:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")
    monkeypatch.setattr(h.mon.observer, "schedule", full)
    h.add(1, tmp_path)
    errors = [f for f in h.read() if f["t"] == "fs-state"]
    assert errors[-1]["state"] == "error"
    assert "fs.inotify.max_user_watches" in errors[-1]["error"]
    assert "sudo sysctl" in errors[-1]["error"]
