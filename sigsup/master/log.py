"""The master's log: every line names its process and pid, like honcho's printer.

Lines from children arrive through their output pipes and are written by the master with
the same prefix, so one stream tells every process apart.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import TextIO

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
_COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")


class Log:
    def __init__(self, stream: TextIO | None = None, *, fmt: str = "text", level: str = "info",
                 colour: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.fmt = fmt
        self.level = LEVELS[level]
        if colour is None:
            colour = self.stream.isatty() and "NO_COLOR" not in os.environ
        self.colour = colour and fmt == "text"
        self._colour_of: dict[str, str] = {}
        self.width = 10

    def _tint(self, name: str) -> str:
        kind = name.rstrip("0123456789").split("#")[0]
        c = self._colour_of.get(kind)
        if c is None:
            c = _COLOURS[len(self._colour_of) % len(_COLOURS)]
            self._colour_of[kind] = c
        return c

    def line(self, name: str, pid: int, text: str, level: str = "info", **fields: object) -> None:
        if LEVELS.get(level, 20) < self.level:
            return
        now = time.time()
        if self.fmt == "json":
            rec = {"ts": round(now, 6), "process": name, "pid": pid, "level": level, "msg": text}
            rec.update(fields)
            out = json.dumps(rec, default=str)
        else:
            stamp = time.strftime("%H:%M:%S", time.localtime(now))
            label = f"{name}[{pid}]"
            self.width = max(self.width, len(label))
            label = label.ljust(self.width)
            if self.colour:
                c = "31" if level == "error" else self._tint(name)
                out = f"\x1b[2m{stamp}\x1b[0m \x1b[{c}m{label}\x1b[0m | {text}"
            else:
                out = f"{stamp} {label} | {text}"
        try:
            self.stream.write(out + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass

    def info(self, text: str, **fields: object) -> None:
        self.line("master", os.getpid(), text, "info", **fields)

    def warning(self, text: str, **fields: object) -> None:
        self.line("master", os.getpid(), text, "warning", **fields)

    def error(self, text: str, **fields: object) -> None:
        self.line("master", os.getpid(), text, "error", **fields)

    def debug(self, text: str, **fields: object) -> None:
        self.line("master", os.getpid(), text, "debug", **fields)
