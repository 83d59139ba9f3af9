"""The value checks of the config: pure functions, TOML value in, clean value out.

Each converter returns the clean value or raises :class:`Invalid` with every problem it
found, each at a key path relative to the value (``()`` for the value itself, ``(2,)`` for
the third item of an array). ``bool`` is never taken for a number; an integer is accepted
where a float is expected; ``inf`` and ``nan`` are refused. The loader records the
problems with the value's own key path and line (:mod:`sigsup.config.reader`).
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sigsup.importing import HandlerImportError, split_path
from sigsup.routing.table import SIGNALS, check_signum

from .lines import KeyPath

__all__ = [
    "MAX_SIGNAL", "Invalid", "alternatives", "array", "boolean", "cron_expression",
    "cron_field", "describe", "dotted", "each", "event_names", "file_path", "hint",
    "import_path", "integer", "module_name", "module_names", "num_text", "number",
    "number_key", "paths", "signal_number", "string", "timezone", "tree_name", "usable_name",
]

MAX_SIGNAL = SIGNALS - 1

_DIGITS = re.compile(r"[0-9]+")


class Invalid(ValueError):
    """A value that failed its check: ``problems`` lists (relative key path, message)."""

    def __init__(self, message: str = "", *,
                 problems: Sequence[tuple[KeyPath, str]] = ()) -> None:
        self.problems: list[tuple[KeyPath, str]] = [((), message)] if message else list(problems)
        super().__init__("; ".join(m for _, m in self.problems))


# -- describing values -------------------------------------------------------------------


def describe(value: Any) -> str:
    """``string "ten"``, ``boolean true``, ``integer 3``, ``an array``..."""
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {num_text(value)}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"string {json.dumps(shown, ensure_ascii=False)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, time):
        return "a time"
    return type(value).__name__  # pragma: no cover - tomllib makes nothing else


def num_text(v: float | int) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    return repr(v)


def alternatives(choices: Iterable[str]) -> str:
    """``'a', 'b' or 'c'``."""
    items = [repr(c) for c in choices]
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else items[0]


def hint(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when one of ``choices`` is close to ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def dotted(name: str) -> bool:
    """``app.handlers`` is; ``app-handlers`` and ``app..x`` are not."""
    return all(part.isidentifier() for part in name.split("."))


def number_key(key: str) -> int | None:
    """A table key made of digits (``"17"``, ``"007"``) as an int, else None."""
    if not _DIGITS.fullmatch(key):
        return None
    digits = key.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else None   # int() refuses over 4300 digits


# -- scalars -----------------------------------------------------------------------------


def integer(v: Any, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise Invalid(f"expected an integer, got {describe(v)}")
    if lo is not None and hi is not None and not lo <= v <= hi:
        raise Invalid(f"must be between {lo} and {hi}, got {v}")
    if lo is not None and v < lo:
        raise Invalid(f"must be at least {lo}, got {v}")
    if hi is not None and v > hi:
        raise Invalid(f"must be at most {hi}, got {v}")
    return v


def number(v: Any, lo: float | None = None, *, open_lo: bool = False) -> float:
    """A finite number, as a float; at least ``lo`` (greater than ``lo`` with ``open_lo``)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise Invalid(f"expected a number, got {describe(v)}")
    if isinstance(v, float) and not math.isfinite(v):
        raise Invalid(f"expected a finite number, got {describe(v)}")
    if lo is not None and (v <= lo if open_lo else v < lo):
        bound = "greater than" if open_lo else "at least"
        raise Invalid(f"must be {bound} {num_text(lo)}, got {num_text(v)}")
    return float(v)


def boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise Invalid(f"expected true or false, got {describe(v)}")
    return v


def string(v: Any, choices: tuple[str, ...] | None = None) -> str:
    if not isinstance(v, str):
        raise Invalid(f"expected a string, got {describe(v)}")
    if choices is not None and v not in choices:
        raise Invalid(f"must be {alternatives(choices)}, got {json.dumps(v)}{hint(v, choices)}")
    return v


