"""What a notification becomes for the handler: pure functions.

A handler of a ``[[pgnotify]]`` signal gets a dict (``sigsup.signal_payload()``)::

    {"source": "pgnotify", "channel": "orders", "pid": 4242,   # the sender's backend pid
     "payload": ...,               # the text, or the decoded JSON value
     "decode_error": None}         # or why the JSON did not decode ("payload" is the raw text)

and the ``on_gap`` signal, after a reconnect::

    {"source": "pgnotify", "channel": "orders", "gap": True, "down_for": 2.5,
     "reconnects": 1, "error": "server closed the connection unexpectedly"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SOURCE = "pgnotify"
ERROR_MAX = 200   # characters of a decode error kept


@dataclass(frozen=True)
class Decoded:
    """A payload as the entry wants it; ``error`` set when JSON did not decode (``value``
    is then the raw text)."""

    value: Any
    error: str | None = None


def decode(text: str, mode: str) -> Decoded:
    """``text`` as ``mode`` ("text" or "json") says."""
    if mode == "text":
        return Decoded(text)
    if mode != "json":
        raise ValueError(f"unknown payload mode {mode!r}")
    try:
        return Decoded(json.loads(text))
    except ValueError as exc:   # JSONDecodeError, and int() of a too long number
        return Decoded(text, f"not JSON: {str(exc)[:ERROR_MAX]}")


def notification(channel: str, pid: int, d: Decoded) -> dict[str, Any]:
    """The handler's view of one notification."""
    return {"source": SOURCE, "channel": channel, "pid": pid, "payload": d.value,
            "decode_error": d.error}


def gap(channel: str, down_for: float | None, reconnects: int,
        error: str | None) -> dict[str, Any]:
    """The handler's view of a reconnect (``on_gap``)."""
    return {"source": SOURCE, "channel": channel, "gap": True,
            "down_for": None if down_for is None else round(down_for, 3),
            "reconnects": reconnects, "error": error}
