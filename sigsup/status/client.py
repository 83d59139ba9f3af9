"""The client side of ``sigsup status`` (one look) and ``sigsup events`` (a stream)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

from rich.console import Console

from sigsup.protocol.control import ControlClient
from sigsup.status.render import render_status


def print_status(doc: dict[str, Any], console: Console | None = None) -> None:
    """The status view, once, at the terminal's width (all rows: a terminal scrolls)."""
    console = console or Console()
    console.print(render_status(doc, console.width))


def failed_summary(doc: dict[str, Any]) -> str | None:
    """'worker (worker3, worker4)' when some group failed, else None."""
    groups = doc.get("groups_failed") or []
    if not groups:
        return None
    names = [p["name"] for p in doc.get("processes", []) if p.get("state") == "failed"]
    return f"{', '.join(groups)} ({', '.join(names)})"


def stream_events(path: str, filters: dict[str, Any], out: TextIO | None = None,
                  err: TextIO | None = None) -> int:
    """Print the master's events as JSON lines until Ctrl-C or the master goes away.

    Returns the exit code: 0 after Ctrl-C or a master that stopped, 1 when the stream
    broke (or the master dropped it for falling behind). NoMaster propagates (exit 2)."""
    out = out or sys.stdout
    err = err or sys.stderr
    stopping = False
    try:
        with ControlClient(path, 10.0) as client:
            first = client.request({"cmd": "events", **filters})
            if not first.get("ok"):
                err.write(f"sigsup: {first.get('error')}\n")
                return 1
            while True:
                try:
                    msg = client.receive(timeout=3600)
                except TimeoutError:
                    continue
                except ConnectionError:
                    if stopping:
                        return 0
                    err.write(f"sigsup: the master at {path} closed the connection\n")
                    return 1
                if msg.get("ok") is False:
                    err.write(f"sigsup: {msg.get('error')}\n")
                    return 1
                stopping = stopping or msg.get("event") == "stopping"
                out.write(json.dumps(msg, separators=(",", ":")) + "\n")
                out.flush()
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:   # `sigsup events | head`
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        except (OSError, ValueError):
            pass
        return 0
