"""Which sigsup process this is, how it talks to its master, and what it keeps process-wide.

``import sigsup`` works in every process of the tree: the master (while it imports what
``preload`` names), each worker, mule and spooler, and an outside script that has
``SIGSUP_SOCKET`` set. Everything sigsup keeps for the life of a process lives in the one
``Process`` object of this module (``process()``): the runtime the process talks through,
and the registries that decorators, mules, spoolers and the child loop fill. It is the one
piece of process-wide state; nothing else in sigsup keeps any at module level.

A leaf of the house: it imports nothing of sigsup but ``errors``. The runtimes it holds are
the master's (master/runtime.py), a child's (child/loop.py) and an outside client's
(client_runtime.py, connected on first use by the in-process API, not here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar


@dataclass(frozen=True)
class Identity:
    kind: str            # master, worker, mule, spooler, monitor, client
    index: int           # worker/mule id, spooler process number; 0 otherwise
    name: str
    master_pid: int
    farms: tuple[str, ...] = ()
    spooler: str | None = None


class Runtime(Protocol):
    """How this process reaches its master."""

    identity: Identity

    def call(self, cmd: str, **args: Any) -> dict[str, Any]: ...

    def raise_signal(self, signum: int) -> dict[str, Any]: ...


# a JSON frame from the master that a feature handles in the child: fn(child loop, frame)
JsonHook = Callable[[Any, dict[str, Any]], None]

S = TypeVar("S")


@dataclass
class Process:
    """What one process keeps for its whole life."""

    runtime: Runtime | None = None
    # registrations met before this process had a master to talk to (decorators at import
    # time in ``sigsup check``/before the master exists); the master runs them at start
    pending: list[Callable[[], None]] = field(default_factory=list)
    # run in every worker, mule and spooler after fork, before its loop (@postfork)
    postfork: list[Callable[[], None]] = field(default_factory=list)
    # child frames "t" -> hook, for features' frames (mule messages, spooler wake-ups)
    json_hooks: dict[str, JsonHook] = field(default_factory=dict)
    # @mulefunc: import path -> the function a mule runs for a "call" message
    mulefuncs: dict[str, Callable[..., Any]] = field(default_factory=dict)
    # @spool: task name -> the function a spooler runs for it
    tasks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    # what a module keeps for the process (its own small class, made on first use): the
    # fork preparations of child/loop.py, the mule's kept messages, the locks held...
    states: dict[type, Any] = field(default_factory=dict)

    def state(self, kind: type[S]) -> S:
        """This process's one ``kind()``, made on first use (threads that race for it get
        the same one)."""
        got = self.states.get(kind)
        if got is None:
            got = self.states.setdefault(kind, kind())
        return got

    def when_ready(self, action: Callable[[], None], *, now: bool) -> None:
        """Run ``action`` now if ``now``, else once the master starts (``run_pending``)."""
        if now:
            action()
        else:
            self.pending.append(action)

    def run_pending(self) -> None:
        while self.pending:
            self.pending.pop(0)()


_PROCESS = Process()


def process() -> Process:
    """This process's one ``Process`` object."""
    return _PROCESS


def install(runtime: Runtime | None) -> None:
    _PROCESS.runtime = runtime


def current_or_none() -> Runtime | None:
    return _PROCESS.runtime
