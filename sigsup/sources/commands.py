"""The event sources' commands: ``add_timer``, ``add_rb_timer``, ``add_cron``,
``add_file_monitor``, ``remove_event``, ``list_events``.

They come from any process (a child's channel, the control socket, the master's own
runtime during preload); each checks its fields (``sources/requests.py``), then adds to
or asks the scheduler.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigsup.master.port import BadRequest, Command
from sigsup.schedule import cron
from sigsup.sources import requests
from sigsup.sources.events import Source, TimerSource

if TYPE_CHECKING:
    from sigsup.sources.scheduler import Scheduler

WAITER_KINDS = ("worker", "mule", "spooler")


class SourceCommands:
    def __init__(self, sched: Scheduler) -> None:
        self.s = sched
        self.m = sched.m

    def table(self) -> dict[str, Command]:
        return {
            "add_timer": self.cmd_add_timer, "add_rb_timer": self.cmd_add_rb_timer,
            "add_cron": self.cmd_add_cron, "add_file_monitor": self.cmd_add_file_monitor,
            "remove_event": self.cmd_remove_event, "list_events": self.cmd_list_events,
        }

    def _check_waiter(self, signum: int) -> None:
        if self.m.table[signum].registered:
            return
        if not any(p.kind in WAITER_KINDS for p in self.m.procs):
            raise BadRequest(f"signal {signum} has no table entry, and no worker, mule or "
                             "spooler could wait for it in signal_wait")

    def _added(self, src: Source, origin: str) -> dict[str, Any]:
        self.m.log.info(f"{src.label} added by {origin}: signal {src.signal}, {src.spec()}"
                        + (f", {src.iterations.total} iterations" if src.iterations.total else ""))
        # this source's entry only: building every entry made each add O(sources)
        return {"ok": True, "id": src.id, "kind": src.kind,
                "event": self.s.status_of(src, *self.s.now())}

    def _timer_cmd(self, kind: str, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        signum = requests.signum(msg)
        secs = requests.seconds(msg)
        its = requests.iterations(msg)
        self._check_waiter(signum)
        src = self.s.add_timer(kind, signum, secs, its, f"runtime ({origin})")
        return self._added(src, origin)

    def cmd_add_timer(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        return self._timer_cmd("timer", msg, origin)

    def cmd_add_rb_timer(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        return self._timer_cmd("rb_timer", msg, origin)

    def cmd_add_cron(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        signum = requests.signum(msg)
        schedule = msg.get("schedule")
        fields = msg.get("fields")
        try:
            if schedule is not None and fields is not None:
                raise ValueError("give either schedule or fields, not both")
            if schedule is not None:
                spec: cron.Schedule = cron.parse_schedule(schedule)
            elif isinstance(fields, list):
                spec = cron.uwsgi_schedule([-1 if f is None else f for f in fields])
            else:
                raise ValueError("missing schedule (a cron expression) or fields (uWSGI's "
                                 "minute, hour, day, month, weekday)")
            tz = cron.zone(requests.optional_str(msg, "timezone"))
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        its = requests.iterations(msg)
        grace = requests.number(msg, "misfire_grace", 60.0, 0.0)
        self._check_waiter(signum)
        src = self.s.add_cron(signum, spec, tz, its, grace, f"runtime ({origin})")
        return self._added(src, origin)

    def cmd_add_file_monitor(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        signum = requests.signum(msg)
        wait = requests.boolean(msg, "wait_for_path", False)
        path = requests.monitor_path(msg, Path(self.m.config.base_dir), wait)
        recursive = requests.boolean(msg, "recursive", False)
        events = requests.events(msg)
        debounce = requests.number(msg, "debounce", 0.1, 0.0)
        its = requests.iterations(msg)
        self._check_waiter(signum)
        src = self.s.add_monitor(signum, path, recursive, events, debounce, its, wait,
                                 f"runtime ({origin})")
        return self._added(src, origin)

    def cmd_remove_event(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        sid = msg.get("id")
        if isinstance(sid, bool) or not isinstance(sid, int):
            raise BadRequest(f"id must be an event id (an integer), not {sid!r}")
        return {"ok": True, "removed": self.s.remove(sid, f"removed by {origin}")}

    def cmd_list_events(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        """Every source as in the status; ``detail: true`` adds each timer's monotonic
        ``anchor`` and ``period`` (its deadlines are anchor + k * period: benchmarks use it)."""
        out = self.s.status()
        if msg.get("detail") is True:
            for e in out:
                src = self.s.sources.get(e["id"])
                if isinstance(src, TimerSource) and src.periodic is not None:
                    e["anchor"] = src.periodic.anchor
                    e["period"] = src.periodic.period
        return {"ok": True, "events": out}
