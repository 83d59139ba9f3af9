"""The master's end of ``[[pgnotify]]``: the listener's process slot, its frames, the raises
and the status.

The slot is added at construction when the config has entries (spawned with the tree); a
new listener says ``pg-hello`` and is sent every entry. Only that process may send the
``pg-*`` frames. Each ``pg-notify`` raises the entry's signal through ``MasterPort``; each
``pg-up`` of an entry that was connected before (by this listener or a previous one) is a
reconnect: counted, logged, and ``on_gap`` raised, because what was notified meanwhile is
lost. Everything is counted per entry in ``status()`` (``sigsup status --json``:
``pgnotify``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigsup.master.port import ChildMessage, Extension, MasterPort
from sigsup.pgnotify import payload as pl
from sigsup.pgnotify import wire
from sigsup.pgnotify.listener import RUNNER
from sigsup.protocol.frames import ProtocolError
from sigsup.routing.proc import Proc
from sigsup.routing.result import RaiseResult

PROC = "pgnotify"
WARN_EVERY = 1000   # a repeated warning is logged the first time, then every WARN_EVERY


@dataclass(eq=False)
class EntryState:
    """One entry's counters, as the master keeps them."""

    entry: wire.Entry
    signal: int
    on_gap: int | None
    notifications: int = 0     # received from the listener
    raised: int = 0            # raises the master accepted (signal and on_gap)
    refused: int = 0           # raises refused (by the master or every recipient)
    decode_errors: int = 0     # JSON payloads that did not decode (raised with the raw text)
    connection_errors: int = 0  # connections lost and attempts that failed
    reconnects: int = 0        # connections that came back after one was up
    gaps: int = 0              # on_gap raises
    connected: bool = False
    ever_connected: bool = False
    backend_pid: int | None = None
    last_error: str | None = None
    last_notification: float | None = None   # wall clock
    down_since: float | None = None          # wall clock: the last loss
    retry_in: float | None = None

    @property
    def label(self) -> str:
        return f"pgnotify:{self.entry.channel}"

    @property
    def errors(self) -> int:
        return self.decode_errors + self.connection_errors

    def status(self) -> dict[str, Any]:
        e = self.entry
        return {"id": e.id, "channel": e.channel, "signal": self.signal, "on_gap": self.on_gap,
                "payload": e.payload, "dsn": e.conninfo, "connected": self.connected,
                "backend_pid": self.backend_pid, "notifications": self.notifications,
                "raised": self.raised, "refused": self.refused, "errors": self.errors,
                "decode_errors": self.decode_errors,
                "connection_errors": self.connection_errors, "reconnects": self.reconnects,
                "gaps": self.gaps, "last_error": self.last_error,
                "last_notification": self.last_notification, "down_since": self.down_since,
                "retry_in": self.retry_in}


