"""The process harness of the end-to-end and reliability suites (their fixtures are in
tests/conftest.py).

``Master(dir, body, sup=..., env=...)`` writes a config (the ``[supervisor]`` table is
generated: socket, pythonpath pointing at tests/e2e/apps, fast respawns) and runs
``python -m sigsup start`` in its own session; ``start()`` waits until every process it
declares is running. ``kill()`` kills the master's process group and every child it ever
saw (each child is in its own process group), sweeps any process still carrying the
test's environment tag, and returns what survived.

Every wait polls a condition with its own deadline; nothing sleeps and hopes.

A plain module, imported as ``harness``: tests/ has no ``__init__.py``, so pytest (in its
default "prepend" import mode) puts tests/ itself on ``sys.path`` for the root conftest and
for the e2e, reliability and unit packages below it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sigsup.protocol.control import NoMaster, request

APPS = Path(__file__).parent / "e2e" / "apps"
POLL = 0.02


class WaitTimeout(AssertionError):
    pass


def wait_for(cond: Callable[[], Any], timeout: float, what: str, interval: float = POLL) -> Any:
    """Poll ``cond`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = cond()
        except (OSError, ConnectionError, TimeoutError, ValueError, NoMaster) as exc:
            # NoMaster: the socket file exists from bind() until listen(): connection refused
            value, last_exc = None, exc
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout} s waiting for {what}"
                              + (f" (last error: {last_exc!r})" if last_exc else ""))
        time.sleep(interval)


# -- processes ---------------------------------------------------------------------------


def proc_start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (to tell a pid from a later reuse of it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[19])


def proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return stat[stat.rfind(")") + 2:].split()[0]


def alive(pid: int, start: int | None = None) -> bool:
    """Running (a zombie is dead) and, if ``start`` is given, still the same process."""
    state = proc_state(pid)
    if state is None or state in ("Z", "X"):
        return False
    return start is None or proc_start_time(pid) == start


def pids_with_tag(tag: str) -> list[int]:
    """Every live process whose environment carries ``E2E_TAG=tag``."""
    needle = f"E2E_TAG={tag}".encode()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if needle in env.split(b"\0") and alive(int(entry)):
            out.append(int(entry))
    return out


def kill_pid_and_group(pid: int, start: int | None) -> None:
    if not alive(pid, start):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


# -- records written by the handlers in apps/e2eapp.py -----------------------------------


def read_records(path: Path) -> list[dict[str, Any]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")
    # the last piece is b"" after a complete line; anything else is a line still being written
    return [json.loads(line) for line in lines[:-1] if line]


# -- the master --------------------------------------------------------------------------


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


class Master:
    """One ``sigsup start`` subprocess and the files of its test."""

    def __init__(self, tmp: Path, body: str, sup: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.dir = tmp
        self.sock = tmp / "m.sock"
        self.out = tmp / "out.jsonl"
        self.logfile = tmp / "master.log"
        self.cfg = tmp / "sigsup.toml"
        self.tag = uuid.uuid4().hex
        settings: dict[str, Any] = {
            "name": "e2e",
            "socket": str(self.sock),
            "pythonpath": [str(APPS)],
            "shutdown_timeout": 10.0,
            "respawn_delay": 0.05,
            "respawn_delay_max": 0.5,
        }
        settings.update(sup or {})
        self.sock = Path(settings["socket"])
        header = "[supervisor]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in settings.items())
        self.cfg.write_text(header + "\n" + body)
        self.env = clean_env()
        self.env.update({"E2E_OUT": str(self.out), "E2E_TAG": self.tag, "PYTHONUNBUFFERED": "1"})
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.seen: dict[int, int | None] = {}     # child pid -> its start time
        self._log = None

    # -- life --------------------------------------------------------------------------

    def start(self, wait: bool = True, timeout: float = 20.0) -> Master:
        if self._log is not None:
            self._log.close()
        self._log = open(self.logfile, "wb")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sigsup", "start", str(self.cfg)],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=self.dir,
            start_new_session=True)
        if wait:
            self.wait_running(timeout)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_running(self, timeout: float = 20.0) -> dict[str, Any]:
        """Until the socket answers and every process slot is running (ready), or cheaped."""
        def ready() -> dict[str, Any] | None:
            if not self.running():
                raise AssertionError(f"the master exited with {self.proc.returncode}:\n"
                                     + self.log())
            if not self.sock.exists():
                return None
            st = self.status()
            return st if all(p["state"] in ("running", "cheaped")
                             for p in st["processes"]) else None
        return wait_for(ready, timeout, "every process of the tree to be running")

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise WaitTimeout(f"the master did not exit within {timeout} s") from None

    def kill(self) -> list[int]:
        """SIGKILL the master's group and every child it ever had; returns survivors."""
        if self.running():
            with contextlib.suppress(Exception):
                self.status(timeout=2.0)      # learn the pids of the current children
        tagged = pids_with_tag(self.tag)
        for pid in tagged:
            self.seen.setdefault(pid, proc_start_time(pid))
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        for pid, start in self.seen.items():
            kill_pid_and_group(pid, start)
        for pid in pids_with_tag(self.tag):
            kill_pid_and_group(pid, None)
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None
        deadline = time.monotonic() + 5.0
        while True:
            survivors = [pid for pid, start in self.seen.items() if alive(pid, start)]
            survivors += [p for p in pids_with_tag(self.tag) if p not in survivors]
            if self.running():
                survivors.append(self.pid)
            if not survivors or time.monotonic() >= deadline:
                return survivors
            time.sleep(POLL)

    wait_for = staticmethod(wait_for)
    alive = staticmethod(alive)

    # -- talking to it -----------------------------------------------------------------

    def request(self, msg: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        return request(self.sock, msg, timeout)

    def status(self, timeout: float = 10.0) -> dict[str, Any]:
        reply = request(self.sock, {"cmd": "status"}, timeout)
        assert reply.get("ok"), reply
        st = reply["status"]
        self.note_pids(st)
        return st

    def note_pids(self, st: dict[str, Any]) -> None:
        for p in st["processes"]:
            if p["pid"] and p["pid"] not in self.seen:
                self.seen[p["pid"]] = proc_start_time(p["pid"])

    def proc_status(self, name: str, st: dict[str, Any] | None = None) -> dict[str, Any]:
        st = st or self.status()
        for p in st["processes"]:
            if p["name"] == name:
                return p
        raise KeyError(name)

    def signal_status(self, num: int, st: dict[str, Any] | None = None) -> dict[str, Any]:
        st = st or self.status()
        for s in st["signals"]:
            if s["num"] == num:
                return s
        raise KeyError(num)

    def child_pids(self, st: dict[str, Any] | None = None) -> dict[str, int]:
        st = st or self.status()
        return {p["name"]: p["pid"] for p in st["processes"] if p["pid"]}

    def cli(self, *args: str, timeout: float = 60.0, socket: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "sigsup", *args]
        if socket:
            cmd += ["--socket", str(self.sock)]
        return run_cli(cmd, timeout=timeout, env=env)

    def cli_reaping(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run a client command while reaping the master as soon as it exits.

        ``sigsup stop`` waits for the master's pid to go away; the master is this test's
        child, and an unreaped child is a zombie that still has its pid."""
        cmd = [sys.executable, "-m", "sigsup", *args, "--socket", str(self.sock)]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=clean_env()) as p:
            deadline = time.monotonic() + timeout
            while p.poll() is None:
                if self.proc is not None:
                    self.proc.poll()
                if time.monotonic() >= deadline:
                    p.kill()
                    raise WaitTimeout(f"{cmd} did not finish within {timeout} s")
                time.sleep(POLL)
            out, err = p.communicate()
        return subprocess.CompletedProcess(cmd, p.returncode, out, err)

    def raise_many(self, signum: int, n: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """``n`` raises pipelined on one control connection; returns the results in order."""
        from sigsup.protocol.control import ControlClient, encode
        data = encode({"cmd": "raise", "signum": signum}) * n
        with ControlClient(self.sock, timeout) as c:
            assert c._sock is not None
            c._sock.sendall(data)
            replies = [c.receive(timeout) for _ in range(n)]
        for r in replies:
            assert r.get("ok"), r
        return [r["result"] for r in replies]

    # -- what the handlers wrote, what the master printed ------------------------------

    def records(self, sig: int | None = None, tag: str | None = "run") -> list[dict[str, Any]]:
        return [r for r in read_records(self.out)
                if (sig is None or r["sig"] == sig) and (tag is None or r["tag"] == tag)]

    def wait_records(self, n: int, sig: int | None = None, tag: str | None = "run",
                     timeout: float = 20.0) -> list[dict[str, Any]]:
        return wait_for(lambda: (lambda rs: rs if len(rs) >= n else None)(self.records(sig, tag)),
                        timeout, f"{n} records (sig={sig}, tag={tag})")

    def wait_handled(self, num: int, n: int, timeout: float = 20.0,
                     counter: str = "handled") -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            st = self.status()
            try:
                s = self.signal_status(num, st)
            except KeyError:
                return None
            return st if s[counter] >= n else None
        return wait_for(done, timeout, f"signal {num}: {counter} >= {n}")

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, needle: str, timeout: float = 20.0) -> str:
        return wait_for(lambda: self.log() if needle in self.log() else None, timeout,
                        f"{needle!r} in the master's output")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGSUP_", "E2E_"))}
    env["NO_COLOR"] = "1"
    env.pop("PYTEST_CURRENT_TEST", None)
    return env


def run_cli(cmd: list[str], timeout: float = 60.0,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a client command in its own session; on timeout its whole group is killed."""
    e = clean_env()
    e.update(env or {})
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=e, start_new_session=True) as p:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
            p.communicate()
            raise
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def connect(m: Master, timeout: float = 5.0) -> socket.socket:
    """A raw connection to ``m``'s control socket (the caller closes it)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(m.sock))
    return s
