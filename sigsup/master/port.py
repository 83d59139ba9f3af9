"""The master as its features and commands see it: one narrow interface, and the base class
of every feature.

Features (event sources, spoolers, mule messages, status) and command handlers are given a
``MasterPort``, never the loop: they raise through it (the state check, the router, the event
and the one result type in one place), send frames to a process through it, emit events, log,
reach the OS seam, watch a descriptor, schedule a call. The loop (master/loop.py) is the one
implementation; tests drive it with a fake OS seam.

A feature is an ``Extension``: every hook has a no-op default, and the tables it returns
(commands, client commands, child messages) are merged by the master into explicit tables
once, at construction, so that a name is looked up in one dict and clashes are found at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sigsup.routing.proc import Proc
from sigsup.routing.result import RaiseResult
from sigsup.routing.states import MasterState

if TYPE_CHECKING:
    from sigsup.config import Config
    from sigsup.master.control import ControlConn
    from sigsup.master.log import Log
    from sigsup.master.ossys import OsSys
    from sigsup.routing.router import Router
    from sigsup.routing.table import SignalTable

# a command: (request, origin) -> reply; origin is "cli", "master" or a process name
Command = Callable[[dict[str, Any], str], dict[str, Any]]
# a command that answers on the connection itself, later or many times (events, raise --wait)
ClientCommand = Callable[["ControlConn", dict[str, Any]], None]
# a JSON frame from a child, by its "t": (process, frame)
ChildMessage = Callable[[Proc, dict[str, Any]], None]
# an event for listeners: (kind, event dict with "event" and "ts")
Listener = Callable[[str, dict[str, Any]], None]


class BadRequest(ValueError):
    """A request with a missing or mistyped field: answered ``{"ok": false, "error": ...}``."""


class Refused(Exception):
    """The master will not do what a control command asked of a slot (or of the tree); the
    message says why (``not failed (running)``, ``signal 19 targets worker4``...)."""


class Scheduled:
    """A call scheduled with ``MasterPort.call_at``; ``cancel()`` takes it back."""

    __slots__ = ("when", "fn", "cancelled")

    def __init__(self, when: float, fn: Callable[[], None]) -> None:
        self.when = when
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: Scheduled) -> bool:
        return self.when < other.when


class MasterPort(ABC):
    """What a feature or a command may use of the master."""

    config: Config
    pid: int
    name: str
    os: OsSys
    log: Log
    table: SignalTable
    router: Router            # for reading: queues, counters, backlog (status)
    procs: Sequence[Proc]
    started_at: float         # wall clock
    started_mono: float
    errors: int               # protocol errors from children and failed commands, counted

    @property
    @abstractmethod
    def state(self) -> MasterState: ...

    # -- signals ---------------------------------------------------------------------------

    @abstractmethod
    def raise_signal(self, signum: int, origin: str, policy: str | None = None,
                     payload: object = None) -> RaiseResult:
        """Route ``signum`` (checked 0..255 by the caller) raised by ``origin``: refused by
        the master when it does not accept raises, else what the router did; the ``raise``
        event is emitted here. Every raise of the tree goes through this one method.
        ``policy`` overrides the entry's ``on_full`` (event sources raise with "merge").
        ``payload``: a JSON value (at most frames.MAX_PAYLOAD bytes encoded) each handler
        gets (``sigsup.signal_payload()``, or a second argument); a raise that carries one
        is never coalesced, and one that is not JSON or too big is refused."""

    # -- processes -------------------------------------------------------------------------

    @abstractmethod
    def send(self, p: Proc, data: bytes) -> None:
        """Queue frames for ``p``; the loop writes them this turn (dropped if it has no channel)."""

    @abstractmethod
    def send_json(self, p: Proc, msg: dict[str, Any]) -> None: ...

    @abstractmethod
    def broadcast_json(self, msg: dict[str, Any]) -> None:
        """One JSON frame to every process that has a channel."""

    @abstractmethod
    def add_proc(self, p: Proc) -> None:
        """A process slot the config's tree does not list (a helper, like the file monitor);
        started at once when the master runs, else with the rest of the tree."""

    @abstractmethod
    def proc_ready(self, p: Proc) -> None:
        """``p`` takes signals again (a spooler that finished a job): what waits is sent."""

    @abstractmethod
    def request_stop(self, why: str) -> None: ...

    # -- per-process control (sigsup restart, kill, retry, scale: master/proccmds.py) ------
    # each raises Refused when it does not apply to the slot; the loop is the one that
    # moves slots, through ProcState's legal moves only

    @abstractmethod
    def restart_proc(self, p: Proc) -> str:
        """Replace ``p``'s process gracefully: SIGTERM (a running handler finishes), and once
        it exited a new one at once -- not a death: no backoff, no failure count. What it
        had queued or was sent but had not started waits for its successor (or, for a pool,
        goes to another member). A slot with no process (backoff, failed) starts now.
        Returns what was done: "restarting", "restarting already" or "started"."""

    @abstractmethod
    def signal_proc(self, p: Proc, sig: int) -> int:
        """Send the POSIX signal ``sig`` to the process group of ``p``'s live process and
        return its pid; what follows (an exit, a respawn with backoff) is as for any."""

    @abstractmethod
    def retry_proc(self, p: Proc) -> int:
        """Start a FAILED slot now instead of after the cool-down (its death count starts
        again from nothing); returns the new pid."""

    @abstractmethod
    def scale_workers(self, count: int) -> dict[str, Any]:
        """Make the worker pool ``count`` slots: new slots (the next numbers) start at once;
        the highest-numbered go gracefully and their slots are removed once they exited.
        What waits for the pool is kept; what waited for a removed slot alone (its copies
        of a broadcast, signals for workerN) is counted dropped, never run twice elsewhere. Returns {"from", "to", "started", "stopping", "removed", "kept"}."""

    # -- reload (sigsup reload, SIGHUP: sigsup/reload/master.py; master/reconfig.py) ------

    @abstractmethod
    def apply_config(self, config: Config) -> dict[str, Any]:
        """Make ``config`` (checked, its imports done) the running one: [supervisor]
        settings, the file's signal entries, the worker count (as ``scale_workers``), then
        every feature's ``reload(old, new)`` hook. Raises Refused, changing nothing, when a
        change cannot be applied (a runtime entry targets a worker that would go).
        Returns what was done: {"signals": {...}, "workers": {...} or None}."""

    # -- events and time -------------------------------------------------------------------

    @abstractmethod
    def emit(self, kind: str, **fields: Any) -> None:
        """An event for listeners (status, ``sigsup events``); a no-op when none listens."""

    @abstractmethod
    def listen(self, listener: Listener) -> None: ...

    @abstractmethod
    def unlisten(self, listener: Listener) -> None: ...

    @abstractmethod
    def watch_fd(self, fd: int, callback: Callable[[], None]) -> None:
        """Call ``callback()`` from the loop when ``fd`` is readable."""

    @abstractmethod
    def unwatch_fd(self, fd: int) -> None: ...

    @abstractmethod
    def call_at(self, when: float, fn: Callable[[], None]) -> Scheduled:
        """Call ``fn()`` from the loop once the monotonic clock reaches ``when``."""

    # -- control clients -------------------------------------------------------------------

    @abstractmethod
    def client_alive(self, conn: ControlConn) -> bool:
        """``conn`` is still connected and not being closed."""

    @abstractmethod
    def client_reply(self, conn: ControlConn, msg: dict[str, Any]) -> None:
        """Answer ``conn`` outside the request that it sent (a deferred or streamed reply)."""

    # -- the other features ----------------------------------------------------------------

    @abstractmethod
    def extension(self, name: str) -> Extension | None:
        """The feature of that name, if this master has it."""

    @abstractmethod
    def extensions_status(self) -> dict[str, Any]:
        """Every feature's part of the status document, by name."""


