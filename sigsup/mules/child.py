"""Mule messages inside a mule: the frame hook (``install_hooks``), ``[mules]
message_handler`` and ``mule_get_msg``.

A ``mule-msg`` frame is acknowledged (``msg-ack``) when the message is handed to code; the
master counts it received then, and sends the next. A message nobody has taken yet (it
reached a mule outside ``mule_get_msg``) is kept here, in order, for the next call.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections import deque
from typing import TYPE_CHECKING, Any

from sigsup import context
from sigsup.importing import HandlerImportError, resolve
from sigsup.mules.payload import decode_payload
from sigsup.protocol.frames import JSON, RUN, pack_json, run_payload

if TYPE_CHECKING:
    from sigsup.child.loop import ChildLoop


def install_hooks(proc: context.Process) -> None:
    """Let the child loop of ``proc`` hand ``mule-msg`` frames to this module. The master
    calls it before it forks, so that every mule has it from birth."""
    proc.json_hooks["mule-msg"] = on_message


class Inbox:
    """What this mule keeps between frames (``context.process().state(Inbox)``)."""

    def __init__(self) -> None:
        self.kept: deque[dict[str, Any]] = deque()   # messages nobody has taken yet
        self.handler: Any = None
        self.handler_path: str | None = None
        self.resolved = False


def _inbox() -> Inbox:
    return context.process().state(Inbox)


def _ack(loop: ChildLoop, frame: dict[str, Any]) -> None:
    loop.channel.send(pack_json({"t": "msg-ack", "id": frame.get("id", 0)}))


def _handler(inbox: Inbox) -> Any:
    if not inbox.resolved:
        inbox.resolved = True
        from sigsup.treeconfig import current_or_none
        cfg = current_or_none()
        path = cfg.mules.message_handler if cfg is not None else None
        inbox.handler_path = path
        if path:
            try:
                inbox.handler = resolve(path)
            except HandlerImportError as exc:
                print(f"mule message handler {path}: {exc}", file=sys.stderr)
    return inbox.handler


def run_call(loop: ChildLoop, frame: dict[str, Any]) -> None:
    """Run a ``@mulefunc`` call: only a function registered in this process."""
    _ack(loop, frame)
    path = str(frame.get("fn"))
    fn = context.process().mulefuncs.get(path)
    if fn is None:
        print(f"mulefunc {path}: not a @mulefunc function known in this mule (import its "
              "module in [supervisor] preload); call dropped", file=sys.stderr)
        return
    args = frame.get("args") or []
    kwargs = frame.get("kwargs") or {}
    loop.in_handler += 1
    try:
        fn(*args, **kwargs)
    except Exception:
        print(f"mulefunc {path} raised:", file=sys.stderr)
        traceback.print_exc()
    finally:
        loop.in_handler -= 1


def on_message(loop: ChildLoop, frame: dict[str, Any]) -> None:
    """A message frame met outside ``mule_get_msg`` (the plain mule loop, signal_wait)."""
    if frame.get("kind") == "call":
        run_call(loop, frame)
        return
    inbox = _inbox()
    handler = _handler(inbox) if loop.identity.kind == "mule" and not _programmed(loop) else None
    if handler is not None:
        _ack(loop, frame)
        loop.in_handler += 1
        try:
            handler(decode_payload(frame))
        except Exception:
            print(f"mule message handler {inbox.handler_path} raised:", file=sys.stderr)
            traceback.print_exc()
        finally:
            loop.in_handler -= 1
        return
    inbox.kept.append(frame)


def _programmed(loop: ChildLoop) -> bool:
    from sigsup.treeconfig import current_or_none
    cfg = current_or_none()
    return cfg is not None and loop.identity.index in cfg.mules.programs


def _is_msg(f: tuple) -> bool:
    return f[0] == JSON and f[4].get("t") == "mule-msg"


def get_msg(loop: ChildLoop, timeout: float | None, signals: bool,
            farms: bool) -> bytes | str | None:
    inbox = _inbox()
    if inbox.kept:
        frame = inbox.kept.popleft()
        _ack(loop, frame)
        return decode_payload(frame)
    channel = loop.channel
    deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
    want = pack_json({"t": "msg-want", "farms": bool(farms)})
    channel.send(want)
    try:
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            if signals:
                f = channel.next_frame(left)
                if f is None:
                    return None
            else:
                f = _next_message(channel, left)
                if f is None:
                    return None
            if _is_msg(f):
                frame = f[4]
                if frame.get("kind") == "call":
                    run_call(loop, frame)
                    channel.send(want)      # still waiting for a message
                    continue
                if not farms and str(frame.get("q", "")).startswith("farm:"):
                    inbox.kept.append(frame)
                    continue
                _ack(loop, frame)
                return decode_payload(frame)
            if f[0] == RUN:
                loop.run(f[1], f[3], waiting=None, payload=run_payload(f))
            else:
                loop.dispatch(f)
    finally:
        channel.send(pack_json({"t": "msg-unwant"}))


def _next_message(channel: Any, left: float | None) -> tuple | None:
    """The first message frame, leaving every other frame queued in order (signals are
    not handled: ``mule_get_msg(signals=False)``)."""
    deadline = None if left is None else time.monotonic() + left
    while True:
        for i, f in enumerate(channel.deferred):
            if _is_msg(f):
                del channel.deferred[i]
                return f
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return None
        frames = channel.receive(remaining)
        if frames:
            channel.deferred.extend(frames)
