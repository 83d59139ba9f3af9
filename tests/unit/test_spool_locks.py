"""sigsup.lock / unlock / locked / is_locked (sigsup/locks.py), in this process, its
threads and a forked child."""

from __future__ import annotations

import os
import threading
import time

import pytest

import sigsup
from sigsup import treeconfig as conf


@pytest.fixture(autouse=True)
def lock_env(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGSUP_SOCKET", str(tmp_path / "m.sock"))
    monkeypatch.delenv(conf.ENV, raising=False)
    held = conf.current_or_none_held()
    conf.set_config(None)
    yield tmp_path / "m.sock.locks"
    conf.set_config(held)


def test_lock_unlock_and_the_directory(lock_env) -> None:
    assert not sigsup.is_locked()
    assert sigsup.lock() is True
    assert sigsup.is_locked() and sigsup.is_locked("default")
    assert oct(lock_env.stat().st_mode & 0o777) == "0o700"
    sigsup.unlock()
    assert not sigsup.is_locked()
    with pytest.raises(RuntimeError, match="not held"):
        sigsup.unlock()


def test_not_reentrant_and_names_are_checked() -> None:
    with sigsup.locked("a"), pytest.raises(RuntimeError, match="not re-entrant"):
        sigsup.lock("a")
    for bad in ("", "../x", "a/b", "x" * 101):
        with pytest.raises(ValueError):
            sigsup.lock(bad)


def test_threads_queue_for_the_lock() -> None:
    order = []
    sigsup.lock("t")
    got = threading.Event()

    def other() -> None:
        with sigsup.locked("t"):
            order.append("thread")
            got.set()

    th = threading.Thread(target=other)
    th.start()
    assert not got.wait(0.1)              # blocked while this thread holds it
    order.append("main")
    sigsup.unlock("t")
    assert got.wait(10)
    th.join(10)
    assert order == ["main", "thread"]


def test_another_process_waits_then_times_out_and_a_dead_holder_releases() -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:                          # the child takes the lock and dies holding it
        try:
            sigsup.lock("p")
            os.write(w, b"1")
            time.sleep(0.3)
        finally:
            os._exit(0)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.close(r)
    assert sigsup.is_locked("p")
    t0 = time.monotonic()
    assert sigsup.lock("p", timeout=0.05) is False
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(TimeoutError), sigsup.locked("p", timeout=0.01):
        pass
    assert sigsup.lock("p", timeout=10) is True   # the child exited: the kernel released it
    sigsup.unlock("p")
    os.waitpid(pid, 0)
