"""TOML text -> :class:`~sigsup.config.schema.Config`, with strict validation.

Every problem is collected (not only the first) and reported with the file, the dotted
key path (``signals.17.target``, ``timers[2].seconds``; array indices are 0-based) and,
where it can be found, the line. An unknown key is a problem, with a "did you mean" hint
when one is close. ``bool`` is never taken for a number; an integer is accepted where a
float is expected; ``inf`` and ``nan`` are refused.

Paths (``supervisor.socket``, ``supervisor.pythonpath``, ``spoolers.NAME.dir``,
``monitors[i].path``) may start with ``~``; relative ones are relative to the directory
of the config file. Cron ``schedule`` also takes croniter's ``@daily``-style aliases.
"""

from __future__ import annotations

import difflib
import importlib
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

from sigsup.importing import HandlerImportError, resolve, split_path
from sigsup.routing.targets import (
    MULES,
    WORKERS,
    Target,
    TargetError,
    TreeShape,
    bind_target,
    parse_target,
)

from .lines import KeyPath, find_line, format_path, key_lines
from .schema import (
    MONITOR_EVENTS,
    Config,
    CronConfig,
    MonitorConfig,
    MulesConfig,
    SignalConfig,
    SpoolerConfig,
    SupervisorConfig,
    TimerConfig,
    WorkersConfig,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["ConfigError", "Problem", "format_problems", "load_config", "parse_config"]

SECTIONS = ("supervisor", "workers", "mules", "farms", "spoolers", "signals", "timers",
            "rb_timers", "crons", "monitors")
ON_FULL = ("reject", "coalesce")
MIN_TIMER_SECONDS = 0.01
MAX_SIGNAL = 255
# sun_path holds 108 bytes on Linux (104 elsewhere), the terminating NUL included
SOCKET_PATH_MAX = 107 if sys.platform.startswith("linux") else 103

_NAME = re.compile(r"[A-Za-z0-9_-]+")
_DIGITS = re.compile(r"[0-9]+")
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12),
                ("weekday", 0, 7))


