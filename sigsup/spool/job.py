"""The job file: its name, its content, and what a handler gets (``Job``) and returns.

The name carries what scheduling needs (priority, due time in Unix milliseconds, attempts
so far), so listing a directory is enough to order the queue or count it: no file is
opened for that::

    ID_pPRIO_dDUE_aN.job          queued (or dead-lettered)
    ID_pPRIO_dDUE_aN.job@PID      claimed by the spooler process PID

The file carries what the handler needs and the record of every attempt::

    {"v": 1, "id": ..., "args": {...}, "body_len": N, ...}\\n     one line of JSON (the header)
    N bytes of body, raw                                          (bytes survive exactly)
    {"attempt": 1, "outcome": "error", "error": "...", ...}\\n    one line per attempt: history

The header and body never change after the job is written; history lines are appended.
Where the file lives and how it moves is the store's (spool/store.py).
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sigsup import context
from sigsup.spool.errors import SpoolError

SPOOL_OK = -2
SPOOL_RETRY = -1
SPOOL_IGNORE = 0

MAX_ARGS = 1024 * 1024          # bytes of JSON in the header
MAX_ERROR = 8000                # characters of an error (traceback) kept per attempt
PRIORITY_LIMIT = 2 ** 31

_NAME = re.compile(r"^(?P<id>[0-9a-f]{13}-[0-9a-f]{8})_p(?P<prio>-?\d+)_d(?P<due>\d+)"
                   r"_a(?P<att>\d+)\.job(?:@(?P<pid>\d+))?$")


@dataclass(frozen=True, order=False)
class Entry:
    """A job as its file name describes it."""

    id: str
    priority: int
    due: float           # Unix time (seconds) from which it may run
    attempts: int        # runs so far (finished, failed or died)
    name: str            # the file name in its directory
    pid: int | None = None   # the claimer, for a file in running/

    @property
    def order(self) -> tuple[int, str]:
        """Among due jobs: higher priority first, then older first (ids sort by creation)."""
        return (-self.priority, self.id)


def job_name(job_id: str, priority: int, due: float, attempts: int) -> str:
    """The file name; ``due`` is rounded up to the millisecond (a job never runs early)."""
    return f"{job_id}_p{priority}_d{max(0, math.ceil(due * 1000 - 1e-6))}_a{attempts}.job"


def parse_name(name: str) -> Entry | None:
    m = _NAME.match(name)
    if m is None:
        return None
    pid = m.group("pid")
    return Entry(m.group("id"), int(m.group("prio")), int(m.group("due")) / 1000.0,
                 int(m.group("att")), name, int(pid) if pid else None)


@dataclass
class Job:
    """What a handler gets: ``.id``, ``.args`` (a dict of JSON values), ``.body`` (bytes),
    ``.attempt`` (1 on the first run), ``.spooler`` (its name)."""

    id: str
    spooler: str
    args: dict[str, Any]
    body: bytes
    attempt: int
    priority: int = 0
    at: float | None = None
    created: float = 0.0
    task: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"<Job {self.id} spooler={self.spooler!r} attempt={self.attempt} "
                f"args={self.args!r} body={len(self.body)} bytes>")


def parse_time(value: Any, now: float | None = None) -> float:
    """A Unix time from a number, a datetime, or an ISO 8601 / numeric string.

    A naive datetime or ISO time is local time."""
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        s = value.strip()
        try:
            return float(s)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ValueError(f"not a Unix time or an ISO 8601 time: {value!r}") from None
    raise ValueError(f"not a time: {value!r}")


class _Ids:
    """Job ids: creation time in microseconds (13 hex digits, so ids sort by creation) and
    32 random bits. Strictly increasing within a process."""

    def __init__(self) -> None:
        self.last = 0
        self.lock = threading.Lock()

    def new(self, wall: float) -> str:
        with self.lock:
            us = max(int(wall * 1_000_000), self.last + 1)
            self.last = us
        return f"{us:013x}-{secrets.token_hex(4)}"



def new_id(wall: float) -> str:
    """A new job id, created at ``wall`` (Unix time); later than every id this process made."""
    return context.process().state(_Ids).new(wall)   # one counter per process


def short_error(text: str | None, limit: int = 200) -> str | None:
    """The last line of a traceback (the exception), for one-line views."""
    if not text:
        return text
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else text.strip()
    return last if len(last) <= limit else last[:limit - 1] + "…"


# -- writing -------------------------------------------------------------------------------


def check_job(args: dict[str, Any] | None, body: bytes,
              priority: int) -> tuple[dict[str, Any], bytes]:
    """The arguments (a copy) and body (bytes) of a new job; TypeError or ValueError for
    what no job can hold."""
    args = dict(args or {})
    if isinstance(body, str):
        body = body.encode()
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise TypeError(f"a job body is bytes, not {type(body).__name__}")
    body = bytes(body)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise TypeError(f"priority is an integer, not {priority!r}")
    if not -PRIORITY_LIMIT < priority < PRIORITY_LIMIT:
        raise ValueError(f"priority {priority} is out of range (±2**31)")
    for k in args:
        if not isinstance(k, str):
            raise TypeError(f"job argument names are strings, not {k!r}")
    return args, body


def encode_header(header: dict[str, Any]) -> bytes:
    """The header line; TypeError for values that are not JSON, ValueError past MAX_ARGS."""
    try:
        line = json.dumps(header, separators=(",", ":"), allow_nan=False,
                          ensure_ascii=True).encode() + b"\n"
    except (TypeError, ValueError) as exc:
        raise TypeError(f"job arguments must be JSON values (str, numbers, bool, None, "
                        f"lists, dicts): {exc}") from None
    if len(line) > MAX_ARGS:
        raise ValueError(f"job arguments take {len(line)} bytes of JSON; the limit is "
                         f"{MAX_ARGS}: put large data in the body")
    return line


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def append_history(path: Path, record: dict[str, Any]) -> None:
    """Append one history line to the job file at ``path`` (fsynced)."""
    line = json.dumps(record, separators=(",", ":"), default=str).encode() + b"\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        # a crash mid-write leaves an incomplete last line; reading skips it, and the next
        # record starts on a line of its own
        write_all(fd, b"\n" + line if _ends_unterminated(fd) else line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _ends_unterminated(fd: int) -> bool:
    size = os.fstat(fd).st_size
    if size == 0:
        return False
    return os.pread(fd, 1, size - 1) != b"\n"


# -- reading -------------------------------------------------------------------------------


def read_job(path: Path, entry: Entry, spooler: str, *, body: bool = True) -> Job:
    """The job in the file at ``path`` (named ``entry``; ``spooler`` if its header names
    none): header, body (unless ``body=False``) and history. SpoolError for a damaged file."""
    with open(path, "rb") as f:
        line = f.readline(MAX_ARGS + 1)
        if not line.endswith(b"\n"):
            raise SpoolError(f"{entry.name}: no complete header line")
        try:
            header = json.loads(line)
        except ValueError as exc:
            raise SpoolError(f"{entry.name}: bad header: {exc}") from None
        except RecursionError:
            raise SpoolError(f"{entry.name}: bad header: nested too deeply") from None
        if not isinstance(header, dict) or not isinstance(header.get("body_len"), int):
            raise SpoolError(f"{entry.name}: bad header")
        n = header["body_len"]
        if not 0 <= n <= os.fstat(f.fileno()).st_size - len(line):
            raise SpoolError(f"{entry.name}: bad header: body_len {n} does not fit the file")
        if body:
            data = f.read(n)
            if len(data) != n:
                raise SpoolError(f"{entry.name}: body has {len(data)} of {n} bytes")
        else:
            data = b""
            f.seek(len(line) + n)
        history = _parse_history(f.read())
    args = header.get("args")
    task = header.get("task")
    try:       # a damaged or hand-made file: an error for this job, not a crash
        if task is not None and not isinstance(task, str):
            raise TypeError(f"task is {type(task).__name__}, not a string")
        return Job(id=str(header.get("id", entry.id)),
                   spooler=str(header.get("spooler", spooler)),
                   args=args if isinstance(args, dict) else {}, body=data,
                   attempt=entry.attempts + 1,
                   priority=int(header.get("priority", entry.priority)),
                   at=header.get("at"), created=float(header.get("created", 0.0)),
                   task=task, history=history)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SpoolError(f"{entry.name}: bad header: {exc}") from None


def _parse_history(data: bytes) -> list[dict[str, Any]]:
    out = []
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out