def signal_number(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise Invalid(f"expected a signal number, got {describe(v)}")
    try:
        return check_signum(v)
    except ValueError:
        raise Invalid(f"signal numbers are 0..{MAX_SIGNAL}, got {v}") from None


def import_path(v: Any) -> str:
    """``package.module:function`` (or ``package.module.function``), stripped."""
    if not isinstance(v, str):
        raise Invalid(f"expected an import path string such as 'app.handlers:on_change', "
                      f"got {describe(v)}")
    try:
        module, attr = split_path(v)
    except HandlerImportError as exc:
        raise Invalid(str(exc)) from None
    if not (dotted(module) and dotted(attr)):
        raise Invalid(f"{v.strip()!r} is not an import path: write 'package.module:function'")
    return v.strip()


def tree_name(v: Any) -> str:
    """A supervisor name: it names the control socket file."""
    name = string(v)
    if not usable_name(name):
        raise Invalid(f"{name!r} cannot be used as a name: it names the control socket file "
                      "(no '/', not empty)")
    return name


def usable_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def file_path(v: Any, base: Path) -> Path:
    """An absolute, normalized path; ``~`` expanded, a relative one taken from ``base``."""
    if not isinstance(v, str):
        raise Invalid(f"expected a path string, got {describe(v)}")
    if not v.strip():
        raise Invalid("expected a path, got an empty string")
    if "\0" in v:
        raise Invalid("a path cannot contain a NUL character")
    p = os.path.expanduser(v)
    if not os.path.isabs(p):
        p = os.path.join(base, p)
    return Path(os.path.normpath(p))


# -- arrays ------------------------------------------------------------------------------


def array(v: Any, what: str) -> list:
    if not isinstance(v, list):
        raise Invalid(f"expected an array of {what}, got {describe(v)}")
    return v


def each(items: list, conv: Callable[..., Any], **kw: Any) -> tuple:
    """``conv`` applied to every item; the problems of all the items, or the values."""
    out = []
    problems: list[tuple[KeyPath, str]] = []
    for i, item in enumerate(items):
        try:
            out.append(conv(item, **kw))
        except Invalid as exc:
            problems.extend(((i, *sub), message) for sub, message in exc.problems)
    if problems:
        raise Invalid(problems=problems)
    return tuple(out)


def paths(v: Any, base: Path) -> tuple[Path, ...]:
    return each(array(v, "directory paths"), file_path, base=base)


def module_name(v: Any) -> str:
    name = string(v)
    if not dotted(name):
        raise Invalid(f"{name!r} is not a module name such as 'app.setup'")
    return name


def module_names(v: Any) -> tuple[str, ...]:
    return each(array(v, "module names"), module_name)


def event_names(v: Any, choices: tuple[str, ...]) -> tuple[str, ...]:
    """Some of ``choices`` (a file monitor's events), at least one, none twice."""
    items = array(v, f"event names ({alternatives(choices)})")
    if not items:
        raise Invalid(f"needs at least one of {alternatives(choices)}")
    seen: list[str] = []
    problems: list[tuple[KeyPath, str]] = []
    for i, item in enumerate(items):
        try:
            event = string(item, choices)
        except Invalid as exc:
            problems.extend(((i, *sub), message) for sub, message in exc.problems)
            continue
        if event in seen:
            problems.append(((i,), f"{event!r} is listed twice"))
        else:
            seen.append(event)
    if problems:
        raise Invalid(problems=problems)
    return tuple(seen)


# -- crons -------------------------------------------------------------------------------


def cron_field(v: Any, lo: int, hi: int) -> int:
    """One of uWSGI's cron fields: ``lo..hi``, ``-1`` (every) or ``-N`` (every N)."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise Invalid(f"expected an integer, got {describe(v)}")
    if lo <= v <= hi or -hi <= v <= -1:
        return v
    raise Invalid(f"must be {lo}..{hi}, -1 (every) or -N (every N, N up to {hi}), got {v}")


def cron_expression(v: Any) -> str:
    """A cron expression croniter reads (5 fields, 6 with seconds first, or ``@daily``...)
    that matches some date, with its whitespace normalized."""
    if not isinstance(v, str):
        raise Invalid(f"expected a cron expression string, got {describe(v)}")
    expr = " ".join(v.split())
    n = len(expr.split(" ")) if expr else 0
    if not expr.startswith("@") and n not in (5, 6):
        raise Invalid(f"a cron expression has 5 fields (minute hour day month weekday), "
                      f"or 6 with seconds first; {json.dumps(v)} has {n}")
    from croniter import croniter  # only for a config with crons: slow to import
    try:
        it = croniter(expr, datetime(2001, 1, 1), second_at_beginning=(n == 6))
        it.get_next(datetime)
    except Exception as exc:
        if type(exc).__name__ == "CroniterBadDateError":
            raise Invalid(f"{json.dumps(v)} never matches a date") from None
        raise Invalid(f"invalid cron expression {json.dumps(v)}: {exc}") from None
    return expr


def timezone(v: Any) -> str:
    """An IANA time zone name that this machine knows."""
    name = string(v)
    try:
        ZoneInfo(name)
    except Exception:
        raise Invalid(f"unknown time zone {json.dumps(name)}: use an IANA name such as "
                      "'Europe/Paris' or 'UTC'") from None
    return name