# -- errors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file."""

    file: str  # the path as the user gave it
    key: str  # dotted key path, "" for the file as a whole
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """A config file that cannot be used; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def format_problems(err: ConfigError) -> str:
    """A human listing: ``sigsup.toml: 2 problems`` then one indented line per problem."""
    by_file: dict[str, list[Problem]] = {}
    for p in err.problems:
        by_file.setdefault(p.file, []).append(p)
    out = []
    for file, problems in by_file.items():
        n = len(problems)
        out.append(f"{file}: {n} problem{'' if n == 1 else 's'}\n")
        for p in problems:
            where = f"line {p.line}: " if p.line else ""
            key = f"{p.key}: " if p.key else ""
            out.append(f"  - {where}{key}{p.message}\n")
    return "".join(out)


# -- entry points ------------------------------------------------------------------------


def load_config(path: str | Path, *, check_imports: bool = False) -> Config:
    """Read and validate a config file; raises ConfigError listing every problem."""
    display = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError([Problem(display, "", "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(display, "", "is a directory, not a config file")]) from None
    except OSError as exc:
        raise ConfigError([Problem(display, "", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(display, "", f"not UTF-8 text: {exc}")]) from None
    return parse_config(text, path, check_imports=check_imports)


def parse_config(text: str, path: str | Path, *, check_imports: bool = False,
                 env: Mapping[str, str] | None = None) -> Config:
    """Validate TOML ``text`` read from ``path`` (used for messages and relative paths).

    With ``check_imports`` the pythonpath entries are put at the front of ``sys.path``
    (and left there), ``preload`` modules are imported and every handler path resolved.
    """
    display = str(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        line = getattr(exc, "lineno", None) or (int(m.group(1)) if m else None)
        raise ConfigError([Problem(display, "", f"invalid TOML: {exc}", line)]) from None
    except ValueError as exc:     # tomllib lets int() fail on a number of over 4300 digits
        raise ConfigError([Problem(display, "", f"invalid TOML: a number is too long ({exc})"
                                   )]) from None
    except RecursionError:
        raise ConfigError([Problem(display, "", "invalid TOML: arrays or tables nested too "
                                                "deeply")]) from None
    abs_path = Path(os.path.abspath(os.fspath(path)))
    builder = _Builder(display, text, abs_path, os.environ if env is None else env)
    # TOML integers are 64-bit; tomllib reads any size (0x with 20,000 digits): refuse them
    # here, so no check below meets an integer that float() or str() cannot take
    for key_path in _huge_integers(doc):
        builder.err(key_path, "integer out of range: TOML integers are 64-bit "
                              "(-2**63..2**63-1)")
    if builder.problems:
        raise ConfigError(sorted(builder.problems, key=lambda p: (p.line is None, p.line or 0)))
    config = builder.build(doc)
    if check_imports:
        builder.check_imports()
    if builder.problems:
        raise ConfigError(sorted(builder.problems, key=lambda p: (p.line is None, p.line or 0)))
    assert config is not None
    return config


# -- value checks ------------------------------------------------------------------------


class _Bad:
    """Marks a value that failed its check (its problem is already recorded)."""

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "<invalid>"


BAD: Any = _Bad()


def _ok(*values: Any) -> bool:
    return all(v is not BAD for v in values)


def describe(value: Any) -> str:
    """``string "ten"``, ``boolean true``, ``integer 3``, ``an array``..."""
    if isinstance(value, bool):
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, int):
        return f"integer {value}"
    if isinstance(value, float):
        return f"float {_num_text(value)}"
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


def _num_text(v: float | int) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    return repr(v)


class _Builder:
    def __init__(self, display: str, text: str, path: Path, env: Mapping[str, str]) -> None:
        self.display = display
        self.text = text
        self.path = path
        self.base = path.parent
        self.env = env
        self.problems: list[Problem] = []
        self._lines: dict[KeyPath, int] | None = None
        self.handlers: list[tuple[KeyPath, str]] = []  # for check_imports
        self.pythonpath: Any = ()
        self.preload: Any = ()

    # -- recording -----------------------------------------------------------------------

    def err(self, path: KeyPath, message: str) -> None:
        if self._lines is None:
            try:
                self._lines = key_lines(self.text)
            except Exception:  # pragma: no cover - line numbers are best effort
                self._lines = {}
        self.problems.append(Problem(self.display, format_path(path), message,
                                     find_line(self._lines, path)))

    # -- scalar converters: return the value or BAD ------------------------------------------

    def int_(self, path: KeyPath, v: Any, lo: int | None = None, hi: int | None = None) -> Any:
        if isinstance(v, bool) or not isinstance(v, int):
            self.err(path, f"expected an integer, got {describe(v)}")
            return BAD
        return self._range(path, v, lo, hi)

    def num(self, path: KeyPath, v: Any, lo: float | None = None, *, open_lo: bool = False,
            ) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.err(path, f"expected a number, got {describe(v)}")
            return BAD
        if isinstance(v, float) and not math.isfinite(v):
            self.err(path, f"expected a finite number, got {describe(v)}")
            return BAD
        if lo is not None and (v <= lo if open_lo else v < lo):
            bound = "greater than" if open_lo else "at least"
            self.err(path, f"must be {bound} {_num_text(lo)}, got {_num_text(v)}")
            return BAD
        return float(v)

    def _range(self, path: KeyPath, v: int, lo: int | None, hi: int | None) -> Any:
        if lo is not None and hi is not None and not lo <= v <= hi:
            self.err(path, f"must be between {lo} and {hi}, got {v}")
            return BAD
        if lo is not None and v < lo:
            self.err(path, f"must be at least {lo}, got {v}")
            return BAD
        if hi is not None and v > hi:
            self.err(path, f"must be at most {hi}, got {v}")
            return BAD
        return v

    def bool_(self, path: KeyPath, v: Any) -> Any:
        if not isinstance(v, bool):
            self.err(path, f"expected true or false, got {describe(v)}")
            return BAD
        return v

    def str_(self, path: KeyPath, v: Any, choices: tuple[str, ...] | None = None) -> Any:
        if not isinstance(v, str):
            self.err(path, f"expected a string, got {describe(v)}")
            return BAD
        if choices is not None and v not in choices:
            self.err(path, f"must be {_alternatives(choices)}, got {json.dumps(v)}"
                           f"{_hint(v, choices)}")
            return BAD
        return v

    def signal(self, path: KeyPath, v: Any) -> Any:
        if isinstance(v, bool) or not isinstance(v, int):
            self.err(path, f"expected a signal number, got {describe(v)}")
            return BAD
        if not 0 <= v <= MAX_SIGNAL:
            self.err(path, f"signal numbers are 0..{MAX_SIGNAL}, got {v}")
            return BAD
        return v

    def handler(self, path: KeyPath, v: Any) -> Any:
        if not isinstance(v, str):
            self.err(path, f"expected an import path string such as 'app.handlers:on_change', "
                           f"got {describe(v)}")
            return BAD
        try:
            module, attr = split_path(v)
        except HandlerImportError as exc:
            self.err(path, str(exc))
            return BAD
        if not (_dotted(module) and _dotted(attr)):
            self.err(path, f"{v.strip()!r} is not an import path: write 'package.module:function'")
            return BAD
        value = v.strip()
        self.handlers.append((path, value))
        return value

    def file_path(self, path: KeyPath, v: Any) -> Any:
        if not isinstance(v, str):
            self.err(path, f"expected a path string, got {describe(v)}")
            return BAD
        if not v.strip():
            self.err(path, "expected a path, got an empty string")
            return BAD
        if "\0" in v:
            self.err(path, "a path cannot contain a NUL character")
            return BAD
        p = os.path.expanduser(v)
        if not os.path.isabs(p):
            p = os.path.join(self.base, p)
        return Path(os.path.normpath(p))

    def array(self, path: KeyPath, v: Any, what: str) -> list | None:
        if not isinstance(v, list):
            self.err(path, f"expected an array of {what}, got {describe(v)}")
            return None
        return v

    def table(self, path: KeyPath, v: Any, allowed: tuple[str, ...] | None, where: str,
              ) -> dict | None:
        """Check that ``v`` is a table with only ``allowed`` keys (None: any key)."""
        if not isinstance(v, dict):
            self.err(path, f"expected a table ({where}), got {describe(v)}")
            return None
        if allowed is not None:
            for key in v:
                if key not in allowed:
                    self.err(path + (key,), _unknown(key, allowed, where) + _misplaced(key))
        return v

    def get(self, tbl: dict, path: KeyPath, key: str, conv: Any, default: Any = None, *,
            required: str | None = None, **kw: Any) -> Any:
        if key not in tbl:
            if required is not None:
                self.err(path + (key,), required)
                return BAD
            return default
        return conv(path + (key,), tbl[key], **kw)

    def array_of_tables(self, doc: dict, name: str) -> list[tuple[KeyPath, dict]]:
        if name not in doc:
            return []
        v = doc[name]
        if not isinstance(v, list):
            self.err((name,), f"expected an array of tables (write [[{name}]]), "
                              f"got {describe(v)}")
            return []
        out = []
        for i, item in enumerate(v):
            if not isinstance(item, dict):
                self.err((name, i), f"expected a table, got {describe(item)}")
                continue
            out.append(((name, i), item))
        return out

    # -- the document --------------------------------------------------------------------

    def build(self, doc: dict) -> Config | None:
        for key in doc:
            if key not in SECTIONS:
                self.err((key,), _unknown(key, SECTIONS, "the top level", noun="section"))
        sup = self.supervisor(self.section(doc, "supervisor"))
        workers, workers_ok = self.workers(self.section(doc, "workers"))
        mules, mules_ok = self.mules(self.section(doc, "mules"))
        farms, farms_ok = self.farms(self.section(doc, "farms"),
                                     mules.count if mules_ok else None)
        spoolers = self.spoolers(self.section(doc, "spoolers"))
        shape = TreeShape(workers=workers.count if workers_ok else 0,
                          mules=mules.count if mules_ok else 0,
                          farms=tuple(farms), spoolers=tuple(spoolers))
        broken = {WORKERS: not workers_ok, MULES: not mules_ok, "farm": not farms_ok}
        signals = self.signals(self.section(doc, "signals"), shape, broken)
        tree_ok = not self.problems
        timers = self.timers(doc, "timers", "timer")
        rb_timers = self.timers(doc, "rb_timers", "rb_timer")
        crons = self.crons(doc)
        monitors = self.monitors(doc)
        # an event source's signal needs a table entry, or a process that can signal_wait
        if tree_ok and not (workers.count or mules.count
                            or any(sp.processes for sp in spoolers.values())):
            for name, items in (("timers", timers), ("rb_timers", rb_timers), ("crons", crons),
                                ("monitors", monitors)):
                for i, src in enumerate(items):
                    if isinstance(src.signal, int) and src.signal not in signals:
                        self.err((name, i, "signal"),
                                 f"signal {src.signal} has no table entry ([signals.{src.signal}]),"
                                 " and no worker, mule or spooler could wait for it in signal_wait")
        if self.problems:
            return None
        return Config(path=self.path, supervisor=sup, workers=workers, mules=mules,
                      farms=MappingProxyType(farms), spoolers=MappingProxyType(spoolers),
                      signals=MappingProxyType(dict(sorted(signals.items()))),
                      timers=tuple(timers), rb_timers=tuple(rb_timers), crons=tuple(crons),
                      monitors=tuple(monitors))

    def section(self, doc: dict, name: str) -> dict | None:
        if name not in doc:
            return {}
        v = doc[name]
        if not isinstance(v, dict):
            self.err((name,), f"expected a table ([{name}]), got {describe(v)}")
            return None
        return v

    # -- [supervisor] --------------------------------------------------------------------

    _SUPERVISOR_KEYS = ("name", "socket", "pythonpath", "preload", "shutdown_timeout",
                        "harakiri", "queue_size", "window", "respawn_delay",
                        "respawn_delay_max", "failure_limit", "failure_window",
                        "failure_cooldown")

    def supervisor(self, tbl: dict | None) -> Any:
        p: KeyPath = ("supervisor",)
        if tbl is None:
            return BAD
        self.table(p, tbl, self._SUPERVISOR_KEYS, "[supervisor]")
        if "name" in tbl:
            name = self.str_(p + ("name",), tbl["name"])
            if name is not BAD and not _usable_name(name):
                self.err(p + ("name",), f"{name!r} cannot be used as a name: it names the "
                                        "control socket file (no '/', not empty)")
                name = BAD
        else:
            name = default_name(self.path)
            if not _usable_name(name):
                self.err(p + ("name",), f"the default name {name!r} (from the file name) "
                                        "cannot be used: set supervisor.name")
                name = BAD
        if "socket" in tbl:
            socket = self.file_path(p + ("socket",), tbl["socket"])
            given = True
        else:
            socket = default_socket(name, self.env) if name is not BAD else BAD
            given = False
        if socket is not BAD and len(os.fsencode(str(socket))) > SOCKET_PATH_MAX:
            self.err(p + ("socket",), f"{str(socket)!r} is {len(os.fsencode(str(socket)))} bytes "
                                      f"long; a unix socket path can be at most "
                                      f"{SOCKET_PATH_MAX}" + ("" if given else
                                                              ": set supervisor.socket"))
            socket = BAD
        self.pythonpath = self.get(tbl, p, "pythonpath", self._paths, ())
        self.preload = self.get(tbl, p, "preload", self._modules, ())
        f: dict[str, Any] = {
            "shutdown_timeout": self.get(tbl, p, "shutdown_timeout", self.num, 10.0, lo=0,
                                         open_lo=True),
            "harakiri": self.get(tbl, p, "harakiri", self.num, 0.0, lo=0),
            "queue_size": self.get(tbl, p, "queue_size", self.int_, 10000, lo=1),
            "window": self.get(tbl, p, "window", self.int_, 8, lo=1, hi=1024),
            "respawn_delay": self.get(tbl, p, "respawn_delay", self.num, 0.1, lo=0,
                                      open_lo=True),
            "respawn_delay_max": self.get(tbl, p, "respawn_delay_max", self.num, 30.0, lo=0,
                                          open_lo=True),
            "failure_limit": self.get(tbl, p, "failure_limit", self.int_, 5, lo=1),
            "failure_window": self.get(tbl, p, "failure_window", self.num, 10.0, lo=0,
                                       open_lo=True),
            "failure_cooldown": self.get(tbl, p, "failure_cooldown", self.num, 60.0, lo=0,
                                         open_lo=True),
        }
        delay, delay_max = f["respawn_delay"], f["respawn_delay_max"]
        if _ok(delay, delay_max) and delay_max < delay:
            self.err(p + ("respawn_delay_max",),
                     f"must be at least respawn_delay ({_num_text(delay)}), "
                     f"got {_num_text(delay_max)}")
        return SupervisorConfig(name=name, socket=socket, pythonpath=self.pythonpath,
                                preload=self.preload, **f)

    def _paths(self, path: KeyPath, v: Any) -> Any:
        items = self.array(path, v, "directory paths")
        if items is None:
            return BAD
        out = [self.file_path(path + (i,), item) for i, item in enumerate(items)]
        return tuple(out) if _ok(*out) else BAD

    def _modules(self, path: KeyPath, v: Any) -> Any:
        items = self.array(path, v, "module names")
        if items is None:
            return BAD
        out = []
        for i, item in enumerate(items):
            name = self.str_(path + (i,), item)
            if name is not BAD and not _dotted(name):
                self.err(path + (i,), f"{name!r} is not a module name such as 'app.setup'")
                name = BAD
            out.append(name)
        return tuple(out) if _ok(*out) else BAD

    # -- [workers] [mules] [farms] [spoolers.NAME] -------------------------------------------

    def workers(self, tbl: dict | None) -> tuple[Any, bool]:
        p: KeyPath = ("workers",)
        if tbl is None:
            return WorkersConfig(), False
        self.table(p, tbl, ("count", "cheaper", "cheaper_idle"), "[workers]")
        count = self.get(tbl, p, "count", self.int_, 1, lo=0)
        cheaper = self.get(tbl, p, "cheaper", self.int_, None, lo=0)
        idle = self.get(tbl, p, "cheaper_idle", self.num, 10.0, lo=0, open_lo=True)
        if _ok(count) and cheaper not in (None, BAD) and cheaper > count:
            self.err(p + ("cheaper",), f"must be at most workers.count ({count}), got {cheaper}")
        return WorkersConfig(count=count, cheaper=cheaper, cheaper_idle=idle), _ok(count)

    def mules(self, tbl: dict | None) -> tuple[Any, bool]:
        p: KeyPath = ("mules",)
        if tbl is None:
            return MulesConfig(), False
        self.table(p, tbl, ("count", "main", "message_handler"), "[mules]")
        count = self.get(tbl, p, "count", self.int_, 0, lo=0)
        programs: dict[int, str] = {}
        main = tbl.get("main", {})
        if self.table(p + ("main",), main, None, "[mules.main]: mule id = import path") is None:
            main = {}
        for key, value in main.items():
            kp = p + ("main", key)
            mule = _number_key(key)
            if mule is None or mule < 1:
                self.err(kp, "mule ids are whole numbers from 1 (mule1 is the first mule)")
            elif _ok(count) and mule > count:
                self.err(kp, f"no mule {mule} (mules.count is {count})")
            elif mule in programs:
                self.err(kp, f"mule {mule} already has a program")
            handler = self.handler(kp, value)
            if mule is not None:
                programs.setdefault(mule, handler)
        message_handler = self.get(tbl, p, "message_handler", self.handler, None)
        return (MulesConfig(count=count, programs=MappingProxyType(dict(sorted(programs.items()))),
                            message_handler=message_handler), _ok(count))

    def farms(self, tbl: dict | None, mules: int | None) -> tuple[dict[str, tuple[int, ...]], bool]:
        if tbl is None:
            return {}, False
        before = len(self.problems)
        out: dict[str, tuple[int, ...]] = {}
        for name, value in tbl.items():
            kp: KeyPath = ("farms", name)
            if not _NAME.fullmatch(name):
                self.err(kp, "a farm name is made of letters, digits, '_' and '-'")
                continue
            ids = self.array(kp, value, "mule ids, e.g. [1, 2]")
            if ids is None:
                continue
            if not ids:
                self.err(kp, "a farm needs at least one mule")
                continue
            seen: list[int] = []
            for i, item in enumerate(ids):
                mule = self.int_(kp + (i,), item)
                if mule is BAD:
                    continue
                if mule < 1:
                    self.err(kp + (i,), f"mule ids start at 1, got {mule}")
                elif mules is not None and mule > mules:
                    self.err(kp + (i,), f"no mule {mule} (mules.count is {mules})")
                elif mule in seen:
                    self.err(kp + (i,), f"mule {mule} is listed twice")
                else:
                    seen.append(mule)
            out[name] = tuple(seen)
        return out, len(self.problems) == before

    _SPOOLER_KEYS = ("dir", "processes", "handler", "max_retries", "retry_backoff",
                     "retry_backoff_max", "harakiri")

    def spoolers(self, tbl: dict | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if tbl is None:
            return out
        dirs: dict[Path, str] = {}
        for name, value in tbl.items():
            p: KeyPath = ("spoolers", name)
            if not _NAME.fullmatch(name):
                self.err(p, "a spooler name is made of letters, digits, '_' and '-'")
                continue
            # the name is valid: targets may use it even when the table has problems
            t = self.table(p, value, self._SPOOLER_KEYS, "[spoolers.NAME]")
            if t is None:
                out[name] = BAD
                continue
            spool_dir = self.get(t, p, "dir", self.file_path,
                                 required="required: the directory that holds this "
                                          "spooler's jobs")
            if spool_dir is not BAD:
                if spool_dir in dirs:
                    self.err(p + ("dir",), f"spoolers.{dirs[spool_dir]} already uses "
                                           f"{str(spool_dir)!r}")
                else:
                    dirs[spool_dir] = name
            backoff = self.get(t, p, "retry_backoff", self.num, 2.0, lo=0, open_lo=True)
            backoff_max = self.get(t, p, "retry_backoff_max", self.num, 300.0, lo=0,
                                   open_lo=True)
            if _ok(backoff, backoff_max) and backoff_max < backoff:
                self.err(p + ("retry_backoff_max",),
                         f"must be at least retry_backoff ({_num_text(backoff)}), "
                         f"got {_num_text(backoff_max)}")
            out[name] = SpoolerConfig(
                name=name, dir=spool_dir,
                processes=self.get(t, p, "processes", self.int_, 1, lo=1),
                handler=self.get(t, p, "handler", self.handler, None),
                max_retries=self.get(t, p, "max_retries", self.int_, 5, lo=0),
                retry_backoff=backoff, retry_backoff_max=backoff_max,
                harakiri=self.get(t, p, "harakiri", self.num, 0.0, lo=0),
            )
        return out

    # -- [signals.N] ---------------------------------------------------------------------

    def signals(self, tbl: dict | None, shape: TreeShape, broken: dict[str, bool],
                ) -> dict[int, SignalConfig]:
        out: dict[int, SignalConfig] = {}
        if tbl is None:
            return out
        keys: dict[int, str] = {}
        for key, value in tbl.items():
            p: KeyPath = ("signals", key)
            num = _number_key(key)
            if num is None or num > MAX_SIGNAL:
                self.err(p, f"signal numbers are 0..{MAX_SIGNAL}{_misplaced(key)}")
                continue
            if num in keys:
                self.err(p, f"signal {num} is already declared as [signals.{keys[num]}]")
                continue
            keys[num] = key
            t = self.table(p, value, ("handler", "target", "on_full"), "[signals.N]")
            if t is None:
                continue
            handler = self.get(t, p, "handler", self.handler,
                               required="required: the import path of the function that "
                                        "handles this signal, e.g. 'app.handlers:on_reload'")
            target = self.target(p + ("target",), t.get("target"), shape, broken)
            on_full = self.get(t, p, "on_full", self.str_, "reject", choices=ON_FULL)
            out[num] = SignalConfig(num=num, handler=handler, target=target, on_full=on_full)
        return out

    def target(self, path: KeyPath, raw: Any, shape: TreeShape, broken: dict[str, bool],
               ) -> Any:
        defaulted = raw is None
        if defaulted:
            raw = "worker"
        elif not isinstance(raw, str):
            self.err(path, f"expected a target string such as 'worker' or 'mule2', "
                           f"got {describe(raw)}")
            return BAD
        try:
            target: Target = parse_target(raw)
        except TargetError as exc:
            self.err(path, str(exc))
            return BAD
        group = target.group
        if ((group == WORKERS and broken[WORKERS]) or (group == MULES and broken[MULES])
                or (group.startswith("farm") and broken["farm"])):
            return BAD  # the section it depends on already has a problem: don't pile on
        try:
            return bind_target(target, shape)
        except TargetError as exc:
            extra = " (a signal's target defaults to 'worker')" if defaulted else ""
            self.err(path, f"{exc}{extra}")
            return BAD

    # -- event sources -------------------------------------------------------------------

    def timers(self, doc: dict, name: str, kind: str) -> list[TimerConfig]:
        out = []
        for p, t in self.array_of_tables(doc, name):
            self.table(p, t, ("signal", "seconds", "iterations"), f"[[{name}]]")
            out.append(TimerConfig(
                kind=kind,
                signal=self.get(t, p, "signal", self.signal,
                                required="required: the number of the signal to raise"),
                seconds=self.get(t, p, "seconds", self.num, required="required: the period "
                                 "in seconds", lo=MIN_TIMER_SECONDS),
                iterations=self.get(t, p, "iterations", self.int_, 0, lo=0),
            ))
        return out

    _CRON_KEYS = ("signal", "schedule", "timezone", "iterations", "misfire_grace",
                  *(f[0] for f in _CRON_FIELDS))

    def crons(self, doc: dict) -> list[CronConfig]:
        out = []
        for p, t in self.array_of_tables(doc, "crons"):
            self.table(p, t, self._CRON_KEYS, "[[crons]]")
            signal = self.get(t, p, "signal", self.signal,
                                required="required: the number of the signal to raise")
            given = [f for f, _, _ in _CRON_FIELDS if f in t]
            schedule: Any = None
            fields: Any = None
            if "schedule" in t and given:
                self.err(p + ("schedule",), "give either schedule or the uWSGI fields "
                                            f"({', '.join(given)}), not both")
                schedule = BAD
            elif "schedule" in t:
                schedule = self.cron_expression(p + ("schedule",), t["schedule"])
            elif given:
                values = [self.get(t, p, f, self.cron_field, -1, lo=lo, hi=hi)
                          for f, lo, hi in _CRON_FIELDS]
                fields = tuple(values) if _ok(*values) else BAD
                if fields is not BAD:
                    from sigsup.sources.cron import uwsgi_schedule
                    try:
                        uwsgi_schedule(fields)
                    except ValueError as exc:   # valid fields that never match (Feb 31st)
                        self.err(p, str(exc))
                        fields = BAD
            else:
                self.err(p, "needs a schedule (a cron expression such as '*/5 * * * *') or "
                            "the uWSGI fields minute, hour, day, month, weekday")
                schedule = BAD
            out.append(CronConfig(
                signal=signal, schedule=schedule, fields=fields,
                timezone=self.get(t, p, "timezone", self.timezone, None),
                iterations=self.get(t, p, "iterations", self.int_, 0, lo=0),
                misfire_grace=self.get(t, p, "misfire_grace", self.num, 60.0, lo=0),
            ))
        return out

    def cron_field(self, path: KeyPath, v: Any, lo: int, hi: int) -> Any:
        if isinstance(v, bool) or not isinstance(v, int):
            self.err(path, f"expected an integer, got {describe(v)}")
            return BAD
        if lo <= v <= hi or -hi <= v <= -1:
            return v
        self.err(path, f"must be {lo}..{hi}, -1 (every) or -N (every N, N up to {hi}), got {v}")
        return BAD

    def cron_expression(self, path: KeyPath, v: Any) -> Any:
        if not isinstance(v, str):
            self.err(path, f"expected a cron expression string, got {describe(v)}")
            return BAD
        expr = " ".join(v.split())
        n = len(expr.split(" ")) if expr else 0
        if not expr.startswith("@") and n not in (5, 6):
            self.err(path, f"a cron expression has 5 fields (minute hour day month weekday), "
                           f"or 6 with seconds first; {json.dumps(v)} has {n}")
            return BAD
        from croniter import croniter  # only for a config with crons: slow to import
        try:
            it = croniter(expr, datetime(2001, 1, 1), second_at_beginning=(n == 6))
            it.get_next(datetime)
        except Exception as exc:
            if type(exc).__name__ == "CroniterBadDateError":
                self.err(path, f"{json.dumps(v)} never matches a date")
            else:
                self.err(path, f"invalid cron expression {json.dumps(v)}: {exc}")
            return BAD
        return expr

    def timezone(self, path: KeyPath, v: Any) -> Any:
        name = self.str_(path, v)
        if name is BAD:
            return BAD
        try:
            ZoneInfo(name)
        except Exception:
            self.err(path, f"unknown time zone {json.dumps(name)}: use an IANA name such as "
                           "'Europe/Paris' or 'UTC'")
            return BAD
        return name

    _MONITOR_KEYS = ("signal", "path", "recursive", "events", "debounce", "iterations",
                     "wait_for_path")

    def monitors(self, doc: dict) -> list[MonitorConfig]:
        out = []
        for p, t in self.array_of_tables(doc, "monitors"):
            self.table(p, t, self._MONITOR_KEYS, "[[monitors]]")
            path = self.get(t, p, "path", self.file_path,
                            required="required: the file or directory to watch")
            wait = self.get(t, p, "wait_for_path", self.bool_, False)
            if path is not BAD and wait is False:
                try:
                    missing = not path.exists()
                except OSError as exc:   # a name too long, a loop of symlinks...
                    self.err(p + ("path",), f"cannot use {str(path)!r}: {exc.strerror or exc}")
                    path = BAD
                    missing = False
                if missing:
                    self.err(p + ("path",), f"{str(path)!r} does not exist "
                                            "(set wait_for_path = true to wait for it)")
            out.append(MonitorConfig(
                signal=self.get(t, p, "signal", self.signal,
                                required="required: the number of the signal to raise"),
                path=path,
                recursive=self.get(t, p, "recursive", self.bool_, False),
                events=self.get(t, p, "events", self.events, MONITOR_EVENTS),
                debounce=self.get(t, p, "debounce", self.num, 0.1, lo=0),
                iterations=self.get(t, p, "iterations", self.int_, 0, lo=0),
                wait_for_path=wait,
            ))
        return out

    def events(self, path: KeyPath, v: Any) -> Any:
        items = self.array(path, v, f"event names ({_alternatives(MONITOR_EVENTS)})")
        if items is None:
            return BAD
        if not items:
            self.err(path, f"needs at least one of {_alternatives(MONITOR_EVENTS)}")
            return BAD
        out = []
        for i, item in enumerate(items):
            event = self.str_(path + (i,), item, MONITOR_EVENTS)
            if event is not BAD and event in out:
                self.err(path + (i,), f"{event!r} is listed twice")
                event = BAD
            out.append(event)
        return tuple(out) if _ok(*out) else BAD

    # -- imports -------------------------------------------------------------------------

    def check_imports(self) -> None:
        """Put pythonpath first on sys.path, import preload modules, resolve handlers."""
        if self.pythonpath is BAD:
            return  # imports would fail for a reason already reported
        add_to_sys_path(self.pythonpath)
        if self.preload is not BAD:
            for i, module in enumerate(self.preload):
                try:
                    importlib.import_module(module)
                except ImportError as exc:
                    self.err(("supervisor", "preload", i),
                             f"cannot import module {module!r}: {exc}")
                except (Exception, SystemExit) as exc:
                    self.err(("supervisor", "preload", i),
                             f"importing {module!r} raised {type(exc).__name__}: {exc}")
        for path, handler in self.handlers:
            try:
                resolve(handler)
            except HandlerImportError as exc:
                self.err(path, str(exc))
            except (Exception, SystemExit) as exc:  # pragma: no cover - resolve wraps these
                self.err(path, f"importing {handler!r} raised {type(exc).__name__}: {exc}")


# -- helpers ---------------------------------------------------------------------------


def add_to_sys_path(entries: Iterable[Path]) -> None:
    """Put ``entries`` at the front of sys.path, in order (moving them if already there)."""
    new = [str(e) for e in entries]
    if not new:
        return
    sys.path[:] = new + [p for p in sys.path if p not in new]
    importlib.invalidate_caches()


def default_name(path: Path) -> str:
    """``sigsup.toml`` -> ``sigsup``; ``sigsup.toml.example`` -> ``sigsup``."""
    name = path.name
    cut = name.find(".toml")
    if cut > 0:
        return name[:cut]
    return path.stem or name


def default_socket(name: str, env: Mapping[str, str]) -> Path:
    runtime = env.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        return Path(runtime) / "sigsup" / f"{name}.sock"
    return Path(f"/tmp/sigsup-{os.getuid()}") / f"{name}.sock"


def _usable_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def _dotted(name: str) -> bool:
    return all(part.isidentifier() for part in name.split("."))


def _number_key(key: str) -> int | None:
    if not _DIGITS.fullmatch(key):
        return None
    digits = key.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else None   # int() refuses over 4300 digits


def _huge_integers(doc: Any) -> list[KeyPath]:
    """Key paths of the integers outside TOML's 64-bit range."""
    out: list[KeyPath] = []
    stack: list[tuple[KeyPath, Any]] = [((), doc)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, dict):
            stack.extend((path + (k,), x) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((path + (i,), x) for i, x in enumerate(v))
        elif isinstance(v, int) and not isinstance(v, bool) and not -2**63 <= v < 2**63:
            out.append(path)
    return out


def _alternatives(choices: Iterable[str]) -> str:
    items = [repr(c) for c in choices]
    return ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else items[0]


def _hint(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _unknown(key: str, allowed: Iterable[str], where: str, noun: str = "key") -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown {noun}; did you mean {close[0]!r}?"
    return f"unknown {noun}; {where} takes: {', '.join(allowed)}"


def _misplaced(key: str) -> str:
    """A hint for a top-level section written after a table header, which TOML nests."""
    if key in SECTIONS:
        return (f" ({key!r} is a top-level section: a key written after a [table] header "
                "belongs to that table, so move it above the first header)")
    return ""
