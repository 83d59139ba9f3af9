"""The master's log: every line names its process and pid, like honcho's printer.

Lines from children arrive through their output pipes and are written by the master with
the same prefix, so one stream tells every process apart:

    12:04:31 master[4120]            | worker2 [4127] exited (exit code 1); respawning in 0.2 s
    12:04:31 worker1[4126]           | signal 17: handler handlers:on_change raised:
    12:04:31 worker1[4126]           | Traceback (most recent call last):
    12:04:31 worker1[4126]           |   File "handlers.py", line 12, in on_change

Colours (only on a terminal, never with NO_COLOR): each kind of process its own colour,
warnings yellow, errors and tracebacks red. ``fmt="json"`` writes one JSON object a line:
``{"ts", "time", "process", "pid", "level", "msg", ...fields}``.

Levels filter the master's own lines (``--quiet``: warnings and errors; ``--verbose``: debug
too). What children print is their output, not the master's chatter: it is always written.
A traceback a child prints is recognised and its lines get level ``error``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from typing import TextIO

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")
_LEVEL_COLOUR = {"warning": "33", "error": "31"}
MASTER = "master"

TB_START = "Traceback (most recent call last):"
# lines inside a traceback that are not indented
_TB_CONTINUE = ("During handling of the above exception", "The above exception was the direct",
                "Exception Group Traceback", "  + Exception Group Traceback")


class Log:
    def __init__(self, stream: TextIO | None = None, *, fmt: str = "text", level: str = "info",
                 colour: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.fmt = fmt
        self.level = LEVELS[level]
        if colour is None:
            try:
                colour = self.stream.isatty() and "NO_COLOR" not in os.environ
            except (AttributeError, ValueError):
                colour = False
        self.colour = colour and fmt == "text"
        self._colour_of: dict[str, str] = {}
        self.width = 10
        self._in_traceback: set[str] = set()   # processes in the middle of printing one

    def reserve(self, names: Iterable[str], pid: int = 0) -> None:
        """Make the prefix column wide enough for ``names`` with pids as long as ``pid``."""
        digits = max(len(str(pid)), 5)
        for name in names:
            self.width = max(self.width, len(name) + digits + 2)

    def _tint(self, name: str) -> str:
        kind = name.rstrip("0123456789").split("#")[0].split(":")[0]
        c = self._colour_of.get(kind)
        if c is None:
            c = _COLOURS[len(self._colour_of) % len(_COLOURS)]
            self._colour_of[kind] = c
        return c

    def _traceback_level(self, name: str, text: str, level: str) -> str:
        """``error`` for the lines of a traceback a child prints, ``level`` otherwise."""
        inside = name in self._in_traceback
        if text.startswith(TB_START):
            self._in_traceback.add(name)
            return "error"
        if not inside:
            if text.startswith("signal ") and text.endswith(" raised:"):
                return "error"   # the child loop's line just before a handler's traceback
            return level
        if not text or text[0] in " \t" or text.startswith(_TB_CONTINUE):
            return "error"
        self._in_traceback.discard(name)   # "ValueError: boom": the last line of it
        return "error"

    def line(self, name: str, pid: int, text: str, level: str = "info", **fields: object) -> None:
        """One line of a child's output (or, through info/warning/..., of the master's)."""
        if name == MASTER:
            if LEVELS.get(level, 20) < self.level:
                return
        else:
            level = self._traceback_level(name, text, level)
        self._write(name, pid, text, level, fields)

    def _write(self, name: str, pid: int, text: str, level: str, fields: dict[str, object]) -> None:
        now = time.time()
        if self.fmt == "json":
            rec = {"ts": round(now, 6),
                   "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
                   + f".{int(now % 1 * 1000):03d}" + time.strftime("%z", time.localtime(now)),
                   "process": name, "pid": pid, "level": level, "msg": text}
            rec.update(fields)
            out = json.dumps(rec, default=str)
        else:
            stamp = time.strftime("%H:%M:%S", time.localtime(now))
            label = f"{name}[{pid}]"
            self.width = max(self.width, len(label))
            label = label.ljust(self.width)
            if self.colour:
                c = "31" if level == "error" else self._tint(name)
                lc = _LEVEL_COLOUR.get(level)
                head = f"\x1b[2m{stamp}\x1b[0m \x1b[{c}m{label}\x1b[0m | "
                tail = "" if lc is None else "\x1b[0m"
                head += "" if lc is None else f"\x1b[{lc}m"
            else:
                head, tail = f"{stamp} {label} | ", ""
            # a message of several lines keeps the prefix on each of them
            out = "\n".join(head + part + tail for part in text.split("\n"))
        try:
            self.stream.write(out + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass

    def info(self, text: str, **fields: object) -> None:
        self.line(MASTER, os.getpid(), text, "info", **fields)

    def warning(self, text: str, **fields: object) -> None:
        self.line(MASTER, os.getpid(), text, "warning", **fields)

    def error(self, text: str, **fields: object) -> None:
        self.line(MASTER, os.getpid(), text, "error", **fields)

    def debug(self, text: str, **fields: object) -> None:
        self.line(MASTER, os.getpid(), text, "debug", **fields)
