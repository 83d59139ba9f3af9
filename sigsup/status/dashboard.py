"""``sigsup start --dashboard``: the live status view and a tail of the logs, one screen.

The master has one thread and never blocks on a terminal, so the dashboard is not in it:
``fork_dashboard`` forks before the master runs; the child is the dashboard, a client like
``sigsup top`` that also reads the master's output from a pipe, and this process stays the
master (its pid unchanged, its stdout and stderr now that pipe, its log JSON lines). Both
stay in the terminal's process group, so Ctrl-C reaches the master, which stops as usual
while the dashboard shows it; when the master's output ends, the dashboard leaves the
screen and prints the last lines of the log, and the master waits for that before it
exits with its own code.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import sys
import time
from collections import deque
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.layout import Layout
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from sigsup.status.live import StatusSource, frame

TAIL = 2000            # log lines kept
MIN_LOG_ROWS = 8       # the log pane's least height (borders included)
_KIND_STYLE = {"master": "bold", "worker": "cyan", "mule": "magenta", "spooler": "blue",
               "monitor": "green"}
_LEVEL_STYLE = {"warning": "yellow", "error": "red"}


class DashboardChild:
    """The master's handle on its dashboard process."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def finish(self, timeout: float = 30.0) -> None:
        """End the master's output (the dashboard sees its end) and wait for the dashboard
        to leave the screen, so the shell's prompt does not come back under it."""
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if pid:
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


def fork_dashboard(socket: str, interval: float = 1.0) -> DashboardChild:
    """Fork the dashboard. Returns in the master (the parent), whose stdout and stderr go
    to the dashboard from then on; the caller makes its log write JSON lines there."""
    r, w = os.pipe()
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    pid = os.fork()
    if pid == 0:   # the dashboard: it runs no master code and leaves by os._exit
        code = 1
        try:
            os.close(w)
            code = Dashboard(r, StatusSource(lambda: socket), interval).run()
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(r)
    os.dup2(w, 1)
    os.dup2(w, 2)
    os.close(w)
    return DashboardChild(pid)


def log_line(rec: dict[str, Any] | str, width: int | None) -> Text:
    """One log record as the text log shows it, coloured by process kind and level."""
    if isinstance(rec, str):
        t = Text(rec)
    else:
        name = str(rec.get("process", "?"))
        kind = name.rstrip("0123456789").split("#")[0].split(":")[0]
        stamp = time.strftime("%H:%M:%S", time.localtime(float(rec.get("ts", 0))))
        t = Text.assemble((stamp + " ", "dim"),
                          (f"{name}[{rec.get('pid', '?')}]".ljust(16), _KIND_STYLE.get(kind, "")),
                          ("| ", "dim"),
                          (str(rec.get("msg", "")), _LEVEL_STYLE.get(str(rec.get("level")), "")))
    if width is not None:   # one screen row each in the pane; whole lines after it
        t.no_wrap = True
        t.truncate(width, overflow="ellipsis")
    return t


class Dashboard:
    def __init__(self, fd: int, source: StatusSource, interval: float) -> None:
        self.fd = fd
        self.source = source
        self.interval = interval
        self.lines: deque[dict[str, Any] | str] = deque(maxlen=TAIL)
        self.buf = b""
        self.interrupts = 0
        self.eof = False

    def _on_sigint(self, signum: int, frame: object) -> None:
        self.interrupts += 1   # the master got it too: it stops, and we show that

    def _read(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        if not data:
            self.eof = True
            data = b"\n" if self.buf else b""
        *lines, self.buf = (self.buf + data).split(b"\n")
        for raw in lines:
            text = raw.decode("utf-8", "replace")
            try:
                rec = json.loads(text)
            except ValueError:
                rec = text
            self.lines.append(rec if isinstance(rec, (dict, str)) else text)

    def view(self, console: Console, width: int, height: int) -> RenderableType:
        fetched = self.source.fetch()
        status: RenderableType = frame(fetched, self.interval, self.source, width,
                                       height - MIN_LOG_ROWS)
        if self.interrupts:
            status = Group(status, Text("stopping: waiting for running handlers (Ctrl-C again "
                                        "kills them)", "bold yellow"))
        # the status takes the lines it needs, the log the rest
        top = len(console.render_lines(status, console.options.update(width=width), pad=False))
        top = max(3, min(top, height - MIN_LOG_ROWS))
        log_rows = height - top
        layout = Layout()
        tail = [log_line(rec, width - 4) for rec in list(self.lines)[-(log_rows - 2):]]
        logs = Panel(Group(*tail) if tail else Text("(no output yet)", "dim"),
                     title="log", title_align="left", border_style="dim", padding=(0, 1))
        layout.split_column(Layout(status, name="status", size=top),
                            Layout(logs, name="log", size=log_rows))
        return layout

    def run(self) -> int:
        signal.signal(signal.SIGINT, self._on_sigint)
        os.set_blocking(self.fd, False)
        sel = selectors.DefaultSelector()
        sel.register(self.fd, selectors.EVENT_READ)
        console = Console()
        try:
            with Live(console=console, screen=True, auto_refresh=False,
                      redirect_stdout=False, redirect_stderr=False) as live:
                next_refresh = 0.0
                while not self.eof:     # until the master's output ends: it is exiting
                    now = time.monotonic()
                    if now >= next_refresh:
                        width, height = console.size
                        live.update(self.view(console, width, height), refresh=True)
                        next_refresh = now + self.interval
                    for _ in sel.select(max(0.0, next_refresh - time.monotonic())):
                        self._read()
        finally:
            sel.close()
            with contextlib.suppress(OSError):
                os.close(self.fd)
        for rec in list(self.lines)[-20:]:
            console.print(log_line(rec, None))
        return 0
