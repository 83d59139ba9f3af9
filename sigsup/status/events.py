"""``sigsup events``: the master's events streamed to control clients, one message each.

A client sends ``{"cmd": "events", "signal": N, "process": NAME}`` (both filters optional)
and gets ``{"ok": true, "streaming": "events", "filters": {...}}``, then one message per
event that matches: ``{"event": KIND, "ts": WALL_CLOCK, ...fields}`` (the kinds and their
fields are listed in docs/status-schema.md).

The master never waits for a subscriber: events are appended to the connection's output
buffer, which the loop writes when the socket takes it. A subscriber whose unread output
passes ``MAX_BEHIND`` bytes is sent one last message, ``{"ok": false, "event": "dropped",
"error": ...}``, and disconnected.

While nobody subscribes, nothing here runs: the hub listens to the master's events (which
makes the master report the router's deliveries too) from the first subscriber and stops
with the last. It is the status feature's (status/monitor.py) ``events`` client command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sigsup.protocol.control import encode
from sigsup.routing.table import check_signum

if TYPE_CHECKING:
    from sigsup.master.control import ControlConn
    from sigsup.master.port import MasterPort

MAX_BEHIND = 1024 * 1024   # bytes a subscriber may leave unread before it is dropped
MASTER_WIDE = ("stopping",)   # events every subscriber gets, whatever its filters


def parse_filters(msg: dict[str, Any]) -> dict[str, Any]:
    """The filters of an ``events`` request; ValueError naming a bad field."""
    signum = msg.get("signal")
    if signum is not None:
        try:
            check_signum(signum)
        except ValueError:
            raise ValueError(f"field 'signal' must be a signal number 0..255, "
                             f"not {signum!r}") from None
    process = msg.get("process")
    if process is not None and not isinstance(process, str):
        raise ValueError(f"field 'process' must be a string, not {type(process).__name__}")
    return {"signal": signum, "process": process}


def matches(filters: dict[str, Any], event: dict[str, Any]) -> bool:
    if event.get("event") in MASTER_WIDE:
        return True
    signum = filters.get("signal")
    if signum is not None and event.get("signum") != signum:
        return False
    name = filters.get("process")
    return name is None or name in (event.get("process"), event.get("origin")) \
        or name in event.get("recipients", ())


class EventHub:
    def __init__(self, master: MasterPort) -> None:
        self.m = master
        self.subscribers: list[ControlConn] = []
        self.held: list[dict[str, Any]] = []   # deliveries waiting for their raise event
        self.dropped = 0   # subscribers disconnected for falling behind
        self._listening = False

    def subscribe(self, conn: ControlConn, msg: dict[str, Any]) -> None:
        """The ``events`` client command: the connection streams events from now on."""
        try:
            filters = parse_filters(msg)
        except ValueError as exc:
            conn.reply({"ok": False, "error": f"bad request: {exc}"})
            return
        conn.streaming = filters
        conn.reply({"ok": True, "streaming": "events", "filters": filters})
        if conn not in self.subscribers:
            self.subscribers.append(conn)
        if not self._listening:
            self.m.listen(self._on_event)
            self._listening = True

    def _alive(self, conn: ControlConn) -> bool:
        return conn.streaming is not None and self.m.client_alive(conn)

    def sweep(self) -> None:
        """Forget subscribers that went away; unhook when none is left."""
        if self.subscribers:
            self.subscribers = [c for c in self.subscribers if self._alive(c)]
        if not self.subscribers:
            self.held.clear()
            self._unhook()

    def _unhook(self) -> None:
        if self._listening:
            self.m.unlisten(self._on_event)
            self._listening = False

    def _on_event(self, kind: str, event: dict[str, Any]) -> None:
        # The router reports a delivery while it routes a raise, before the raise itself is
        # reported (its recipients are known only then): hold deliveries until the next
        # event, so a raise comes before its own deliveries.
        if kind == "deliver":
            self.held.append(event)
            return
        if self.held:
            held, self.held = self.held, []
            if kind == "raise":
                own = [d for d in held if d.get("id") == event.get("id")]
                for d in held:
                    if d not in own:
                        self._send(d)
                self._send(event)
                for d in own:
                    d["ts"] = event["ts"]
                    self._send(d)
                return
            for d in held:
                self._send(d)
        self._send(event)

    def flush(self) -> None:
        """Send held deliveries (the master calls this every loop turn, through tick)."""
        if self.held:
            held, self.held = self.held, []
            for d in held:
                self._send(d)

    def _send(self, event: dict[str, Any]) -> None:
        data: bytes | None = None
        gone = False
        for conn in self.subscribers:
            if not self._alive(conn):
                gone = True
                continue
            if not matches(conn.streaming, event):   # type: ignore[arg-type]
                continue
            if len(conn.out) > MAX_BEHIND:
                self._drop(conn)
                gone = True
                continue
            if data is None:
                data = encode(event)
            conn.out += data
        if gone:
            self.sweep()

    def _drop(self, conn: ControlConn) -> None:
        self.dropped += 1
        behind = len(conn.out)
        conn.out += encode({"ok": False, "event": "dropped", "error": (
            f"events: this subscriber fell {behind} bytes behind (limit {MAX_BEHIND}); "
            "dropped so the master does not wait for it")})
        conn.streaming = None     # an unread connection now expires like any idle client
        conn.closing = True       # closed once the loop has written what it holds
        self.m.log.warning(f"events: subscriber #{conn.id} fell {behind} bytes behind; dropped")

    def close(self) -> None:
        self.flush()
        self.subscribers.clear()
        self._unhook()
