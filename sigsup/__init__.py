"""sigsup: the uWSGI signal framework as a standalone, config-driven process supervisor.

Handler code imports this module the way uWSGI code imports ``uwsgi``::

    import sigsup

    sigsup.register_signal(17, "workers", "app.handlers:on_change")
    sigsup.signal(17)               # returns what the master did, or raises SignalRefused
    sigsup.signal_wait(timeout=5)   # inside a worker or mule

It works in every process of a running tree, in the master while it imports ``preload``,
and in an outside process that has ``SIGSUP_SOCKET`` set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sigsup import context
from sigsup.errors import CommandFailed, MasterGone, NotInSigsup, SignalRefused, SigsupError
from sigsup.importing import path_of
from sigsup.routing.table import check_signum

__version__ = "0.1.0"

__all__ = [
    "CommandFailed", "MasterGone", "NotInSigsup", "RaiseResult", "SignalRefused", "SigsupError",
    "masterpid", "mule_id", "raising", "register_signal", "signal", "signal_received",
    "signal_registered", "signal_wait", "unregister_signal", "worker_id",
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


def signal(num: int) -> RaiseResult:
    """Raise signal ``num`` (0..255) into the tree.

    Returns a RaiseResult once the master has routed it (queued or sent to its recipients);
    raises SignalRefused when the master refused it for any recipient (the exception's
    ``result`` says which), ValueError for a number outside 0..255.
    """
    check_signum(num)
    result = context.current().raise_signal(num)
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
        self.results: list[RaiseResult] = []
        self.refused: list[dict[str, Any]] = []
        self._outstanding: dict[int, int] = {}   # seq -> index in results
        self._slots: list[RaiseResult | None] = []
        self._channel: Any = None

    def __enter__(self) -> raising:
        rt = context.current()
        self._channel = getattr(rt, "channel", None)
        self._rt = rt
        return self

    def signal(self, num: int) -> None:
        check_signum(num)
        if self._channel is None:
            self._slots.append(self._take(self._rt.raise_signal(num)))
            return
        while len(self._outstanding) >= self.window:
            self._collect()
        seq = self._channel.start_raises(num)
        self._outstanding[seq] = len(self._slots)
        self._slots.append(None)

    def _collect(self) -> None:
        seq, result = self._channel.await_raise(set(self._outstanding))
        self._slots[self._outstanding.pop(seq)] = self._take(result)

    def _take(self, result: dict[str, Any]) -> RaiseResult:
        if result.get("refused"):
            self.refused.append(result)
        return RaiseResult.from_dict(result)

    def __exit__(self, exc_type: object, *rest: object) -> None:
        while self._outstanding:
            self._collect()
        self.results = [r for r in self._slots if r is not None]
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
    context.current().call("register", signum=num, handler=path, target=target or "worker",
                           on_full=on_full)


def unregister_signal(num: int) -> bool:
    """Remove table entry ``num``; True if there was one."""
    check_signum(num)
    return bool(context.current().call("unregister", signum=num).get("removed"))


def signal_registered(num: int) -> bool:
    check_signum(num)
    return bool(context.current().call("registered", signum=num).get("registered"))


def signal_wait(signum: int | None = None, timeout: float | None = None) -> int | None:
    """Block until a signal arrives (any, or ``signum``); run its handler if it has one.

    Returns the signal number, or None when ``timeout`` seconds pass first. Only workers,
    mules and spoolers can wait. Unregistered signals go to waiting processes.
    """
    if signum is not None:
        check_signum(signum)
    rt = context.current()
    wait = getattr(rt, "signal_wait", None)
    if wait is None:
        raise NotInSigsup("signal_wait works only inside a worker, mule or spooler process")
    return wait(signum, timeout)


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
    rt = context.current_or_none()
    if rt is None:
        try:
            rt = context.current()
        except NotInSigsup:
            return 0
    return rt.identity.master_pid
