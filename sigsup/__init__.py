"""sigsup: the uWSGI signal framework as a standalone, config-driven process supervisor.

Handler code imports this module the way uWSGI code imports ``uwsgi``::

    import sigsup

    sigsup.register_signal(17, "workers", "app.handlers:on_change")
    sigsup.signal(17)               # returns what the master did, or raises SignalRefused
    sigsup.signal_wait(timeout=5)   # inside a worker or mule

It works in every process of a running tree, in the master while it imports ``preload``,
and in an outside process that has ``SIGSUP_SOCKET`` set.

Spoolers, mule messages and locks come from sigsup/spool, sigsup/mules and sigsup/locks.py.
``sigsup.spool`` is the function: import the package's modules with
``from sigsup.spool.store import ...``, never ``import sigsup.spool.store``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sigsup import client_runtime, context
from sigsup.errors import CommandFailed, MasterGone, NotInSigsup, SignalRefused, SigsupError
from sigsup.importing import HandlerImportError, path_of, resolve_handler
from sigsup.locks import is_locked, lock, locked, unlock
from sigsup.mules.api import MAX_MESSAGE, MessageRefused, farm_msg, in_farm, mule_get_msg, mule_msg
from sigsup.protocol.frames import ACK as _ACK
from sigsup.routing.table import SIGNALS as _SIGNALS
from sigsup.routing.table import check_signum
from sigsup.spool.api import SPOOL_IGNORE, SPOOL_OK, SPOOL_RETRY, Job, spool

__version__ = "0.1.0"

# every public name; ``sigsup.aio`` is one more, imported on first use (``__getattr__``)
__all__ = [
    # errors
    "CommandFailed", "MasterGone", "MessageRefused", "NotInSigsup", "SignalRefused",
    "SigsupError",
    # signals
    "RaiseResult", "masterpid", "mule_id", "raising", "register_signal", "signal",
    "signal_payload", "signal_received", "signal_registered", "signal_wait", "unregister_signal",
    "worker_id",
    # reload
    "reload",
    # event sources
    "EventHandle", "add_cron", "add_file_monitor", "add_rb_timer", "add_timer", "list_events",
    "remove_event",
    # spoolers, mule messages, locks
    "MAX_MESSAGE", "SPOOL_IGNORE", "SPOOL_OK", "SPOOL_RETRY", "Job", "farm_msg", "in_farm",
    "is_locked", "lock", "locked", "mule_get_msg", "mule_msg", "spool", "unlock",
]


@dataclass(frozen=True)
class RaiseResult:
    """What the master did with a raise: its id and who will run it."""

    id: int
    signum: int
    recipients: int
    coalesced: int = 0
    names: tuple[str, ...] = field(default=())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RaiseResult:
        rec = d.get("recipients", 0)
        names = tuple(rec) if isinstance(rec, list) else ()
        count = len(rec) if isinstance(rec, list) else int(rec)
        return cls(int(d.get("id", 0)), int(d.get("signum", 0)), count,
                   len(d.get("coalesced", [])), names)


def _refusal(signum: int, result: dict[str, Any]) -> SignalRefused:
    reasons = "; ".join(f"{r['recipient']}: {r['reason']}" for r in result.get("refused", []))
    return SignalRefused(f"signal {signum} refused ({reasons})", result)


def signal(num: int, payload: Any = None) -> RaiseResult:
    """Raise signal ``num`` (0..255) into the tree.

    Returns a RaiseResult once the master has routed it (queued or sent to its recipients);
    raises SignalRefused when the master refused it for any recipient (the exception's
    ``result`` says which), ValueError for a number outside 0..255.

    ``payload``: a JSON value (str, number, list, dict; at most 64 KiB encoded) that each
    handler of this raise gets, from ``sigsup.signal_payload()`` or as its second argument
    (a handler taking two positional arguments is called ``handler(signum, payload)``). A
    raise with a payload is never coalesced with another.
    """
    check_signum(num)
    if payload is not None:
        try:
            reply = client_runtime.current().call("raise", signum=num, payload=payload)
        except CommandFailed as exc:
            if "result" not in exc.reply:
                raise
            raise _refusal(num, exc.reply["result"]) from None
        return RaiseResult.from_dict(reply["result"])
    result = client_runtime.current().raise_signal(num)
    if result.get("refused"):
        raise _refusal(num, result)
    return RaiseResult.from_dict(result)


class raising:
    """Raise many signals without waiting for each answer (a window of them in flight).

    ::

        with sigsup.raising() as r:
            for _ in range(10_000):
                r.signal(17)
        r.results   # one RaiseResult per raise, in order

    On leaving the block every answer is in; if the master refused any, SignalRefused is
    raised then, naming how many. Outside a child process it raises one at a time.
    """

    def __init__(self, window: int = 256) -> None:
        self.window = window
        self.refused: list[dict[str, Any]] = []
        self._outstanding: dict[int, int] = {}   # seq -> index in results
        # one per raise: a RaiseResult, or (id, signum, recipients) of an ACK, built into a
        # RaiseResult only when ``results`` is read (most callers never read them)
        self._slots: list[Any] = []
        self._results: list[RaiseResult] | None = None
        self._channel: Any = None

    @property
    def results(self) -> list[RaiseResult]:
        """One RaiseResult per raise answered so far, in order (all of them after the block)."""
        if self._results is None:
            self._results = [RaiseResult(*r) if type(r) is tuple else r
                             for r in self._slots if r is not None]
        return self._results

    def __enter__(self) -> raising:
        rt = client_runtime.current()
        self._channel = getattr(rt, "channel", None)
        self._rt = rt
        return self

    def signal(self, num: int) -> None:
        if type(num) is not int or not 0 <= num < _SIGNALS:   # check_signum says why
            check_signum(num)
        if self._channel is None:
            self._slots.append(self._take(self._rt.raise_signal(num)))
            self._results = None
            return
        outstanding = self._outstanding
        while len(outstanding) >= self.window:
            self._collect()
        seq = self._channel.start_raises(num)
        outstanding[seq] = len(self._slots)
        self._slots.append(None)

    def _collect(self) -> None:
        # the dict itself, not a copy of its keys: ``in`` works on it (a set of up to
        # ``window`` numbers per raise was a third of the raiser's time)
        f = self._channel.await_answer(self._outstanding)
        if f[0] == _ACK:
            self._slots[self._outstanding.pop(f[3])] = (f[4], f[1], f[2])
        else:
            msg = f[4]
            self._slots[self._outstanding.pop(msg["seq"])] = self._take(msg["result"])
        self._results = None

    def _take(self, result: dict[str, Any]) -> RaiseResult:
        if result.get("refused"):
            self.refused.append(result)
        return RaiseResult.from_dict(result)

    def __exit__(self, exc_type: object, *rest: object) -> None:
        while self._outstanding:
            self._collect()
        if exc_type is None and self.refused:
            first = self.refused[0]
            raise SignalRefused(
                f"{len(self.refused)} of {len(self.results)} raises refused; first: "
                + str(_refusal(int(first.get("signum", 0)), first)), first)


def register_signal(num: int, target: str, handler: str | Callable[..., Any],
                    on_full: str = "reject") -> None:
    """Set table entry ``num``: ``handler`` (an import path, or a module-level function)
    runs on ``target`` (worker, workers, workerN, mule, muleN, mules, farm_NAME, spooler...).

    The master owns the one table, so the target holds whichever process registers.
    """
    check_signum(num)
    path = path_of(handler)
    try:
        resolve_handler(path)   # refused now, not at every raise: handler(signum) must work
    except HandlerImportError as exc:
        raise ValueError(f"register_signal({num}): {exc}") from None
    client_runtime.current().call("register", signum=num, handler=path,
                                  target=target or "worker", on_full=on_full)


def unregister_signal(num: int) -> bool:
    """Remove table entry ``num``; True if there was one."""
    check_signum(num)
    return bool(client_runtime.current().call("unregister", signum=num).get("removed"))


def signal_registered(num: int) -> bool:
    check_signum(num)
    return bool(client_runtime.current().call("registered", signum=num).get("registered"))


def signal_wait(signum: int | None = None, timeout: float | None = None) -> int | None:
    """Block until a signal arrives (any, or ``signum``); run its handler if it has one.

    Returns the signal number, or None when ``timeout`` seconds pass first. Only workers,
    mules and spoolers can wait. Unregistered signals go to waiting processes.
    """
    if signum is not None:
        check_signum(signum)
    rt = client_runtime.current()
    wait = getattr(rt, "signal_wait", None)
    if wait is None:
        raise NotInSigsup("signal_wait works only inside a worker, mule or spooler process")
    return wait(signum, timeout)


def signal_payload() -> Any:
    """The payload of the signal whose handler runs now in this process (``None`` when its
    raise carried none, or outside a handler)."""
    return getattr(context.process().runtime, "payload", None)


def signal_received() -> int:
    """The last signal this process received (-1 before the first)."""
    rt = context.current_or_none()
    return getattr(rt, "last_received", -1) if rt is not None else -1


def worker_id() -> int:
    """This worker's id (1..N); 0 outside a worker."""
    rt = context.current_or_none()
    return rt.identity.index if rt is not None and rt.identity.kind == "worker" else 0