class Extension:
    """A feature of the master. Override the hooks it needs; the others do nothing.

    The master calls them from its one thread:

        start()                    after the control socket opened, before the tree spawns
        deadline(now)              monotonic time of its next due work, or None
        tick(now)                  run what is due (every loop turn while running)
        status()                   its part of the status document (None: no part)
        commands()                 {name: fn(msg, origin) -> reply} for control and children
        client_commands()          {name: fn(conn, msg)} answered on the connection itself
        child_messages()           {"t": fn(proc, frame)} JSON frames from children
        proc_exit(proc, how)       a child of the tree exited
        reload(old, new)           the running config became ``new`` (sigsup reload)
        close()                    the master is shutting down
    """

    name = ""

    def __init__(self, master: MasterPort) -> None:
        self.m = master

    def start(self) -> None:
        pass

    def deadline(self, now: float) -> float | None:
        return None

    def tick(self, now: float) -> None:
        pass

    def status(self) -> Any:
        return None

    def commands(self) -> dict[str, Command]:
        return {}

    def client_commands(self) -> dict[str, ClientCommand]:
        return {}

    def child_messages(self) -> dict[str, ChildMessage]:
        return {}

    def proc_exit(self, p: Proc, how: str) -> None:
        pass

    def reload(self, old: Config, new: Config) -> None:
        pass

    def close(self) -> None:
        pass


def overrides(ext: Extension, hook: str) -> bool:
    """``ext`` has its own ``hook`` (the loop calls per-turn hooks only of those that do)."""
    return getattr(type(ext), hook) is not getattr(Extension, hook)


# a feature's constructor, as the composition root (sigsup/app.py) gives it to the master
Feature = Callable[[MasterPort], Extension]
