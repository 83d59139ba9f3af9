"""What the master's supervision decides, as pure functions of the slots and the clock:
which handler overran ``harakiri``, which workers the cheaper wakes or stops. The loop
(master/loop.py) acts on the answers; unit tests can call them with plain slots."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sigsup.routing.proc import Proc
from sigsup.routing.states import ALIVE, ProcState

STUCK_AFTER = 1.0   # s on one signal after which a running worker counts as stuck (cheaper)


def running_since(p: Proc) -> float:
    """When the handler ``p`` runs now started: its oldest send, or its last DONE."""
    return max(p.sent_at[0], p.last_done)


def overran(procs: Iterable[Proc], limit: float, now: float) -> list[tuple[Proc, float]]:
    """(slot, seconds) of every live slot whose running handler passed ``limit``."""
    out = []
    for p in procs:
        if not p.inflight or p.harakiri_hit or not p.pid:
            continue
        ran = now - running_since(p)
        if ran > limit:
            out.append((p, ran))
    return out


def cheaper_wake(workers: Sequence[Proc], backlog: int, now: float) -> list[Proc]:
    """The cheaped workers to start again: each that has a signal of its own waiting, and
    one more (one at a time: the one just woken takes its share first) when the pool has a
    backlog, every ready worker is stuck, or none runs."""
    running = [p for p in workers if p.state in ALIVE]
    cheaped = [p for p in workers if p.state is ProcState.CHEAPED]
    # none ready yet (start-up): nobody is stuck, so no one is woken for that
    ready = [p for p in running if p.ready]
    busy = bool(ready) and all(p.inflight and now - running_since(p) > STUCK_AFTER
                               for p in ready)
    wake = [p for p in cheaped if p.queue and any(
        r.entry.target is not None and r.entry.target.scope == "process" for r in p.queue)]
    starting = any(p.state is ProcState.STARTING for p in running)
    if cheaped and not starting and (backlog or busy or not running):
        wake.append(cheaped[0])
    return list(dict.fromkeys(wake))


def cheaper_stop(workers: Sequence[Proc], minimum: int, idle_limit: float,
                 now: float) -> list[Proc]:
    """The running workers to stop, newest slots first, while more than ``minimum`` live:
    those idle (nothing in flight, queued or awaited) for over ``idle_limit`` seconds."""
    extra = len([p for p in workers if p.state in ALIVE]) - minimum
    out: list[Proc] = []
    for p in reversed([p for p in workers if p.state is ProcState.RUNNING]):
        if len(out) >= extra:
            break
        if (not p.inflight and not p.queue and p.waiting is None
                and now - max(p.last_done, p.started_mono) > idle_limit):
            out.append(p)
    return out
