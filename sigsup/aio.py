"""``await sigsup.aio.signal_wait(...)``: signal_wait for asyncio code.

The blocking ``sigsup.signal_wait`` would stall the event loop (uWSGI's async-mode bug,
its issue #7). This one registers the process's channel with the running loop
(``add_reader``) and reads frames only when they are there, so other tasks keep running
while it waits. A handler the signal has runs in the loop's thread, as in ``signal_wait``.

One waiter at a time per process: the master keeps one "waiting" flag per process.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sigsup import client_runtime, context
from sigsup.errors import MasterGone, NotInSigsup
from sigsup.protocol.frames import RUN, pack_json, run_payload
from sigsup.routing.table import check_signum

__all__ = ["signal_wait"]


class _Waiting:
    """The channels an aio waiter is using, by id (``context.process().state(_Waiting)``)."""

    def __init__(self) -> None:
        self.channels: set[int] = set()


async def signal_wait(signum: int | None = None, timeout: float | None = None) -> int | None:
    """Wait (without blocking the event loop) until a signal arrives: any, or ``signum``.

    Runs the signal's handler if it has one, and returns its number, or None when
    ``timeout`` seconds pass first. Works in workers, mules and spoolers.
    """
    if signum is not None:
        check_signum(signum)
    rt: Any = client_runtime.current()
    channel = getattr(rt, "channel", None)
    if channel is None or not hasattr(rt, "run"):
        raise NotInSigsup("signal_wait works only inside a worker, mule or spooler process")
    busy = context.process().state(_Waiting).channels
    if id(channel) in busy:
        raise RuntimeError("another sigsup.aio.signal_wait is already waiting in this process")
    want = -1 if signum is None else signum
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()

    def pump() -> None:
        """Handle every frame that is there, without blocking."""
        while not fut.done():
            if channel.deferred:
                f = channel.deferred.popleft()
            else:
                try:
                    frames = channel.receive(0.0)
                except MasterGone as exc:
                    fut.set_exception(exc)
                    return
                if not frames:
                    return
                channel.deferred.extend(frames)
                continue
            if f[0] == RUN:
                try:
                    got = rt.run(f[1], f[3], waiting=want, payload=run_payload(f))
                except BaseException as exc:   # a handler's SystemExit, say
                    fut.set_exception(exc)
                    return
                if got:
                    fut.set_result(f[1])
            else:
                rt.dispatch(f)

    fd = channel.sock.fileno()
    busy.add(id(channel))
    channel.send(pack_json({"t": "wait", "signum": want}))
    loop.add_reader(fd, pump)
    try:
        pump()   # frames another call already read and kept
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except asyncio.TimeoutError:
            return None
    finally:
        loop.remove_reader(fd)
        busy.discard(id(channel))
        if not fut.done():
            fut.cancel()
        with contextlib.suppress(MasterGone):
            channel.send(pack_json({"t": "unwait"}))
