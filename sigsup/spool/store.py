"""Jobs on disk: one file per job, moved between directories by atomic renames.

Layout of a spooler directory (created 0700)::

    DIR/tmp/        jobs being written (a crash leaves at most a stray temp file here)
    DIR/jobs/       queued jobs, due now or later:    ID_pPRIO_dDUE_aN.job
    DIR/running/    jobs claimed by a spooler process: ID_pPRIO_dDUE_aN.job@PID
    DIR/failed/     dead-lettered jobs (their history says why)

The names and the content of job files are spool/job.py's; how long a failed job waits,
and how many times it is retried, spool/policy.py's.

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
import math
import os
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from sigsup.spool.errors import SpoolError, SpoolWriteError
from sigsup.spool.job import (
    MAX_ERROR,
    Entry,
    Job,
    append_history,
    check_job,
    encode_header,
    job_name,
    new_id,
    parse_name,
    parse_time,
    read_job,
    write_all,
)
from sigsup.spool.policy import RetryPolicy

QUEUED = "jobs"
RUNNING = "running"
FAILED = "failed"
TMP = "tmp"
STATES = (QUEUED, RUNNING, FAILED)

TMP_MAX_AGE = 600.0             # seconds before a stray temp file is removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        args, body = check_job(args, body, priority)
        now = self.clock()
        # due now: rounded down, so the job is due at once; at: rounded up, never early
        due = math.floor(now * 1000) / 1000 if at is None else parse_time(at)
        job_id = new_id(now)
        header = {"v": 1, "id": job_id, "spooler": self.spooler, "created": now,
                  "at": None if at is None else due, "priority": priority, "task": task,
                  "args": args, "body_len": len(body)}
        line = encode_header(header)
        tmp = self.path(TMP, f"{job_id}.tmp")
        try:
            self.ensure()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise SpoolWriteError.of(self, exc) from exc
        try:
            try:
                write_all(fd, line)
                write_all(fd, body)
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
        return read_job(self.path(state, entry.name), entry, self.spooler, body=body)

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
            append_history(src, record)
            e = Entry(claimed.id, claimed.priority, now, attempt,
                      job_name(claimed.id, claimed.priority, now, attempt))
            os.rename(src, self.path(FAILED, e.name))
            return FAILED, e
        due = now + policy.delay(attempt, self.rng)
        record["retry_at"] = due
        append_history(src, record)
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
            append_history(src, {"attempt": attempt, "ended": now, "final": True, **record})
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
            append_history(self.path(QUEUED, ne.name), {"requeued": now, "by": by, "from": state,
                                                       "attempts_before": e.attempts})
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
