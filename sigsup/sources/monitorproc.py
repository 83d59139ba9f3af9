"""The file-monitor helper process, as the master's scheduler sees it.

watchdog runs threads, so file events are watched in a child of the tree of their own (the
monitor process, ``sources/filemon.py``), never in the master. This is the master's end:
the process slot (added once, the first time a monitor needs it), the frames it sends
(``fs``, ``fs-hello``, ``fs-state``: only it may send them) and the frames it is sent
(``fs-set``, ``fs-add``, ``fs-del``). The master respawns it like any child; a new one says
``fs-hello`` and is sent every monitor again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sigsup.master.port import ChildMessage, MasterPort
from sigsup.protocol.frames import ProtocolError
from sigsup.routing.proc import Proc
from sigsup.sources.events import MonitorSource, Source

MONITOR_RUNNER = "sigsup.sources.filemon:serve"


class MonitorProcess:
    """The monitor process's slot and its messages. ``on_event(src, n)`` is called for
    ``n`` file events of the monitor ``src``."""

    def __init__(self, master: MasterPort, sources: Mapping[int, Source],
                 on_event: Callable[[MonitorSource, int], None]) -> None:
        self.m = master
        self.sources = sources
        self.on_event = on_event
        self.proc: Proc | None = None
        self.ready = False      # it said fs-hello: it takes fs-add and fs-del

    def ensure(self) -> None:
        """Add the process slot, once: before the master starts, it is spawned with the
        tree; once the master runs, at once (``MasterPort.add_proc``)."""
        if self.proc is not None:
            return
        p = Proc("monitor", "monitor", 1, (), runner=MONITOR_RUNNER)
        self.proc = p
        self.m.add_proc(p)
        self.m.log.reserve(["monitor"])

    def send(self, msg: dict[str, Any]) -> None:
        p = self.proc
        if p is None or p.sock is None or not self.ready:
            return   # it gets every monitor in the fs-set answering its fs-hello
        self.m.send_json(p, msg)

    def messages(self) -> dict[str, ChildMessage]:
        return {"fs": self._msg_fs, "fs-hello": self._msg_hello, "fs-state": self._msg_state}

    def exited(self, p: Proc) -> None:
        if p is self.proc:
            self.ready = False
            for s in self.sources.values():
                if isinstance(s, MonitorSource):
                    s.state = "re-arming"

    # -- its frames ------------------------------------------------------------------------

    def _check(self, p: Proc, msg: dict[str, Any]) -> None:
        if p is not self.proc:   # only the monitor process may send file events
            raise ProtocolError(f"unknown message {msg.get('t')!r}")

    def _msg_fs(self, p: Proc, msg: dict[str, Any]) -> None:
        self._check(p, msg)
        src = self.sources.get(int(msg["monitor"]))
        if isinstance(src, MonitorSource):
            self.on_event(src, int(msg.get("n", 1)))

    def _msg_hello(self, p: Proc, msg: dict[str, Any]) -> None:
        self._check(p, msg)
        self.ready = True
        wire = [s.wire() for s in self.sources.values() if isinstance(s, MonitorSource)]
        self.send({"t": "fs-set", "monitors": wire})

    def _msg_state(self, p: Proc, msg: dict[str, Any]) -> None:
        self._check(p, msg)
        src = self.sources.get(int(msg["monitor"]))
        if isinstance(src, MonitorSource):
            state, error = str(msg.get("state")), msg.get("error")
            if error and error != src.error:
                self.m.log.error(f"{src.label} ({src.path}): {error}")
            elif state != src.state and src.state != "starting":
                self.m.log.info(f"{src.label} ({src.path}): {state}")
            src.state, src.error = state, error
