"""Checking the fields of ``add_timer``/``add_cron``/``add_file_monitor`` requests.

A request comes from any process (a child's channel, the control socket) as a JSON dict.
Each function returns the clean value or raises ``BadRequest`` naming the field, so the
master answers ``{"ok": false, "error": "bad request: ..."}`` and never raises.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from sigsup.config.schema import MIN_TIMER_SECONDS, MONITOR_EVENTS
from sigsup.master.port import BadRequest
from sigsup.routing.table import check_signum


def signum(msg: dict[str, Any]) -> int:
    v = msg.get("signum")
    try:
        return check_signum(v)
    except ValueError as exc:
        raise BadRequest(f"signum: {exc}") from None


def number(msg: dict[str, Any], name: str, default: float | None, lo: float,
           open_lo: bool = False) -> float:
    v = msg.get(name, default)
    if v is None:
        raise BadRequest(f"missing field {name!r}")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadRequest(f"{name} must be a number, not {v!r}")
    try:
        finite = math.isfinite(v)
    except OverflowError:        # a JSON integer of hundreds of digits
        finite = False
    if not finite:
        raise BadRequest(f"{name} must be a finite number of a usable size, not {v!r}")
    if v < lo or (open_lo and v == lo):
        raise BadRequest(f"{name} must be {'more than' if open_lo else 'at least'} {lo:g}, "
                         f"got {v!r}")
    return float(v)


def integer(msg: dict[str, Any], name: str, default: int, lo: int) -> int:
    v = msg.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int):
        raise BadRequest(f"{name} must be an integer, not {v!r}")
    if v < lo:
        raise BadRequest(f"{name} must be at least {lo}, got {v}")
    return v


def boolean(msg: dict[str, Any], name: str, default: bool) -> bool:
    v = msg.get(name, default)
    if not isinstance(v, bool):
        raise BadRequest(f"{name} must be true or false, not {v!r}")
    return v


def optional_str(msg: dict[str, Any], name: str) -> str | None:
    v = msg.get(name)
    if v is not None and not isinstance(v, str):
        raise BadRequest(f"{name} must be a string, not {v!r}")
    return v


def seconds(msg: dict[str, Any]) -> float:
    return number(msg, "seconds", None, MIN_TIMER_SECONDS)


def iterations(msg: dict[str, Any]) -> int:
    return integer(msg, "iterations", 0, 0)


def events(msg: dict[str, Any]) -> tuple[str, ...]:
    v = msg.get("events")
    if v is None:
        return MONITOR_EVENTS
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v:
        raise BadRequest(f"events must be a non-empty list of {', '.join(MONITOR_EVENTS)}")
    out: list[str] = []
    for e in v:
        if e not in MONITOR_EVENTS:
            raise BadRequest(f"events: unknown event {e!r} (one of {', '.join(MONITOR_EVENTS)})")
        if e not in out:
            out.append(e)
    return tuple(out)


def monitor_path(msg: dict[str, Any], base: Path, wait: bool) -> str:
    v = msg.get("path")
    if not isinstance(v, str) or not v:
        raise BadRequest("path must be a non-empty string (the file or directory to watch)")
    if "\0" in v:
        raise BadRequest("path cannot contain a NUL character")
    p = Path(v).expanduser()
    if not p.is_absolute():
        p = base / p
    p = Path(os.path.abspath(p))   # normalised, symlinks kept: a replaced link is seen
    try:
        exists = p.exists()
    except OSError as exc:         # a name too long, a loop of symlinks...
        raise BadRequest(f"path {str(p)!r}: {exc.strerror or exc}") from None
    if not wait and not exists:
        raise BadRequest(f"path {str(p)!r} does not exist (pass wait_for_path=True to wait "
                         "for it)")
    return str(p)