class PgNotify(Extension):
    name = "pgnotify"

    def __init__(self, master: MasterPort) -> None:
        super().__init__(master)
        cfg = master.config
        tree = cfg.supervisor.name
        self.entries = [EntryState(wire.Entry.of(i, c, tree), c.signal, c.on_gap)
                        for i, c in enumerate(cfg.pgnotify)]
        self.proc: Proc | None = None
        if self.entries:
            self.proc = Proc(PROC, PROC, 1, (), runner=RUNNER)
            master.add_proc(self.proc)
            master.log.reserve([PROC])

    # -- the extension ---------------------------------------------------------------------

    def start(self) -> None:
        if self.entries:
            self.m.log.info(f"pgnotify: {len(self.entries)} channel"
                            f"{'s' if len(self.entries) > 1 else ''} "
                            f"({', '.join(s.entry.channel for s in self.entries)})")

    def status(self) -> list[dict[str, Any]] | None:
        return [s.status() for s in self.entries] if self.entries else None

    def child_messages(self) -> dict[str, ChildMessage]:
        return {wire.HELLO: self._hello, wire.UP: self._up, wire.DOWN: self._down,
                wire.NOTIFY: self._notify}

    def proc_exit(self, p: Proc, how: str) -> None:
        if p is not self.proc:
            return
        wall = self.m.os.time()
        for s in self.entries:
            if s.connected:
                s.connected = False
                s.connection_errors += 1
                s.down_since = wall
                s.last_error = f"the listener process exited ({how})"
            s.backend_pid = None

    # -- the listener's frames -------------------------------------------------------------

    def _check(self, p: Proc, msg: dict[str, Any]) -> None:
        if p is not self.proc:   # only the listener may speak for PostgreSQL
            raise ProtocolError(f"unknown message {msg.get('t')!r}")

    def _states(self, msg: dict[str, Any]) -> list[EntryState]:
        ids = msg.get("entries")
        if not isinstance(ids, list):
            raise ProtocolError(f"{msg.get('t')}: entries must be a list")
        return [self._state(i) for i in ids]

    def _state(self, i: Any) -> EntryState:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self.entries):
            raise ProtocolError(f"no pgnotify entry {i!r}")
        return self.entries[i]

    def _hello(self, p: Proc, msg: dict[str, Any]) -> None:
        self._check(p, msg)
        self.m.send_json(p, {"t": wire.SET, "entries": [s.entry.wire() for s in self.entries]})

    def _up(self, p: Proc, msg: dict[str, Any]) -> None:
        self._check(p, msg)
        wall = self.m.os.time()
        for s in self._states(msg):
            s.connected = True
            s.backend_pid = msg.get("backend_pid")
            s.retry_in = None
            if not s.ever_connected:
                s.ever_connected = True
                self.m.log.info(f"{s.label}: listening (backend pid {s.backend_pid})")
                continue
            s.reconnects += 1
            down_for = wall - s.down_since if s.down_since is not None else None
            took = f" after {down_for:.1f} s" if down_for is not None else ""
            gap = (f"; signal {s.on_gap} (on_gap) raised" if s.on_gap is not None
                   else "; no on_gap signal set")
            self.m.log.warning(f"{s.label}: reconnected{took}: notifications sent meanwhile "
                               f"are lost{gap}")
            if s.on_gap is not None:
                s.gaps += 1
                self._raise(s, s.on_gap, pl.gap(s.entry.channel, down_for, s.reconnects,
                                                s.last_error))

    def _down(self, p: Proc, msg: dict[str, Any]) -> None:
        self._check(p, msg)
        wall = self.m.os.time()
        error = str(msg.get("error") or "unknown error")
        retry = msg.get("retry_in")
        for s in self._states(msg):
            s.connection_errors += 1
            s.retry_in = float(retry) if isinstance(retry, (int, float)) else None
            s.backend_pid = None
            s.last_error = error
            when = f"; retrying in {s.retry_in:g} s" if s.retry_in is not None else ""
            if s.connected:
                s.connected = False
                s.down_since = wall
                self.m.log.warning(f"{s.label}: connection lost ({error}){when}")
            elif s.connection_errors == 1 or s.connection_errors % WARN_EVERY == 0 \
                    or msg.get("was_up"):
                self.m.log.error(f"{s.label}: cannot connect ({error}){when}; "
                                 f"{s.connection_errors} connection errors so far")

    def _notify(self, p: Proc, msg: dict[str, Any]) -> None:
        self._check(p, msg)
        s = self._state(msg.get("entry"))
        s.notifications += 1
        s.last_notification = self.m.os.time()
        error = msg.get("decode_error")
        if error is not None:
            s.decode_errors += 1
            if s.decode_errors == 1 or s.decode_errors % WARN_EVERY == 0:
                self.m.log.warning(f"{s.label}: a payload is {error}; raised with the raw "
                                   f"text ({s.decode_errors} so far)")
        pid = msg.get("pid")
        d = pl.Decoded(msg.get("payload"), None if error is None else str(error))
        self._raise(s, s.signal, pl.notification(s.entry.channel,
                                                 pid if isinstance(pid, int) else 0, d))

    # -- raising ---------------------------------------------------------------------------

    def _raise(self, s: EntryState, signum: int, data: dict[str, Any]) -> RaiseResult:
        res = self.m.raise_signal(signum, s.label, payload=data)
        if res.refused and not res.recipients:
            s.refused += 1
            if s.refused == 1 or s.refused % WARN_EVERY == 0:
                why = "; ".join(f"{who}: {reason}" for who, reason in res.refused)
                self.m.log.warning(f"{s.label}: signal {signum} refused ({why}); "
                                   f"{s.refused} refused so far")
        else:
            s.raised += 1
        return res
