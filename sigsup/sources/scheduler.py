"""The event sources in the master: timers, rb_timers, crons and file monitors.

One object plugged into the master's loop (see ``master/extension.py``). It keeps two
heaps: timers and debounced file events on the monotonic clock, crons on the wall clock.
``deadline(now)`` tells the loop when to wake; ``tick(now)`` raises what is due with
``policy="merge"``: if the last firing is still queued for a recipient, the new one merges
into it (counted as coalesced), so a busy tree never piles up stale timer signals.

File events come from the monitor process (``sources/filemon.py``; watchdog runs threads,
so it lives in its own child, never in the master). It sends ``{"t": "fs", "monitor": id,
"n": count}`` frames; the scheduler debounces them (a burst raises one signal once no new
event came for ``debounce`` seconds, or at most ``10 * debounce`` after its first event)
and counts iterations. The master respawns the monitor process like any child; on start
it says ``fs-hello`` and gets every monitor again.

Nothing here blocks and nothing starts a thread: the master stays single-threaded.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import selectors
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigsup.master.commands import BadRequest
from sigsup.master.loop import EXTENSION
from sigsup.master.proc import Proc
from sigsup.protocol.frames import pack_json
from sigsup.sources import cron, requests
from sigsup.sources.events import CronSource, MonitorSource, Source, TimerSource
from sigsup.sources.state import CronState
from sigsup.sources.timerfd import TimerFd
from sigsup.sources.timers import Iterations, Periodic

if TYPE_CHECKING:
    from sigsup.master.loop import Master

MONITOR_RUNNER = "sigsup.sources.filemon:serve"
WAITER_KINDS = ("worker", "mule", "spooler")
WARN_EVERY = 60.0      # seconds between "missed periods" warnings of one timer
DEBOUNCE_CAP = 10.0    # a burst raises at most this many debounce periods after it began


class Scheduler:
    name = "events"

    def __init__(self, master: Master) -> None:
        self.m = master
        self.sources: dict[int, Source] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self.mono: list[tuple[float, int, int]] = []   # (monotonic when, seq, source id)
        self.wall: list[tuple[float, int, int]] = []   # (wall clock when, seq, source id)
        self.started = False
        self._in_start = False
        self.timerfd: TimerFd | None = None   # precise wake-ups (Linux, the real clock)
        self.monitor: Proc | None = None
        self.monitor_ready = False
        self.state = CronState.for_socket(master.sup.socket)
        self._state_warned = False
        self._commands: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
            "add_timer": self.cmd_add_timer, "add_rb_timer": self.cmd_add_rb_timer,
            "add_cron": self.cmd_add_cron, "add_file_monitor": self.cmd_add_file_monitor,
            "remove_event": self.cmd_remove_event, "list_events": self.cmd_list_events,
        }
        cfg = master.config
        for tc in (*cfg.timers, *cfg.rb_timers):
            self.add_timer(tc.kind, tc.signal, tc.seconds, tc.iterations, "config")
        for i, cc in enumerate(cfg.crons):
            spec = (cron.parse_schedule(cc.schedule) if cc.schedule is not None
                    else cron.uwsgi_schedule(cc.fields or (-1, -1, -1, -1, -1)))
            self.add_cron(cc.signal, spec, cron.zone(cc.timezone), cc.iterations,
                          cc.misfire_grace, "config", key=f"{i}:{cc.signal}:{spec}:{cc.timezone}")
        for mc in cfg.monitors:
            self.add_monitor(mc.signal, str(mc.path), mc.recursive, tuple(mc.events),
                             mc.debounce, mc.iterations, mc.wait_for_path, "config")

    # -- adding and removing ---------------------------------------------------------------

    def _now(self) -> tuple[float, float]:
        return self.m.os.monotonic(), self.m.os.time()

    def add_timer(self, kind: str, signum: int, seconds: float, iterations: int,
                  origin: str) -> TimerSource:
        now, _ = self._now()
        src = TimerSource(next(self._ids), kind, signum, Iterations(iterations), origin,
                          seconds=seconds, periodic=Periodic(seconds, now))
        self.sources[src.id] = src
        self._arm_timer(src)
        return src

    def add_cron(self, signum: int, spec: cron.Schedule, tz: Any, iterations: int,
                 grace: float, origin: str, key: str = "") -> CronSource:
        src = CronSource(next(self._ids), "cron", signum, Iterations(iterations), origin,
                         schedule=spec, tz=tz, misfire_grace=grace, key=key)
        self.sources[src.id] = src
        self._arm_cron(src)
        return src

    def add_monitor(self, signum: int, path: str, recursive: bool, events: tuple[str, ...],
                    debounce: float, iterations: int, wait_for_path: bool,
                    origin: str) -> MonitorSource:
        src = MonitorSource(next(self._ids), "monitor", signum, Iterations(iterations), origin,
                            path=path, recursive=recursive, events=events, debounce=debounce,
                            wait_for_path=wait_for_path)
        self.sources[src.id] = src
        if self.started:
            self._ensure_monitor_process()
            self._to_monitor({"t": "fs-add", "monitor": src.wire()})
        return src

    def remove(self, sid: int, why: str) -> bool:
        src = self.sources.pop(sid, None)
        if src is None:
            return False
        if isinstance(src, MonitorSource):
            self._to_monitor({"t": "fs-del", "id": sid})
        self.m.log.info(f"{src.label} (signal {src.signal}, {src.spec()}) removed: {why}")
        return True

    def _arm_timer(self, src: TimerSource) -> None:
        assert src.periodic is not None
        heapq.heappush(self.mono, (src.periodic.deadline, next(self._seq), src.id))

    def _arm_cron(self, src: CronSource) -> None:
        _, wall = self._now()
        assert src.schedule is not None and src.tz is not None
        last = self.state.last(src.key) if src.key else None
        # a config cron that ran before this master started resumes from its last run,
        # so runs missed while the master was down go through the misfire policy
        after = last if last is not None and last < wall else wall
        src.next = cron.next_fire(src.schedule, after, src.tz)
        if src.next is None:
            self.m.log.warning(f"{src.label} ({src.spec()}) never fires again")
            return
        heapq.heappush(self.wall, (src.next, next(self._seq), src.id))

    # -- the master's extension interface --------------------------------------------------

    def start(self, master: Master) -> None:
        """Timers and crons added before start (config, preload) count from now."""
        self.started = True
        self._in_start = True
        now, _ = self._now()
        self.mono = [e for e in self.mono if not isinstance(self.sources.get(e[2]), TimerSource)]
        self.wall = []
        for src in self.sources.values():
            if isinstance(src, TimerSource) and src.periodic is not None:
                src.periodic = Periodic(src.seconds, now)
                self._arm_timer(src)
            elif isinstance(src, CronSource):
                self._arm_cron(src)
        heapq.heapify(self.mono)
        if master.os.monotonic is time.monotonic:   # a fake clock in tests: no timerfd
            try:
                self.timerfd = TimerFd()
            except OSError as exc:
                self.m.log.debug(f"no timerfd ({exc}): timers wake with the loop's timeout")
            else:
                master.selector.register(self.timerfd.fd, selectors.EVENT_READ,
                                         (EXTENSION, self.timerfd.clear))
        self.state.keep({s.key for s in self.sources.values() if isinstance(s, CronSource) and s.key})
        if any(isinstance(s, MonitorSource) for s in self.sources.values()):
            self._ensure_monitor_process()
        self._in_start = False
        n = len(self.sources)
        if n:
            kinds: dict[str, int] = {}
            for s in self.sources.values():
                kinds[s.kind] = kinds.get(s.kind, 0) + 1
            self.m.log.info("event sources: " + ", ".join(f"{v} {k}{'s' if v > 1 else ''}"
                                                           for k, v in kinds.items()))

    def deadline(self, now: float) -> float | None:
        self._drop_stale()
        best: float | None = self.mono[0][0] if self.mono else None
        if self.wall:
            wall_now = self.m.os.time()
            d = now + (self.wall[0][0] - wall_now)
            best = d if best is None else min(best, d)
        if self.timerfd is not None:
            # the loop's own timeout wakes up to 1 ms late (epoll); the timerfd, on time
            self.timerfd.arm(best if best is not None and best > now else None)
        return best

    def close(self) -> None:
        if self.timerfd is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.m.selector.unregister(self.timerfd.fd)
            self.timerfd.close()
            self.timerfd = None

    def tick(self, now: float) -> None:
        mono = self.mono
        while mono and mono[0][0] <= now:
            when, _, sid = heapq.heappop(mono)
            src = self.sources.get(sid)
            if isinstance(src, TimerSource) and src.periodic is not None \
                    and src.periodic.deadline == when:
                self._fire_timer(src, now)
            elif isinstance(src, MonitorSource) and src.due == when:
                self._fire_monitor(src, now)
        wall = self.wall
        if wall:
            wall_now = self.m.os.time()
            while wall and wall[0][0] <= wall_now:
                when, _, sid = heapq.heappop(wall)
                src = self.sources.get(sid)
                if isinstance(src, CronSource) and src.next == when:
                    self._fire_cron(src, wall_now)

    def status(self) -> list[dict[str, Any]]:
        now, wall = self._now()
        return [self._status_of(src, now, wall) for src in self.sources.values()]

    @staticmethod
    def _status_of(src: Source, now: float, wall: float) -> dict[str, Any]:
        nf: float | None = None
        if isinstance(src, TimerSource) and src.periodic is not None:
            nf = wall + (src.periodic.deadline - now)
        elif isinstance(src, CronSource):
            nf = src.next
        elif isinstance(src, MonitorSource) and src.due is not None:
            nf = wall + (src.due - now)
        e = src.status(nf)   # type: ignore[attr-defined]
        e["next_fire_in"] = round(max(0.0, nf - wall), 6) if nf is not None else None
        return e

    def commands(self) -> dict[str, Callable[[dict[str, Any], str], dict[str, Any]]]:
        return self._commands

    def child_message(self, proc: Proc, msg: dict[str, Any]) -> bool:
        t = msg.get("t")
        if not isinstance(t, str) or not t.startswith("fs"):
            return False
        if proc is not self.monitor:
            return False
        if t == "fs":
            src = self.sources.get(int(msg["monitor"]))
            if isinstance(src, MonitorSource):
                self._file_event(src, int(msg.get("n", 1)))
        elif t == "fs-hello":
            self.monitor_ready = True
            wire = [s.wire() for s in self.sources.values() if isinstance(s, MonitorSource)]
            self._to_monitor({"t": "fs-set", "monitors": wire})
        elif t == "fs-state":
            src = self.sources.get(int(msg["monitor"]))
            if isinstance(src, MonitorSource):
                state, error = str(msg.get("state")), msg.get("error")
                if error and error != src.error:
                    self.m.log.error(f"{src.label} ({src.path}): {error}")
                elif state != src.state and src.state != "starting":
                    self.m.log.info(f"{src.label} ({src.path}): {state}")
                src.state, src.error = state, error
        return True

    def proc_exit(self, proc: Proc, how: str) -> None:
        if proc is self.monitor:
            self.monitor_ready = False
            for s in self.sources.values():
                if isinstance(s, MonitorSource):
                    s.state = "re-arming"

    # -- firing ----------------------------------------------------------------------------

    def _raise(self, src: Source, late: float) -> None:
        m = self.m
        wall = m.os.time()
        res = m.router.raise_signal(src.signal, src.label, wall, policy="merge")
        src.fired += 1
        src.last_fire = wall
        src.late.append(late)
        if res.coalesced:
            src.coalesced += 1
        if res.refused:
            src.refused += 1
            if src.refused == 1 or src.refused % 1000 == 0:
                why = "; ".join(f"{who}: {reason}" for who, reason in res.refused)
                m.log.warning(f"{src.label}: signal {src.signal} refused ({why}); "
                              f"{src.refused} refused so far")
        if m.listeners:
            m.emit("raise", origin=src.label, **res.as_dict())
        if src.iterations.record():
            self.remove(src.id, f"{src.iterations.total} iteration"
                                f"{'s' if src.iterations.total > 1 else ''} done")

    def _fire_timer(self, src: TimerSource, now: float) -> None:
        assert src.periodic is not None
        n = src.periodic.take_due(now)
        if n == 0:   # pragma: no cover - the heap entry was due
            self._arm_timer(src)
            return
        src.missed += n - 1
        latest = src.periodic.anchor + (src.periodic.k - 1) * src.periodic.period
        if n > 1:   # said at most once a minute per timer: a loaded host must not flood the log
            src.unwarned += n - 1
            if src.warned_at is None or now - src.warned_at >= WARN_EVERY:
                k = src.unwarned
                since = "" if src.warned_at is None else " (in all, since the last warning)"
                self.m.log.warning(f"{src.label} ({src.spec()}): the master was blocked for "
                                   f"{k} period{'s' if k > 1 else ''}{since}; fired once each "
                                   f"time, counted {k} missed")
                src.warned_at, src.unwarned = now, 0
        self._raise(src, now - latest)
        if src.id in self.sources:
            self._arm_timer(src)

    def _fire_cron(self, src: CronSource, wall_now: float) -> None:
        assert src.schedule is not None and src.tz is not None and src.next is not None
        scheduled = src.next
        nxt = cron.next_fire(src.schedule, scheduled, src.tz)
        if nxt is not None and nxt > wall_now:     # the usual case: one instant, on time
            run: float | None = scheduled if wall_now - scheduled <= src.misfire_grace else None
            missed = 0 if run is not None else 1
        else:
            cu = cron.catch_up(src.schedule, scheduled, wall_now, src.tz, src.misfire_grace)
            run, missed, nxt = cu.run, cu.missed, cu.next
        if missed:
            src.missed += missed
            what = (f"ran once, {wall_now - run:.1f} s late" if run is not None
                    else f"none within misfire_grace ({src.misfire_grace:g} s): skipped")
            self.m.log.warning(f"{src.label} ({src.spec()}): {missed} scheduled run"
                               f"{'s' if missed > 1 else ''} missed; {what}")
        src.next = nxt
        if src.key:
            self.state.ran(src.key, run if run is not None else scheduled)
            if self.state.error and not self._state_warned:
                self._state_warned = True
                self.m.log.warning(f"{self.state.error}; crons missed while the master is "
                                   "down will not be caught up")
        if run is not None:
            self._raise(src, wall_now - run)
        if src.id not in self.sources:
            return
        if nxt is None:
            self.remove(src.id, "its schedule never fires again")
            return
        heapq.heappush(self.wall, (nxt, next(self._seq), src.id))

    def _file_event(self, src: MonitorSource, n: int) -> None:
        now = self.m.os.monotonic()
        src.seen += n
        if src.burst_start is None:
            src.burst_start = now
        src.last_event = now
        due = min(now + src.debounce, src.burst_start + DEBOUNCE_CAP * src.debounce)
        if due != src.due:
            src.due = due
            heapq.heappush(self.mono, (due, next(self._seq), src.id))

    def _fire_monitor(self, src: MonitorSource, now: float) -> None:
        late = now - src.due if src.due is not None else 0.0
        src.burst_start = None
        src.due = None
        self._raise(src, late)

    def _drop_stale(self) -> None:
        """Heap entries of removed sources, or superseded ones, go before the loop sleeps."""
        mono, sources = self.mono, self.sources
        while mono:
            when, _, sid = mono[0]
            src = sources.get(sid)
            if isinstance(src, TimerSource) and src.periodic is not None \
                    and src.periodic.deadline == when:
                break
            if isinstance(src, MonitorSource) and src.due == when:
                break
            heapq.heappop(mono)
        wall = self.wall
        while wall:
            when, _, sid = wall[0]
            src = sources.get(sid)
            if isinstance(src, CronSource) and src.next == when:
                break
            heapq.heappop(wall)

    # -- the monitor process ---------------------------------------------------------------

    def _ensure_monitor_process(self) -> None:
        """Add the monitor process slot. Added during ``start`` (monitors from the config
        or preload), the master's start-up spawns it with the tree; added later, now."""
        if self.monitor is not None:
            return
        p = Proc("monitor", "monitor", 1, (), runner=MONITOR_RUNNER)
        self.monitor = p
        self.m.add_proc(p)
        self.m.log.reserve(["monitor"])
        if not self._in_start and self.m.state == "running":
            self.m.spawn(p, self.m.os.monotonic())

    def _to_monitor(self, msg: dict[str, Any]) -> None:
        p = self.monitor
        if p is None or p.sock is None or not self.monitor_ready:
            return   # it gets every monitor in the fs-set answering its fs-hello
        p.out += pack_json(msg)
        self.m.router.dirty.add(p)

    # -- commands --------------------------------------------------------------------------

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
                "event": self._status_of(src, *self._now())}

    def _timer_cmd(self, kind: str, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        signum = requests.signum(msg)
        secs = requests.seconds(msg)
        its = requests.iterations(msg)
        self._check_waiter(signum)
        src = self.add_timer(kind, signum, secs, its, f"runtime ({origin})")
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
        src = self.add_cron(signum, spec, tz, its, grace, f"runtime ({origin})")
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
        src = self.add_monitor(signum, path, recursive, events, debounce, its, wait,
                               f"runtime ({origin})")
        return self._added(src, origin)

    def cmd_remove_event(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        sid = msg.get("id")
        if isinstance(sid, bool) or not isinstance(sid, int):
            raise BadRequest(f"id must be an event id (an integer), not {sid!r}")
        return {"ok": True, "removed": self.remove(sid, f"removed by {origin}")}

    def cmd_list_events(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        """Every source as in the status; ``detail: true`` adds each timer's monotonic
        ``anchor`` and ``period`` (its deadlines are anchor + k * period: benchmarks use it)."""
        out = self.status()
        if msg.get("detail") is True:
            for e in out:
                src = self.sources.get(e["id"])
                if isinstance(src, TimerSource) and src.periodic is not None:
                    e["anchor"] = src.periodic.anchor
                    e["period"] = src.periodic.period
        return {"ok": True, "events": out}

