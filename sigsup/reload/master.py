"""The master's reload feature: ``{"cmd": "reload"}`` from ``sigsup reload``, SIGHUP (the
loop turns it into this command) and ``sigsup.reload()`` in any process of the tree.

    {"cmd": "reload", "config": PATH?, "workers_only": false, "rolling": false}

1. The file (``config``, else the running one's) is read and checked; a file with problems
   is refused whole with ``sigsup check``'s messages, and nothing changes.
2. The diff with the running config (sigsup/config/diff.py); a change a running master
   cannot take (its socket, mules, farms, spoolers) refuses the reload, naming it.
3. The application's modules are forgotten and the preload modules and every handler are
   imported again, in the master (sigsup/reload/modules.py), so that the processes forked
   from now on run the new code. If they do not import, the old ones are put back and the
   reload is refused.
4. ``MasterPort.apply_config``: settings, signal entries, worker count, the features'
   ``reload`` hooks (timers keep their phase, crons their last run).
5. The graceful restart (sigsup/reload/restarts.py) of the workers, and unless
   ``workers_only`` of the mules and spoolers: all at once, or ``rolling``.

The reply comes at once, with the diff; the ``reload`` events say when it began, when it
was done (every restart settled) or that it was refused; ``sigsup status --json`` has
``reload``: how many were done and refused, whether one is under way, and the last one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sigsup.config import Config, ConfigError, format_problems, load_config
from sigsup.config.diff import ConfigDiff, diff_configs
from sigsup.master.port import BadRequest, Command, Extension, MasterPort, Refused
from sigsup.reload import modules
from sigsup.reload.restarts import Restarts, chosen
from sigsup.routing.states import MasterState
from sigsup.words import count

READY_SLACK = 10.0   # seconds past shutdown_timeout a restarted slot has to be running again


def _flag(msg: dict[str, Any], name: str, default: bool) -> bool:
    value = msg.get(name, default)
    if not isinstance(value, bool):
        raise BadRequest(f"field {name!r} must be a boolean, not {value!r}")
    return value


def code_roots(*configs: Config) -> list[Path]:
    """Where the application's code lives: each config's directory and pythonpath."""
    roots: list[Path] = []
    for cfg in configs:
        for r in (cfg.base_dir, *cfg.supervisor.pythonpath):
            if r not in roots:
                roots.append(r)
    return roots


class ReloadExtension(Extension):
    name = "reload"

    def __init__(self, master: MasterPort) -> None:
        super().__init__(master)
        self.done = 0           # reloads applied
        self.refused = 0        # reloads refused (bad config, a change it cannot take...)
        self.current: dict[str, Any] | None = None     # the reload under way
        self.last: dict[str, Any] | None = None        # the last one, done or refused
        self.restarts: Restarts | None = None

    def commands(self) -> dict[str, Command]:
        return {"reload": self.cmd_reload}

    # -- the command -----------------------------------------------------------------------

    def cmd_reload(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        workers_only = _flag(msg, "workers_only", False)
        rolling = _flag(msg, "rolling", False)
        path = msg.get("config")
        if path is not None and not isinstance(path, str):
            raise BadRequest(f"field 'config' must be a string, not {path!r}")
        m = self.m
        record: dict[str, Any] = {"origin": origin, "at": m.os.time(),
                                  "config": path or str(m.config.path),
                                  "workers_only": workers_only, "rolling": rolling}
        if m.state is not MasterState.RUNNING:
            return self._refuse(record, f"the master is {m.state}")
        if self.current is not None:
            return self._refuse(record, "a reload is under way (started by "
                                f"{self.current['origin']}); try again once it is done")
        try:
            new, diff = self._load(Path(record["config"]))
        except Refused as exc:
            return self._refuse(record, str(exc), problems=getattr(exc, "problems", None))
        record["changes"] = len(diff.changes)
        m.log.info(f"reload requested by {origin} ({record['config']}): "
                   + (count(len(diff.changes), "change") if diff else "no changes in the config"))
        for line in diff.lines() if diff else ():
            m.log.info(f"reload: {line.strip()}")
        m.emit("reload", phase="begin", origin=origin, changes=len(diff.changes),
               workers_only=workers_only, rolling=rolling)
        before = {p: p.pid for p in m.procs}
        try:
            applied = m.apply_config(new)
        except Refused as exc:
            return self._refuse(record, str(exc))
        # processes the reload itself started (new workers) already run the new code
        procs = [p for p in chosen(list(m.procs), workers_only) if before.get(p) == p.pid]
        self.restarts = Restarts(
            procs, rolling=rolling,
            ready_timeout=m.config.supervisor.shutdown_timeout + READY_SLACK,
            restart=m.restart_proc, present=lambda p: p in m.procs)
        self.current = record
        record["restarting"] = [p.name for p in procs]
        self.restarts.advance(m.os.monotonic())
        if procs:
            m.log.info(f"reload: restarting {', '.join(p.name for p in procs)}"
                       + (" one at a time" if rolling else ""))
        self._check_done()
        return {"ok": True, "config": record["config"], "lines": diff.lines(),
                "diff": diff.as_dict(), "applied": applied, "restarting": record["restarting"],
                "rolling": rolling, "workers_only": workers_only}

    def _load(self, path: Path) -> tuple[Config, ConfigDiff]:
        """The new config, checked, its code imported in the master; Refused if not."""
        try:
            new = load_config(path)
        except ConfigError as exc:
            raise _refused_config(exc) from None
        diff = diff_configs(self.m.config, new)
        if diff.blocked:
            raise Refused("; ".join(diff.blocked))
        roots = code_roots(self.m.config, new)
        gone = modules.forget(roots)
        try:
            new = load_config(path, check_imports=True)   # preload and handlers, afresh
        except ConfigError as exc:
            modules.put_back(gone, roots)
            raise _refused_config(exc) from None
        except BaseException:
            modules.put_back(gone, roots)
            raise
        return new, diff

    def _refuse(self, record: dict[str, Any], why: str,
                problems: list[str] | None = None) -> dict[str, Any]:
        self.refused += 1
        record.update(outcome="refused", error=why)
        self.last = record
        self.m.log.error(f"reload requested by {record['origin']} refused: {why}")
        self.m.emit("reload", phase="refused", origin=record["origin"], error=why)
        reply: dict[str, Any] = {"ok": False, "refused": True, "logged": True, "error": why}
        if problems:
            reply["problems"] = problems
        return reply

    # -- the restarts ----------------------------------------------------------------------

    def deadline(self, now: float) -> float | None:
        return self.restarts.deadline() if self.restarts is not None else None

    def tick(self, now: float) -> None:
        if self.restarts is not None:
            for step in self.restarts.advance(now):
                self.m.log.info(f"reload: {step.proc.name}: {step.result}")
            self._check_done()

    def _check_done(self) -> None:
        r, record = self.restarts, self.current
        if r is None or record is None or not r.finished:
            return
        self.done += 1
        record["outcome"] = "done"
        record["processes"] = [s.as_dict() for s in r.steps]
        record["seconds"] = round(self.m.os.time() - record["at"], 3)
        self.last, self.current, self.restarts = record, None, None
        self.m.log.info(f"reload done ({count(len(r.steps), 'process', 'processes')} restarted in "
                        f"{record['seconds']:g} s)")
        self.m.emit("reload", phase="done", origin=record["origin"],
                    restarted=[s.proc.name for s in r.steps], seconds=record["seconds"])

    def close(self) -> None:
        if self.current is not None:
            self.m.log.warning("the master stopped before the reload's restarts were done")

    # -- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        current = None
        if self.current is not None and self.restarts is not None:
            current = {**self.current, "outcome": "under way",
                       "processes": [s.as_dict() for s in self.restarts.steps]}
        return {"done": self.done, "refused": self.refused, "in_progress": current is not None,
                "current": current, "last": self.last}


def _refused_config(exc: ConfigError) -> Refused:
    text = format_problems(exc).rstrip("\n")
    err = Refused(f"the config has problems; nothing changed:\n{text}")
    err.problems = text.splitlines()   # type: ignore[attr-defined]
    return err
