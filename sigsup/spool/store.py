"""Jobs on disk: one file per job, moved between directories by atomic renames.

Layout of a spooler directory (created 0700)::

    DIR/tmp/        jobs being written (a crash leaves at most a stray temp file here)
    DIR/jobs/       queued jobs, due now or later:    ID_pPRIO_dDUE_aN.job
    DIR/running/    jobs claimed by a spooler process: ID_pPRIO_dDUE_aN.job@PID
    DIR/failed/     dead-lettered jobs (their history says why)

The name carries what scheduling needs (priority, due time in Unix milliseconds, attempts
so far), so listing a directory is enough to order the queue or count it: no file is
opened for that. The file carries what the handler needs and the record of every attempt::

    {"v": 1, "id": ..., "args": {...}, "body_len": N, ...}\\n     one line of JSON (the header)
    N bytes of body, raw                                          (bytes survive exactly)
    {"attempt": 1, "outcome": "error", "error": "...", ...}\\n    one line per attempt: history

The header and body never change after the job is written; history lines are appended.
A job is one inode for all of its life: it is written to ``tmp/``, fsynced, then renamed
into ``jobs/`` (so a job is whole or absent), and every later transition is one rename of
that inode (claim: ``jobs/`` -> ``running/``; retry: ``running/`` -> ``jobs/`` under a new
name; dead letter: ``running/`` -> ``failed/``) or its unlink (done). A job is therefore in
exactly one place at any instant, whatever is killed when; a rename that fails with ENOENT
means another process moved it first (claims race safely).

A claim names its process. A claim whose process is gone is returned to ``jobs/`` by the
master (``reclaim``), counted as an attempt when the handler had started.

This module is pure file-system code with an injectable clock and random source: the unit
tests drive it with a fake clock.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

SPOOL_OK = -2
SPOOL_RETRY = -1
SPOOL_IGNORE = 0

QUEUED = "jobs"
RUNNING = "running"
FAILED = "failed"
TMP = "tmp"
STATES = (QUEUED, RUNNING, FAILED)

MAX_ARGS = 1024 * 1024          # bytes of JSON in the header
MAX_ERROR = 8000                # characters of an error (traceback) kept per attempt
PRIORITY_LIMIT = 2 ** 31
TMP_MAX_AGE = 600.0             # seconds before a stray temp file is removed

_NAME = re.compile(r"^(?P<id>[0-9a-f]{13}-[0-9a-f]{8})_p(?P<prio>-?\d+)_d(?P<due>\d+)"
                   r"_a(?P<att>\d+)\.job(?:@(?P<pid>\d+))?$")
_ID = re.compile(r"^[0-9a-f]{13}-[0-9a-f]{8}$")


class SpoolError(Exception):
    """A job could not be written, found or changed; the message says why."""


class SpoolWriteError(SpoolError, OSError):
    """A job could not be written (a full disk, a quota, permissions): nothing was queued.
    Also an OSError, with the ``errno`` of the cause."""

    @classmethod
    def of(cls, store: JobStore, exc: OSError) -> SpoolWriteError:
        err = cls(f"spooler {store.spooler!r}: job not queued: cannot write it in "
                  f"{store.root}: {exc.strerror or exc}")
        err.errno = exc.errno
        return err


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


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` retries after the first run; the n-th retry waits
    ``min(backoff * 2**(n-1), backoff_max)`` scaled by a random factor in [0.5, 1]."""

    max_retries: int = 5
    backoff: float = 2.0
    backoff_max: float = 300.0

    def delay(self, failed_attempt: int, rng: Callable[[], float] = random.random) -> float:
        base = min(self.backoff * (2.0 ** min(max(failed_attempt - 1, 0), 60)), self.backoff_max)
        return base * (0.5 + 0.5 * rng())

    def exhausted(self, failed_attempt: int) -> bool:
        return failed_attempt > self.max_retries


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


_ids = _Ids()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def short_error(text: str | None, limit: int = 200) -> str | None:
    """The last line of a traceback (the exception), for one-line views."""
    if not text:
        return text
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else text.strip()
    return last if len(last) <= limit else last[:limit - 1] + "…"


