"""Requests to the master, from the control socket and from children alike.

``execute`` answers a request dict with a reply dict and never raises for bad input: a
missing or mistyped field is an ``{"ok": false, "error": ...}`` naming the field.

Every command is in one table, built once: the master's own (``Commands.table``) and each
feature's (``Extension.commands``); a name two of them claim is an error at start-up. Client
commands answer on the connection itself, later or many times (``raise --wait``, ``events``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sigsup.importing import HandlerImportError, split_path
from sigsup.master.port import BadRequest, ClientCommand, Command, Extension, MasterPort
from sigsup.master.proccmds import ProcCommands
from sigsup.routing.raises import Watch
from sigsup.routing.router import UNCLAIMED
from sigsup.routing.table import ON_FULL, check_signum
from sigsup.routing.targets import TargetError, resolve_target

if TYPE_CHECKING:
    from sigsup.master.control import ControlConn

__all__ = ["BadRequest", "Commands"]


def _field(msg: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if name not in msg:
        if default is ...:
            raise BadRequest(f"missing field {name!r}")
        return default
    value = msg[name]
    if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise BadRequest(f"field {name!r} must be {_kind_name(kind)}, not a boolean")
    if not isinstance(value, kind):
        raise BadRequest(f"field {name!r} must be {_kind_name(kind)}, not {type(value).__name__}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({int: "an integer", str: "a string", bool: "a boolean",
                        float: "a number", type(None): "null"}.get(k, k.__name__) for k in kinds)


def client_origin(msg: dict[str, Any]) -> str:
    """Who sent a control request: ``cli``, or the client it names (an outside script's
    ``pid 123 (post.py)``, client_runtime.client_name)."""
    client = msg.get("client")
    if isinstance(client, str) and client and len(client) <= 200 and client.isprintable():
        return f"client {client}"
    return "cli"


def _signum(msg: dict[str, Any]) -> int:
    num = _field(msg, "signum", int)
    try:
        return check_signum(num)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


class Commands:
    def __init__(self, master: MasterPort, extensions: Sequence[Extension] = ()) -> None:
        self.m = master
        # "status" and "events" are the status feature's (status/monitor.py)
        self.table: dict[str, Command] = {
            "ping": self.cmd_ping, "stop": self.cmd_stop,
            "raise": self.cmd_raise, "register": self.cmd_register,
            "unregister": self.cmd_unregister, "registered": self.cmd_registered,
            # restart, kill, retry, scale (master/proccmds.py)
            **ProcCommands(master).table(),
        }
        self.client_table: dict[str, ClientCommand] = {}
        for ext in extensions:
            for table, more in ((self.table, ext.commands()),
                                (self.client_table, ext.client_commands())):
                for name, fn in more.items():
                    if name in self.table or name in self.client_table:
                        raise ValueError(f"command {name!r} of {ext.name} is taken")
                    table[name] = fn

    def execute(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        cmd = msg.get("cmd")
        if not isinstance(cmd, str):
            return {"ok": False, "error": "bad request: missing field 'cmd'"}
        method = self.table.get(cmd)
        if method is None:
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        try:
            return method(msg, origin)
        except BadRequest as exc:
            return {"ok": False, "error": f"bad request: {exc}"}

    # -- control clients -------------------------------------------------------------------

    def handle_client(self, conn: ControlConn, msg: dict[str, Any]) -> None:
        cmd = msg.get("cmd")
        if cmd == "raise" and msg.get("wait") is True:
            self._raise_and_wait(conn, msg)
            return
        streamed = self.client_table.get(cmd) if isinstance(cmd, str) else None
        if streamed is not None:   # a stream or a later answer (status/events.py)
            streamed(conn, msg)
            return
        conn.reply(self.execute(msg, origin=client_origin(msg)))

    def _raise_and_wait(self, conn: ControlConn, msg: dict[str, Any]) -> None:
        reply = self.execute(msg, origin=client_origin(msg))
        r = reply.pop("_raise", None)
        result = reply.get("result")
        expected = len(result["recipients"]) if result else 0
        if result and UNCLAIMED in result["recipients"]:
            # kept for the next signal_wait caller: nobody waits now, so nobody will answer
            # until one does; say so now rather than let the client time out
            reply["outcomes"] = [{"process": UNCLAIMED, "status": "kept",
                                  "detail": "kept for the next signal_wait (nobody waits now)"}]
            conn.reply(reply)
            return
        if r is None or not expected:
            reply["outcomes"] = []
            conn.reply(reply)
            return
        conn.waits += 1

        def finish(watch: Watch) -> None:
            conn.waits -= 1
            failed = [o for o in watch.results if o["status"] != "handled"]
            self.m.client_reply(conn, {**reply, "outcomes": watch.results,
                                       "ok": reply["ok"] and not failed})

        r.watch = Watch(expected, on_complete=finish)

    # -- commands --------------------------------------------------------------------------

    def cmd_ping(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        return {"ok": True, "pid": self.m.pid, "name": self.m.name, "state": self.m.state}

    def cmd_stop(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        self.m.request_stop(f"stop requested by {origin}")
        return {"ok": True, "pid": self.m.pid, "shutdown_timeout": self.m.config.supervisor.shutdown_timeout}

    def cmd_raise(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        signum = _signum(msg)
        res = self.m.raise_signal(signum, origin, payload=msg.get("payload"))
        if origin.startswith("client "):
            self.m.log.debug(f"signal {signum} raised by {origin}")
        reply: dict[str, Any] = {"ok": not res.refused, "result": res.as_dict()}
        if res.refused:
            reply["error"] = "; ".join(why if who == "master" else f"{who}: {why}"
                                       for who, why in res.refused)
        reply["_raise"] = res.raise_
        if msg.get("wait") is not True:
            reply.pop("_raise")
        return reply

    def cmd_register(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        if "signum" in msg and msg["signum"] is None:   # a free number (sigsup.decorators)
            return self._register_free(msg, origin)
        signum = _signum(msg)
        handler = _field(msg, "handler", str)
        target_raw = _field(msg, "target", str, "worker")
        on_full = _field(msg, "on_full", str, "reject")
        if on_full not in ON_FULL:
            raise BadRequest(f"on_full must be one of {', '.join(ON_FULL)}, not {on_full!r}")
        try:
            split_path(handler)
        except HandlerImportError as exc:
            raise BadRequest(f"handler: {exc}") from None
        try:
            target = resolve_target(target_raw, self.m.config.shape())
        except TargetError as exc:
            raise BadRequest(f"target: {exc}") from None
        old = self.m.table[signum]
        if old.registered and old.source.startswith("auto") and old.handler != handler:
            raise BadRequest(f"signal {signum} was given to {old.handler} as a free number "
                             f"({old.source}); choose another number")
        same = (old.registered and old.handler == handler and str(old.target) == str(target)
                and old.source != "config")
        source = (old.source if same else
                  f"auto ({origin})" if msg.get("_auto") is True else f"runtime ({origin})")
        entry = self.m.table.register(signum, handler, target, on_full, source=source)
        self.m.broadcast_json({"t": "table", "set": {str(signum): handler}})
        self.m.log.info(f"signal {signum} registered by {origin}: {handler} -> {target}")
        return {"ok": True, "entry": entry.as_dict(), "signum": signum, "existing": same}

    def _register_free(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        """Register on a free number, picked here so two processes never get the same one:
        the highest number with no entry, never raised, used by no configured event source
        (hand-written numbers tend to be small). The same handler and target asking again
        get their number back."""
        handler = _field(msg, "handler", str)
        try:
            target = str(resolve_target(_field(msg, "target", str, "worker"), self.m.config.shape()))
        except TargetError as exc:
            raise BadRequest(f"target: {exc}") from None
        for e in self.m.table.registered():
            if e.handler == handler and str(e.target) == target and e.source != "config":
                return {"ok": True, "signum": e.num, "existing": True, "entry": e.as_dict()}
        cfg = self.m.config
        used = {s.signal for s in (*cfg.timers, *cfg.rb_timers, *cfg.crons, *cfg.monitors)}
        for num in range(255, -1, -1):
            e = self.m.table[num]
            if not e.registered and not e.counters.raised and num not in used:
                return self.cmd_register({**msg, "signum": num, "_auto": True}, origin)
        return {"ok": False, "error": "no free signal number: all 256 are registered or in use"}

    def cmd_unregister(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        signum = _signum(msg)
        removed = self.m.table.unregister(signum)
        if removed:
            self.m.broadcast_json({"t": "table", "del": [signum]})
            self.m.log.info(f"signal {signum} unregistered by {origin}")
        return {"ok": True, "removed": removed}

    def cmd_registered(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        signum = _signum(msg)
        entry = self.m.table[signum]
        return {"ok": True, "registered": entry.registered, "entry": entry.as_dict()}
