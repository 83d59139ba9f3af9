"""Best-effort line numbers for key paths of a TOML document.

``tomllib`` gives no positions, so this module scans the text itself: table headers
(``[signals.17]``, the n-th ``[[timers]]``) and ``key =`` lines inside them. It skips
comments, strings (multi-line ones too) and values that span lines (arrays, inline
tables), so a ``[`` inside a value is never taken for a header. Keys inside inline
tables or arrays of inline tables are not located; :func:`find_line` then falls back to
the nearest enclosing key that was.

A key path is a tuple: table keys are strings (as written in TOML, so ``"17"``), array
indices are ints (0-based).
"""

from __future__ import annotations

import json
import re

__all__ = ["KeyPath", "find_line", "format_path", "key_lines"]

KeyPath = tuple  # tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def format_path(path: KeyPath) -> str:
    """``("timers", 2, "seconds")`` -> ``timers[2].seconds``; odd keys are quoted."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = part if _BARE.fullmatch(part) else json.dumps(part, ensure_ascii=False)
        out += f".{text}" if out else text
    return out


def find_line(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, else of its nearest enclosing key that has one, else None."""
    for end in range(len(path), 0, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every header and ``key =`` path found in ``text`` to its 1-based line."""
    return _Scanner(text).run()


class _Scanner:
    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.found: dict[KeyPath, int] = {}
        self.table: KeyPath = ()
        self.aot_last: dict[KeyPath, int] = {}  # resolved array-of-tables path -> last index
        self.ml_quote: str | None = None  # inside a multi-line string: its delimiter
        self.depth = 0  # open [ / { of a value that spans lines

    def run(self) -> dict[KeyPath, int]:
        for number, line in enumerate(self.lines, start=1):
            try:
                self._line(number, line)
            except _Skip:
                continue
        return self.found

    # -- one line ------------------------------------------------------------------------

    def _line(self, number: int, line: str) -> None:
        pos = 0
        if self.ml_quote is not None:
            end = line.find(self.ml_quote)
            if end < 0:
                return
            self.ml_quote = None
            pos = end + 3
            self._value(line, pos)
            return
        if self.depth > 0:
            self._value(line, 0)
            return
        pos = _skip_ws(line, 0)
        if pos >= len(line) or line[pos] == "#":
            return
        if line.startswith("[[", pos):
            keys, pos = _keys(line, pos + 2)
            if not line.startswith("]]", _skip_ws(line, pos)):
                raise _Skip
            self._header(number, keys, array=True)
        elif line[pos] == "[":
            keys, pos = _keys(line, pos + 1)
            if not line.startswith("]", _skip_ws(line, pos)):
                raise _Skip
            self._header(number, keys, array=False)
        else:
            keys, pos = _keys(line, pos)
            pos = _skip_ws(line, pos)
            if not line.startswith("=", pos):
                raise _Skip
            self.found.setdefault(self.table + tuple(keys), number)
            self._value(line, pos + 1)

    def _header(self, number: int, keys: list[str], *, array: bool) -> None:
        resolved: list[str | int] = []
        for i, key in enumerate(keys):
            resolved.append(key)
            last = i == len(keys) - 1
            if last and array:
                here = tuple(resolved)
                index = self.aot_last.get(here, -1) + 1
                self.aot_last[here] = index
                resolved.append(index)
            elif tuple(resolved) in self.aot_last:
                resolved.append(self.aot_last[tuple(resolved)])
        self.table = tuple(resolved)
        self.found.setdefault(self.table, number)

    # -- values: only tracked to know where they end ----------------------------------------

    def _value(self, line: str, pos: int) -> None:
        n = len(line)
        while pos < n:
            ch = line[pos]
            if ch == "#":
                return
            if ch in "[{":
                self.depth += 1
            elif ch in "]}":
                self.depth = max(0, self.depth - 1)
            elif ch in "\"'":
                triple = ch * 3
                if line.startswith(triple, pos):
                    end = line.find(triple, pos + 3)
                    if end < 0:
                        self.ml_quote = triple
                        return
                    pos = end + 3
                    # a closing delimiter may carry up to two more quotes
                    while pos < n and line[pos] == ch:
                        pos += 1
                    continue
                pos = _string_end(line, pos)
                continue
            pos += 1


class _Skip(Exception):
    """A line this scanner does not understand: ignore it."""


def _skip_ws(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    return pos


def _string_end(line: str, pos: int) -> int:
    """Index just past the one-line string that opens at ``pos``."""
    quote = line[pos]
    pos += 1
    while pos < len(line):
        ch = line[pos]
        if ch == "\\" and quote == '"':
            pos += 2
            continue
        if ch == quote:
            return pos + 1
        pos += 1
    return pos


def _keys(line: str, pos: int) -> tuple[list[str], int]:
    """Parse a dotted key starting at ``pos``; raise _Skip if there is none."""
    keys: list[str] = []
    while True:
        pos = _skip_ws(line, pos)
        if pos >= len(line):
            raise _Skip
        ch = line[pos]
        if ch in "\"'":
            end = _string_end(line, pos)
            raw = line[pos:end]
            if len(raw) < 2 or raw[-1] != ch:
                raise _Skip
            if ch == '"':
                try:
                    keys.append(json.loads(raw))
                except ValueError:
                    keys.append(raw[1:-1])
            else:
                keys.append(raw[1:-1])
            pos = end
        else:
            m = _BARE.match(line, pos)
            if not m:
                raise _Skip
            keys.append(m.group())
            pos = m.end()
        after = _skip_ws(line, pos)
        if after < len(line) and line[after] == ".":
            pos = after + 1
            continue
        return keys, pos
