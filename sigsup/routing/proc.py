"""One child process slot as the master sees it: identity, state, queues and counters."""

from __future__ import annotations

import socket
from collections import deque
from typing import TYPE_CHECKING

from sigsup.protocol.frames import FrameReader
from sigsup.routing.states import ACTIVE, TRANSITIONS, ProcState, check_move

if TYPE_CHECKING:
    from sigsup.routing.raises import Raise


class Proc:
    """A slot of the tree. The slot outlives the processes that fill it (respawns)."""

    def __init__(self, name: str, kind: str, index: int, groups: tuple[str, ...], *,
                 program: str | None = None, spooler: str | None = None,
                 display: str | None = None, runner: str | None = None) -> None:
        self.name = name              # worker2, mule1, spooler:default#1, monitor
        self.kind = kind              # worker, mule, spooler, monitor
        self.index = index            # 1-based within its kind (or its spooler)
        self.groups = groups          # the pools it belongs to: ("workers",), ("mules", "farm:x")
        self.program = program        # a programmed mule's callable
        self.runner = runner          # import path of run(loop) replacing the plain serve loop
        self.spooler = spooler
        self.display = display or name
        self._state = ProcState.STOPPED
        self.pid = 0
        self.sock: socket.socket | None = None
        self.reader = FrameReader()
        self.out = bytearray()        # frames waiting to be written
        self.output_fd = -1           # read end of the child's stdout/stderr pipe
        self.output_buf = b""
        self.ready = False
        self.queue: deque[Raise] = deque()          # pending, not yet sent (own queue)
        self.pending_count: dict[int, int] = {}     # signum -> pending in self.queue
        self.inflight: deque[Raise] = deque()       # sent, not yet DONE (oldest first)
        self.sent_at: deque[float] = deque()        # monotonic send time, parallel to inflight
        self.last_done = 0.0          # monotonic time of the last DONE (or READY)
        self.last_free = 0.0          # when inflight last became empty: LRU order
        self.waiting: int | None = None   # in signal_wait: -1 for any, else the number
        self.handled = 0
        self.failed = 0
        self.respawns = 0
        self.deaths: deque[float] = deque()
        self.started_at = 0.0         # wall clock of the last spawn
        self.started_mono = 0.0
        self.respawn_at = 0.0         # monotonic, in BACKOFF/FAILED
        self.stop_deadline = 0.0      # monotonic, in STOPPING
        self.last_exit: str | None = None
        self.harakiri_hit = False

    def __repr__(self) -> str:
        return f"<Proc {self.name} pid={self.pid} {self.state}>"

    @property
    def state(self) -> ProcState:
        return self._state

    @state.setter
    def state(self, new: ProcState) -> None:
        """Every move is checked against states.TRANSITIONS (IllegalTransition if not legal)."""
        check_move(self.name, self._state, new, TRANSITIONS)
        self._state = new

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def activity(self) -> str:
        """idle, busy, waiting, or the slot state when not running."""
        if self.state is not ProcState.RUNNING:
            return self.state.value
        if self.inflight:
            return "busy"
        if self.waiting is not None:
            return "waiting"
        return "idle"
