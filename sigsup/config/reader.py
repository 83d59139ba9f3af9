"""Reading the tables of one TOML document: each problem recorded with its key path and
line, values read through the schema's field specs.

A value that failed its check is :data:`BAD` (its problem is already recorded), so the
builders go on and report every problem of the file, not only the first.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .convert import Invalid, describe, import_path
from .fieldspec import Spec, specs
from .lines import KeyPath, find_line, format_path, key_lines
from .problems import Problem
from .schema import SECTIONS

__all__ = ["BAD", "Reader", "ok"]


class _Bad:
    """Marks a value that failed its check (its problem is already recorded)."""

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "<invalid>"


BAD: Any = _Bad()


def ok(*values: Any) -> bool:
    return all(v is not BAD for v in values)


class Reader:
    """The problems of one document, and the handler paths met on the way."""

    def __init__(self, display: str, text: str, path: Path) -> None:
        self.display = display  # the file as the user named it
        self.text = text
        self.path = path  # absolute
        self.base = path.parent  # relative paths are relative to this
        self.problems: list[Problem] = []
        self._lines: dict[KeyPath, int] | None = None
        self.handlers: list[tuple[KeyPath, str]] = []  # for check_imports

    def err(self, path: KeyPath, message: str) -> None:
        if self._lines is None:
            try:
                self._lines = key_lines(self.text)
            except Exception:  # pragma: no cover - line numbers are best effort
                self._lines = {}
        self.problems.append(Problem(self.display, format_path(path), message,
                                     find_line(self._lines, path)))

    # -- values --------------------------------------------------------------------------

    def check(self, path: KeyPath, v: Any, conv: Callable[..., Any], **kw: Any) -> Any:
        """``conv(v, **kw)``, or BAD with its problems recorded under ``path``."""
        try:
            return conv(v, **kw)
        except Invalid as exc:
            for sub, message in exc.problems:
                self.err(path + sub, message)
            return BAD

    def handler(self, path: KeyPath, v: Any) -> Any:
        """An import path, kept for check_imports."""
        value = self.check(path, v, import_path)
        if value is not BAD:
            self.handlers.append((path, value))
        return value

    def convert(self, path: KeyPath, v: Any, spec: Spec) -> Any:
        """``v`` checked as the field ``spec`` says."""
        s = spec.setting
        assert s.conv is not None, f"{spec.name} is read by its section's builder"
        kw = dict(s.options, base=self.base) if s.relative else s.options
        value = self.check(path, v, s.conv, **kw)
        if s.imported and value is not BAD:
            self.handlers.append((path, value))
        return value

    def value(self, tbl: dict, path: KeyPath, spec: Spec) -> Any:
        """The field ``spec`` of the table ``tbl`` at ``path``: its key's value checked, or
        the field's default, or BAD when a required key is missing."""
        if spec.key not in tbl:
            if spec.setting.required is not None:
                self.err(path + (spec.key,), spec.setting.required)
                return BAD
            return spec.default()
        return self.convert(path + (spec.key,), tbl[spec.key], spec)

    def values(self, tbl: dict, path: KeyPath, cls: type, skip: Iterable[str] = (),
               ) -> dict[str, Any]:
        """The fields of ``cls`` read from a key of their own with a converter (all but
        ``skip``), in declaration order: what the problems' order follows."""
        skip = set(skip)
        return {n: self.value(tbl, path, s) for n, s in specs(cls).items()
                if n not in skip and s.setting.key is not None and s.setting.conv is not None}

    # -- tables and arrays ---------------------------------------------------------------

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
                    self.err(path + (key,), unknown(key, allowed, where) + misplaced(key))
        return v

    def section(self, doc: dict, name: str) -> dict | None:
        """The table ``[name]``: {} when absent, None (a problem) when not a table."""
        if name not in doc:
            return {}
        v = doc[name]
        if not isinstance(v, dict):
            self.err((name,), f"expected a table ([{name}]), got {describe(v)}")
            return None
        return v

    def array_of_tables(self, doc: dict, name: str) -> list[tuple[KeyPath, dict]]:
        """The tables of ``[[name]]``, each with its key path."""
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


# -- messages ----------------------------------------------------------------------------


def unknown(key: str, allowed: Iterable[str], where: str, noun: str = "key") -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"unknown {noun}; did you mean {close[0]!r}?"
    return f"unknown {noun}; {where} takes: {', '.join(allowed)}"


def misplaced(key: str) -> str:
    """A hint for a top-level section written after a table header, which TOML nests."""
    if key in SECTIONS:
        return (f" ({key!r} is a top-level section: a key written after a [table] header "
                "belongs to that table, so move it above the first header)")
    return ""