def mule_id() -> int:
    """This mule's id (1..N); 0 outside a mule."""
    rt = context.current_or_none()
    return rt.identity.index if rt is not None and rt.identity.kind == "mule" else 0


def masterpid() -> int:
    """The master's pid (0 outside a sigsup tree)."""
    try:
        return client_runtime.current().identity.master_pid
    except NotInSigsup:
        return 0


def reload(workers_only: bool = True, rolling: bool = False) -> dict[str, Any]:
    """Reload the tree as ``sigsup reload`` does: the master re-reads its config, applies
    what changed, imports the code afresh and restarts the workers gracefully (with
    ``workers_only=False`` the mules and spoolers too; ``rolling``: one at a time).

    Returns the master's answer (the diff, the processes it restarts) at once; the restarts
    go on after it. Raises CommandFailed when the master refused it (the config has
    problems, a reload is under way...). A worker that calls it is restarted too, once its
    handler returned."""
    return client_runtime.current().call("reload", workers_only=bool(workers_only),
                                         rolling=bool(rolling))


# -- event sources: timers, rb_timers, crons, file monitors (sources/scheduler.py) -----------


@dataclass
class EventHandle:
    """An event source added at run time: ``.id`` names it, ``.remove()`` removes it."""

    id: int
    kind: str
    signum: int

    def remove(self) -> bool:
        """Remove the source; False if it was already gone (removed, or iterations done)."""
        return remove_event(self)


