"""The status feature (an ``Extension``, see master/port.py): the ``status`` command, the
``events`` client command, and what the master keeps for its status views:

- a raise-rate estimator: one sample of the router's raise counter per second (the loop
  wakes at least that often anyway), so ``raises_per_s`` costs nothing on the hot path;
- refusal warnings: once a second, the table's ``dropped`` counters are compared with the
  last look, and each signal that lost raises gets one warning line with the count, so a
  flood of refusals is one line a second per signal, not one line per raise;
- RSS and CPU of every process (psutil), sampled only when a status document is built
  and at most every ``RESOURCE_INTERVAL`` seconds however many clients ask;
- the ``sigsup events`` subscribers (status/events.py);
- and, once at start, the width of the log's prefix column, from the names of the tree.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from sigsup.master.port import ClientCommand, Command, Extension, MasterPort
from sigsup.routing.router import UNCLAIMED
from sigsup.routing.states import MasterState
from sigsup.routing.targets import ACTIVE, POOL, PROCESS
from sigsup.status.events import EventHub
from sigsup.status.model import build_status

if TYPE_CHECKING:
    from sigsup.routing.table import Entry

SAMPLE_EVERY = 1.0          # seconds between raise-counter samples and refusal checks
RATE_WINDOW = 5             # samples: raises/s is averaged over the last ~5 s
RESOURCE_INTERVAL = 0.5     # seconds: status calls closer than this share one psutil sample
CPU_MAX_WINDOW = 60.0       # an older previous sample is not used for cpu_percent


class Resources:
    """RSS and CPU per pid with psutil; ``cpu_percent`` is over the time since the previous
    sample of that pid (``cpu_window`` seconds), or since the process started."""

    def __init__(self) -> None:
        self._procs: dict[int, Any] = {}               # pid -> psutil.Process
        self._prev: dict[int, tuple[float, float]] = {}  # pid -> (monotonic, cpu seconds)
        self._last: dict[int, dict[str, Any]] = {}
        self._at = float("-inf")
        self._psutil: Any = None   # imported on the first sample (False: not installed)

    def sample(self, procs: list[tuple[int, float]], now: float) -> dict[int, dict[str, Any]]:
        """``procs``: (pid, monotonic start time). Returns pid -> {rss, cpu_time, cpu_percent,
        cpu_window}; a pid that cannot be read is left out."""
        if self._psutil is None:   # not at start-up: it is slow to import, and only status needs it
            try:
                import psutil
            except ImportError:   # pragma: no cover - psutil is a dependency
                psutil = False
            self._psutil = psutil
        if self._psutil is False:
            return {}
        if now - self._at < RESOURCE_INTERVAL and all(pid in self._last for pid, _ in procs):
            return self._last
        psutil = self._psutil
        out: dict[int, dict[str, Any]] = {}
        for pid, started in procs:
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                with proc.oneshot():
                    rss = proc.memory_info().rss
                    t = proc.cpu_times()
                cpu = t.user + t.system
            except (psutil.Error, OSError):
                self._procs.pop(pid, None)
                continue
            prev = self._prev.get(pid)
            if prev is not None and 0 < now - prev[0] <= CPU_MAX_WINDOW:
                window = now - prev[0]
                percent = max(0.0, cpu - prev[1]) / window * 100
            else:
                window = max(now - started, 1e-3)
                percent = cpu / window * 100
            self._prev[pid] = (now, cpu)
            out[pid] = {"rss": rss, "cpu_time": round(cpu, 3), "cpu_percent": round(percent, 1),
                        "cpu_window": round(window, 3)}
        live = {pid for pid, _ in procs}
        for pid in list(self._procs):
            if pid not in live:
                del self._procs[pid]
                self._prev.pop(pid, None)
        self._last = out
        self._at = now
        return out


class StatusMonitor(Extension):
    name = "monitor"

    def __init__(self, master: MasterPort) -> None:
        super().__init__(master)
        self.samples: deque[tuple[float, int]] = deque(maxlen=RATE_WINDOW + 1)
        self.next_sample = 0.0
        self.dropped_seen = [0] * len(master.table.entries)
        self.resources = Resources()
        self.events = EventHub(master)
        # one prefix width for every process the log will name, so the columns line up
        master.log.reserve(["master", *(p.name for p in master.procs)], master.pid)

    # -- the extension seam ------------------------------------------------------------------

    def commands(self) -> dict[str, Command]:
        return {"status": self.cmd_status}

    def client_commands(self) -> dict[str, ClientCommand]:
        return {"events": self.events.subscribe}   # a stream: one message per event

    def cmd_status(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        return {"ok": True, "status": build_status(self.m)}

    def deadline(self, now: float) -> float | None:
        # tick() runs only while the master runs: a past deadline then would make it spin
        return self.next_sample if self.m.state is MasterState.RUNNING else None

    def tick(self, now: float) -> None:
        self.events.flush()
        if now < self.next_sample:
            return
        self.next_sample = now + SAMPLE_EVERY
        self.samples.append((now, self.m.router.raised_total))
        self._check_refusals()
        self.events.sweep()

    def close(self) -> None:
        self.events.close()

    # -- raises/s --------------------------------------------------------------------------

    def raise_rate(self, now: float) -> float:
        """Raises per second over the last few seconds (since start if younger)."""
        total = self.m.router.raised_total
        if self.samples:
            t0, n0 = self.samples[0]
            if now - t0 >= 0.5:
                return (total - n0) / (now - t0)
        age = now - self.m.started_mono
        return total / age if age > 0 else 0.0

    # -- refusals ----------------------------------------------------------------------------

    def _check_refusals(self) -> None:
        seen = self.dropped_seen
        for e in self.m.table.entries:
            n = e.counters.dropped
            if n != seen[e.num]:
                new = n - seen[e.num]
                seen[e.num] = n
                if new > 0:
                    self.m.log.warning(
                        f"signal {e.num}: {new} raise{'s' if new != 1 else ''} refused in the "
                        f"last {SAMPLE_EVERY:g} s ({self._refusal_reason(e)}); {n} in all",
                        signum=e.num, refused=new, refused_total=n)

    def _refusal_reason(self, e: Entry) -> str:
        """A best guess at why ``e``'s raises are refused, from the queues as they are now."""
        r = self.m.router
        target = e.target
        if target is None:
            holders = [r.unclaimed]
        elif target.scope == POOL:
            holders = [r.pools[target.group]]
        elif target.scope == PROCESS:
            holders = [r.groups[target.group][target.index - 1]]
        else:
            holders = list(r.groups.get(target.group, []))
        full = [h.name for h in holders if len(h.queue) >= r.queue_size]
        if full:
            names = ", ".join(full[:3]) + (f" and {len(full) - 3} more" if len(full) > 3 else "")
            what = "no signal_wait caller and the kept queue" if full == [UNCLAIMED] else "queue"
            return f"{what} full: {r.queue_size} pending for {names}"
        if target is not None and target.scope == ACTIVE and not any(p.active for p in holders):
            return f"no running process for {target.raw}"
        return "queue full or no recipient; `sigsup events --signal " + str(e.num) + "` shows each"

    # -- resources ---------------------------------------------------------------------------

    def resource_sample(self, now: float) -> dict[int, dict[str, Any]]:
        procs = [(self.m.pid, self.m.started_mono)]
        procs += [(p.pid, p.started_mono) for p in self.m.procs if p.pid]
        return self.resources.sample(procs, now)


def monitor_of(master: MasterPort) -> StatusMonitor | None:
    """The master's status feature, if it has one."""
    ext = master.extension(StatusMonitor.name)
    return ext if isinstance(ext, StatusMonitor) else None
