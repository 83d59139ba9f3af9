"""The graceful restart of a reload: each process replaced through ``MasterPort.restart_proc``
(SIGTERM, its running handler finishes, a new process forked once it exited; what it had
queued or was sent and had not started waits for its successor or goes to its pool).

All at once, or rolling: one process at a time, the next once the last one's successor is
running, so a pool of two or more never drops to zero. A slot whose new process does not
come up (it dies at start: backoff, failed) or not within ``ready_timeout`` does not hold
the others up: it is reported as such.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sigsup.master.port import Refused
from sigsup.routing.proc import Proc
from sigsup.routing.states import ALIVE, ProcState

KINDS = ("worker", "mule", "spooler")   # the monitor process is sigsup's own: never restarted

WAITING, RESTARTING, DONE = "waiting", "restarting", "done"


@dataclass
class Step:
    proc: Proc
    old_pid: int
    phase: str = WAITING
    since: float = 0.0
    result: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"name": self.proc.name, "old_pid": self.old_pid, "pid": self.proc.pid or None,
                "phase": self.phase, "result": self.result}


def chosen(procs: list[Proc], workers_only: bool) -> list[Proc]:
    """The slots a reload restarts: live workers (and mules and spoolers), in that order."""
    kinds = ("worker",) if workers_only else KINDS
    return [p for kind in kinds for p in procs
            if p.kind == kind and p.pid and p.state in ALIVE and p.state is not ProcState.STOPPING]


class Restarts:
    def __init__(self, procs: list[Proc], *, rolling: bool, ready_timeout: float,
                 restart: Callable[[Proc], str], present: Callable[[Proc], bool]) -> None:
        self.steps = [Step(p, p.pid) for p in procs]
        self.rolling = rolling
        self.ready_timeout = ready_timeout
        self._restart = restart
        self._present = present

    @property
    def finished(self) -> bool:
        return all(s.phase == DONE for s in self.steps)

    def deadline(self) -> float | None:
        times = [s.since + self.ready_timeout for s in self.steps if s.phase == RESTARTING]
        return min(times) if times else None

    def advance(self, now: float) -> list[Step]:
        """Settle the restarts under way, start the next ones; returns the steps finished."""
        settled = []
        for s in self.steps:
            if s.phase == RESTARTING and self._settle(s, now):
                s.phase = DONE
                settled.append(s)
        busy = any(s.phase == RESTARTING for s in self.steps)
        for s in self.steps:
            if s.phase != WAITING:
                continue
            if self.rolling and busy:
                break
            self._begin(s, now)
            if s.phase == DONE:
                settled.append(s)
                continue
            busy = True
        return settled

    def _begin(self, s: Step, now: float) -> None:
        p = s.proc
        if not self._present(p) or p.pid != s.old_pid or not p.pid:
            s.phase, s.result = DONE, "not restarted: its process changed meanwhile"
            return
        try:
            what = self._restart(p)
        except Refused as exc:
            s.phase, s.result = DONE, f"not restarted: {exc}"
            return
        s.phase, s.since, s.result = RESTARTING, now, what

    def _settle(self, s: Step, now: float) -> bool:
        p = s.proc
        if not self._present(p):
            s.result = "removed"
            return True
        if p.pid and p.pid != s.old_pid and p.state is ProcState.RUNNING:
            s.result = f"restarted [{s.old_pid} -> {p.pid}]"
            return True
        if p.pid != s.old_pid and p.state in (ProcState.BACKOFF, ProcState.FAILED):
            s.result = f"its new process did not come up ({p.state}: {p.last_exit})"
            return True
        if now - s.since >= self.ready_timeout:
            s.result = (f"not running {self.ready_timeout:g} s after its restart "
                        f"({p.state}); the reload went on")
            return True
        return False
