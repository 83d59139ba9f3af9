"""``sigsup start --dashboard``: the live status view and a tail of the logs, one screen.

The master has one thread and never blocks on a terminal, so the dashboard is not in it:
``fork_dashboard`` forks, the child goes on to be the master (its log, JSON lines, goes
into a pipe) and the parent becomes the dashboard, a client like ``sigsup top`` that also
reads that pipe. Both stay in the terminal's process group, so Ctrl-C reaches the master,
which stops as usual while the dashboard shows it; the dashboard then leaves the screen,
prints the last lines of the log and exits with the master's exit code.
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

from sigsup.master.log import Log
from sigsup.status.live import StatusSource, frame

TAIL = 2000            # log lines kept
MIN_LOG_ROWS = 8       # the log pane's least height (borders included)
_KIND_STYLE = {"master": "bold", "worker": "cyan", "mule": "magenta", "spooler": "blue",
               "monitor": "green"}
_LEVEL_STYLE = {"warning": "yellow", "error": "red"}


def fork_dashboard(socket: str, level: str, interval: float = 1.0) -> Log:
    """Fork. In the child (the master-to-be) return its Log, writing into the dashboard's
    pipe; in the parent run the dashboard and exit with the master's code."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(w, 1)
        os.dup2(w, 2)
        os.close(w)
        return Log(sys.stdout, fmt="json", level=level, colour=False)
    os.close(w)
    code = Dashboard(pid, r, StatusSource(lambda: socket), interval).run()
    sys.exit(code)


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
    def __init__(self, pid: int, fd: int, source: StatusSource, interval: float) -> None:
        self.pid = pid
        self.fd = fd
        self.source = source
        self.interval = interval
        self.lines: deque[dict[str, Any] | str] = deque(maxlen=TAIL)
        self.buf = b""
        self.interrupts = 0
        self.exit_code: int | None = None
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

    def _reap(self) -> None:
        if self.exit_code is not None:
            return
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.exit_code = 1
            return
        if pid:
            self.exit_code = os.waitstatus_to_exitcode(status)
            if self.exit_code < 0:
                self.exit_code = 128 - self.exit_code

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
                while True:
                    now = time.monotonic()
                    if now >= next_refresh:
                        width, height = console.size
                        live.update(self.view(console, width, height), refresh=True)
                        next_refresh = now + self.interval
                    for _ in sel.select(max(0.0, next_refresh - time.monotonic())):
                        self._read()
                    if self.eof:
                        sel.unregister(self.fd)
                        break
                # the master closed its output: it is exiting
                deadline = time.monotonic() + 10
                while self.exit_code is None and time.monotonic() < deadline:
                    self._reap()
                    time.sleep(0.05)
        finally:
            sel.close()
            with contextlib.suppress(OSError):
                os.close(self.fd)
        self._reap()
        for rec in list(self.lines)[-20:]:
            console.print(log_line(rec, None))
        return self.exit_code if self.exit_code is not None else 1
