"""Signal targets: parse the target string of a table entry and check it against the tree.

A target names who runs a signal's handler. It is parsed once (at config load or at
registration), checked against the shape of the process tree, and kept in bound form,
so routing never parses strings on the hot path.

Scopes:
    pool       one process of a group: the least recently used one that has room
    process    one given process (workerN, muleN)
    broadcast  every process slot of a group, running or not (a stopped slot gets it when it
               starts again)
    active     every running process of a group (cheaped or dead slots are skipped)
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

POOL = "pool"
PROCESS = "process"
BROADCAST = "broadcast"
ACTIVE = "active"

WORKERS = "workers"
MULES = "mules"
SPOOLERS = "spoolers"

TARGET_FORMS = (
    "worker",
    "worker0",
    "workerN",
    "workers",
    "active-workers",
    "mule",
    "mule0",
    "muleN",
    "mules",
    "farmN",
    "farm_NAME",
    "spooler",
    "spoolers",
    "spooler_NAME",
)

_NUMBERED = re.compile(r"^(worker|mule|farm)(\d+)$")


class TargetError(ValueError):
    """A target string that cannot be parsed or does not fit the process tree."""


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed target. ``group`` names a pool of processes; ``index`` is 1-based."""

    raw: str
    scope: str
    group: str
    index: int = 0

    def __str__(self) -> str:
        return self.raw


@dataclass(frozen=True, slots=True)
class TreeShape:
    """What a target is checked against: the counts and names the config declares."""

    workers: int = 0
    mules: int = 0
    farms: tuple[str, ...] = ()
    spoolers: tuple[str, ...] = ()


def farm_group(name: str) -> str:
    return f"farm:{name}"


def spooler_group(name: str) -> str:
    return f"spooler:{name}"


def parse_target(raw: str) -> Target:
    """Parse a target string; raises TargetError naming the accepted forms."""
    if not isinstance(raw, str):
        raise TargetError(f"a target is a string, not {type(raw).__name__}")
    s = raw.strip()
    if s in ("", "worker", "worker0"):
        return Target(s or "worker", POOL, WORKERS)
    if s == "workers":
        return Target(s, BROADCAST, WORKERS)
    if s == "active-workers":
        return Target(s, ACTIVE, WORKERS)
    if s in ("mule", "mule0"):
        return Target(s, POOL, MULES)
    if s == "mules":
        return Target(s, BROADCAST, MULES)
    if s == "spooler":
        return Target(s, POOL, SPOOLERS)
    if s == "spoolers":
        return Target(s, BROADCAST, SPOOLERS)
    if s.startswith("spooler_") and len(s) > len("spooler_"):
        return Target(s, POOL, spooler_group(s[len("spooler_"):]))
    if s.startswith("farm_") and len(s) > len("farm_"):
        return Target(s, POOL, farm_group(s[len("farm_"):]))
    m = _NUMBERED.match(s)
    if m:
        kind, n = m.group(1), int(m.group(2))
        if kind == "worker":
            return Target(s, PROCESS, WORKERS, n)
        if kind == "mule":
            return Target(s, PROCESS, MULES, n)
        if n == 0:
            raise TargetError("farms are numbered from 1 (farm1 is the first declared farm)")
        return Target(s, POOL, "farm#", n)
    raise TargetError(f"unknown target {raw!r}{_hint(s)}; targets are: {', '.join(TARGET_FORMS)}")


def bind_target(target: Target, shape: TreeShape) -> Target:
    """Check a parsed target against the tree; farmN becomes its farm's name.

    Raises TargetError with a message that says what exists, e.g.
    ``no worker 9 (workers.count is 4)``.
    """
    g = target.group
    if g == WORKERS:
        if shape.workers == 0:
            raise TargetError(f"target {target.raw!r} needs workers, but workers.count is 0")
        if target.scope == PROCESS and target.index > shape.workers:
            raise TargetError(f"no worker {target.index} (workers.count is {shape.workers})")
        return target
    if g == MULES:
        if shape.mules == 0:
            raise TargetError(f"target {target.raw!r} needs mules, but mules.count is 0")
        if target.scope == PROCESS and target.index > shape.mules:
            raise TargetError(f"no mule {target.index} (mules.count is {shape.mules})")
        return target
    if g == "farm#":
        if target.index > len(shape.farms):
            raise TargetError(
                f"no farm {target.index} ({_count(len(shape.farms), 'farm')} declared"
                f"{': ' + ', '.join(shape.farms) if shape.farms else ''})"
            )
        return Target(target.raw, POOL, farm_group(shape.farms[target.index - 1]))
    if g.startswith("farm:"):
        name = g[len("farm:"):]
        if name not in shape.farms:
            raise TargetError(f"no farm named {name!r}{_hint(name, shape.farms)}"
                              f" (farms: {', '.join(shape.farms) or 'none declared'})")
        return target
    if g == SPOOLERS:
        if not shape.spoolers:
            raise TargetError(f"target {target.raw!r} needs a spooler, but none is declared")
        return target
    if g.startswith("spooler:"):
        name = g[len("spooler:"):]
        if name not in shape.spoolers:
            raise TargetError(f"no spooler named {name!r}{_hint(name, shape.spoolers)}"
                              f" (spoolers: {', '.join(shape.spoolers) or 'none declared'})")
        return target
    raise TargetError(f"unknown target group {g!r}")  # pragma: no cover - parse_target makes none


def resolve_target(raw: str, shape: TreeShape) -> Target:
    """Parse and bind in one step."""
    return bind_target(parse_target(raw), shape)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _hint(word: str, choices: tuple[str, ...] | None = None) -> str:
    pool = choices if choices is not None else ("worker", "workers", "active-workers", "mule",
                                                 "mules", "spooler", "spoolers")
    close = difflib.get_close_matches(word, pool, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
