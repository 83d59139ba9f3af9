"""Fakes for the "loop with fakes" layer: a fake OS seam, a fake clock, and fake children.

``FakeOs`` stands in for :class:`sigsup.master.ossys.OsSys`. ``spawn`` does not fork: it
makes a real socketpair, gives the master its end (as the real seam does) and keeps the
other end in a :class:`FakeChild`, so the test plays the child: it sends READY/DONE/RAISE
frames and reads the RUN frames the master wrote. ``kill_group`` records its calls (and, like
the kernel, turns a SIGKILL into an exit the next ``reap`` reports); ``reap`` returns the
exits the test scheduled with :meth:`FakeOs.exit`.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigsup import treeconfig
from sigsup.app import build_master
from sigsup.config import Config, parse_config
from sigsup.master.log import Log
from sigsup.master.loop import HANDLED_SIGNALS, Master
from sigsup.master.ossys import Spawned
from sigsup.protocol.frames import (
    DONE,
    DONE_OK,
    JSON,
    RAISE,
    READY,
    RUN,
    Frame,
    FrameReader,
    pack,
    pack_json,
)
from sigsup.routing.proc import Proc

FIRST_PID = 40000


def exit_status(code: int) -> int:
    """A wait status for a child that called exit(code)."""
    return (code & 0xFF) << 8


def signal_status(sig: int) -> int:
    """A wait status for a child killed by ``sig``."""
    return int(sig) & 0x7F


class FakeClock:
    """A monotonic and a wall clock that move only when the test says so.

    The one fake clock of the unit tests: code that takes a clock function gets a bound
    method (``Router(clock=c.monotonic)``, ``JobStore(clock=c.time)``); a test sets
    ``c.mono`` / ``c.wall`` or moves both with ``c.advance(seconds)``.
    """

    def __init__(self, mono: float = 1000.0, wall: float = 1_700_000_000.0) -> None:
        self.mono = mono
        self.wall = wall

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


class FakeChild:
    """The child's end of one spawned process's channel."""

    def __init__(self, pid: int, sock: socket.socket, child_main: Callable[..., Any]) -> None:
        self.pid = pid
        self.sock = sock
        self.child_main = child_main
        self.reader = FrameReader()
        self.received: list[Frame] = []

    # -- what the child sends -------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def ready(self) -> None:
        self.send(pack(READY, 0, 0, self.pid))

    def done(self, signum: int, rid: int, status: int = DONE_OK) -> None:
        self.send(pack(DONE, signum, status, rid))

    def done_json(self, signum: int, rid: int, status: int, detail: str) -> None:
        self.send(pack_json({"t": "done", "signum": signum, "rid": rid, "status": status,
                             "detail": detail}))

    def raise_(self, signum: int, seq: int) -> None:
        self.send(pack(RAISE, signum, 0, seq))

    def json(self, msg: dict[str, Any]) -> None:
        self.send(pack_json(msg))

    # -- what the child receives ----------------------------------------------------------

    def read(self) -> list[Frame]:
        """Every frame the master has written since the last read (never blocks)."""
        out: list[Frame] = []
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except (BlockingIOError, InterruptedError):
                break
            if not data:
                break
            out.extend(self.reader.feed(data))
        self.received.extend(out)
        return out

    def runs(self) -> list[tuple[int, int]]:
        """(signum, raise id) of each RUN frame written since the last read."""
        return [(f[1], f[3]) for f in self.read() if f[0] == RUN]

    def jsons(self) -> list[dict[str, Any]]:
        return [f[4] for f in self.read() if f[0] == JSON]

    def closed_by_master(self) -> bool:
        """True once the master closed its end (EOF on ours)."""
        try:
            data = self.sock.recv(1 << 20, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        return data == b""

    def close(self) -> None:
        self.sock.close()


@dataclass
class FakeOs:
    """The OS seam without processes."""

    clock: FakeClock = field(default_factory=FakeClock)
    sigkill_exits: bool = True   # a SIGKILL makes the process exit (as the kernel would)
    next_pid: int = FIRST_PID
    children: dict[int, FakeChild] = field(default_factory=dict)
    spawned: list[int] = field(default_factory=list)          # pids, in spawn order
    kills: list[tuple[int, int]] = field(default_factory=list)  # (pid, signal)
    exits: list[tuple[int, int]] = field(default_factory=list)  # scheduled (pid, status)
    fail_spawns: int = 0         # the next N spawns raise OSError (fork failed)

    def monotonic(self) -> float:
        return self.clock.monotonic()

    def time(self) -> float:
        return self.clock.time()

    def spawn(self, child_main: Callable[..., Any], close_in_child: Callable[[], None]) -> Spawned:
        # close_in_child is never called: it closes the master's descriptors, and there is
        # no child process here for it to run in
        if self.fail_spawns:
            self.fail_spawns -= 1
            raise OSError(11, "Resource temporarily unavailable")
        master_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        master_end.setblocking(False)
        child_end.setblocking(False)
        pid = self.next_pid
        self.next_pid += 1
        self.children[pid] = FakeChild(pid, child_end, child_main)
        self.spawned.append(pid)
        return Spawned(pid=pid, sock=master_end, output_fd=-1)

    def kill_group(self, pid: int, sig: int) -> None:
        self.kills.append((pid, int(sig)))
        if sig == signal.SIGKILL and self.sigkill_exits and pid in self.children \
                and all(p != pid for p, _ in self.exits):
            self.exits.append((pid, signal_status(signal.SIGKILL)))

    def reap(self) -> list[tuple[int, int]]:
        out, self.exits = self.exits, []
        return out

    # -- test helpers ---------------------------------------------------------------------

    def exit(self, pid: int, code: int = 0, sig: int | None = None) -> None:
        """Schedule an exit for the next reap (exit code, or killed by ``sig``)."""
        self.exits.append((pid, signal_status(sig) if sig is not None else exit_status(code)))

    def kills_of(self, pid: int) -> list[int]:
        return [s for p, s in self.kills if p == pid]

    def close(self) -> None:
        for child in self.children.values():
            child.close()


def short_socket_dir() -> Path:
    """A short directory for a control socket (unix socket paths are limited to ~107 bytes)."""
    return Path(tempfile.mkdtemp(prefix="ss", dir="/tmp"))


def make_config(text: str, sock_dir: Path, supervisor: str = "") -> Config:
    """A Config from a TOML body; ``[supervisor]`` gets a short socket path plus ``supervisor``."""
    head = f'[supervisor]\nname = "t"\nsocket = "{sock_dir}/m.sock"\n{textwrap.dedent(supervisor)}\n'
    return parse_config(head + textwrap.dedent(text), sock_dir / "sigsup.toml", env={})


def wake(master: Any, sig: int = signal.SIGCHLD) -> None:
    """What the kernel does for a POSIX signal: one byte on the master's wakeup fd."""
    os.write(master._wake_w, bytes([int(sig)]))


