"""Per-process control: the ``restart``, ``kill``, ``retry`` and ``scale`` commands (merged
into ``Commands.table``; ``sigsup restart`` and the others in sigsup/cli_procs.py).

    {"cmd": "restart", "name": "worker3" | "workers" | "farm_x" | ...}
    {"cmd": "kill", "name": ..., "signal": "TERM" | "SIGHUP" | 9}
    {"cmd": "retry", "name": ...}
    {"cmd": "scale", "group": "workers", "count": N}

A name is resolved by master/select.py. The reply lists every slot it meant, each with its
``result`` and whether it was ``done``: ``{"ok": true, "name": "workers", "group": true,
"processes": [{"name": "worker1", "pid": 123, "done": true, "result": "restarting"}...]}``.
A slot the command does not apply to (``retry`` of one that is not failed) is reported in
a group and an error (``ok`` false) for a single name. The work is the master's
(``MasterPort.restart_proc``, ``signal_proc``, ``retry_proc``, ``scale_workers``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sigsup.master.port import BadRequest, Command, MasterPort, Refused
from sigsup.master.select import SelectError, posix_signal, select, signal_name
from sigsup.routing.proc import Proc
from sigsup.routing.states import MasterState
from sigsup.routing.targets import WORKERS

SCALABLE = (WORKERS, "worker")


def _text(msg: dict[str, Any], name: str) -> str:
    value = msg.get(name)
    if not isinstance(value, str):
        raise BadRequest(f"missing field {name!r}" if value is None
                         else f"field {name!r} must be a string, not {type(value).__name__}")
    return value


class ProcCommands:
    def __init__(self, master: MasterPort) -> None:
        self.m = master

    def table(self) -> dict[str, Command]:
        return {"restart": self.cmd_restart, "kill": self.cmd_kill, "retry": self.cmd_retry,
                "scale": self.cmd_scale}

    def _each(self, msg: dict[str, Any], origin: str, action: str,
              act: Callable[[Proc], dict[str, Any]], *, running: bool = True) -> dict[str, Any]:
        """Resolve the request's name and apply ``act`` to each of its slots."""
        name = _text(msg, "name")
        state = self.m.state
        if state is not MasterState.RUNNING and (running or state is not MasterState.STOPPING):
            return {"ok": False, "error": f"the master is {state}"}
        try:
            sel = select(self.m.procs, name)
        except SelectError as exc:
            return {"ok": False, "error": str(exc)}
        self.m.log.info(f"{action} {sel.name} requested by {origin}: "
                        f"{', '.join(p.name for p in sel.procs)}")
        out = []
        for p in sel.procs:
            pid = p.pid or None
            try:
                entry = {"name": p.name, "pid": pid, "done": True, **act(p)}
            except Refused as exc:
                entry = {"name": p.name, "pid": pid, "done": False, "result": str(exc)}
            out.append(entry)
        reply: dict[str, Any] = {"ok": True, "name": sel.name, "group": sel.group,
                                 "processes": out}
        if not sel.group and not out[0]["done"]:
            reply["ok"] = False
            reply["error"] = f"{out[0]['name']}: {out[0]['result']}"
        return reply

    def cmd_restart(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        def act(p: Proc) -> dict[str, Any]:
            return {"result": self.m.restart_proc(p)}
        return self._each(msg, origin, "restart", act)

    def cmd_kill(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        raw = msg.get("signal", "TERM")
        if not isinstance(raw, (str, int)) or isinstance(raw, bool):
            raise BadRequest(f"field 'signal' must be a signal name or number, not {raw!r}")
        try:
            sig = posix_signal(raw)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        sname = signal_name(sig)

        def act(p: Proc) -> dict[str, Any]:
            return {"pid": self.m.signal_proc(p, sig), "result": f"sent {sname}"}
        reply = self._each(msg, origin, f"kill ({sname})", act, running=False)
        if "processes" in reply:
            reply["signal"] = sname
            reply["signum"] = sig
            reply["signalled"] = [e["pid"] for e in reply["processes"] if e["done"]]
        return reply

    def cmd_retry(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        def act(p: Proc) -> dict[str, Any]:
            return {"pid": self.m.retry_proc(p) or None, "result": "started"}
        return self._each(msg, origin, "retry", act)

    def cmd_scale(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        group = _text(msg, "group")
        count = msg.get("count")
        if not isinstance(count, int) or isinstance(count, bool):
            raise BadRequest("missing field 'count'" if count is None
                             else f"field 'count' must be an integer, not {count!r}")
        if group not in SCALABLE:
            return {"ok": False, "error": f"only the worker pool can be scaled (sigsup scale "
                    f"workers N), not {group!r}: mules, farms and spoolers are the config's"}
        self.m.log.info(f"scale workers {count} requested by {origin}")
        try:
            done = self.m.scale_workers(count)
        except Refused as exc:
            return {"ok": False, "error": f"cannot scale workers to {count}: {exc}"}
        return {"ok": True, "group": WORKERS, **done}