class JobStore:
    """One spooler directory."""

    def __init__(self, root: str | Path, spooler: str = "default", *,
                 clock: Callable[[], float] = time.time,
                 rng: Callable[[], float] = random.random) -> None:
        self.root = Path(root)
        self.spooler = spooler
        self.clock = clock
        self.rng = rng
        self.dirs = {s: self.root / s for s in (*STATES, TMP)}

    def path(self, state: str, name: str) -> Path:
        return self.dirs[state] / name

    def ensure(self) -> None:
        """Create the directory tree (0700) if it is missing."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for d in self.dirs.values():
            d.mkdir(mode=0o700, exist_ok=True)

    # -- writing a job ---------------------------------------------------------------------

    def put(self, args: dict[str, Any] | None = None, body: bytes = b"", *, at: Any = None,
            priority: int = 0, task: str | None = None) -> str:
        """Write a new job and return its id. When this returns, the job is on disk
        (file and directory fsynced); if it raises, there is no job."""
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
        now = self.clock()
        # due now: rounded down, so the job is due at once; at: rounded up, never early
        due = math.floor(now * 1000) / 1000 if at is None else parse_time(at)
        job_id = _ids.new(now)
        header = {"v": 1, "id": job_id, "spooler": self.spooler, "created": now,
                  "at": None if at is None else due, "priority": priority, "task": task,
                  "args": args, "body_len": len(body)}
        try:
            line = json.dumps(header, separators=(",", ":"), allow_nan=False,
                              ensure_ascii=True).encode() + b"\n"
        except (TypeError, ValueError) as exc:
            raise TypeError(f"job arguments must be JSON values (str, numbers, bool, None, "
                            f"lists, dicts): {exc}") from None
        if len(line) > MAX_ARGS:
            raise ValueError(f"job arguments take {len(line)} bytes of JSON; the limit is "
                             f"{MAX_ARGS}: put large data in the body")
        tmp = self.path(TMP, f"{job_id}.tmp")
        try:
            self.ensure()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise SpoolWriteError.of(self, exc) from exc
        try:
            try:
                _write_all(fd, line)
                _write_all(fd, body)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, self.path(QUEUED, job_name(job_id, priority, due, 0)))
        except BaseException as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(exc, OSError):     # ENOSPC, EDQUOT, EFBIG...: say what failed
                raise SpoolWriteError.of(self, exc) from exc
            raise
        _fsync_dir(self.dirs[QUEUED])
        return job_id

    # -- listing ---------------------------------------------------------------------------

    def entries(self, state: str = QUEUED) -> list[Entry]:
        """The jobs of one directory, from their names (no file is opened)."""
        try:
            names = os.listdir(self.dirs[state])
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            e = parse_name(n)
            if e is not None:
                out.append(e)
        return out

    def counts(self, now: float | None = None) -> dict[str, int]:
        """queued (in jobs/, due or not), due, retrying (queued after a failed attempt),
        running, failed."""
        now = self.clock() if now is None else now
        queued = self.entries(QUEUED)
        return {
            "queued": len(queued),
            "due": sum(1 for e in queued if e.due <= now),
            "running": len(self.entries(RUNNING)),
            "retrying": sum(1 for e in queued if e.attempts > 0),
            "failed": len(self.entries(FAILED)),
        }

    def next_due(self, entries: Iterable[Entry], now: float) -> Entry | None:
        """The job to run next among ``entries``: due, highest priority, oldest."""
        best = None
        for e in entries:
            if e.due <= now and (best is None or e.order < best.order):
                best = e
        return best

    def find(self, job_id: str) -> tuple[str, Entry]:
        """(state, entry) of a job by id or unique id prefix; SpoolError if none or many."""
        job_id = job_id.strip()
        if not job_id:
            raise SpoolError("no job id given")
        found = [(s, e) for s in STATES for e in self.entries(s) if e.id.startswith(job_id)]
        ids = {e.id for _s, e in found}
        if not found:
            raise SpoolError(f"no job {job_id!r} in spooler {self.spooler!r}")
        if len(ids) > 1:
            raise SpoolError(f"{job_id!r} matches {len(ids)} jobs; give more of the id")
        return found[0]

    # -- reading ---------------------------------------------------------------------------

    def read(self, state: str, entry: Entry, *, body: bool = True) -> Job:
        """The job in a file: header, body (unless ``body=False``) and history."""
        with open(self.path(state, entry.name), "rb") as f:
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
                       spooler=str(header.get("spooler", self.spooler)),
                       args=args if isinstance(args, dict) else {}, body=data,
                       attempt=entry.attempts + 1,
                       priority=int(header.get("priority", entry.priority)),
                       at=header.get("at"), created=float(header.get("created", 0.0)),
                       task=task, history=history)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SpoolError(f"{entry.name}: bad header: {exc}") from None

    # -- a spooler process's transitions --------------------------------------------------

    def claim(self, entry: Entry, pid: int) -> Entry | None:
        """Move a queued job to running/ under ``pid``; None if someone else moved it."""
        name = f"{entry.name}@{pid}"
        try:
            os.rename(self.path(QUEUED, entry.name), self.path(RUNNING, name))
        except FileNotFoundError:
            return None
        return Entry(entry.id, entry.priority, entry.due, entry.attempts, name, pid)

    def complete(self, claimed: Entry) -> None:
        """The handler succeeded (or ignored the job): the job is gone."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(RUNNING, claimed.name))

    def release(self, claimed: Entry) -> Entry:
        """Give a claimed job back untouched (its handler never started)."""
        e = Entry(claimed.id, claimed.priority, claimed.due, claimed.attempts,
                  job_name(claimed.id, claimed.priority, claimed.due, claimed.attempts))
        os.rename(self.path(RUNNING, claimed.name), self.path(QUEUED, e.name))
        return e

    def attempt_failed(self, claimed: Entry, record: dict[str, Any],
                       policy: RetryPolicy) -> tuple[str, Entry]:
        """An attempt failed: record it, then queue the job again after its backoff, or
        dead-letter it when retries are used up. Returns (QUEUED or FAILED, new entry)."""
        now = self.clock()
        attempt = claimed.attempts + 1
        record = {"attempt": attempt, "ended": now, **record}
        if record.get("error"):
            record["error"] = str(record["error"])[-MAX_ERROR:]
        src = self.path(RUNNING, claimed.name)
        if policy.exhausted(attempt):
            record["final"] = True
            _append(src, record)
            e = Entry(claimed.id, claimed.priority, now, attempt,
                      job_name(claimed.id, claimed.priority, now, attempt))
            os.rename(src, self.path(FAILED, e.name))
            return FAILED, e
        due = now + policy.delay(attempt, self.rng)
        record["retry_at"] = due
        _append(src, record)
        e = Entry(claimed.id, claimed.priority, due, attempt,
                  job_name(claimed.id, claimed.priority, due, attempt))
        os.rename(src, self.path(QUEUED, e.name))
        return QUEUED, e

    def dead_letter(self, claimed: Entry, record: dict[str, Any]) -> Entry:
        """Move a claimed job straight to failed/ (an unreadable file, say)."""
        now = self.clock()
        attempt = claimed.attempts + 1
        src = self.path(RUNNING, claimed.name)
        with contextlib.suppress(OSError):
            _append(src, {"attempt": attempt, "ended": now, "final": True, **record})
        e = Entry(claimed.id, claimed.priority, now, attempt,
                  job_name(claimed.id, claimed.priority, now, attempt))
        os.rename(src, self.path(FAILED, e.name))
        return e

    # -- recovery (the master) ------------------------------------------------------------

    def reclaim(self, live: Callable[[int], bool], started: Callable[[Entry], dict | None],
                policy: RetryPolicy) -> list[tuple[Entry, str]]:
        """Return every claim whose process is gone to the queue.

        ``live(pid)`` says whether a claimer still runs. ``started(entry)`` gives the
        history record of an attempt whose handler had started (the job then counts an
        attempt, with backoff and dead letter as for a failure), or None for a claim whose
        handler never started (the job goes back as it was). Returns (entry, outcome) for
        each job moved: outcome is QUEUED, FAILED or "released".
        """
        moved = []
        for e in self.entries(RUNNING):
            if e.pid is None or live(e.pid):
                continue
            record = started(e)
            try:
                if record is None:
                    moved.append((self.release(e), "released"))
                else:
                    state, ne = self.attempt_failed(e, record, policy)
                    moved.append((ne, state))
            except FileNotFoundError:
                continue   # moved meanwhile
        return moved

    def clean_tmp(self, max_age: float = TMP_MAX_AGE) -> int:
        """Remove temp files older than ``max_age`` (left by a writer that crashed before
        its rename; a committed job never lives only in tmp/)."""
        n = 0
        now = time.time()
        try:
            names = os.listdir(self.dirs[TMP])
        except FileNotFoundError:
            return 0
        for name in names:
            p = self.dirs[TMP] / name
            try:
                if now - p.stat().st_mtime > max_age:
                    p.unlink()
                    n += 1
            except FileNotFoundError:
                continue
        return n

    # -- by hand (sigsup jobs retry / drop) -----------------------------------------------

    def retry(self, job_id: str, by: str = "sigsup jobs retry") -> tuple[str, Entry]:
        """A failed job goes back to the queue with a fresh retry budget; a queued one
        becomes due now. Returns (previous state, new entry)."""
        state, e = self.find(job_id)
        if state == RUNNING:
            raise SpoolError(f"job {e.id} is running now (process {e.pid})")
        now = math.floor(self.clock() * 1000) / 1000
        attempts = 0 if state == FAILED else e.attempts
        ne = Entry(e.id, e.priority, now, attempts, job_name(e.id, e.priority, now, attempts))
        try:
            os.rename(self.path(state, e.name), self.path(QUEUED, ne.name))
        except FileNotFoundError:
            raise SpoolError(f"job {e.id} changed state meanwhile; try again") from None
        with contextlib.suppress(OSError):
            _append(self.path(QUEUED, ne.name),
                    {"requeued": now, "by": by, "from": state, "attempts_before": e.attempts})
        return state, ne

    def drop(self, job_id: str) -> tuple[str, Entry]:
        """Delete a queued or failed job. Returns (state, entry)."""
        state, e = self.find(job_id)
        if state == RUNNING:
            raise SpoolError(f"job {e.id} is running now (process {e.pid}); drop it once it "
                             "has finished or failed")
        try:
            os.unlink(self.path(state, e.name))
        except FileNotFoundError:
            raise SpoolError(f"job {e.id} changed state meanwhile; try again") from None
        return state, e


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _append(path: Path, record: dict[str, Any]) -> None:
    line = json.dumps(record, separators=(",", ":"), default=str).encode() + b"\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        # a crash mid-write leaves an incomplete last line; reading skips it, and the next
        # record starts on a line of its own
        _write_all(fd, b"\n" + line if _ends_unterminated(fd) else line)
        os.fsync(fd)
    finally:
        os.close(fd)


def _ends_unterminated(fd: int) -> bool:
    size = os.fstat(fd).st_size
    if size == 0:
        return False
    return os.pread(fd, 1, size - 1) != b"\n"


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
