"""Routing: a raise becomes queued or sent RUN frames; DONE frames close it.

This is the master's hot path. It is pure bookkeeping: it appends frames to each process's
``out`` buffer and lets the loop write them, so it runs (and is tested) without sockets.

Queues, all bounded by ``queue_size``:
    a process's own queue   signals for that process (workerN, broadcasts): its successor
                            gets them if it dies
    a pool's queue          signals for "one process of the group" (worker, mule, farm_X,
                            spooler): the first process with room takes the head
    the unclaimed queue     signals with no table entry, kept for a signal_wait caller
A process has at most ``window`` signals in flight; the rest wait in the master.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from sigsup.protocol.frames import DONE_NO_HANDLER, DONE_OK, HEADER, RUN, pack_run
from sigsup.routing.proc import Proc
from sigsup.routing.raises import Raise
from sigsup.routing.result import RaiseResult
from sigsup.routing.states import ProcState
from sigsup.routing.table import SIGNALS, SignalTable, check_signum
from sigsup.routing.targets import ACTIVE, BROADCAST, POOL, PROCESS

UNCLAIMED = "signal_wait"
_pack = HEADER.pack


class Outbox(dict):
    """The processes with frames to write, in the order they got them: a RUN frame is
    written before the ACK that tells its raiser, which shortens raise -> handler."""

    def add(self, p: Proc) -> None:
        self[p] = None

    def discard(self, p: Proc) -> None:
        self.pop(p, None)


class Pool:
    """A group of processes that one-of targets choose from, with its own queue."""

    __slots__ = ("name", "members", "queue", "pending_count")

    def __init__(self, name: str, members: list[Proc]) -> None:
        self.name = name
        self.members = members
        self.queue: deque[Raise] = deque()
        self.pending_count: dict[int, int] = {}


class Router:
    def __init__(self, table: SignalTable, procs: Iterable[Proc], *, queue_size: int = 10000,
                 window: int = 8, clock: Callable[[], float]) -> None:
        self.table = table
        self.procs = list(procs)
        self.queue_size = queue_size
        self.window = window
        self.clock = clock
        self.next_id = 1
        self.groups: dict[str, list[Proc]] = {}
        for p in self.procs:
            for g in p.groups:
                self.groups.setdefault(g, []).append(p)
        self.pools = {g: Pool(g, members) for g, members in self.groups.items()}
        self.unclaimed = Pool(UNCLAIMED, [])
        self.dirty = Outbox()             # processes with frames to write
        self.raised_total = 0
        self.on_event: Callable[[str, dict[str, object]], None] | None = None

    # -- raising ---------------------------------------------------------------------------

    def add_proc(self, p: Proc) -> None:
        """A process slot added after start-up (the file monitor, say): in no pool yet."""
        self.procs.append(p)
        for g in p.groups:
            self.groups.setdefault(g, []).append(p)
            pool = self.pools.setdefault(g, Pool(g, []))
            pool.members = self.groups[g]

    def remove_proc(self, p: Proc, reason: str) -> int:
        """Take slot ``p`` out of routing (the worker pool shrank); it has nothing in flight
        (its process is gone). Its own queue holds only what was meant for it alone: copies
        of a broadcast (every other worker has its own copy) and signals for ``workerN``.
        Running them elsewhere would run a broadcast twice on one worker, so they are
        dropped: counted, and reported failed to whoever waits for them. A pool it leaves
        with no member drops its queue the same way. Signals for the pool wait in the
        pool's queue and are kept. Returns how many were dropped."""
        if p.inflight:
            raise ValueError(f"{p.name} still has signals in flight")
        if p in self.procs:
            self.procs.remove(p)
        for g in p.groups:
            members = self.groups.get(g)
            if members is not None and p in members:
                members.remove(p)   # the pool's members are this same list
        self.dirty.discard(p)
        dropped = self.drop_queued(p, reason)
        for g in p.groups:
            pool = self.pools.get(g)
            if pool is not None and not pool.members:
                dropped += self.drop_queued(pool, reason)
        return dropped

    def raise_signal(self, signum: int, origin: str = "cli", wall: float | None = None,
                     policy: str | None = None, payload: object = None) -> RaiseResult:
        """Route one raise. ``policy`` overrides the entry's ``on_full``; ``merge`` (timer-like
        sources) coalesces into an identical signal still queued even when there is room.
        A raise with a ``payload`` (a JSON value its handlers get) is never coalesced: two
        payloads are two messages, so at a full queue it is refused, not merged."""
        if type(signum) is not int or not 0 <= signum < SIGNALS:   # the usual case: no call
            check_signum(signum)
        entry = self.table.entries[signum]
        rid = self.next_id
        self.next_id = rid + 1 if rid < 0xFFFFFFFF else 1
        r = Raise(rid, signum, entry, origin, payload)
        res = RaiseResult(rid, signum, raise_=r)
        counters = entry.counters
        policy = policy or entry.on_full
        if payload is not None and policy in ("coalesce", "merge"):
            policy = "reject"
        counters.raised += 1
        counters.last_raised = wall
        self.raised_total += 1
        target = entry.target
        if target is None:
            self._to_waiter(r, policy, res)
        elif target.scope == POOL:
            self._to_pool(r, self.pools[target.group], policy, res)
        elif target.scope == PROCESS:
            self._to_proc(r, self.groups[target.group][target.index - 1], policy, res)
        elif target.scope == BROADCAST:
            for p in self.groups[target.group]:
                self._to_proc(r, p, policy, res)
        elif target.scope == ACTIVE:
            members = [p for p in self.groups[target.group] if p.active]
            if not members:
                self._refuse(res, target.raw, "no running process")
            for p in members:
                self._to_proc(r, p, policy, res)
        return res

    def _refuse(self, res: RaiseResult, who: str, why: str) -> None:
        res.refused.append((who, why))
        self.table.entries[res.signum].counters.dropped += 1

    def _full(self, r: Raise, holder: Proc | Pool, policy: str, res: RaiseResult) -> None:
        """A queue is at its bound: coalesce into an identical pending signal, or refuse."""
        if policy in ("coalesce", "merge") and holder.pending_count.get(r.signum):
            res.coalesced.append(holder.name)
            r.entry.counters.coalesced += 1
            return
        self._refuse(res, holder.name, f"queue full ({self.queue_size} pending)")

    def _to_proc(self, r: Raise, p: Proc, policy: str, res: RaiseResult) -> None:
        if policy == "merge" and p.pending_count.get(r.signum):
            self._full(r, p, policy, res)
            return
        if not p.queue and p.ready and len(p.inflight) < self.window:
            self._send(p, r)
            res.recipients.append(p.name)
            return
        if len(p.queue) >= self.queue_size:
            self._full(r, p, policy, res)
            return
        self._enqueue(p, r)
        res.recipients.append(p.name)

    def _to_pool(self, r: Raise, pool: Pool, policy: str, res: RaiseResult) -> None:
        if policy == "merge" and pool.pending_count.get(r.signum):
            self._full(r, pool, policy, res)
            return
        if not pool.queue:
            p = self._pick(pool.members)
            if p is not None:
                self._send(p, r)
                res.recipients.append(p.name)
                return
        if len(pool.queue) >= self.queue_size:
            self._full(r, pool, policy, res)
            return
        self._enqueue(pool, r)
        res.recipients.append(pool.name)

    def _to_waiter(self, r: Raise, policy: str, res: RaiseResult) -> None:
        if policy == "merge" and self.unclaimed.pending_count.get(r.signum):
            self._full(r, self.unclaimed, policy, res)   # into the one kept for a waiter
            return
        for p in self.procs:
            if p.ready and p.waiting is not None and p.waiting in (-1, r.signum):
                p.waiting = None
                self._send(p, r)
                res.recipients.append(p.name)
                return
        if len(self.unclaimed.queue) >= self.queue_size:
            self._refuse(res, UNCLAIMED, f"no handler, and {self.queue_size} unregistered "
                         "signals already wait for a signal_wait caller")
            return
        self._enqueue(self.unclaimed, r)
        res.recipients.append(UNCLAIMED)

    def _pick(self, members: list[Proc]) -> Proc | None:
        """The process with room and the fewest in flight, least recently freed first."""
        best: Proc | None = None
        window = self.window
        for p in members:
            if not p.ready or p.queue:
                continue
            n = len(p.inflight)
            if n >= window:
                continue
            if best is None or n < len(best.inflight) or (
                    n == len(best.inflight) and p.last_free < best.last_free):
                best = p
                if n == 0 and p.last_free == 0.0:
                    break
        return best

    @staticmethod
    def _enqueue(holder: Proc | Pool, r: Raise, front: bool = False) -> None:
        """Queue ``r`` in ``holder`` (at the head when it goes back after a failed try)."""
        if front:
            holder.queue.appendleft(r)
        else:
            holder.queue.append(r)
        holder.pending_count[r.signum] = holder.pending_count.get(r.signum, 0) + 1
        r.pending += 1

    @staticmethod
    def _dequeue(holder: Proc | Pool, index: int = 0) -> Raise:
        if index:
            r = holder.queue[index]
            del holder.queue[index]
        else:
            r = holder.queue.popleft()
        n = holder.pending_count[r.signum] - 1
        if n:
            holder.pending_count[r.signum] = n
        else:
            del holder.pending_count[r.signum]
        r.pending -= 1
        return r

    def _send(self, p: Proc, r: Raise) -> None:
        if r.payload is None:
            p.out += _pack(RUN, r.signum, 0, r.id, 0)   # ids are u32 already
        else:
            p.out += pack_run(r.signum, r.id, r.payload)
        p.inflight.append(r)
        p.sent_at.append(self.clock())
        r.pending += 1
        r.entry.counters.delivered += 1
        self.dirty[p] = None
        if self.on_event is not None:   # set only while `sigsup events` has subscribers
            self.on_event("deliver", {"process": p.name, "signum": r.signum, "id": r.id})

    # -- completion ------------------------------------------------------------------------

    def done(self, p: Proc, signum: int, status: int, rid: int, detail: str | None = None) -> None:
        """A DONE frame from ``p``: it closes the oldest in flight, or (when a handler ran
        nested inside another's ``signal_wait``) the one with that id."""
        inflight = p.inflight
        if not inflight:
            raise ValueError(f"{p.name} reported done for signal {signum} with nothing in flight")
        if inflight[0].id == rid:
            r = inflight.popleft()
            p.sent_at.popleft()
        else:
            i = next((k for k, q in enumerate(inflight) if q.id == rid), -1)
            if i < 0:
                raise ValueError(f"{p.name} reported done for raise {rid}, which it was not sent")
            r = inflight[i]
            del inflight[i]
            del p.sent_at[i]
        now = self.clock()
        p.last_done = now
        r.pending -= 1
        if status == DONE_NO_HANDLER and not r.entry.registered:
            # an unregistered signal that reached a process after it stopped waiting:
            # it goes back to wait for the next signal_wait caller (and, as for a process
            # lost before it ran, it does not count as delivered)
            r.entry.counters.delivered -= 1
            self._enqueue(self.unclaimed, r, front=True)
            self._offer_unclaimed()
        elif status == DONE_OK:
            r.entry.counters.handled += 1
            p.handled += 1
            if r.watch is not None:
                r.watch.record(p.name, "handled")
        else:
            self._failed(p, r, detail or ("no handler" if status == DONE_NO_HANDLER
                                          else "handler raised"))
        if not p.inflight:
            p.last_free = now
        self.pump(p)

    def fail_running(self, p: Proc, reason: str) -> None:
        """The oldest signal in flight on ``p`` failed (its process died or hit harakiri)."""
        if p.inflight:
            self._failed(p, self._take_back(p), reason)

    @staticmethod
    def _take_back(p: Proc) -> Raise:
        """The oldest signal in flight on ``p``, no longer in flight."""
        r = p.inflight.popleft()
        p.sent_at.popleft()
        r.pending -= 1
        return r

    @staticmethod
    def _failed(p: Proc, r: Raise, detail: str) -> None:
        r.entry.counters.failed += 1
        p.failed += 1
        if r.watch is not None:
            r.watch.record(p.name, "failed", detail)

    def process_lost(self, p: Proc, reason: str, running_failed: bool = True) -> None:
        """``p`` died: what it was running failed; what it had not started goes elsewhere.

        Signals aimed at the process itself wait in its own queue for its successor; those
        for a pool go back to the head of the pool for another member.
        """
        if running_failed:
            self.fail_running(p, reason)
        p.ready = False
        p.waiting = None
        back_to_pool: dict[str, list[Raise]] = {}
        own: list[Raise] = []
        while p.inflight:
            r = self._take_back(p)
            r.entry.counters.delivered -= 1
            target = r.entry.target
            if target is None:
                back_to_pool.setdefault(UNCLAIMED, []).append(r)
            elif target.scope == POOL:
                back_to_pool.setdefault(target.group, []).append(r)
            else:
                own.append(r)
        for r in reversed(own):
            self._enqueue(p, r, front=True)
        for group, items in back_to_pool.items():
            pool = self.unclaimed if group == UNCLAIMED else self.pools[group]
            for r in reversed(items):
                self._enqueue(pool, r, front=True)
            if pool is not self.unclaimed:
                for member in pool.members:
                    if member is not p:
                        self.pump(member)
            else:
                self._offer_unclaimed()

    def drop_queued(self, holder: Proc | Pool, reason: str) -> int:
        """Give up everything waiting in ``holder``'s queue: counted dropped, and reported
        failed to whoever waits for the outcome."""
        n = 0
        while holder.queue:
            r = self._dequeue(holder)
            r.entry.counters.dropped += 1
            if r.watch is not None:
                r.watch.record(holder.name, "failed", reason)
            n += 1
        return n

    def drop_signal(self, signum: int, reason: str) -> int:
        """Give up what waits in every queue for ``signum`` (its entry went away in a
        reload): counted dropped, reported failed to whoever waits; returns how many."""
        n = 0
        for holder in (*self.procs, *self.pools.values(), self.unclaimed):
            if not holder.pending_count.get(signum):
                continue
            i = 0
            while i < len(holder.queue):
                if holder.queue[i].signum != signum:
                    i += 1
                    continue
                r = self._dequeue(holder, i)
                r.entry.counters.dropped += 1
                if r.watch is not None:
                    r.watch.record(holder.name, "failed", reason)
                n += 1
        return n

    def drop_all_queued(self, reason: str) -> int:
        """Give up every queue (the master is stopping); returns how many were dropped."""
        return sum(self.drop_queued(h, reason)
                   for h in (*self.procs, *self.pools.values(), self.unclaimed))

    # -- readiness -------------------------------------------------------------------------

    def ready(self, p: Proc) -> None:
        p.ready = True
        p.last_done = self.clock()
        self.pump(p)

    def pump(self, p: Proc) -> None:
        """Fill ``p``'s window: its own queue first, then the oldest head of its pools."""
        if not p.ready:
            return
        window = self.window
        while len(p.inflight) < window:
            if p.queue:
                self._send(p, self._dequeue(p))
                continue
            best: Pool | None = None
            for g in p.groups:
                pool = self.pools[g]
                if pool.queue and (best is None or pool.queue[0].id < best.queue[0].id):
                    best = pool
            if best is None:
                return
            self._send(p, self._dequeue(best))

    def wait(self, p: Proc, signum: int) -> None:
        """``p`` entered signal_wait (-1: any number): hand it a kept unregistered signal."""
        q = self.unclaimed.queue
        if q and p.ready:
            for i, r in enumerate(q):
                if signum in (-1, r.signum):
                    self._send(p, self._dequeue(self.unclaimed, i))
                    p.waiting = None
                    return
        p.waiting = signum

    def _offer_unclaimed(self) -> None:
        """Hand kept unregistered signals to processes already blocked in signal_wait."""
        for q in self.procs:
            if not self.unclaimed.queue:
                return
            if q.ready and q.waiting is not None:
                self.wait(q, q.waiting)

    # -- views -----------------------------------------------------------------------------

    def queued_total(self) -> int:
        return (sum(len(p.queue) for p in self.procs) + sum(len(q.queue) for q in self.pools.values())
                + len(self.unclaimed.queue))

    def backlog(self, group: str) -> int:
        pool = self.pools.get(group)
        return len(pool.queue) if pool is not None else 0

    def stopped_state(self, p: Proc) -> bool:
        return p.state in (ProcState.STOPPED, ProcState.FAILED)