class LoopHarness:
    """A master on the fake OS, and what a test does with it.

    The one loop harness of the unit tests: a test module that needs domain helpers
    subclasses it and gives the subclass to :func:`harness_factory`, which builds, starts
    and closes every harness.
    """

    turns = 1    # loop turns of a step() (and so of cmd, ready, exit, advance) by default

    def __init__(self, master: Master, fake: FakeOs, out: io.StringIO, sock_dir: Path) -> None:
        self.master = master
        self.fake = fake
        self.out = out
        self.sock_dir = sock_dir
        self.closed = False

    @property
    def clock(self):
        return self.fake.clock

    def proc(self, name: str) -> Proc:
        return next(p for p in self.master.procs if p.name == name)

    def child(self, name: str) -> FakeChild:
        p = self.proc(name)
        assert p.pid, f"{name} is not running ({p.state})"
        return self.fake.children[p.pid]

    def step(self, n: int | None = None) -> None:
        for _ in range(self.turns if n is None else n):
            self.master.step(timeout=0)

    def ready(self, *names: str) -> None:
        for name in names or [p.name for p in self.master.procs if p.pid]:
            self.child(name).ready()
        self.step()

    def cmd(self, *, origin: str = "test", **msg) -> dict:
        """Run the command ``msg`` as sent by ``origin``, then step."""
        reply = self.master.commands.execute(msg, origin)
        self.step()
        return reply

    def raise_(self, signum: int) -> dict:
        return self.cmd(cmd="raise", signum=signum)

    def exit(self, name: str, code: int = 1, sig: int | None = None) -> int:
        """The child ``name`` exits; the kernel says SIGCHLD. Returns its pid."""
        pid = self.proc(name).pid
        self.fake.exit(pid, code, sig)
        wake(self.master)
        self.step()
        return pid

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, then step."""
        self.fake.clock.advance(seconds)
        self.step()

    def counters(self, signum: int) -> dict:
        d = self.master.table[signum].counters.as_dict()
        d.pop("last_raised")
        return d

    def log(self) -> str:
        return self.out.getvalue()

    def close(self) -> None:
        """Close the master, then the children's ends (once: the factory's teardown calls
        it for every harness; the socket directory stays until then)."""
        if self.closed:
            return
        self.closed = True
        self.fake.sigkill_exits = True      # so the master's close() reaps at once
        self.master.close()
        self.fake.close()


# what Master.start (SIGSUP_SOCKET) and the spool feature's config loan (SIGSUP_CONFIG) set
RESTORED_ENV = ("SIGSUP_SOCKET", treeconfig.ENV)


@contextlib.contextmanager
def harness_factory(cls: type[LoopHarness] = LoopHarness) -> Iterator[Callable[..., Any]]:
    """``new(config_text, supervisor, start=True, sock_dir=None, wall=None, **fake_kw)``
    builds a harnessed master of class ``cls``; leaving the block closes every one (the
    last made first, as a master built inside another's life is closed), removes their
    socket directories and restores the POSIX signal handlers and the environment
    (``RESTORED_ENV``) that ``Master.start`` changes."""
    saved_handlers = {s: signal.getsignal(s) for s in HANDLED_SIGNALS}
    saved_env = {k: os.environ.get(k) for k in RESTORED_ENV}
    made: list[LoopHarness] = []

    def new(text: str, supervisor: str = "", *, start: bool = True, sock_dir: Path | None = None,
            wall: float | None = None, **fake_kw: Any) -> LoopHarness:
        sock_dir = sock_dir or short_socket_dir()
        config = make_config(text, sock_dir, supervisor)
        fake = FakeOs(**fake_kw)
        if wall is not None:
            fake.clock.wall = wall
        out = io.StringIO()
        master = build_master(config, ossys=fake, log=Log(out, colour=False))
        h = cls(master, fake, out, sock_dir)
        made.append(h)
        if start:
            master.start()
        return h

    try:
        yield new
    finally:
        try:
            for h in reversed(made):
                h.close()
            for h in made:
                shutil.rmtree(h.sock_dir, ignore_errors=True)
        finally:
            for s, handler in saved_handlers.items():
                signal.signal(s, handler)
            for k, v in saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def walk(p, *states) -> None:
    """Move a slot through ``states`` by legal moves only (the state machine checks each):
    ``walk(p, RUNNING)`` from STOPPED goes through STARTING as a spawn would."""
    from sigsup.routing.states import TRANSITIONS, ProcState
    for target in states:
        if target is not p.state and target not in TRANSITIONS[p.state]:
            p.state = ProcState.STARTING
        p.state = target
