"""What ``sigsup spool`` and ``sigsup jobs`` do: they work on the spool directories
directly, so they work whether a master runs or not; a running master is only told to
wake its spoolers."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from sigsup.config import Config
from sigsup.spool.errors import SpoolError
from sigsup.spool.job import Entry, short_error
from sigsup.spool.store import FAILED, QUEUED, RUNNING, JobStore


def resolve_config(config_path: str | None, socket_path: str | None = None) -> Config:
    """-c CONFIG, else $SIGSUP_CONFIG, else the running master's config."""
    from sigsup import treeconfig as conf
    path = config_path or os.environ.get(conf.ENV)
    if not path:
        from sigsup.locate import find_socket
        from sigsup.protocol.control import request
        sock = find_socket(socket_path, None)
        reply = request(sock, {"cmd": "tree-config"}, 5.0)
        if not reply.get("ok"):
            raise SpoolError(f"the master at {sock} did not say its config: {reply.get('error')}")
        path = reply["config"]
    return conf.load(path)


def stores(cfg: Config, spooler: str | None = None) -> dict[str, JobStore]:
    if spooler is not None and spooler not in cfg.spoolers:
        raise SpoolError(f"no spooler named {spooler!r} in {cfg.path} "
                         f"(spoolers: {', '.join(cfg.spoolers) or 'none'})")
    return {n: JobStore(sc.dir, n) for n, sc in cfg.spoolers.items()
            if spooler is None or n == spooler}


def parse_value(text: str) -> Any:
    """A JSON value when ``text`` parses as one, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_args(pairs: tuple[str, ...] | list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SpoolError(f"job arguments are key=value, not {pair!r}")
        out[key] = parse_value(value)
    return out


def wake(cfg: Config, spooler: str) -> bool:
    """Tell a running master (if any) that ``spooler`` has a new job."""
    from sigsup.protocol.control import request
    try:
        return bool(request(cfg.supervisor.socket, {"cmd": "spool-wake", "spooler": spooler},
                            2.0).get("ok"))
    except Exception:  # noqa: BLE001 - no master: the job waits on disk
        return False


def spool(cfg: Config, spooler: str, args: dict[str, Any], *, at: Any = None,
          priority: int = 0, body: bytes = b"") -> str:
    store = stores(cfg, spooler)[spooler]
    job_id = store.put(args, body, at=at, priority=priority)
    wake(cfg, spooler)
    return job_id


def find(cfg: Config, job_id: str, spooler: str | None = None) -> tuple[JobStore, str, Entry]:
    hits = []
    errors = []
    for store in stores(cfg, spooler).values():
        try:
            state, e = store.find(job_id)
        except SpoolError as exc:
            errors.append(str(exc))
            continue
        hits.append((store, state, e))
    if not hits:
        if any("matches" in e for e in errors):
            raise SpoolError(next(e for e in errors if "matches" in e))
        raise SpoolError(f"no job {job_id!r} in {'spooler ' + repr(spooler) if spooler else 'any spooler'}")
    if len(hits) > 1:
        raise SpoolError(f"{job_id!r} matches jobs in spoolers "
                         f"{', '.join(h[0].spooler for h in hits)}; give --spooler")
    return hits[0]


def retry(cfg: Config, job_id: str, spooler: str | None = None) -> tuple[str, str, Entry]:
    store, _state, e = find(cfg, job_id, spooler)
    before, ne = store.retry(e.id)
    wake(cfg, store.spooler)
    return store.spooler, before, ne


def drop(cfg: Config, job_id: str, spooler: str | None = None) -> tuple[str, str, Entry]:
    store, _state, e = find(cfg, job_id, spooler)
    state, ne = store.drop(e.id)
    return store.spooler, state, ne


def list_jobs(cfg: Config, spooler: str | None = None, limit: int = 100) -> dict[str, Any]:
    """Per spooler: counts, and up to ``limit`` jobs in the order they will run
    (running ones first, then due, then later ones, then failed)."""
    now = time.time()
    out: dict[str, Any] = {}
    for name, store in stores(cfg, spooler).items():
        running = sorted(store.entries(RUNNING), key=lambda e: e.id)
        queued = store.entries(QUEUED)
        due = sorted((e for e in queued if e.due <= now), key=lambda e: e.order)
        later = sorted((e for e in queued if e.due > now), key=lambda e: (e.due, e.order))
        failed = sorted(store.entries(FAILED), key=lambda e: e.due)
        rows: list[dict[str, Any]] = []
        for state, entries in ((RUNNING, running), (QUEUED, due), (QUEUED, later),
                               (FAILED, failed)):
            for e in entries:
                if len(rows) >= limit:
                    break
                rows.append(_row(store, state, e, now))
        out[name] = {"dir": str(store.root), **store.counts(now), "jobs": rows,
                     "shown": len(rows)}
    return out


def _row(store: JobStore, state: str, e: Entry, now: float) -> dict[str, Any]:
    label = {RUNNING: "running", FAILED: "failed"}.get(state) or (
        "retrying" if e.attempts else "queued")
    row: dict[str, Any] = {"id": e.id, "spooler": store.spooler, "state": label,
                           "priority": e.priority, "attempts": e.attempts,
                           "due": e.due, "pid": e.pid, "args": None, "task": None,
                           "error": None}
    try:
        job = store.read(state, e, body=False)
    except (OSError, SpoolError) as exc:
        row["error"] = f"unreadable: {exc}"
        return row
    row["args"] = job.args
    row["task"] = job.task
    errors = [h.get("error") for h in job.history if h.get("error")]
    if errors:
        row["error"] = str(errors[-1])   # a hand-edited history may hold anything
    row["history"] = job.history
    return row


def when(row: dict[str, Any], now: float) -> str:
    if row["state"] == "running":
        return f"pid {row['pid']}"
    d = row["due"] - now
    if row["state"] != "failed" and d <= 0:
        return "now"
    if row["state"] != "failed" and d < 120:
        return f"in {d:.1f}s"
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(row["due"]))
    except (OverflowError, ValueError, OSError):   # a due time no calendar holds
        return f"in {d:.3g}s"


def one_line(row: dict[str, Any]) -> str:
    if row.get("error"):
        return short_error(row["error"], 80) or ""
    if row.get("task"):
        return f"{row['task']} {json.dumps(row['args'])[:60]}"
    return json.dumps(row["args"])[:80] if row.get("args") is not None else ""
