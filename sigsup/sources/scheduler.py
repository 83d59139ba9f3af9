"""The event sources in the master: timers, rb_timers, crons and file monitors.

One feature of the master (an ``Extension``, ``master/port.py``). It keeps two
heaps: timers and debounced file events on the monotonic clock, crons on the wall clock.
``deadline(now)`` tells the loop when to wake; ``tick(now)`` raises what is due with
``policy="merge"``: if the last firing is still queued for a recipient, the new one merges
into it (counted as coalesced), so a busy tree never piles up stale timer signals.

File events come from the monitor process (``sources/filemon.py``, its master's end in
``sources/monitorproc.py``). It sends ``{"t": "fs", "monitor": id, "n": count}`` frames;
the scheduler debounces them (a burst raises one signal once no new event came for
``debounce`` seconds, or at most ``10 * debounce`` after its first event) and counts
iterations. The commands that add and remove sources are in ``sources/commands.py``.

Nothing here blocks and nothing starts a thread: the master stays single-threaded.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Any

from sigsup.config import Config, CronConfig, MonitorConfig, TimerConfig
from sigsup.master.port import ChildMessage, Command, Extension, MasterPort
from sigsup.routing.proc import Proc
from sigsup.schedule import cron
from sigsup.sources.commands import SourceCommands
from sigsup.sources.events import CronSource, MonitorSource, Source, TimerSource
from sigsup.sources.monitorproc import MONITOR_RUNNER, MonitorProcess
from sigsup.sources.reloading import cron_key, cron_spec, reload_sources
from sigsup.sources.state import CronState
from sigsup.sources.timerfd import TimerFd
from sigsup.sources.timers import Iterations, Periodic

__all__ = ["MONITOR_RUNNER", "Scheduler"]

WARN_EVERY = 60.0      # seconds between "missed periods" warnings of one timer
DEBOUNCE_CAP = 10.0    # a burst raises at most this many debounce periods after it began


class Scheduler(Extension):
    name = "events"

    def __init__(self, master: MasterPort) -> None:
        super().__init__(master)
        self.sources: dict[int, Source] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self.mono: list[tuple[float, int, int]] = []   # (monotonic when, seq, source id)
        self.wall: list[tuple[float, int, int]] = []   # (wall clock when, seq, source id)
        self.started = False
        self.timerfd: TimerFd | None = None   # precise wake-ups (Linux, the real clock)
        self.monitor = MonitorProcess(master, self.sources, self._file_event)
        self.state = CronState.for_socket(master.config.supervisor.socket)
        self._state_warned = False
        self._commands = SourceCommands(self).table()
        # the config's sources, by id: the item of the file each came from (for a reload)
        self.from_config: dict[int, Any] = {}
        # ids from here on were added after the last start or reload (sources/reloading.py)
        self.reload_mark = 0
        cfg = master.config
        for tc in (*cfg.timers, *cfg.rb_timers):
            self.add_config_timer(tc)
        for i, cc in enumerate(cfg.crons):
            self.add_config_cron(i, cc)
        for mc in cfg.monitors:
            self.add_config_monitor(mc)

    # -- adding and removing ---------------------------------------------------------------

    def now(self) -> tuple[float, float]:
        return self.m.os.monotonic(), self.m.os.time()

    def add_config_timer(self, tc: TimerConfig) -> TimerSource:
        src = self.add_timer(tc.kind, tc.signal, tc.seconds, tc.iterations, "config")
        self.from_config[src.id] = tc
        return src

    def add_config_cron(self, i: int, cc: CronConfig) -> CronSource:
        spec = cron_spec(cc)
        src = self.add_cron(cc.signal, spec, cron.zone(cc.timezone), cc.iterations,
                            cc.misfire_grace, "config", key=cron_key(i, cc, spec))
        self.from_config[src.id] = cc
        return src

    def add_config_monitor(self, mc: MonitorConfig) -> MonitorSource:
        src = self.add_monitor(mc.signal, str(mc.path), mc.recursive, tuple(mc.events),
                               mc.debounce, mc.iterations, mc.wait_for_path, "config")
        self.from_config[src.id] = mc
        return src

    def reload(self, old: Config, new: Config) -> None:
        """The config's sources follow the new file (sources/reloading.py)."""
        reload_sources(self, old, new)

    def add_timer(self, kind: str, signum: int, seconds: float, iterations: int,
                  origin: str) -> TimerSource:
        now, _ = self.now()
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
        # the process slot is added with the first monitor, even before the master starts
        # (config, preload): then the master's start-up spawns it with the tree
        self.monitor.ensure()
        if self.started:
            self.monitor.send({"t": "fs-add", "monitor": src.wire()})
        return src

    def remove(self, sid: int, why: str) -> bool:
        self.from_config.pop(sid, None)
        src = self.sources.pop(sid, None)
        if src is None:
            return False
        if isinstance(src, MonitorSource):
            self.monitor.send({"t": "fs-del", "id": sid})
        self.m.log.info(f"{src.label} (signal {src.signal}, {src.spec()}) removed: {why}")
        return True

    def _arm_timer(self, src: TimerSource) -> None:
        assert src.periodic is not None
        heapq.heappush(self.mono, (src.periodic.deadline, next(self._seq), src.id))

    def _arm_cron(self, src: CronSource) -> None:
        _, wall = self.now()
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

    def start(self) -> None:
        """Timers and crons added before start (config, preload) count from now."""
        self.started = True
        self.reload_mark = next(self._ids)
        now, _ = self.now()
        self.mono = [e for e in self.mono if not isinstance(self.sources.get(e[2]), TimerSource)]
        self.wall = []
        for src in self.sources.values():
            if isinstance(src, TimerSource) and src.periodic is not None:
                src.periodic = Periodic(src.seconds, now)
                self._arm_timer(src)
            elif isinstance(src, CronSource):
                self._arm_cron(src)
        heapq.heapify(self.mono)
        if self.m.os.monotonic is time.monotonic:   # a fake clock in tests: no timerfd
            try:
                self.timerfd = TimerFd()
            except OSError as exc:
                self.m.log.debug(f"no timerfd ({exc}): timers wake with the loop's timeout")
            else:
                self.m.watch_fd(self.timerfd.fd, self.timerfd.clear)
        self.state.keep({s.key for s in self.sources.values() if isinstance(s, CronSource) and s.key})
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
            self.m.unwatch_fd(self.timerfd.fd)
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
        now, wall = self.now()
        return [self.status_of(src, now, wall) for src in self.sources.values()]

    @staticmethod
    def status_of(src: Source, now: float, wall: float) -> dict[str, Any]:
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

    def commands(self) -> dict[str, Command]:
        return self._commands

    def child_messages(self) -> dict[str, ChildMessage]:
        return self.monitor.messages()

    def proc_exit(self, p: Proc, how: str) -> None:
        self.monitor.exited(p)

    # -- firing ----------------------------------------------------------------------------

    def _raise(self, src: Source, late: float) -> None:
        m = self.m
        wall = m.os.time()
        # a firing merges into the last one while it is still queued, even with room left
        res = m.raise_signal(src.signal, src.label, policy="merge")
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
