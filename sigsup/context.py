"""Which sigsup process this is, and how it talks to its master.

``import sigsup`` works in every process of the tree: the master (while it imports what
``preload`` names), each worker, mule and spooler, and even an outside script that has
``SIGSUP_SOCKET`` set. The one piece of process-wide state is the runtime installed here,
which each process sets once when it starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

from sigsup.errors import NotInSigsup


@dataclass(frozen=True)
class Identity:
    kind: str            # master, worker, mule, spooler, monitor, client
    index: int           # worker/mule id, spooler process number; 0 otherwise
    name: str
    master_pid: int
    farms: tuple[str, ...] = ()
    spooler: str | None = None


class Runtime(Protocol):
    identity: Identity

    def call(self, cmd: str, **args: Any) -> dict[str, Any]: ...

    def raise_signal(self, signum: int) -> dict[str, Any]: ...


class _Holder:
    __slots__ = ("runtime",)

    def __init__(self) -> None:
        self.runtime: Runtime | None = None


_holder = _Holder()


def install(runtime: Runtime | None) -> None:
    _holder.runtime = runtime


def current() -> Runtime:
    rt = _holder.runtime
    if rt is None:
        path = os.environ.get("SIGSUP_SOCKET")
        if not path:
            raise NotInSigsup(
                "not inside a sigsup process: run this code under 'sigsup start', or set "
                "SIGSUP_SOCKET to a master's control socket")
        from sigsup.client_runtime import ClientRuntime
        rt = ClientRuntime(path)
        _holder.runtime = rt
    return rt


def current_or_none() -> Runtime | None:
    return _holder.runtime
