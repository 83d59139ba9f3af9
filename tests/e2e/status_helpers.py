"""Helpers for tests/e2e/test_status.py: a master started with extra ``sigsup start``
options, a command on a pseudo-terminal, and a line reader with deadlines."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from typing import Any

ANSI = re.compile(rb"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9]|[=>78])")


def start_with(m: Any, *args: str, wait: bool = True, timeout: float = 20.0) -> Any:
    """Start conftest's ``Master`` ``m`` (made with ``start=False``) with extra options for
    ``sigsup start``; teardown works as for any master of the factory."""
    if m._log is not None:
        m._log.close()
    m._log = open(m.logfile, "wb")  # noqa: SIM115 - closed by the fixture's kill()
    m.proc = subprocess.Popen(
        [sys.executable, "-m", "sigsup", "start", str(m.cfg), *args],
        stdout=m._log, stderr=subprocess.STDOUT, env=m.env, cwd=m.dir, start_new_session=True)
    if wait:
        m.wait_running(timeout)
    return m


def sigsup_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sigsup", *args]


class Pty:
    """A command on its own pseudo-terminal (its controlling terminal, so Ctrl-C works),
    ``cols`` x ``rows``; what it prints is read with deadlines, never with sleeps."""

    def __init__(self, cmd: list[str], env: dict[str, str], cols: int = 100, rows: int = 40,
                 cwd: str | None = None) -> None:
        self.fd, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = dict(env)
        env.pop("NO_COLOR", None)
        env.update(TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
        self.proc = subprocess.Popen(
            cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
            start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.raw = b""

    def _pump(self, until: float) -> bool:
        left = until - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.fd], [], [], left)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:      # EIO: the other side is closed
            return False
        self.raw += data
        return bool(data)

    @property
    def text(self) -> str:
        return ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def wait_for(self, cond: Callable[[str], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            got = cond(self.text)
            if got:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; "
                                     f"the screen so far ends with:\n{self.text[-3000:]}")
            if not self._pump(deadline) and self.proc.poll() is not None:
                # nothing more will come
                got = cond(self.text)
                if got:
                    return got
                raise AssertionError(f"{what}: the program exited with {self.proc.returncode}; "
                                     f"its output ends with:\n{self.text[-3000:]}")

    def mark(self) -> int:
        return len(self.raw)

    def since(self, mark: int) -> str:
        return ANSI.sub(b"", self.raw[mark:]).decode("utf-8", "replace")

    def ctrl_c(self) -> None:
        os.write(self.fd, b"\x03")

    def wait_exit(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() >= deadline:
                raise AssertionError(f"still running {timeout} s after Ctrl-C:\n{self.text[-2000:]}")
            self._pump(min(deadline, time.monotonic() + 0.1))
        while self._pump(time.monotonic() + 0.05):
            pass
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        with contextlib.suppress(OSError):
            os.close(self.fd)


class Lines:
    """Lines of a subprocess's stdout, read with deadlines."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.proc = proc
        self.fd = proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b""
        self.lines: list[str] = []

    def _pump(self, until: float) -> bool:
        left = until - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.fd], [], [], left)
        if not r:
            return False
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return True
        if not data:
            return False
        *done, self.buf = (self.buf + data).split(b"\n")
        self.lines.extend(d.decode() for d in done)
        return True

    def wait_for(self, cond: Callable[[list[str]], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            got = cond(self.lines)
            if got:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; "
                                     f"lines so far: {self.lines[-20:]}")
            if not self._pump(deadline) and self.proc.poll() is not None:
                self._pump(time.monotonic() + 0.2)
                got = cond(self.lines)
                if got:
                    return got
                raise AssertionError(f"{what}: exited with {self.proc.returncode}; "
                                     f"lines: {self.lines[-20:]}")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGINT (as Ctrl-C would), then its exit code; SIGKILL if it does not go."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise AssertionError(f"{proc.args} did not exit {timeout} s after SIGINT") from None
