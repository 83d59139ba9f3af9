"""A child's end of its channel to the master, and the runtime the sigsup API uses there.

Frames that arrive while the child waits for an answer (a RUN while ``sigsup.signal`` waits
for its ACK, say) are kept in order and handled by the loop afterwards, never re-entrantly.
"""

from __future__ import annotations

import socket
import time
from collections import deque
from collections.abc import Container
from typing import Any

from sigsup.context import Identity
from sigsup.errors import CommandFailed, MasterGone, SignalRefused
from sigsup.protocol.frames import ACK, JSON, RAISE, Frame, FrameReader, pack, pack_json

# bytes asked of one recv: a buffer over malloc's mmap threshold (128 KiB) costs an mmap,
# an mremap and an munmap on every read, however few bytes arrive
RECV_SIZE = 65536


class ChildChannel:
    def __init__(self, sock: socket.socket, identity: Identity) -> None:
        self.sock = sock
        self.identity = identity
        self.reader = FrameReader()
        self.deferred: deque[Frame] = deque()
        self.seq = 0

    # -- transport -------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise MasterGone("the master closed this process's channel") from exc

    def receive(self, timeout: float | None = None) -> list[Frame] | None:
        """Frames from one read; None on timeout. MasterGone when the master is gone."""
        sock = self.sock
        # settimeout is an ioctl each call; the usual untimed read on the blocking socket
        # needs none (gettimeout is not a system call)
        if sock.gettimeout() != timeout:
            sock.settimeout(timeout)
        try:
            data = sock.recv(RECV_SIZE)
        except (TimeoutError, BlockingIOError):
            return None
        except ConnectionResetError as exc:
            raise MasterGone("the master closed this process's channel") from exc
        finally:
            if timeout is not None:
                sock.settimeout(None)
        if not data:
            raise MasterGone("the master closed this process's channel")
        return self.reader.feed(data)

    def next_frame(self, timeout: float | None = None) -> Frame | None:
        """The next frame in order (kept ones first); None when ``timeout`` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.deferred:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            frames = self.receive(left)
            if frames is None:
                if deadline is not None and time.monotonic() >= deadline:
                    return None
                continue
            self.deferred.extend(frames)
        return self.deferred.popleft()

    def _await(self, match: Any) -> Frame:
        """Read until ``match(frame)``; everything else is kept for the loop."""
        kept: list[Frame] = []
        try:
            while True:
                while self.deferred:
                    f = self.deferred.popleft()
                    if match(f):
                        return f
                    kept.append(f)
                frames = self.receive(None)
                if frames:
                    self.deferred.extend(frames)
        finally:
            self.deferred.extendleft(reversed(kept))

    # -- the API's calls -------------------------------------------------------------------

    def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        """A request to the master, as on the control socket; raises CommandFailed."""
        self.seq += 1
        rid = self.seq
        self.send(pack_json({"t": "call", "rid": rid, "cmd": cmd, **args}))
        f = self._await(lambda f: f[0] == JSON and f[4].get("t") == "reply" and f[4].get("rid") == rid)
        reply = f[4]
        if not reply.get("ok"):
            raise CommandFailed(str(reply.get("error", "the master refused")), reply)
        return reply

    def raise_signal(self, signum: int) -> dict[str, Any]:
        self.seq += 1
        seq = self.seq
        self.send(pack(RAISE, signum, 0, seq))
        f = self.await_answer((seq,))
        if f[0] == ACK:
            return {"id": f[4], "signum": signum, "accepted": True, "recipients": f[2],
                    "coalesced": [], "refused": []}
        result = f[4]["result"]
        if result.get("refused"):
            reasons = "; ".join(f"{r['recipient']}: {r['reason']}" for r in result["refused"])
            raise SignalRefused(f"signal {signum} refused ({reasons})", result)
        return result

    def start_raises(self, signum: int) -> int:
        """Send a RAISE without waiting (the pipelined path); returns its sequence number."""
        self.seq += 1
        self.send(pack(RAISE, signum, 0, self.seq))
        return self.seq

    def await_answer(self, seqs: Container[int]) -> Frame:
        """The frame answering one of the raises in ``seqs``: an ACK, or a JSON "raised"
        frame (refused or coalesced). The pipelined path: no closure, no dict per answer."""
        deferred = self.deferred
        kept: list[Frame] = []
        try:
            while True:
                while deferred:
                    f = deferred.popleft()
                    t = f[0]
                    if t == ACK:
                        if f[3] in seqs:
                            return f
                    elif t == JSON and f[4].get("t") == "raised" and f[4].get("seq") in seqs:
                        return f
                    kept.append(f)
                frames = self.receive(None)
                if frames:
                    deferred.extend(frames)
        finally:
            if kept:
                deferred.extendleft(reversed(kept))

    def await_raise(self, seqs: Container[int]) -> tuple[int, dict[str, Any]]:
        """The answer to one of the raises in ``seqs``."""
        f = self._await(lambda f: (f[0] == ACK and f[3] in seqs) or (
            f[0] == JSON and f[4].get("t") == "raised" and f[4].get("seq") in seqs))
        if f[0] == ACK:
            return f[3], {"id": f[4], "signum": f[1], "accepted": True, "recipients": f[2],
                          "coalesced": [], "refused": []}
        return f[4]["seq"], f[4]["result"]
