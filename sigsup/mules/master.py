"""Mule messages in the master (an ``Extension``, see master/port.py).

A message goes sender -> master -> mule as JSON frames and waits in the master, never in a
socket buffer nobody reads. Queues, separate from the signal queues and bounded by
``[supervisor] queue_size`` each:

    one per mule      ``mule_msg(m, 2)``: mule 2's own queue
    one per pool      ``mule_msg(m)``: any mule (pool ``mules``); ``farm_msg("x", m)``:
                      any mule of farm x (pool ``farm:x``)

Each queue keeps two lanes, user messages and ``@mulefunc`` calls, FIFO within a lane.
A mule is sent what it can take now:

- a plain mule (no program) with ``[mules] message_handler``: up to ``window`` messages
  in flight, handled as they arrive; calls likewise;
- a plain mule without a message handler: calls as above; messages only while its code
  waits in ``sigsup.mule_get_msg()``, one per call;
- a programmed mule: messages and calls only while it waits in ``mule_get_msg()``.

A mule acknowledges a message when it hands it to code (the handler, the function, or the
caller of ``mule_get_msg``). If it dies first, what it had not taken goes back to the head
of the queue it came from, for its successor or another mule of the pool. A full queue, an
unknown mule or farm, or a target whose every mule has failed is an error for the sender:
nothing is dropped silently. Messages live in the master's memory: unlike spooled jobs,
they do not survive a master restart.
"""

from __future__ import annotations

import json
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any

from sigsup import context
from sigsup.master.port import ChildMessage, Command, Extension, MasterPort
from sigsup.mules.child import Inbox, install_hooks
from sigsup.mules.payload import MAX_MESSAGE  # bytes of payload (a str is measured as UTF-8)
from sigsup.routing.states import MasterState, ProcState
from sigsup.routing.targets import MULES, farm_group

if TYPE_CHECKING:
    from sigsup.routing.proc import Proc

KINDS = ("call", "msg")


class Queue:
    """A bounded FIFO with two lanes (calls, messages)."""

    __slots__ = ("name", "lanes", "members", "sent", "refused")

    def __init__(self, name: str) -> None:
        self.name = name
        self.lanes: dict[str, deque[Msg]] = {"call": deque(), "msg": deque()}
        self.members: list[MuleState] = []
        self.sent = 0
        self.refused = 0

    def __len__(self) -> int:
        return len(self.lanes["call"]) + len(self.lanes["msg"])


class Msg:
    __slots__ = ("id", "kind", "frame", "origin", "queue")

    def __init__(self, mid: int, kind: str, frame: dict[str, Any], origin: str, queue: Queue) -> None:
        self.id = mid
        self.kind = kind
        self.frame = frame
        self.origin = origin
        self.queue = queue


class MuleState:
    __slots__ = ("proc", "programmed", "push_msgs", "want", "want_farms", "unacked", "own",
                 "pools", "received", "calls", "pid", "last_free")

    def __init__(self, proc: Proc, push_msgs: bool) -> None:
        self.proc = proc
        self.programmed = proc.program is not None
        self.push_msgs = push_msgs and not self.programmed
        self.want = False
        self.want_farms = True
        self.unacked: OrderedDict[int, Msg] = OrderedDict()
        self.own = Queue(proc.name)
        self.own.members = [self]
        self.pools: list[Queue] = []
        self.received = 0            # user messages handed to code
        self.calls = 0               # @mulefunc calls handed to code
        self.pid = 0
        self.last_free = 0.0


