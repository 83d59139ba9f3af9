"""TOML text -> :class:`~sigsup.config.schema.Config`, with strict validation.

Every problem is collected (not only the first) and reported with the file, the dotted
key path (``signals.17.target``, ``timers[2].seconds``; array indices are 0-based) and,
where it can be found, the line. An unknown key is a problem, with a "did you mean" hint
when one is close. ``bool`` is never taken for a number; an integer is accepted where a
float is expected; ``inf`` and ``nan`` are refused.

Paths (``supervisor.socket``, ``supervisor.pythonpath``, ``spoolers.NAME.dir``,
``monitors[i].path``) may start with ``~``; relative ones are relative to the directory
of the config file. Cron ``schedule`` also takes croniter's ``@daily``-style aliases.

The work is shared out: this module reads the file and puts the document together;
:mod:`~sigsup.config.sections` and :mod:`~sigsup.config.event_sources` build the
sections, from the field specs of :mod:`~sigsup.config.schema`; the values are checked by
the pure functions of :mod:`~sigsup.config.convert`.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sigsup.importing import HandlerImportError, resolve, resolve_handler
from sigsup.routing.targets import MULES, WORKERS, TreeShape

from . import caches as cache_sections
from . import event_sources, options, sections
from .lines import KeyPath
from .problems import ConfigError, Problem, format_problems
from .reader import BAD, Reader, unknown
from .schema import SECTIONS, Config

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["ConfigError", "Problem", "format_problems", "load_config", "parse_config"]


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
    doc = _parse_toml(text, display)
    r = Reader(display, text, Path(os.path.abspath(os.fspath(path))))
    # TOML integers are 64-bit; tomllib reads any size (0x with 20,000 digits): refuse them
    # here, so no check below meets an integer that float() or str() cannot take
    for key_path in _huge_integers(doc):
        r.err(key_path, "integer out of range: TOML integers are 64-bit (-2**63..2**63-1)")
    if r.problems:
        raise _error(r)
    config, sup = _build(r, doc, os.environ if env is None else env)
    if check_imports:
        _check_imports(r, sup)
    if r.problems:
        raise _error(r)
    assert config is not None
    return config


def _parse_toml(text: str, display: str) -> dict:
    try:
        return tomllib.loads(text)
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


def _error(r: Reader) -> ConfigError:
    """Every problem, in the order of the lines (those with no line last)."""
    return ConfigError(sorted(r.problems, key=lambda p: (p.line is None, p.line or 0)))


# -- the document ------------------------------------------------------------------------


def _build(r: Reader, doc: dict, env: Mapping[str, str]) -> tuple[Config | None, Any]:
    """The Config (None if there is a problem) and the [supervisor] as far as it went."""
    for key in doc:
        if key not in SECTIONS:
            r.err((key,), unknown(key, SECTIONS, "the top level", noun="section"))
    sup = sections.supervisor(r, r.section(doc, "supervisor"), env)
    workers, workers_ok = sections.workers(r, r.section(doc, "workers"))
    mules, mules_ok = sections.mules(r, r.section(doc, "mules"))
    farms, farms_ok = sections.farms(r, r.section(doc, "farms"),
                                     mules.count if mules_ok else None)
    spoolers = sections.spoolers(r, r.section(doc, "spoolers"))
    shape = TreeShape(workers=workers.count if workers_ok else 0,
                      mules=mules.count if mules_ok else 0,
                      farms=tuple(farms), spoolers=tuple(spoolers))
    broken = {WORKERS: not workers_ok, MULES: not mules_ok, "farm": not farms_ok}
    signals = sections.signals(r, r.section(doc, "signals"), shape, broken)
    tree_ok = not r.problems
    timers = event_sources.timers(r, doc, "timers", "timer")
    rb_timers = event_sources.timers(r, doc, "rb_timers", "rb_timer")
    crons = event_sources.crons(r, doc)
    monitors = event_sources.monitors(r, doc)
    caches = cache_sections.caches(r, r.section(doc, "caches"))
    app_options = options.options(r, r.section(doc, "options"))
    pgnotify = event_sources.pgnotify(r, doc, env)
    # an event source's signal needs a table entry, or a process that can signal_wait
    if tree_ok and not (workers.count or mules.count
                        or any(sp.processes for sp in spoolers.values())):
        for name, items in (("timers", timers), ("rb_timers", rb_timers), ("crons", crons),
                            ("monitors", monitors), ("pgnotify", pgnotify)):
            for i, src in enumerate(items):
                if isinstance(src.signal, int) and src.signal not in signals:
                    r.err((name, i, "signal"),
                          f"signal {src.signal} has no table entry ([signals.{src.signal}]),"
                          " and no worker, mule or spooler could wait for it in signal_wait")
    if r.problems:
        return None, sup
    config = Config(path=r.path, supervisor=sup, workers=workers, mules=mules,
                    farms=MappingProxyType(farms), spoolers=MappingProxyType(spoolers),
                    signals=MappingProxyType(dict(sorted(signals.items()))),
                    timers=tuple(timers), rb_timers=tuple(rb_timers), crons=tuple(crons),
                    monitors=tuple(monitors), caches=MappingProxyType(caches),
                    options=MappingProxyType(app_options), pgnotify=tuple(pgnotify))
    return config, sup


# -- imports -----------------------------------------------------------------------------


def _check_imports(r: Reader, sup: Any) -> None:
    """Put pythonpath first on sys.path, import preload modules, resolve handlers."""
    pythonpath = sup.pythonpath if sup is not BAD else ()
    preload = sup.preload if sup is not BAD else ()
    if pythonpath is BAD:
        return  # imports would fail for a reason already reported
    add_to_sys_path(pythonpath)
    if preload is not BAD:
        for i, module in enumerate(preload):
            try:
                importlib.import_module(module)
            except ImportError as exc:
                r.err(("supervisor", "preload", i), f"cannot import module {module!r}: {exc}")
            except (Exception, SystemExit) as exc:
                r.err(("supervisor", "preload", i),
                      f"importing {module!r} raised {type(exc).__name__}: {exc}")
    for path, handler in r.handlers:
        try:
            # a signal's handler is called as handler(signum): its signature is checked too
            (resolve_handler if path[:1] == ("signals",) else resolve)(handler)
        except HandlerImportError as exc:
            r.err(path, str(exc))
        except (Exception, SystemExit) as exc:  # pragma: no cover - resolve wraps these
            r.err(path, f"importing {handler!r} raised {type(exc).__name__}: {exc}")


def add_to_sys_path(entries: Iterable[Path]) -> None:
    """Put ``entries`` at the front of sys.path, in order (moving them if already there)."""
    new = [str(e) for e in entries]
    if not new:
        return
    sys.path[:] = new + [p for p in sys.path if p not in new]
    importlib.invalidate_caches()


# -- helpers -----------------------------------------------------------------------------


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
