"""The live status views: ``sigsup status --watch`` / ``sigsup top``, and ``--json --watch``.

A client of the control socket, one request a refresh. It outlives the master: while no
master answers it says so ("master not running at PATH") and keeps asking, so a master
that restarts is picked up again. Ctrl-C leaves cleanly (exit 0).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from sigsup.protocol.control import NoMaster, request
from sigsup.status.render import render_problem, render_status

Fetched = tuple[dict[str, Any] | None, str, str]   # (status, problem, detail)


class StatusSource:
    """Fetches status documents; ``locate`` gives the socket path (it may raise to say
    that no master can be found, and is asked again on the next try)."""

    def __init__(self, locate: Callable[[], str], timeout: float = 5.0) -> None:
        self.locate = locate
        self.timeout = timeout
        self.path: str | None = None
        self.last_seen: float | None = None    # wall clock of the last good answer

    def fetch(self) -> Fetched:
        try:
            self.path = self.locate()
        except Exception as exc:   # LocateError, or a config that no longer loads
            return None, "master not running", str(exc)
        try:
            reply = request(self.path, {"cmd": "status"}, self.timeout)
        except NoMaster as exc:
            reason = str(exc).split(" (", 1)[1].rstrip(")") if " (" in str(exc) else str(exc)
            return None, f"master not running at {self.path}", reason
        except TimeoutError:
            return None, f"the master at {self.path} does not answer", \
                f"no reply within {self.timeout:g} s (busy, or stopped?)"
        except (ConnectionError, OSError) as exc:
            return None, f"lost the master at {self.path}", str(exc)
        if not reply.get("ok"):
            return None, f"the master at {self.path} refused the status request", \
                str(reply.get("error"))
        self.last_seen = time.time()
        return reply["status"], "", ""


def _footer(interval: float, source: StatusSource, ok: bool) -> Text:
    t = Text(style="dim")
    t.append(f"every {interval:g} s · {time.strftime('%H:%M:%S')} · Ctrl-C quits")
    if not ok:
        seen = (f"last answer {time.strftime('%H:%M:%S', time.localtime(source.last_seen))}"
                if source.last_seen else "no answer yet")
        t.append(f" · retrying · {seen}")
    return t


def frame(fetched: Fetched, interval: float, source: StatusSource, width: int,
          height: int) -> RenderableType:
    doc, problem, detail = fetched
    if doc is not None:
        return Group(render_status(doc, width, max(5, height - 2)), Text(""),
                     _footer(interval, source, True))
    return Group(render_problem(problem, detail, width), _footer(interval, source, False))


def watch(source: StatusSource, interval: float = 1.0, console: Console | None = None,
          screen: bool = True, refreshes: int | None = None) -> int:
    """The live view until Ctrl-C (or ``refreshes`` screens, for tests)."""
    console = console or Console()
    n = 0
    if not console.is_terminal:   # a file or a pipe: one frame after the other, no cursor games
        try:
            while refreshes is None or n < refreshes:
                started = time.monotonic()
                fetched = source.fetch()
                console.print(frame(fetched, interval, source, console.width, 10_000))
                console.print()
                n += 1
                time.sleep(max(0.0, started + interval - time.monotonic()))
        except (KeyboardInterrupt, BrokenPipeError):
            pass
        return 0
    try:
        with Live(console=console, screen=screen, auto_refresh=False,
                  redirect_stdout=False, redirect_stderr=False) as live:
            while refreshes is None or n < refreshes:
                started = time.monotonic()
                fetched = source.fetch()
                width, height = console.size
                live.update(frame(fetched, interval, source, width, height), refresh=True)
                n += 1
                time.sleep(max(0.0, started + interval - time.monotonic()))
    except KeyboardInterrupt:
        pass
    return 0


def watch_json(source: StatusSource, interval: float = 1.0, out: TextIO | None = None,
               err: TextIO | None = None, refreshes: int | None = None) -> int:
    """One status document per line, every ``interval``; outages are said once on stderr."""
    out = out or sys.stdout
    err = err or sys.stderr
    down = False
    n = 0
    try:
        while refreshes is None or n < refreshes:
            started = time.monotonic()
            doc, problem, detail = source.fetch()
            if doc is not None:
                out.write(json.dumps(doc, separators=(",", ":")) + "\n")
                out.flush()
                if down:
                    err.write(f"sigsup: the master at {source.path} answers again\n")
                down = False
            elif not down:
                err.write(f"sigsup: {problem} ({detail}); retrying every {interval:g} s\n")
                err.flush()
                down = True
            n += 1
            time.sleep(max(0.0, started + interval - time.monotonic()))
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:   # `sigsup status --json --watch | head -3`
        import os
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        except (OSError, ValueError):
            pass
    return 0