def _add_event(cmd: str, signum: int, **fields: Any) -> EventHandle:
    check_signum(signum)
    reply = client_runtime.current().call(cmd, signum=signum, **fields)
    return EventHandle(int(reply["id"]), str(reply.get("kind", cmd[4:])), signum)


def add_timer(signum: int, seconds: float, iterations: int = 0) -> EventHandle:
    """Raise ``signum`` every ``seconds`` (>= 0.01; fractions work) from now, on absolute
    deadlines of the master's monotonic clock (no drift). ``iterations=N`` stops after N
    fires; 0 is forever."""
    return _add_event("add_timer", signum, seconds=seconds, iterations=iterations)


def add_rb_timer(signum: int, seconds: float, iterations: int = 0) -> EventHandle:
    """uWSGI's rb_timer: the same as ``add_timer`` (``iterations=1`` is a one-shot)."""
    return _add_event("add_rb_timer", signum, seconds=seconds, iterations=iterations)


def add_cron(signum: int, schedule_or_minute: str | int, hour: int | None = None,
             day: int | None = None, month: int | None = None, weekday: int | None = None, *,
             timezone: str | None = None, iterations: int = 0,
             misfire_grace: float = 60.0) -> EventHandle:
    """Raise ``signum`` on a cron schedule, in ``timezone`` (default: the master's local zone).

    ``add_cron(40, "*/5 * * * *")`` takes a cron expression (5 fields, or 6 with seconds
    first); ``add_cron(40, -5, -1, -1, -1, -1)`` takes uWSGI's fields (minute, hour, day,
    month, weekday; -1 every, -N every N aligned to zero; omitted fields are -1).
    """
    if isinstance(schedule_or_minute, str):
        if any(f is not None for f in (hour, day, month, weekday)):
            raise ValueError("add_cron: give a cron expression or uWSGI's fields, not both")
        return _add_event("add_cron", signum, schedule=schedule_or_minute, timezone=timezone,
                          iterations=iterations, misfire_grace=misfire_grace)
    fields = [schedule_or_minute, hour, day, month, weekday]
    return _add_event("add_cron", signum, fields=[-1 if f is None else f for f in fields],
                      timezone=timezone, iterations=iterations, misfire_grace=misfire_grace)


def add_file_monitor(signum: int, path: str | Any, *, recursive: bool = False,
                     events: list[str] | tuple[str, ...] | None = None, debounce: float = 0.1,
                     iterations: int = 0, wait_for_path: bool = False) -> EventHandle:
    """Raise ``signum`` when ``path`` changes (``events``: created, modified, deleted, moved;
    default all). A burst of events within ``debounce`` seconds raises one signal. A file
    replaced by a rename keeps being watched; ``recursive`` watches subdirectories, new
    ones too; ``wait_for_path`` waits for a path that does not exist yet."""
    import os
    return _add_event("add_file_monitor", signum, path=os.path.abspath(os.fspath(path)),
                      recursive=recursive, events=list(events) if events is not None else None,
                      debounce=debounce, iterations=iterations, wait_for_path=wait_for_path)


def remove_event(handle_or_id: EventHandle | int) -> bool:
    """Remove an event source (config or run time) by handle or id; False if already gone."""
    sid = handle_or_id.id if isinstance(handle_or_id, EventHandle) else handle_or_id
    return bool(client_runtime.current().call("remove_event", id=int(sid)).get("removed"))


def list_events() -> list[dict[str, Any]]:
    """Every event source, as ``sigsup status --json`` lists them under ``events``."""
    return list(client_runtime.current().call("list_events").get("events", []))


def __getattr__(name: str) -> Any:
    """``sigsup.aio`` is imported on first use (it pulls in asyncio)."""
    if name == "aio":
        import importlib
        return importlib.import_module("sigsup.aio")
    raise AttributeError(f"module 'sigsup' has no attribute {name!r}")
