"""What a name in a per-process control command means: which slots ``worker3``, ``workers``,
``farm_reports`` or ``spooler_default`` are, and which POSIX signal ``HUP`` or ``9`` is.

Pure functions of the slots (``sigsup restart``, ``kill``, ``retry``, ``scale``:
master/proccmds.py); an unknown name is a ``SelectError`` that says what exists, e.g.
``no process 'worker9': workers are worker1..worker4``.

    worker3, mule2, monitor, spooler:default#1     one slot, by its name
    workers, mules, spoolers                       every slot of that kind
    farm_NAME (or farm:NAME)                       the mules of that farm
    spooler_NAME (or spooler:NAME)                 the processes of that spooler
"""

from __future__ import annotations

import difflib
import re
import signal
from collections.abc import Sequence
from dataclasses import dataclass

from sigsup.routing.proc import Proc

KIND_GROUPS = {"workers": "worker", "mules": "mule", "spoolers": "spooler"}
_NUMBERED = re.compile(r"^(worker|mule)(\d+)$")


class SelectError(ValueError):
    """A name that means no slot; the message names what exists."""


@dataclass(frozen=True)
class Selection:
    """The slots a name means. ``group``: a group name (a member the command does not
    apply to is reported, not an error) rather than one slot's name."""

    name: str
    procs: tuple[Proc, ...]
    group: bool


def select(procs: Sequence[Proc], name: str) -> Selection:
    """The slots ``name`` means, in the master's order; SelectError if none."""
    s = name.strip() if isinstance(name, str) else ""
    if not s:
        raise SelectError(f"name a process or a group: {describe(procs)}")
    for p in procs:
        if p.name == s:
            return Selection(s, (p,), False)
    kind = KIND_GROUPS.get(s)
    if kind is not None:
        members = tuple(p for p in procs if p.kind == kind)
        if not members:
            raise SelectError(f"no {s}: the tree has none ({describe(procs)})")
        return Selection(s, members, True)
    for prefix in ("farm", "spooler"):
        for sep in ("_", ":"):
            if s.startswith(prefix + sep) and len(s) > len(prefix) + 1 and "#" not in s:
                return _named_group(procs, prefix, s[len(prefix) + 1:], s)
    m = _NUMBERED.match(s)
    if m:
        plural = m.group(1) + "s"
        raise SelectError(f"no process {s!r}: {_kind_phrase(procs, m.group(1), plural)}")
    if s.startswith("spooler:"):
        raise SelectError(f"no process {s!r}: {_kind_phrase(procs, 'spooler', 'spooler processes')}")
    choices = [p.name for p in procs] + groups(procs)
    close = difflib.get_close_matches(s, choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SelectError(f"no process or group {s!r}{hint}: {describe(procs)}")


def _named_group(procs: Sequence[Proc], prefix: str, value: str, raw: str) -> Selection:
    group = f"{prefix}:{value}"
    members = tuple(p for p in procs if group in p.groups)
    if members:
        return Selection(raw, members, True)
    known = sorted({g.split(":", 1)[1] for p in procs for g in p.groups
                    if g.startswith(prefix + ":")})
    close = difflib.get_close_matches(value, known, n=1)
    hint = f" (did you mean {prefix}_{close[0]}?)" if close else ""
    there = f"{prefix}s are {', '.join(known)}" if known else f"there are no {prefix}s"
    raise SelectError(f"no {prefix} {value!r}{hint}: {there}")


def groups(procs: Sequence[Proc]) -> list[str]:
    """The group names that mean at least one of ``procs``."""
    out = [g for g, kind in KIND_GROUPS.items() if any(p.kind == kind for p in procs)]
    for prefix in ("farm", "spooler"):
        out += sorted({f"{prefix}_{g.split(':', 1)[1]}" for p in procs for g in p.groups
                       if g.startswith(prefix + ":")})
    return out


def describe(procs: Sequence[Proc]) -> str:
    """What exists, for an error: ``processes are worker1..worker4, mule1; groups are ...``."""
    if not procs:
        return "the tree has no processes"
    names: list[str] = []
    for kind in dict.fromkeys(p.kind for p in procs):
        names.append(_span([p for p in procs if p.kind == kind]))
    return f"processes are {', '.join(names)}; groups are {', '.join(groups(procs))}" \
        if groups(procs) else f"processes are {', '.join(names)}"


def _kind_phrase(procs: Sequence[Proc], kind: str, plural: str) -> str:
    of_kind = [p for p in procs if p.kind == kind]
    if not of_kind:
        return f"there are no {plural}"
    return f"{plural} {'is' if len(of_kind) == 1 else 'are'} {_span(of_kind)}"


def _span(procs: Sequence[Proc]) -> str:
    """``worker1..worker4`` for a run of numbered slots, else their names."""
    indices = [p.index for p in procs]
    kind = procs[0].kind
    numbered = all(p.name == f"{kind}{p.index}" for p in procs)
    if numbered and len(procs) > 2 and indices == list(range(indices[0], indices[0] + len(procs))):
        return f"{procs[0].name}..{procs[-1].name}"
    return ", ".join(p.name for p in procs)


def posix_signal(value: str | int) -> int:
    """A POSIX signal by name (``TERM``, ``SIGHUP``, ``usr1``) or number; ValueError if it
    is none this system has."""
    if isinstance(value, bool):
        raise ValueError(f"not a signal: {value!r}")
    if isinstance(value, str):
        s = value.strip()
        if s.isdigit():
            value = int(s)
        else:
            upper = s.upper()
            name = upper if upper.startswith("SIG") else "SIG" + upper
            try:
                return int(signal.Signals[name])
            except KeyError:
                raise ValueError(f"unknown signal {value!r}: give a name (TERM, HUP, INT, "
                                 "USR1, USR2, KILL...) or a number") from None
    if not isinstance(value, int) or value not in signal.valid_signals():
        raise ValueError(f"no signal {value!r} on this system: give a name (TERM, HUP, INT, "
                         "USR1, USR2, KILL...) or a number")
    return value


def signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"