class MessageExtension(Extension):
    name = "messages"

    def __init__(self, master: MasterPort) -> None:
        super().__init__(master)
        install_hooks(context.process())   # the mule-msg frame hook, set before any fork
        cfg = master.config
        self.window = max(1, cfg.supervisor.window)
        self.bound = cfg.supervisor.queue_size
        push = cfg.mules.message_handler is not None
        self.mules: dict[int, MuleState] = {}
        for p in master.procs:
            if p.kind == "mule":
                self.mules[p.index] = MuleState(p, push)
        self.pools: dict[str, Queue] = {MULES: Queue(MULES)}
        self.pools[MULES].members = list(self.mules.values())
        for farm, ids in cfg.farms.items():
            q = Queue(farm_group(farm))
            q.members = [self.mules[i] for i in ids if i in self.mules]
            self.pools[q.name] = q
        for q in self.pools.values():
            for ms in q.members:
                ms.pools.append(q)
        self.next_id = 1
        self.sent = 0
        self.refused = 0
        self.requeued = 0

    # -- sending ---------------------------------------------------------------------------

    def commands(self) -> dict[str, Command]:
        return {"mule-msg": self.cmd_send}

    def child_messages(self) -> dict[str, ChildMessage]:
        return {"msg-want": self.msg_from_mule, "msg-unwant": self.msg_from_mule,
                "msg-ack": self.msg_from_mule}

    def _resolve(self, target: Any) -> Queue:
        if not self.mules:
            raise _Refused("no mule configured ([mules] count is 0)")
        if target is None or target == 0:
            return self.pools[MULES]
        if isinstance(target, bool):
            raise _Refused(f"a message target is None, a mule id or a farm name, not {target!r}")
        if isinstance(target, int):
            ms = self.mules.get(target)
            if ms is None:
                raise _Refused(f"no mule {target} (mules.count is {len(self.mules)})")
            return ms.own
        if isinstance(target, str):
            name = target[5:] if target.startswith("farm_") else target
            q = self.pools.get(farm_group(name))
            if q is None:
                farms = ", ".join(k[5:] for k in self.pools if k.startswith("farm:")) or "none"
                raise _Refused(f"no farm named {name!r} (farms: {farms})")
            return q
        raise _Refused(f"a message target is None, a mule id or a farm name, not {target!r}")

    def cmd_send(self, msg: dict[str, Any], origin: str) -> dict[str, Any]:
        try:
            queue = self._resolve(msg.get("target"))
            kind = msg.get("kind", "msg")
            if kind not in KINDS:
                raise _Refused(f"unknown message kind {kind!r}")
            if kind == "msg":
                payload = {k: msg[k] for k in ("s", "b") if k in msg}
                if len(payload) != 1 or not isinstance(next(iter(payload.values())), str):
                    raise _Refused("a message carries one 's' (text) or 'b' (base64) field")
                if _size(payload) > MAX_MESSAGE:
                    raise _Refused(f"a message is at most {MAX_MESSAGE} bytes, this one has "
                                   f"{_size(payload)}")
            else:
                fn = msg.get("fn")
                if not isinstance(fn, str):
                    raise _Refused("a call names its function ('fn')")
                payload = {"fn": fn, "args": msg.get("args", []), "kwargs": msg.get("kwargs", {})}
                size = len(json.dumps(payload))
                if size > MAX_MESSAGE:
                    raise _Refused(f"a call's arguments take at most {MAX_MESSAGE} bytes of "
                                   f"JSON, these take {size}")
            if self.m.state is not MasterState.RUNNING:
                raise _Refused(f"the master is {self.m.state}")
            if queue.members and all(ms.proc.state is ProcState.FAILED for ms in queue.members):
                raise _Refused(f"no mule able to receive it: every mule of {queue.name} has "
                               "failed (too many deaths); it is retried after the cool-down")
        except _Refused as exc:
            self.refused += 1
            return {"ok": False, "error": str(exc), "refused": True}
        mid = self.next_id
        self.next_id += 1
        m = Msg(mid, kind, {"t": "mule-msg", "id": mid, "kind": kind, "from": origin,
                            "q": queue.name, **payload}, origin, queue)
        # straight to a mule that can take it now, if nothing of its lane waits before it
        if not queue.lanes[kind]:
            ms = self._pick(queue, m)
            if ms is not None:
                self._deliver(ms, m)
                return {"ok": True, "id": mid, "to": ms.proc.name}
        if len(queue) >= self.bound:
            queue.refused += 1
            self.refused += 1
            return {"ok": False, "refused": True,
                    "error": f"message queue {queue.name} is full ({self.bound} waiting)"}
        queue.lanes[kind].append(m)
        return {"ok": True, "id": mid, "to": queue.name, "queued": len(queue)}

    def _can_take(self, ms: MuleState, m: Msg) -> bool:
        p = ms.proc
        if not p.ready or p.sock is None or p.state is not ProcState.RUNNING:
            return False
        if len(ms.unacked) >= self.window:
            return False
        if ms.want:
            return ms.want_farms or not m.queue.name.startswith("farm:")
        if ms.programmed:
            return False
        # a fallback handler set in this process before fork (uwsgi.mule_msg_hook) is in
        # every plain mule too: they take messages as they arrive, as with message_handler
        return (m.kind == "call" or ms.push_msgs
                or context.process().state(Inbox).fallback is not None)

    def _pick(self, queue: Queue, m: Msg) -> MuleState | None:
        best = None
        for ms in queue.members:
            if self._can_take(ms, m) and (best is None or len(ms.unacked) < len(best.unacked) or (
                    len(ms.unacked) == len(best.unacked) and ms.last_free < best.last_free)):
                best = ms
        return best

    def _deliver(self, ms: MuleState, m: Msg) -> None:
        self.m.send_json(ms.proc, m.frame)
        ms.unacked[m.id] = m
        if not (m.kind == "call" and not ms.programmed) and not (m.kind == "msg" and ms.push_msgs):
            ms.want = False          # taken by this mule_get_msg call: one per call
        m.queue.sent += 1
        self.sent += 1

    def _pump(self, ms: MuleState) -> None:
        """Send ``ms`` what waits for it: its own queue first (calls before messages), then
        the oldest head among its pools."""
        while True:
            m = self._next_for(ms)
            if m is None:
                return
            m.queue.lanes[m.kind].popleft()
            self._deliver(ms, m)

    def _next_for(self, ms: MuleState) -> Msg | None:
        for kind in KINDS:
            lane = ms.own.lanes[kind]
            if lane and self._can_take(ms, lane[0]):
                return lane[0]
        best: Msg | None = None
        for q in ms.pools:
            for kind in KINDS:
                lane = q.lanes[kind]
                if lane and (best is None or lane[0].id < best.id) and self._can_take(ms, lane[0]):
                    best = lane[0]
        return best

    # -- from mules ------------------------------------------------------------------------

    def _state(self, p: Proc) -> MuleState | None:
        if p.kind != "mule":
            return None
        return self.mules.get(p.index)

    def msg_from_mule(self, p: Proc, msg: dict[str, Any]) -> None:
        """``msg-want`` (its code waits in ``mule_get_msg``), ``msg-unwant`` (it stopped
        waiting) or ``msg-ack`` (a message was handed to code); ignored from a non-mule."""
        ms = self._state(p)
        if ms is None:
            return
        t = msg.get("t")
        if t == "msg-ack":
            m = ms.unacked.pop(int(msg.get("id", 0)), None)
            if m is not None:
                if m.kind == "call":
                    ms.calls += 1
                else:
                    ms.received += 1
            if not ms.unacked:
                ms.last_free = self.m.os.monotonic()
        elif t == "msg-want":
            ms.want = True
            ms.want_farms = bool(msg.get("farms", True))
        else:
            ms.want = False
        self._pump(ms)

    def proc_exit(self, p: Proc, how: str) -> None:
        ms = self._state(p)
        if ms is None:
            return
        ms.want = False
        ms.pid = 0
        if not ms.unacked:
            return
        back = list(ms.unacked.values())
        ms.unacked.clear()
        for m in reversed(back):       # the oldest ends up first, as they were sent
            m.queue.lanes[m.kind].appendleft(m)
        self.requeued += len(back)
        self.m.log.warning(f"{p.name} exited with {len(back)} message(s) not yet taken: queued "
                           "again")
        for q in {m.queue for m in back}:
            for other in q.members:
                if other is not ms:
                    self._pump(other)

    def tick(self, now: float) -> None:
        for ms in self.mules.values():
            p = ms.proc
            if p.ready and p.pid and p.pid != ms.pid:     # (re)started: take what waits
                ms.pid = p.pid   # (want was reset when the previous process exited)
                self._pump(ms)

    # -- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "max_size": MAX_MESSAGE, "queue_size": self.bound, "sent": self.sent,
            "refused": self.refused, "requeued": self.requeued,
            "mules": {ms.proc.name: {"received": ms.received, "calls": ms.calls,
                                     "queued": len(ms.own), "in_flight": len(ms.unacked),
                                     "waiting": ms.want, "mode": _mode(ms)}
                      for ms in self.mules.values()},
            "pools": {q.name: {"queued": len(q), "sent": q.sent, "refused": q.refused,
                               "members": [ms.proc.name for ms in q.members]}
                      for q in self.pools.values()},
        }


def _size(payload: dict[str, str]) -> int:
    if "s" in payload:
        return len(payload["s"].encode("utf-8", "surrogatepass"))
    b = payload["b"]
    return len(b) * 3 // 4 - b[-2:].count("=")


def _mode(ms: MuleState) -> str:
    if ms.programmed:
        return "program"
    return "handler" if ms.push_msgs else "mule_get_msg"


class _Refused(Exception):
    pass
